/**
 * The TUN link's worker-thread hand-off, over a SOCK_SEQPACKET socketpair (one read is one
 * packet, like a TUN fd; no root needed). A ping-pong whose every round makes two separate
 * send-and-wake calls races the main thread's wake-up against the worker's draining of its wake
 * pipe: a lost wake-up leaves a packet in the TX ring with nothing else coming, and the
 * exchange stalls. (With the wake flag cleared before the pipe was drained, this stalled within
 * a few thousand rounds in two runs out of three.)
 */
import { expect, it } from 'vitest';
import { PacketFdLink } from '../../../src/tun/packet-fd-link.js';
import { seqpacketPair } from '../../support/seqpacket-pair.js';

it('never loses a wake-up: 20000 ping-pong rounds of two separately woken sends complete', async () => {
  const [aFd, bFd] = seqpacketPair();
  // Every packet through the worker: direct writes would leave the wake-up path unexercised.
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18, directWrites: false });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18, directWrites: false });
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
  const a = await PacketFdLink.start(aFd, { mtu: 9000, ringBytes: 1 << 18 });
  const b = await PacketFdLink.start(bFd, { mtu: 9000, ringBytes: 1 << 18 });
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
