/**
 * The TUN link's worker-thread hand-off, over a SOCK_SEQPACKET socketpair (one read is one
 * packet, like a TUN fd; no root needed). A ping-pong whose every round makes two separate
 * send-and-wake calls races the main thread's wake-up against the worker's draining of its wake
 * pipe: a lost wake-up leaves a packet in the TX ring with nothing else coming, and the
 * exchange stalls. (With the wake flag cleared before the pipe was drained, this stalled within
 * a few thousand rounds in two runs out of three.)
 */
import { describe, expect, it } from 'vitest';
import { PacketFdLink } from '../../../src/tun/packet-fd-link.js';
import type { TunError } from '../../../src/tun/tun-error.js';
import { libc } from '../../../src/tun/libc.js';
import { seqpacketPair } from '../../support/seqpacket-pair.js';

/** Both ways of receiving: the event loop polling the fd (the default) and the worker's RX ring. */
describe.each(['event-loop', 'worker'] as const)('receiving on the %s', (receiveOn) => {
  it('never loses a wake-up: 20000 ping-pong rounds of two separately woken sends complete', async () => {
    const [aFd, bFd] = seqpacketPair();
    // Every packet through the worker: direct writes would leave the wake-up path unexercised.
    const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, directWrites: false, receiveOn });
    const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18, directWrites: false, receiveOn });
    expect(a.receivesOnEventLoop).toBe(receiveOn === 'event-loop');
    const rounds = 20_000;
    let completed = 0;
    let firstOfPairSeen = false;
    b.setReceiver((packets) => {
      for (const packet of packets) b.send(Uint8Array.from(packet));
    });
    const sendPair = () => {
      a.send(new Uint8Array(64));
      // A second send on a later turn: its wake-up may land while the worker drains the first's.
      setImmediate(() => a.send(new Uint8Array(64)));
    };
    const finished = new Promise<void>((resolve) => {
      a.setReceiver((packets) => {
        for (let i = 0; i < packets.length; i++) {
          if (!firstOfPairSeen) {
            firstOfPairSeen = true;
            continue;
          }
          firstOfPairSeen = false;
          completed++;
          if (completed === rounds) resolve();
          else sendPair();
        }
      });
    });
    sendPair();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      finished.then(() => 'completed'),
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`stalled after ${completed} rounds`), 20_000))),
    ]);
    clearTimeout(timer);
    await Promise.all([a.close(), b.close()]);
    expect(outcome).toBe('completed');
    expect(a.stats().directWrites).toBe(0);
    expect(a.stats().wakesSent).toBeGreaterThan(0);
  }, 40_000);

  it('keeps the order of packets written directly and through the worker', async () => {
    const [aFd, bFd] = seqpacketPair();
    const a = await PacketFdLink.start(aFd, { mtu: 9000, ringBytes: 1 << 18, receiveOn });
    const b = await PacketFdLink.start(bFd, { mtu: 9000, ringBytes: 1 << 18, receiveOn });
    const total = 3000;
    const received: number[] = [];
    let arrived: (() => void) | undefined;
    b.setReceiver((packets) => {
      for (const packet of packets) received.push(new DataView(packet.buffer, packet.byteOffset).getUint32(0));
      arrived?.();
    });
    const allArrived = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${received.length} of ${count} packets arrived`)), 10_000);
        arrived = () => {
          if (received.length < count) return;
          clearTimeout(timer);
          resolve();
        };
        arrived();
      });
    // Bursts of 1 to 7 packets, some too big to be written directly, each on its own turn; only
    // every third burst waits for its packets, so the worker is sometimes asleep with an empty
    // ring and sometimes still writing the previous burst. (Never more than the socket pair holds.)
    let next = 0;
    for (let round = 0; next < total; round++) {
      const burst = Math.min(1 + (round % 7), total - next);
      for (let i = 0; i < burst; i++, next++) {
        const packet = new Uint8Array(next % 5 === 0 ? 6000 : 100);
        new DataView(packet.buffer).setUint32(0, next);
        a.send(packet);
      }
      if (round % 3 === 0) await allArrived(next);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await allArrived(total);
    const stats = a.stats();
    await Promise.all([a.close(), b.close()]);
    expect(received).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(stats.dropsOutQueueFull).toBe(0);
    expect(stats.directWrites).toBeGreaterThan(0);
    expect(stats.directWrites).toBeLessThan(total);
  }, 40_000);

  it('hands what queued before the receiver was set to it in one batch, in order', async () => {
    const [aFd, bFd] = seqpacketPair();
    const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18, receiveOn });
    const sys = libc();
    // Written straight into the socket, as the kernel queues packets on a TUN device.
    for (let i = 0; i < 40; i++) expect(sys.write(aFd, new Uint8Array(200).fill(i), 200)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const batches: number[][] = [];
    const all = new Promise<void>((resolve) => {
      let count = 0;
      b.setReceiver((packets) => {
        batches.push(packets.map((packet) => packet[0]!));
        count += packets.length;
        if (count >= 40) resolve();
      });
    });
    await all;
    await b.close();
    sys.close(aFd);
    expect(batches.flat()).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(batches.length).toBe(1);
  });
});

it('reads on the event loop in batches no larger than its buffer, in order', async () => {
  const [aFd, bFd] = seqpacketPair();
  // a's TX ring holds what the socket cannot; b's 256 KiB batch buffer takes at most 7 of these
  // 30000-byte packets per batch (each read needs room for the largest packet).
  const a = await PacketFdLink.start(aFd, { mtu: 65535 });
  const b = await PacketFdLink.start(bFd, { mtu: 65535, ringBytes: 1 << 18 });
  const firstBytes: number[] = [];
  const all = new Promise<void>((resolve) =>
    b.setReceiver((packets) => {
      for (const packet of packets) firstBytes.push(packet[0]!);
      if (firstBytes.length === 24) resolve();
    }),
  );
  for (let i = 0; i < 24; i++) a.send(new Uint8Array(30_000).fill(i));
  await all;
  const stats = b.stats();
  await Promise.all([a.close(), b.close()]);
  expect(firstBytes).toEqual(Array.from({ length: 24 }, (_, i) => i));
  expect(stats.batchesIn).toBeGreaterThanOrEqual(4);
  expect(stats.rxRingStalls).toBe(0);
});

it('counts and drops a record longer than the largest packet, and goes on receiving', async () => {
  const [aFd, bFd] = seqpacketPair();
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
  const sys = libc();
  const received: number[] = [];
  const arrived = new Promise<void>((resolve) =>
    b.setReceiver((packets) => {
      for (const packet of packets) received.push(packet.length);
      if (received.includes(300)) resolve();
    }),
  );
  // 70000 bytes: more than any IP packet (65535), so no read can take it whole.
  expect(sys.write(aFd, new Uint8Array(70_000), 70_000)).toBe(70_000);
  expect(sys.write(aFd, new Uint8Array(300), 300)).toBe(300);
  await arrived;
  const stats = b.stats();
  await b.close();
  sys.close(aFd);
  expect(received).toEqual([300]);
  expect(stats.dropsInTooLong).toBe(1);
});

it('reports the end of the fd once, whichever thread sees it first', async () => {
  const [aFd, bFd] = seqpacketPair();
  const failures: TunError[] = [];
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18, onDeviceFailure: (error) => failures.push(error) });
  b.setReceiver(() => undefined);
  libc().close(aFd);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await b.close();
  expect(failures.map((error) => error.code)).toEqual(['EIO']);
  expect(failures[0]!.message).toMatch(/end of file|hang-up|events 0x1/);
});
