/**
 * Address text as Go's net package reads and writes it: SplitHostPort / JoinHostPort (the cases
 * of Go's src/net/ip_test.go splitJoinTests and splitFailureTests that apply: numeric ports, no
 * zones), network names, and NetAddr's text for both families.
 */
import { describe, expect, it } from 'vitest';
import { joinHostPort, makeAddr, parseHostPort, parseNetwork, splitHostPort } from '../../../src/api/address.js';
import { NetError } from '../../../src/errors.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV6_LOOPBACK, IPV6_UNSPECIFIED, parseIPv6Address } from '../../../src/wire/address6.js';

function errorOf(call: () => unknown): NetError {
  try {
    call();
  } catch (error) {
    if (error instanceof NetError) return error;
    throw error;
  }
  throw new Error('expected a NetError');
}

describe('splitHostPort (Go net.SplitHostPort)', () => {
  it.each([
    ['www.google.com:80', 'www.google.com', 80],
    ['127.0.0.1:1234', '127.0.0.1', 1234],
    ['[::1]:80', '::1', 80],
    [':0', '', 0],
    ['[fd00::2]:65535', 'fd00::2', 65535],
    ['[::]:80', '::', 80],
    ['[::ffff:10.0.0.1]:7', '::ffff:10.0.0.1', 7],
    ['[]:80', '', 80],
    ['0.0.0.0:8080', '0.0.0.0', 8080],
  ])('splits %s into host %j and port %d, and joinHostPort gives it back', (text, host, port) => {
    expect(splitHostPort(text)).toEqual({ host, port });
    if (text !== '[]:80') expect(joinHostPort(host, port)).toBe(text);
  });

  it.each([
    // Go's splitFailureTests, with its messages.
    ['www.google.com', 'missing port in address'],
    ['127.0.0.1', 'missing port in address'],
    ['[::1]', 'missing port in address'],
    ['[foo:bar]', 'missing port in address'],
    ['[foo:bar]baz', 'missing port in address'],
    ['[foo]bar:baz', 'missing port in address'],
    ['::1', 'too many colons in address'],
    ['fd00::1:80', 'too many colons in address'],
    ['[foo]:[bar]:baz', 'too many colons in address'],
    ['[foo]:[bar]baz', "unexpected '[' in address"],
    ['foo[bar]:baz', "unexpected '[' in address"],
    ['foo]bar:baz', "unexpected ']' in address"],
    ['[::1:80', "missing ']' in address"],
    ['[fd00::1', "missing ']' in address"],
    // Go's zone cases: refused here whether or not Go would split them.
    ['[fe80::1%lo0]:80', 'zones'],
    ['localhost%lo0:80', 'zones'],
    ['fe80::1%lo0:80', 'too many colons in address'],
    // Ports: numbers 0-65535 only (Go also takes service names; the stack has no services file).
    ['127.0.0.1:', 'invalid port ""'],
    ['[::1]:http', 'invalid port "http"'],
    ['10.0.0.1:65536', 'invalid port "65536"'],
    ['10.0.0.1:-1', 'invalid port "-1"'],
    ['10.0.0.1:123456', 'invalid port "123456"'],
  ])('refuses %j: %s', (text, message) => {
    const error = errorOf(() => splitHostPort(text));
    expect(error.code).toBe('EINVAL');
    expect(error.message).toContain(message);
    expect(error.message).toContain(JSON.stringify(text));
  });

  it('refuses what is not a string', () => {
    expect(errorOf(() => splitHostPort(80 as unknown as string)).code).toBe('EINVAL');
  });
});

describe('joinHostPort (Go net.JoinHostPort)', () => {
  it('brackets any host with a colon and nothing else', () => {
    expect(joinHostPort('www.google.com', 80)).toBe('www.google.com:80');
    expect(joinHostPort('127.0.0.1', '1234')).toBe('127.0.0.1:1234');
    expect(joinHostPort('::1', 80)).toBe('[::1]:80');
    expect(joinHostPort('fe80::1%lo0', 80)).toBe('[fe80::1%lo0]:80');
    expect(joinHostPort('', 0)).toBe(':0');
  });
});

describe('parseHostPort', () => {
  it('reads literals of both families, and the empty host as any', () => {
    expect(parseHostPort('10.0.0.1:80')).toEqual({ address: parseIPv4Address('10.0.0.1'), port: 80 });
    expect(parseHostPort('[fd00::1]:80')).toEqual({ address: parseIPv6Address('fd00::1'), port: 80 });
    expect(parseHostPort('[::1]:7')).toEqual({ address: IPV6_LOOPBACK, port: 7 });
    expect(parseHostPort('[::]:7')).toEqual({ address: IPV6_UNSPECIFIED, port: 7 });
    expect(parseHostPort(':53')).toEqual({ address: undefined, port: 53 });
    expect(parseHostPort('0.0.0.0:53')).toEqual({ address: 0, port: 53 });
    // Go's SplitHostPort takes any host in brackets, so an IPv4 literal too.
    expect(parseHostPort('[10.0.0.1]:80')).toEqual({ address: parseIPv4Address('10.0.0.1'), port: 80 });
  });

  it('refuses names and malformed literals', () => {
    for (const text of ['localhost:80', '[fd00::g]:80', '[1:2:3:4:5:6:7:8:9]:80', '10.0.0.256:80']) {
      expect(errorOf(() => parseHostPort(text)).code, text).toBe('EINVAL');
    }
  });
});

describe('parseNetwork (Go network names)', () => {
  it.each([
    ['tcp', 'tcp', undefined],
    ['tcp4', 'tcp', 4],
    ['tcp6', 'tcp', 6],
    ['udp', 'udp', undefined],
    ['udp4', 'udp', 4],
    ['udp6', 'udp', 6],
  ])('%s is %s over %s', (name, transport, family) => {
    expect(parseNetwork(name)).toEqual({ transport, family });
  });

  it.each(['ip', 'unix', 'TCP', 'tcp46', '', 'toString', '__proto__'])('refuses %j', (name) => {
    const error = errorOf(() => parseNetwork(name));
    expect(error.code).toBe('EINVAL');
    expect(error.message).toContain('unknown network');
  });
});

describe('NetAddr', () => {
  it('formats as Go does, with the family as Node names it', () => {
    const v4 = makeAddr('tcp', parseIPv4Address('10.0.0.2')!, 80);
    expect({ ...v4 }).toMatchObject({ network: 'tcp', family: 'IPv4', address: '10.0.0.2', port: 80 });
    expect(String(v4)).toBe('10.0.0.2:80');
    const v6 = makeAddr('udp', parseIPv6Address('FD00:0:0:0:0:0:0:2')!, 53);
    expect({ ...v6 }).toMatchObject({ network: 'udp', family: 'IPv6', address: 'fd00::2', port: 53 });
    expect(`${v6}`).toBe('[fd00::2]:53');
    expect(String(makeAddr('tcp', parseIPv6Address('2001:db8:0:0:1:0:0:1')!, 443))).toBe('[2001:db8::1:0:0:1]:443');
    expect(String(makeAddr('tcp', IPV6_LOOPBACK, 7))).toBe('[::1]:7');
  });

  it('reads back through splitHostPort and parseHostPort', () => {
    const address = parseIPv6Address('fd00::1:2')!;
    const addr = makeAddr('tcp', address, 8080);
    expect(parseHostPort(addr.toString())).toEqual({ address, port: 8080 });
  });
});
