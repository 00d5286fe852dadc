/**
 * Issue 12 end to end: `npm start -- --forward --device-netns NS --route default`. The stack's
 * process runs in one namespace with an HTTP server on 192.0.2.1 (a loopback alias there); the
 * TUN device is put in a second namespace whose default route is the device, and curl in that
 * second namespace reaches the server through the stack's transparent listener and its relay.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareRootRequirement, isRoot } from './root.js';
import { createNamespace, parseShutdownCounters, startStackInNamespace, type Namespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

const SERVER = '192.0.2.1';
const PORT = 8080;
const UDP_PORT = 5353;

/** A UDP server in the process's namespace that answers "answer:" + the request. */
const UDP_SERVER = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('${SERVER}', ${UDP_PORT}))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(b'answer:' + data, peer)
`;

const TCP_PORT = 7070;

/**
 * A TCP server in the process's namespace: reads until the client's FIN, then answers with the
 * byte count and closes (the client closes first, with a half-close).
 */
const TCP_SERVER = `
import socket, threading
def serve(conn):
    total = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        total += len(data)
    conn.sendall(b'%d' % total)
    conn.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${SERVER}', ${TCP_PORT}))
s.listen(512)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
`;

/** N connections one after another, each sending 100 bytes, half-closing, reading the count. */
const TCP_CLIENT = `
import socket, sys
ok = 0
for i in range(int(sys.argv[1])):
    c = socket.create_connection(('${SERVER}', ${TCP_PORT}), timeout=10)
    c.sendall(b'x' * 100)
    c.shutdown(socket.SHUT_WR)
    answer = b''
    while True:
        data = c.recv(100)
        if not data:
            break
        answer += data
    c.close()
    ok += answer == b'100'
print(ok)
`;

/** A client in the device's namespace: one request, the answer and who sent it. */
const UDP_CLIENT = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b'question', ('${SERVER}', ${UDP_PORT}))
data, peer = s.recvfrom(65535)
print(data.decode(), peer[0], peer[1])
`;

describe.skipIf(!isRoot)('forwarding a namespace through the stack', () => {
  let client: Namespace;
  let env: StackInNamespace;
  let served: string;
  let bigDigest: string;

  beforeAll(async () => {
    served = mkdtempSync(join(tmpdir(), 'tsnet-forward-'));
    const big = Buffer.alloc(10 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    writeFileSync(join(served, 'big.bin'), big);
    writeFileSync(join(served, 'small.txt'), 'forwarded\n');
    bigDigest = createHash('sha256').update(big).digest('hex');
    client = await createNamespace('tsnfc-');
    env = await startStackInNamespace({ extraFlags: ['--forward', '--device-netns', client.name, '--route', 'default'] });
    const alias = await env.exec('ip', ['addr', 'add', `${SERVER}/32`, 'dev', 'lo']);
    expect(alias.code, alias.stderr).toBe(0);
    env.spawn('python3', ['-m', 'http.server', String(PORT), '--bind', SERVER, '--directory', served]);
    env.spawn('python3', ['-c', UDP_SERVER]);
    env.spawn('python3', ['-c', TCP_SERVER]);
    // Wait until the server answers in its own namespace.
    for (let attempt = 0; ; attempt++) {
      const probe = await env.exec('curl', ['-sS', '--max-time', '2', `http://${SERVER}:${PORT}/small.txt`]);
      if (probe.code === 0) break;
      if (attempt > 50) throw new Error(`the HTTP server did not start: ${probe.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 60_000);

  afterAll(async () => {
    await env?.stop();
    await client?.stop();
    if (served) rmSync(served, { recursive: true, force: true });
  });

  it('puts the device in the other namespace with the host address and the default route', async () => {
    const route = await client.exec('ip', ['route', 'show', 'default']);
    expect(route.stdout).toContain(`dev ${env.tun}`);
    const address = await client.exec('ip', ['-4', 'addr', 'show', 'dev', env.tun]);
    expect(address.stdout).toContain(`${env.hostAddress}/24`);
    // The stack's own address still answers (its demo page).
    const page = await client.exec('curl', ['-sS', '--max-time', '5', `http://${env.stackAddress}/`]);
    expect(page.stdout).toContain('tsnet-stack');
  });

  it('carries 10 MiB from a server outside the namespace byte for byte', async () => {
    const result = await client.exec('sh', ['-c', `curl -sS --max-time 60 http://${SERVER}:${PORT}/big.bin | sha256sum`], {
      timeoutMs: 90_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split(' ')[0]).toBe(bigDigest);
  }, 120_000);

  it('carries 50 transfers in parallel', async () => {
    const script = `for i in $(seq 1 50); do curl -sS --max-time 60 http://${SERVER}:${PORT}/small.txt > /tmp/tsnfw.$$.$i & done; wait; cat /tmp/tsnfw.$$.*; rm -f /tmp/tsnfw.$$.*`;
    const result = await client.exec('sh', ['-c', script], { timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.split('\n').filter((line) => line === 'forwarded')).toHaveLength(50);
  }, 120_000);

  it("relays a UDP request and its answer, which comes from the server's address", async () => {
    const result = await client.exec('python3', ['-c', UDP_CLIENT], { timeoutMs: 15_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(`answer:question ${SERVER} ${UDP_PORT}`);
  });

  it("carries the client's half-close and closes 2000 connections with nothing left behind", async () => {
    const result = await client.exec('python3', ['-c', TCP_CLIENT, '2000'], { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('2000');
    // The last closes may still be crossing the device: look again for up to 2 s.
    let states: Array<[string, number]> = [];
    let open: number | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      const stats = await client.exec('curl', ['-sS', '--max-time', '10', `http://${env.stackAddress}/stats`]);
      const parsed = JSON.parse(stats.stdout) as {
        counters: Record<string, Record<string, number>>;
        tcp: { states: Record<string, number> };
      };
      open = parsed.counters.forward?.tcp_flows_open;
      // Only the /stats request itself holds a TCB; the forwarded ones left TIME-WAIT records at most.
      states = Object.entries(parsed.tcp.states).filter(([state]) => state !== 'TIME-WAIT');
      if (open === 0 && states.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(open).toBe(0);
    expect(states).toEqual([['ESTABLISHED', 1]]);
  }, 150_000);

  it('resets a connection to a closed port within a second', async () => {
    const started = Date.now();
    const result = await client.exec('curl', ['-sS', '--max-time', '5', `http://${SERVER}:${PORT + 1}/`]);
    expect(result.code).not.toBe(0);
    // curl says "Couldn't connect" (7) or "Connection reset" (56): the RST may beat its first read.
    expect(result.stderr).toMatch(/reset|refused|connect/i);
    expect([7, 56]).toContain(result.code);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('counts the flows, all closed at the end, and prints them on exit', async () => {
    const stats = await client.exec('curl', ['-sS', '--max-time', '10', `http://${env.stackAddress}/stats`]);
    const forward = (JSON.parse(stats.stdout) as { counters: Record<string, Record<string, number>> }).counters.forward ?? {};
    expect(forward.tcp_flows_opened).toBeGreaterThanOrEqual(2052);
    expect(forward.tcp_dials_refused).toBe(1);
    expect(forward.bytes_to_client).toBeGreaterThan(10 << 20);
    expect(forward.udp_flows_opened).toBe(1);
    expect(forward.udp_datagrams_to_client).toBe(1);
    const { code, stderr } = await env.stopStack();
    expect(code).toBe(0);
    const counters = parseShutdownCounters(stderr);
    expect(counters.forward?.tcp_flows_open).toBe(0);
  }, 60_000);
});
