/**
 * The IPv6 flags of the CLI contract (/work/shared/DESIGN.md's table): --addr6 (default fd00::2),
 * --host-addr6 (default fd00::1/64), --no-ipv6. A bad flag prints one line and exits 2; here
 * process.exit throws so the parse can be watched without ending the test run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ipv6Options, parseStackFlags, STACK_FLAGS_USAGE, type StackFlags } from '../../scripts/stack-flags.js';

class Exit extends Error {
  constructor(readonly code: number | undefined) {
    super(`exit ${code}`);
  }
}

let stderr = '';
let stdout = '';
beforeEach(() => {
  stderr = '';
  stdout = '';
  vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
    throw new Exit(typeof code === 'number' ? code : undefined);
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

function parse(...argv: string[]): StackFlags {
  return parseStackFlags(argv, 'test').flags;
}

/** The exit code and the one line a refused flag prints. */
function refusal(...argv: string[]): { code: number | undefined; line: string } {
  try {
    parse(...argv);
  } catch (error) {
    if (error instanceof Exit) return { code: error.code, line: stderr };
    throw error;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('the IPv6 stack flags', () => {
  it('default to fd00::2 on a device with fd00::1/64', () => {
    const flags = parse();
    expect(flags.addr6).toBe('fd00::2');
    expect(flags.hostCidr6).toBe('fd00::1/64');
    expect(ipv6Options(flags)).toEqual({ ipv6: true, address6: 'fd00::2', hostCidr6: 'fd00::1/64' });
  });

  it('take other addresses', () => {
    const flags = parse('--addr6', '2001:db8::2', '--host-addr6', '2001:db8::1/64');
    expect(ipv6Options(flags)).toEqual({ ipv6: true, address6: '2001:db8::2', hostCidr6: '2001:db8::1/64' });
  });

  it('--no-ipv6 turns IPv6 off, and allows an MTU below 1280', () => {
    const flags = parse('--no-ipv6', '--mtu', '576');
    expect(flags.addr6).toBeUndefined();
    expect(flags.hostCidr6).toBeUndefined();
    expect(ipv6Options(flags)).toEqual({ ipv6: false, address6: undefined, hostCidr6: undefined });
    expect(flags.mtu).toBe(576);
  });

  it.each([
    [['--addr6', '10.0.0.2'], '--addr6 10.0.0.2 is not an IPv6 address'],
    [['--addr6', 'fd00::2/64'], '--addr6 fd00::2/64 is not an IPv6 address'],
    [['--addr6', '[fd00::2]'], 'is not an IPv6 address'],
    [['--addr6', '::'], 'unspecified'],
    [['--addr6', '::1'], 'loopback'],
    [['--addr6', 'ff02::1'], 'multicast'],
    [['--addr6', '::ffff:10.0.0.2'], 'ipv4-mapped'],
    [['--addr6', 'fd00::1'], 'the same as the host side'],
    [['--host-addr6', 'fd00::1'], '--host-addr6 fd00::1 is not an IPv6 CIDR'],
    [['--host-addr6', 'fd00::1/129'], '--host-addr6'],
    [['--host-addr6', '10.0.0.1/24'], '--host-addr6'],
    [['--mtu', '1279'], "below IPv6's minimum of 1280"],
    [['--no-ipv6', '--addr6', 'fd00::2'], '--no-ipv6 conflicts with --addr6'],
    [['--no-ipv6', '--host-addr6', 'fd00::1/64'], '--no-ipv6 conflicts with --host-addr6'],
  ])('refuses %j with one line and exit 2', (argv, message) => {
    const { code, line } = refusal(...argv);
    expect(code).toBe(2);
    expect(line).toContain(message);
    expect(line.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--help lists them', () => {
    expect(() => parse('--help')).toThrow(Exit);
    expect(stdout).toBe(`usage: test\n`);
    for (const flag of ['--addr6 IP', '--host-addr6 CIDR', '--no-ipv6']) expect(STACK_FLAGS_USAGE).toContain(flag);
  });
});
