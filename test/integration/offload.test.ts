/**
 * Virtio-net offloads on the TUN device (the default): large transfers (1 GiB down, 512 MiB up) byte for byte in TCP
 * super-segments both ways, a pcap of them that tcpdump reads, and the same services with
 * `--offload off`.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '../../src/pcap/pcap.js';
import { uploadOutcome, uploadScript } from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import { run, startStackInNamespace, uniqueName, type StackInNamespace } from './harness.js';

declareRootRequirement();

/** The sha256 of the demo's GET /bytes/N body: byte i is i % 251. */
function patternSha256(length: number): string {
  const block = Buffer.alloc(251 * 4096);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  const hash = createHash('sha256');
  let left = length;
  while (left > 0) {
    const n = Math.min(left, block.length);
    hash.update(block.subarray(0, n));
    left -= n;
  }
  return hash.digest('hex');
}

function sh(env: StackInNamespace, script: string, timeoutMs = 120_000) {
  return env.exec('sh', ['-c', script], { timeoutMs });
}

/** Counts and hashes stdin as it streams; prints "<bytes> <sha256>". */
const COUNT_AND_HASH = `
import hashlib, sys
h = hashlib.sha256()
n = 0
for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b''):
    h.update(chunk)
    n += len(chunk)
print(n, h.hexdigest())
`;

/** GET /bytes/N through curl, hashed on the way; resolves to "<bytes> <sha256>". */
async function download(env: StackInNamespace, bytes: number): Promise<string> {
  const result = await sh(env, `curl -sS --max-time 100 http://${env.stackAddress}/bytes/${bytes} | python3 -c "${COUNT_AND_HASH}"`);
  return result.stdout.trim();
}

/** POST /upload of `bytes` random bytes; resolves to [what was sent, what the server counted], each "<bytes> <sha256>". */
async function upload(env: StackInNamespace, bytes: number): Promise<[string | undefined, string | undefined]> {
  const { want, got } = uploadOutcome((await sh(env, uploadScript(env.stackAddress, bytes, 100))).stdout);
  return [want, got];
}

/** Sends 4 datagrams of 1000 bytes and one of 500 in one send with UDP_SEGMENT (USO) to the UDP echo; prints what came back. */
const USO_CLIENT = `
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.setsockopt(socket.IPPROTO_UDP, 103, 1000)  # UDP_SEGMENT
s.connect(('10.0.0.2', 7))
payload = os.urandom(4500)
s.send(payload)
echoed = [s.recv(65535) for _ in range(5)]
print(sorted(len(d) for d in echoed), 'same' if b''.join(sorted(echoed, key=lambda d: payload.index(d))) == payload else 'different')
`;

describe.skipIf(!isRoot)('TCP over a TUN device with offloads (the default)', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('says offload=on and opens the device with virtio-net headers', async () => {
    expect(env.output().stdout).toMatch(/^ready .* offload=on/m);
    const link = await env.exec('ip', ['-d', 'link', 'show', env.tun]);
    expect(link.stdout).toContain('vnet_hdr on');
  });

  it('echoes each datagram of a UDP super-packet (USO from a UDP_SEGMENT socket)', async () => {
    const result = await env.exec('python3', ['-c', USO_CLIENT], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('[500, 1000, 1000, 1000, 1000] same');
    const stats = (await env.stats()) as unknown as { link: { udpSuperPacketsIn: number } };
    expect(stats.link.udpSuperPacketsIn).toBeGreaterThanOrEqual(1);
  });

  // Issue 10's sizes: 1 GiB down and 512 MiB up, every byte checked.
  it('serves a 1 GiB download byte for byte in super-segments', async () => {
    const before = (await env.stats()).counters.tcp!.super_segments_sent ?? 0;
    const size = 1024 * 1024 * 1024;
    expect(await download(env, size)).toBe(`${size} ${patternSha256(size)}`);
    const counters = (await env.stats()).counters;
    // At least half the data left in super-segments of up to 45 segments each.
    expect((counters.tcp!.super_segments_sent ?? 0) - before).toBeGreaterThan(size / 2 / 65_535);
    expect(counters.tcp!['drop.bad_checksum'] ?? 0).toBe(0);
  }, 120_000);

  it('receives a 512 MiB upload byte for byte, the kernel sending super-packets', async () => {
    const linkBefore = ((await env.stats()) as unknown as { link: { packetsIn: number } }).link.packetsIn;
    const size = 512 * 1024 * 1024;
    const [want, got] = await upload(env, size);
    expect(want).toBeDefined();
    expect(got).toBe(want);
    const stats = (await env.stats()) as unknown as { link: { packetsIn: number; dropsInBadOffload: number } };
    // Fewer packets than MTU-sized segments would take: the kernel's GSO packets came whole.
    expect(stats.link.packetsIn - linkBefore).toBeLessThan(size / 1448 / 2);
    expect(stats.link.dropsInBadOffload).toBe(0);
  }, 120_000);
});

describe.skipIf(!isRoot)('a pcap taken with offloads on', () => {
  let pcapFile: string;
  beforeAll(() => {
    pcapFile = join(tmpdir(), `${uniqueName('tsn-offload-')}.pcap`);
  });
  afterAll(() => {
    rmSync(pcapFile, { force: true });
  });

  it('records the super-segments of a whole 4 MiB download, and tcpdump reads it', async () => {
    const env = await startStackInNamespace({ extraFlags: ['--pcap', pcapFile] });
    const size = 4 * 1024 * 1024;
    try {
      expect(await download(env, size)).toBe(`${size} ${patternSha256(size)}`);
      await env.stopStack();
    } finally {
      await env.stop();
    }
    const records = readPcap(readFileSync(pcapFile));
    // The stack's segments from port 80: their payload covers the whole body (and the headers).
    let payloadFromServer = 0;
    let largest = 0;
    for (const { data } of records) {
      if (data[9] !== 6 || data[12] !== 10 || data[15] !== 2) continue;
      const ipHeader = (data[0]! & 0x0f) * 4;
      if (((data[ipHeader]! << 8) | data[ipHeader + 1]!) !== 80) continue;
      payloadFromServer += data.length - ipHeader - (data[ipHeader + 12]! >>> 4) * 4;
      largest = Math.max(largest, data.length);
    }
    expect(payloadFromServer).toBeGreaterThanOrEqual(size);
    expect(largest).toBeGreaterThan(1500);
    const dump = await run('tcpdump', ['-nr', pcapFile]);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toMatch(/10\.0\.0\.2\.80 > 10\.0\.0\.1\.\d+: Flags \[\.\], seq \d+:\d+, ack \d+, .*length (\d{4,5})/);
  }, 60_000);
});

describe.skipIf(!isRoot)('TCP, UDP and ICMP over a TUN device with --offload off', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace({ extraFlags: ['--offload', 'off'] });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('says offload=off and opens the device without virtio-net headers', async () => {
    expect(env.output().stdout).toMatch(/^ready .* offload=off/m);
    const link = await env.exec('ip', ['-d', 'link', 'show', env.tun]);
    expect(link.stdout).toContain('vnet_hdr off');
  });

  it('answers ping', async () => {
    const ping = await env.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', env.stackAddress]);
    expect(ping.stdout).toMatch(/3 received/);
  });

  it('serves GET / and a 32 MiB download to curl in MTU-sized segments', async () => {
    const page = await env.exec('curl', ['-sS', '--max-time', '10', `http://${env.stackAddress}/`]);
    expect(page.stdout).toContain('address: 10.0.0.2');
    const size = 32 * 1024 * 1024;
    expect(await download(env, size)).toBe(`${size} ${patternSha256(size)}`);
    expect((await env.stats()).counters.tcp!.super_segments_sent).toBeUndefined();
  });

  it('receives a 32 MiB upload byte for byte', async () => {
    const [want, got] = await upload(env, 32 * 1024 * 1024);
    expect(want).toBeDefined();
    expect(got).toBe(want);
  });

  it('echoes through nc over TCP and UDP', async () => {
    const tcp = await env.exec('nc', ['-q', '1', '-w', '5', env.stackAddress, '7'], { input: 'hi\n', timeoutMs: 15_000 });
    expect(tcp.stdout).toBe('hi\n');
    const udp = await env.exec('nc', ['-u', '-w', '2', env.stackAddress, '7'], { input: 'datagram\n', timeoutMs: 15_000 });
    expect(udp.stdout).toBe('datagram\n');
  });
});
