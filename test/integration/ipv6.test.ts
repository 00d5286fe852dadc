/**
 * Issue 11 end to end: real ping -6, curl -6, nc -6 and python IPv6 clients against the stack's
 * services on a TUN device in a fresh namespace (the device's IPv6 side fd00::1/64, the stack
 * fd00::2), the stack dialling a kernel IPv6 server, and IPv4 working beside it in the same stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const HOST6 = 'fd00::1';
const STACK6 = 'fd00::2';
/** The stack's IPv6 address in a URL (RFC 3986 3.2.2); curl -g keeps the brackets from being a glob. */
const STACK6_URL = `http://[${STACK6}]`;
const IPV6_FLAGS = ['--host-addr6', `${HOST6}/64`, '--addr6', STACK6];

/** Reads stdin and checks byte i == i % 251 (the demo's /bytes/N); prints "<length> ok|bad". */
const PATTERN_CHECK = `
import sys
data = sys.stdin.buffer.read()
period = bytes(range(251))
expected = (period * (len(data) // 251 + 1))[:len(data)]
print(len(data), 'ok' if data == expected else 'bad')
`;

/** Sends `size` bytes to the UDP echo over IPv6 and says whether the same bytes came back. */
const UDP_ECHO_CLIENT = `
import socket, sys
size = int(sys.argv[1])
payload = bytes((i * 7 + 3) % 256 for i in range(size))
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('${STACK6}', 7))
s.send(payload)
data = s.recv(65535)
print(len(data), 'same' if data == payload else 'different')
`;

/** A datagram to a closed port: the ICMPv6 port unreachable reaches a connected socket as ECONNREFUSED. */
const CLOSED_PORT_CLIENT = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('${STACK6}', 9999))
s.send(b'anyone there?')
try:
    s.recv(100)
    print('answered')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('timeout')
`;

function lossOf(pingOutput: string): { transmitted: number; received: number } {
  const match = /(\d+) packets transmitted, (\d+) received/.exec(pingOutput);
  if (!match) throw new Error(`unexpected ping output: ${pingOutput}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

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
    const result = await sh(`curl -g -sS --max-time 50 ${STACK6_URL}/bytes/67108864 | python3 -c "${PATTERN_CHECK.replace(/"/g, '\\"')}"`);
    expect(result.stdout.trim()).toBe('67108864 ok');
  });

  it('receives a 32 MiB upload over IPv6 and reports the right sha256', async () => {
    const result = await sh(
      `f=$(mktemp) && head -c 33554432 /dev/urandom > $f && want=$(sha256sum $f | cut -d' ' -f1) && ` +
        `got=$(curl -g -sS --max-time 50 --data-binary @$f -H 'Content-Type: application/octet-stream' ${STACK6_URL}/upload); ` +
        `rm -f $f; echo "want 33554432 $want" && echo "got $got"`,
    );
    const want = /want (\d+ [0-9a-f]{64})/.exec(result.stdout)?.[1];
    expect(want).toBeDefined();
    expect(result.stdout).toContain(`got ${want}`);
  });

  it('echoes a line through nc -6', async () => {
    const result = await env.exec('nc', ['-6', '-q', '1', '-w', '5', STACK6, '7'], { input: 'hi over ipv6\n', timeoutMs: 15_000 });
    expect(result.stdout).toBe('hi over ipv6\n');
  });

  it('echoes an 8000-byte UDP datagram over IPv6 byte for byte (fragmented both ways)', async () => {
    const result = await env.exec('python3', ['-c', UDP_ECHO_CLIENT, '8000'], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('8000 same');
  });

  it('answers a UDP datagram to a closed port with ICMPv6 port unreachable (ECONNREFUSED)', async () => {
    const result = await env.exec('python3', ['-c', CLOSED_PORT_CLIENT], { timeoutMs: 10_000 });
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
    const result = await env.exec('curl', ['-g', '-sS', '--max-time', '10', `${STACK6_URL}/`]);
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
    // The Go example server (docs/ARCHITECTURE.md, "Example programs") on a kernel IPv6 socket.
    const server = ns.spawn('python3', [
      '-u',
      '-c',
      `import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('::', 8080))
s.listen(1)
print('listening', flush=True)
c, addr = s.accept()
line = c.makefile('rb').readline()
print('Received data:', line.decode().strip(), 'from', addr[0], flush=True)
c.sendall(b'Hello from the kernel over IPv6\\n')
c.close()`,
    ]);
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
