/**
 * Issue 11 end to end: real ping -6, curl -6, nc -6 and python IPv6 clients against the stack's
 * services on a TUN device in a fresh namespace (the device's IPv6 side fd00::1/64, the stack
 * fd00::2), the stack dialling a kernel IPv6 server, and IPv4 working beside it in the same stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closedUdpPortClientPy,
  httpUrl,
  lineServerPy,
  lossOf,
  patternDownloadScript,
  udpEchoClientPy,
  uploadOutcome,
  uploadScript,
} from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import {
  createNamespace,
  parseShutdownCounters,
  run,
  startStackInNamespace,
  waitForOutput,
  type Namespace,
  type StackInNamespace,
} from './harness.js';

declareRootRequirement();

const MiB = 1024 * 1024;
const HOST6 = 'fd00::1';
const STACK6 = 'fd00::2';
const IPV6_FLAGS = ['--host-addr6', `${HOST6}/64`, '--addr6', STACK6];

describe.skipIf(!isRoot)('IPv6 over a TUN device, IPv4 beside it', () => {
  let env: StackInNamespace;
  const sh = (script: string, timeoutMs = 60_000) => env.exec('sh', ['-c', script], { timeoutMs });
  beforeAll(async () => {
    env = await startStackInNamespace({ extraFlags: IPV6_FLAGS });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('configures the device with the host side fd00::1/64', async () => {
    const result = await env.exec('ip', ['-6', 'addr', 'show', 'dev', env.tun]);
    expect(result.stdout).toContain(`inet6 ${HOST6}/64`);
    // nodad: usable at once, never left tentative.
    expect(result.stdout).not.toMatch(/tentative|dadfailed/);
  });

  it('answers ping -6 -c 5 with no loss', async () => {
    const result = await env.exec('ping', ['-6', '-c', '5', '-i', '0.2', '-W', '2', STACK6], { timeoutMs: 20_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 5, received: 5 });
  });

  it('answers a 4000-byte ping -6 (fragmented both ways) with no loss', async () => {
    const result = await env.exec('ping', ['-6', '-c', '3', '-i', '0.2', '-s', '4000', '-W', '2', STACK6], { timeoutMs: 20_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 3, received: 3 });
    // ping checks the echoed payload itself and reports corruption as "wrong data byte".
    expect(result.stdout).not.toMatch(/wrong data|DUP/);
  });

  it('answers a flood ping -6 of 2000 with no loss', async () => {
    const result = await env.exec('ping', ['-6', '-f', '-c', '2000', '-w', '30', STACK6], { timeoutMs: 40_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 2000, received: 2000 });
  });

  it('serves a 64 MiB download over IPv6 byte for byte', async () => {
    const result = await sh(patternDownloadScript(STACK6, 64 * MiB, 50));
    expect(result.stdout.trim()).toBe(`${64 * MiB} ok`);
  });

  it('receives a 32 MiB upload over IPv6 and reports the right sha256', async () => {
    const { want, got } = uploadOutcome((await sh(uploadScript(STACK6, 32 * MiB, 50))).stdout);
    expect(want).toMatch(new RegExp(`^${32 * MiB} `));
    expect(got).toBe(want);
  });

  it('echoes a line through nc -6', async () => {
    const result = await env.exec('nc', ['-6', '-q', '1', '-w', '5', STACK6, '7'], { input: 'hi over ipv6\n', timeoutMs: 15_000 });
    expect(result.stdout).toBe('hi over ipv6\n');
  });

  it('echoes an 8000-byte UDP datagram over IPv6 byte for byte (fragmented both ways)', async () => {
    const result = await env.exec('python3', ['-c', udpEchoClientPy(STACK6), '8000'], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('8000 same');
  });

  it('answers a UDP datagram to a closed port with ICMPv6 port unreachable (ECONNREFUSED)', async () => {
    const result = await env.exec('python3', ['-c', closedUdpPortClientPy(STACK6)], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('refused');
  });

  it('still answers IPv4 in the same stack: ping and curl', async () => {
    const ping = await env.exec('ping', ['-4', '-c', '3', '-i', '0.2', '-W', '2', env.stackAddress], { timeoutMs: 20_000 });
    expect(lossOf(ping.stdout)).toEqual({ transmitted: 3, received: 3 });
    const curl = await env.exec('curl', ['-sS', '--max-time', '10', `http://${env.stackAddress}/`]);
    expect(curl.code).toBe(0);
    expect(curl.stdout).toContain(`address: ${env.stackAddress}`);
  });

  it('serves GET / over IPv6 from the same demo server', async () => {
    const result = await env.exec('curl', ['-g', '-sS', '--max-time', '10', httpUrl(STACK6)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^tsnet-stack: /);
  });

  it('stops cleanly, its counters showing both families at work, and leaves no namespace behind', async () => {
    const stopped = await env.stopStack();
    expect(stopped.code).toBe(0);
    const counters = parseShutdownCounters(stopped.stderr);
    // 5 + 3 + 2000 pings over IPv6; the 4000-byte ones and the UDP echo came in fragments.
    expect(counters.icmpv6?.['echo_replies']).toBeGreaterThanOrEqual(2008);
    expect(counters.ipv6?.['fragments_received']).toBeGreaterThanOrEqual(9);
    expect(counters.ipv6?.['fragments_sent']).toBeGreaterThanOrEqual(9);
    expect(counters.icmp?.['echo_replies']).toBeGreaterThanOrEqual(3);
    await env.stop();
    const list = await run('ip', ['netns', 'list']);
    expect(list.stdout).not.toContain(env.namespace);
  });
});

describe.skipIf(!isRoot)('the stack dialling a kernel IPv6 server', () => {
  let ns: Namespace;
  beforeAll(async () => {
    ns = await createNamespace();
  });
  afterAll(async () => {
    await ns?.stop();
  });

  it('tcp-client.ts dials [fd00::1]:8080 and reads the kernel server answer', async () => {
    const server = ns.spawn('python3', ['-u', '-c', lineServerPy('::', 8080, 'Hello from the kernel over IPv6')]);
    await waitForOutput(server, /listening/);
    const result = await ns.tsx(
      'scripts/examples/tcp-client.ts',
      ['--tun', 'tsnc6', '--log', 'warn', ...IPV6_FLAGS, '--connect', `[${HOST6}]:8080`],
      { timeoutMs: 30_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Received data: Hello from the kernel over IPv6');
    await waitForOutput(server, new RegExp(`Received data: Hello, server! from ${STACK6}$`, 'm'));
  });
});
