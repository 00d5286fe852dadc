/**
 * The TUN device against the real kernel (root only), and the worker/ring machinery over a
 * socketpair (no root needed).
 */
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { readUint16, writeUint16 } from '../../src/bytes.js';
import { formatIPv4, parseIPv4Address } from '../../src/wire/address.js';
import { finishChecksum, pseudoHeaderSum, sumWords } from '../../src/wire/checksum.js';
import { parseIPv4Packet, PROTOCOL_UDP, writeIPv4Header } from '../../src/wire/ipv4.js';
import { openStack } from '../../src/open.js';
import { libc } from '../../src/tun/libc.js';
import { PacketFdLink } from '../../src/tun/packet-fd-link.js';
import { TunError } from '../../src/tun/tun-error.js';
import { DEFAULT_TX_QUEUE_LENGTH, openTun, type TunDevice } from '../../src/tun/tun-device.js';
import { runNodeUnprivileged, uniqueName } from './harness.js';
import { declareRootRequirement, isRoot } from './root.js';
import { seqpacketPair } from '../support/seqpacket-pair.js';

declareRootRequirement();

const execFileAsync = promisify(execFile);

/** Device names are this prefix and uniqueName's 6 random hex digits: 12 characters (IFNAMSIZ allows 15). */
const DEVICE_PREFIX = 'tsntun';

/** A /24 in 10.231.0.0/16 that no other test run is likely to be using. */
function uniqueSubnet(): { host: string; peer: string; cidr: string } {
  const third = 1 + Math.floor(Math.random() * 254);
  return { host: `10.231.${third}.1`, peer: `10.231.${third}.2`, cidr: `10.231.${third}.1/24` };
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Poll `condition` until it holds or `ms` pass; resolves with its last value. */
async function eventually<T>(read: () => T, condition: (value: T) => boolean, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  let value = read();
  while (!condition(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = read();
  }
  return value;
}

/** A UDP datagram in an IPv4 packet, built with the project's codecs. */
function udpPacket(source: number, destination: number, sourcePort: number, destinationPort: number, payload: Uint8Array): Uint8Array {
  const udpLength = 8 + payload.length;
  const packet = new Uint8Array(20 + udpLength);
  writeIPv4Header(packet, 0, { source, destination, protocol: PROTOCOL_UDP, payloadLength: udpLength, identification: 0x1234 });
  writeUint16(packet, 20, sourcePort);
  writeUint16(packet, 22, destinationPort);
  writeUint16(packet, 24, udpLength);
  writeUint16(packet, 26, 0);
  packet.set(payload, 28);
  const checksum = finishChecksum(sumWords(packet, 20, udpLength, pseudoHeaderSum(source, destination, PROTOCOL_UDP, udpLength)));
  writeUint16(packet, 26, checksum === 0 ? 0xffff : checksum);
  return packet;
}

/** The IPv4/UDP packets among a batch (the kernel also sends IPv6 router solicitations and such). */
function udpTo(packet: Uint8Array, destination: number, port: number): boolean {
  const parsed = parseIPv4Packet(packet);
  return (
    parsed.ok &&
    parsed.header.protocol === PROTOCOL_UDP &&
    parsed.header.destination === destination &&
    readUint16(parsed.payload, 2) === port
  );
}

describe.skipIf(!isRoot)('TUN device (root)', () => {
  const opened: TunDevice[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((device) => device.close()));
  });

  it('configures the kernel side and moves packets both ways', async () => {
    const subnet = uniqueSubnet();
    const name = uniqueName(DEVICE_PREFIX);
    const device = await openTun({ name, mtu: 1400, configure: { hostCidr: subnet.cidr } });
    opened.push(device);
    expect(device.name).toBe(name);
    expect(device.created).toBe(true);
    expect(device.mtu).toBe(1400);

    const { stdout } = await execFileAsync('ip', ['-j', 'addr', 'show', 'dev', name]);
    const [info] = JSON.parse(stdout) as {
      mtu: number;
      txqlen: number;
      flags: string[];
      addr_info: { family: string; local: string; prefixlen: number }[];
    }[];
    expect(info?.mtu).toBe(1400);
    expect(info?.txqlen).toBe(DEFAULT_TX_QUEUE_LENGTH);
    expect(info?.flags).toContain('UP');
    expect(info?.addr_info).toContainEqual(expect.objectContaining({ family: 'inet', local: subnet.host, prefixlen: 24 }));

    // Kernel -> device: a datagram to the peer address is routed into the TUN device.
    const peer = parseIPv4Address(subnet.peer)!;
    const host = parseIPv4Address(subnet.host)!;
    const received: Uint8Array[] = [];
    device.setReceiver((packets) => {
      for (const packet of packets) if (udpTo(packet, peer, 4321)) received.push(packet.slice());
    });
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => socket.bind(0, subnet.host, () => resolve()).once('error', reject));
      await new Promise<void>((resolve, reject) =>
        socket.send('from the kernel', 4321, subnet.peer, (error) => (error ? reject(error) : resolve())),
      );
      await eventually(
        () => received.length,
        (count) => count > 0,
      );
      expect(received.length).toBe(1);
      const packet = received[0]!;
      expect(packet[0]! >> 4).toBe(4);
      const parsed = parseIPv4Packet(packet);
      if (!parsed.ok) throw new Error(`kernel packet did not parse: ${parsed.reason}`);
      expect(formatIPv4(parsed.header.source)).toBe(subnet.host);
      expect(formatIPv4(parsed.header.destination)).toBe(subnet.peer);
      expect(Buffer.from(parsed.payload.subarray(8)).toString()).toBe('from the kernel');

      // Device -> kernel: a hand-built datagram from the peer to the host's socket.
      const hostPort = socket.address().port;
      const arrived = new Promise<{ text: string; from: string; port: number }>((resolve) =>
        socket.once('message', (message, remote) => resolve({ text: message.toString(), from: remote.address, port: remote.port })),
      );
      device.send(udpPacket(peer, host, 5555, hostPort, new TextEncoder().encode('from the device')));
      const message = await Promise.race([
        arrived,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('datagram did not arrive')), 3000)),
      ]);
      expect(message).toEqual({ text: 'from the device', from: subnet.peer, port: 5555 });
      expect(device.stats().packetsOut).toBe(1);
      expect(device.stats().writeErrors).toBe(0);
      expect(device.stats().packetsIn).toBeGreaterThanOrEqual(1);
    } finally {
      socket.close();
    }
  });

  it('configures an IPv6 address with nodad in a namespace that disables IPv6 by default', async () => {
    const namespace = uniqueName('tsn6ns');
    await execFileAsync('ip', ['netns', 'add', namespace]);
    try {
      // New devices there start with IPv6 off; openTun must turn it on for its device.
      await execFileAsync('ip', ['netns', 'exec', namespace, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
      const name = uniqueName(DEVICE_PREFIX);
      const device = await openTun({
        name,
        configure: { hostCidr: uniqueSubnet().cidr, hostCidr6: 'fd00:5eed::1/64', netns: namespace },
      });
      opened.push(device);
      const { stdout } = await execFileAsync('ip', ['-n', namespace, '-j', '-6', 'addr', 'show', 'dev', name]);
      const [info] = JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number; nodad?: boolean; tentative?: boolean }[] }[];
      const address = info?.addr_info.find((entry) => entry.local === 'fd00:5eed::1');
      expect(address).toMatchObject({ prefixlen: 64, nodad: true });
      expect(address?.tentative).toBeUndefined();
      const { stdout: disabled } = await execFileAsync('ip', [
        'netns',
        'exec',
        namespace,
        'cat',
        `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`,
      ]);
      expect(disabled.trim()).toBe('0');
      await device.close();
    } finally {
      await execFileAsync('ip', ['netns', 'del', namespace]);
    }
  });

  it('refuses an IPv6 host address that is not a CIDR, and an MTU below 1280 with one (RFC 8200 5)', async () => {
    const name = uniqueName(DEVICE_PREFIX);
    await expect(openTun({ name, configure: { hostCidr: '10.231.0.1/24', hostCidr6: 'fd00::1' } })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(openTun({ name, mtu: 1279, configure: { hostCidr: '10.231.0.1/24', hostCidr6: 'fd00::1/64' } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('1280') as unknown,
    });
    expect(existsSync(`/sys/class/net/${name}`)).toBe(false);
  });

  it('opens and closes 50 devices without a hang or a leaked fd or thread', async () => {
    const subnet = uniqueSubnet();
    // Warm up once so that lazily created process-wide resources do not count as leaks.
    await (await openTun({ name: uniqueName(DEVICE_PREFIX), configure: { hostCidr: subnet.cidr } })).close();
    const fdsBefore = openFdCount();
    const threadsBefore = threadCount();
    const started = performance.now();
    for (let i = 0; i < 50; i++) {
      const name = uniqueName(DEVICE_PREFIX);
      const device = await openTun({ name, configure: i % 2 === 0 ? { hostCidr: subnet.cidr } : false });
      try {
        expect(existsSync(`/sys/class/net/${name}`)).toBe(true);
        device.setReceiver(() => {});
      } finally {
        await device.close();
      }
      expect(existsSync(`/sys/class/net/${name}`)).toBe(false);
    }
    const elapsed = performance.now() - started;
    console.log(`50 open/close cycles in ${elapsed.toFixed(0)} ms (${(elapsed / 50).toFixed(1)} ms each)`);
    expect(await eventually(openFdCount, (count) => count <= fdsBefore)).toBe(fdsBefore);
    expect(await eventually(threadCount, (count) => count <= threadsBefore)).toBe(threadsBefore);
  });

  it('openStack closes the device when the stack refuses its options (no fd, thread or device left)', async () => {
    const subnet = uniqueSubnet();
    await (await openTun({ name: uniqueName(DEVICE_PREFIX), configure: { hostCidr: subnet.cidr } })).close();
    const fdsBefore = openFdCount();
    const threadsBefore = threadCount();
    const name = uniqueName(DEVICE_PREFIX);
    // An MSS the 1500-byte MTU cannot carry: the Stack constructor throws EINVAL after the device is open.
    await expect(openStack({ tun: name, hostCidr: subnet.cidr, tcp: { mss: 100_000 }, setDefault: false })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    expect(existsSync(`/sys/class/net/${name}`)).toBe(false);
    expect(await eventually(openFdCount, (count) => count <= fdsBefore)).toBe(fdsBefore);
    expect(await eventually(threadCount, (count) => count <= threadsBefore)).toBe(threadsBefore);
  });

  it('attaches to a persistent device and leaves it in place', async () => {
    const name = uniqueName(DEVICE_PREFIX);
    await execFileAsync('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tun']);
    try {
      await execFileAsync('ip', ['link', 'set', name, 'mtu', '9000']);
      const device = await openTun({ name, configure: false });
      opened.push(device);
      expect(device.created).toBe(false);
      expect(device.mtu).toBe(9000); // taken from the kernel when not configuring
      await device.close();
      expect(existsSync(`/sys/class/net/${name}`)).toBe(true);
    } finally {
      await execFileAsync('ip', ['tuntap', 'del', 'dev', name, 'mode', 'tun']);
    }
  });

  it('lets the kernel pick the number in a %d name', async () => {
    const device = await openTun({ name: 'tsntun%d', configure: false });
    opened.push(device);
    expect(device.name).toMatch(/^tsntun\d+$/);
    expect(device.created).toBe(true);
    expect(existsSync(`/sys/class/net/${device.name}`)).toBe(true);
    await device.close();
    expect(existsSync(`/sys/class/net/${device.name}`)).toBe(false);
  });

  it('reports clear errors', async () => {
    const tooLong = openTun({ name: 'tsntun-name-too-long' });
    await expect(tooLong).rejects.toBeInstanceOf(TunError);
    await expect(tooLong).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openTun({ name: '' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openTun({ name: uniqueName(DEVICE_PREFIX), mtu: 10 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openTun({ name: uniqueName(DEVICE_PREFIX), mtu: 65536 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openTun({ name: uniqueName(DEVICE_PREFIX), configure: { hostCidr: '10.231.0.1' } })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(
      openTun({ name: uniqueName(DEVICE_PREFIX), configure: { hostCidr: '10.231.0.1/24', txQueueLength: 0 } }),
    ).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(openTun({ name: 'lo' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(openTun({ name: uniqueName(DEVICE_PREFIX), ringBytes: 1000 })).rejects.toMatchObject({ code: 'EINVAL' });

    const missing = '/nonexistent/tsntun-clone';
    const noDevice = openTun({ name: uniqueName(DEVICE_PREFIX), devicePath: missing });
    await expect(noDevice).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(noDevice).rejects.toThrow(missing);

    const name = uniqueName(DEVICE_PREFIX);
    const fdsBefore = openFdCount();
    const first = await openTun({ name, configure: false });
    opened.push(first);
    const second = openTun({ name, configure: false });
    await expect(second).rejects.toMatchObject({ code: 'EBUSY' });
    await first.close();
    expect(await eventually(openFdCount, (count) => count <= fdsBefore)).toBe(fdsBefore);
  });

  it('tells an unprivileged user to run as root (EPERM)', async () => {
    // Two ways to lack the privilege: /dev/net/tun is root-only (open fails with EACCES), or a
    // world-accessible clone node lets open succeed and TUNSETIFF fails with EPERM.
    const dir = mkdtempSync(join(tmpdir(), 'tsntun-'));
    try {
      chmodSync(dir, 0o755);
      const openClone = join(dir, 'tun');
      await execFileAsync('mknod', [openClone, 'c', '10', '200']);
      chmodSync(openClone, 0o666);
      const script = (checkout: string) => `
        import { openTun } from ${JSON.stringify(pathToFileURL(`${checkout}src/tun/tun-device.ts`).href)};
        const results = [];
        for (const devicePath of [undefined, ${JSON.stringify(openClone)}]) {
          try { await openTun({ name: ${JSON.stringify(uniqueName(DEVICE_PREFIX))}, devicePath }); results.push({ code: 'opened' }); }
          catch (error) { results.push({ code: error.code, message: error.message }); }
        }
        console.log(JSON.stringify(results));`;
      const { stdout, stderr, code } = await runNodeUnprivileged((checkout) => [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script(checkout),
      ]);
      expect(code, stderr).toBe(0);
      const results = JSON.parse(stdout.trim().split('\n').pop()!) as { code: string; message: string }[];
      expect(results).toHaveLength(2);
      for (const result of results) {
        expect(result.code).toBe('EPERM');
        expect(result.message).toMatch(/run as root/);
      }
      expect(results[0]!.message).toContain('/dev/net/tun');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('delivers a burst from the kernel in batches', async () => {
    const subnet = uniqueSubnet();
    const device = await openTun({ name: uniqueName(DEVICE_PREFIX), configure: { hostCidr: subnet.cidr } });
    opened.push(device);
    const peer = parseIPv4Address(subnet.peer)!;
    const port = 7777;
    const total = 20_000;
    // What the kernel itself drops when its queue towards the device is full (the machine busy
    // with other test files): outside the stack, so counted apart from what the stack lost.
    const kernelDrops = (): number => Number(readFileSync(`/sys/class/net/${device.name}/statistics/tx_dropped`, 'utf8'));
    const kernelDropsBefore = kernelDrops();
    let received = 0;
    let calls = 0;
    let largestCall = 0;
    let first = 0;
    let last = 0;
    device.setReceiver((packets) => {
      calls++;
      largestCall = Math.max(largestCall, packets.length);
      for (const packet of packets) {
        if (!udpTo(packet, peer, port)) continue;
        if (received === 0) first = performance.now();
        received++;
        last = performance.now();
      }
      // A receiver that keeps up is handed packets as they come, a few per call; one that falls
      // behind must get what queued meanwhile in one call, which is what batching is for. Hold
      // this thread once, early in the burst, so that the device's queue fills.
      if (calls === 1) {
        const until = performance.now() + 20;
        while (performance.now() < until);
      }
    });
    // The sender is another process, so that it does not compete with the receiver for this thread.
    const sender = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('node:dgram').createSocket('udp4');
         const payload = Buffer.alloc(16, 7);
         let sent = 0, failed = 0;
         s.bind(0, '${subnet.host}', () => {
           for (let i = 0; i < ${total}; i++) s.send(payload, ${port}, '${subnet.peer}', (e) => { if (e) failed++; if (++sent === ${total}) { console.log(failed); s.close(); } });
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let senderOutput = '';
    sender.stdout.on('data', (chunk: Buffer) => (senderOutput += chunk.toString()));
    try {
      await new Promise<void>((resolve, reject) =>
        sender.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited with ${code}`)))),
      );
    } finally {
      if (sender.exitCode === null) sender.kill();
    }
    await eventually(
      () => received + kernelDrops() - kernelDropsBefore,
      (count) => count >= total,
      2000,
    );
    const droppedByKernel = kernelDrops() - kernelDropsBefore;
    const seconds = (last - first) / 1000;
    console.log(
      `burst: ${received}/${total} datagrams in ${calls} receiver calls (${(received / calls).toFixed(1)} per call, at most ${largestCall}), ` +
        `${seconds > 0 ? Math.round(received / seconds) : 'n/a'} packets/s; sender errors ${senderOutput.trim()}; ` +
        `ring stalls ${device.stats().rxRingStalls}; dropped by the kernel's queue ${droppedByKernel}`,
    );
    // The point is batching; how much of a 20,000-datagram burst the kernel queues depends on how
    // busy the machine is (other test files run beside this one), so only most of it is required.
    expect(received).toBeLessThanOrEqual(total);
    expect(received).toBeGreaterThanOrEqual(total * 0.5);
    // The device queues up to its txqueuelen (500) while the receiver is held: far more than 64.
    expect(largestCall).toBeGreaterThanOrEqual(64);
    expect(calls).toBeLessThan(received);
    expect(device.stats().batchesIn).toBe(calls);
  });
});

describe('PacketFdLink over a socketpair (no root needed)', () => {
  it('carries packets both ways through small rings that wrap many times, then releases everything', async () => {
    const fdsBefore = openFdCount();
    const [aFd, bFd] = seqpacketPair();
    const a = await PacketFdLink.start(aFd, { mtu: 65535, ringBytes: 1 << 18 });
    const b = await PacketFdLink.start(bFd, { mtu: 65535, ringBytes: 1 << 18 });
    try {
      // Sizes that exercise padding and the wrap marker: 1..3 bytes past a word, and large ones.
      const sizes = Array.from({ length: 600 }, (_, i) => [1, 2, 3, 5, 100, 1500, 9001, 40_000, 65_535][i % 9]!);
      const receivedAtB: Uint8Array[] = [];
      let batchesAtB = 0;
      b.setReceiver((packets) => {
        batchesAtB++;
        for (const packet of packets) receivedAtB.push(packet.slice());
      });
      const echoedToA: number[] = [];
      a.setReceiver((packets) => {
        for (const packet of packets) echoedToA.push(packet.length);
      });
      let sent = 0;
      // Send in rounds no larger than the ring so that nothing is dropped for a full TX ring.
      while (sent < sizes.length) {
        let bytes = 0;
        while (sent < sizes.length && bytes + sizes[sent]! + 8 < (1 << 18) / 2) {
          const packet = new Uint8Array(sizes[sent]!);
          for (let i = 0; i < packet.length; i++) packet[i] = (sent + i) & 0xff;
          bytes += packet.length + 8;
          a.send(packet);
          sent++;
        }
        await eventually(
          () => a.stats().packetsOut - receivedAtB.length,
          (pending) => pending === 0,
          5000,
        );
      }
      expect(a.stats().dropsOutQueueFull).toBe(0);
      expect(receivedAtB.map((packet) => packet.length)).toEqual(sizes);
      receivedAtB.forEach((packet, index) => {
        expect(packet[0]).toBe(index & 0xff);
        expect(packet[packet.length - 1]).toBe((index + packet.length - 1) & 0xff);
      });
      expect(b.stats().packetsIn).toBe(sizes.length);
      expect(batchesAtB).toBeLessThanOrEqual(sizes.length);

      // The other direction, and a send from inside a receive handler.
      b.setReceiver((packets) => {
        for (const packet of packets) b.send(packet);
      });
      a.send(new Uint8Array(77));
      await eventually(
        () => echoedToA.length,
        (count) => count > 0,
      );
      expect(echoedToA).toEqual([77]);

      // Oversized and empty packets are dropped and counted, not thrown.
      a.send(new Uint8Array(0));
      a.send(new Uint8Array(65_536));
      expect(a.stats().dropsOutInvalid).toBe(2);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // close() is idempotent and leaves no descriptor behind.
    await a.close();
    expect(await eventually(openFdCount, (count) => count <= fdsBefore)).toBe(fdsBefore);
  });

  it('drops and counts when the TX ring is full instead of blocking', async () => {
    const [aFd, bFd] = seqpacketPair();
    // Nobody reads b, so the socket buffer fills, the worker gets EAGAIN and the TX ring backs up.
    const a = await PacketFdLink.start(aFd, { mtu: 65535, ringBytes: 1 << 18 });
    try {
      const packet = new Uint8Array(60_000);
      for (let i = 0; i < 200; i++) a.send(packet);
      const stats = a.stats();
      expect(stats.packetsOut + stats.dropsOutQueueFull).toBe(200);
      expect(stats.dropsOutQueueFull).toBeGreaterThan(0);
    } finally {
      await a.close();
      libc().close(bFd);
    }
  });

  it('keeps packets in the ring until a receiver is installed, and wakes a worker stalled on a full RX ring', async () => {
    const [aFd, bFd] = seqpacketPair();
    // a's TX ring (4 MiB) holds what the socket and b's small RX ring cannot.
    const a = await PacketFdLink.start(aFd, { mtu: 65535 });
    // The worker's RX ring: b's worker reads (the event loop's reading has no ring to stall on).
    const b = await PacketFdLink.start(bFd, { mtu: 65535, ringBytes: 1 << 18, receiveOn: 'worker' });
    try {
      // 12 x 30000 bytes is more than b's 256 KiB RX ring holds: b's worker must stall and be woken.
      for (let i = 0; i < 12; i++) a.send(new Uint8Array(30_000).fill(i));
      expect(a.stats().dropsOutQueueFull).toBe(0);
      await eventually(
        () => b.stats().rxRingStalls,
        (count) => count > 0,
        2000,
      );
      expect(b.stats().packetsIn).toBe(0);
      const firstBytes: number[] = [];
      b.setReceiver((packets) => {
        for (const packet of packets) firstBytes.push(packet[0]!);
      });
      await eventually(
        () => firstBytes.length,
        (count) => count >= 12,
        5000,
      );
      expect(firstBytes).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(b.stats().rxRingStalls).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
