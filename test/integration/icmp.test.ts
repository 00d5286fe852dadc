/**
 * Issue 2 end to end: real ping against the stack on a TUN device inside a fresh namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lossOf } from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import { parseShutdownCounters, run, startStackInNamespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

/** A python one-shot that writes an ICMP echo request with a wrong IP header checksum into the TUN device (via an AF_PACKET socket, which the kernel does not fix up) and reports whether any echo reply with that id came back within 1 s. */
const BAD_CHECKSUM_SCRIPT = `
import socket, struct, sys, time
dev = sys.argv[1]
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
ident = 0x4242
icmp = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'x' * 32
icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0, socket.inet_aton('10.0.0.1'), socket.inet_aton('10.0.0.2'))
good = csum(hdr)
bad = hdr[:10] + struct.pack('!H', good ^ 0x5555) + hdr[12:]
rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
rx.bind((dev, 0))
rx.settimeout(0.2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
tx.sendto(bad + icmp, (dev, 0x0800))
deadline = time.time() + 1.0
replies = 0
while time.time() < deadline:
    try:
        pkt = rx.recv(65535)
    except socket.timeout:
        continue
    if len(pkt) >= 28 and pkt[9] == 1 and pkt[20] == 0 and struct.unpack('!H', pkt[24:26])[0] == ident:
        replies += 1
print('replies', replies)
`;

describe.skipIf(!isRoot)('ICMP echo over a TUN device (real ping)', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('answers ping -c 5 with no loss', async () => {
    const result = await env.exec('ping', ['-c', '5', '-i', '0.2', '-W', '2', env.stackAddress], { timeoutMs: 20_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 5, received: 5 });
  });

  it('answers a 4000-byte ping (fragmented both ways) with no loss', async () => {
    const result = await env.exec('ping', ['-c', '3', '-i', '0.2', '-s', '4000', '-W', '2', env.stackAddress], { timeoutMs: 20_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 3, received: 3 });
    // ping itself checks the echoed payload and reports corruption as "wrong data byte".
    expect(result.stdout).not.toMatch(/wrong data|DUP/);
  });

  it('answers a flood ping of 2000 with no loss', async () => {
    const result = await env.exec('ping', ['-f', '-c', '2000', '-w', '60', env.stackAddress], { timeoutMs: 70_000 });
    expect(lossOf(result.stdout)).toEqual({ transmitted: 2000, received: 2000 });
  });

  it('drops a packet with a bad IP header checksum without replying, and counts it', async () => {
    const result = await env.exec('python3', ['-c', BAD_CHECKSUM_SCRIPT, env.tun], { timeoutMs: 20_000 });
    expect(result.stdout.trim()).toBe('replies 0');
    const stopped = await env.stopStack();
    expect(stopped.code).toBe(0);
    const counters = parseShutdownCounters(stopped.stderr);
    expect(counters.ip?.['drop.bad_checksum']).toBeGreaterThanOrEqual(1);
    expect(counters.icmp?.['echo_replies']).toBeGreaterThanOrEqual(2008);
  });

  it('leaves no namespace or device behind', async () => {
    const namespace = env.namespace;
    await env.stop();
    const list = await run('ip', ['netns', 'list']);
    expect(list.stdout).not.toContain(namespace);
  });
});
