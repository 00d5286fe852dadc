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
import { RESTART_OFFSET } from '../../../src/tun/ring-layout.js';
import { seqpacketPair } from '../../support/seqpacket-pair.js';

it('never loses a wake-up: 20000 ping-pong rounds of two separately woken sends complete', async () => {
  const [aFd, bFd] = seqpacketPair();
  const a = await PacketFdLink.start(aFd, { mtu: 1500, ringBytes: 1 << 18 });
  const b = await PacketFdLink.start(bFd, { mtu: 1500, ringBytes: 1 << 18 });
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
}, 40_000);

it('restarts each ring at offset 0 when it is drained, so an idle exchange keeps to the start of the ring', async () => {
  const [aFd, bFd] = seqpacketPair();
  const ringBytes = 1 << 20;
  const a = await PacketFdLink.start(aFd, { mtu: 65535, ringBytes });
  const b = await PacketFdLink.start(bFd, { mtu: 65535, ringBytes });
  // Sizes up to a maximum-size record; 300 rounds write several times the ring's size each way.
  const sizeOf = (round: number) => [20, 1500, 9000, 65535][round % 4]!;
  const payload = (round: number) => Uint8Array.from({ length: sizeOf(round) }, (_, i) => (i + round) % 251);
  const rounds = 300;
  b.setReceiver((packets) => {
    for (const packet of packets) b.send(Uint8Array.from(packet));
  });
  let highestOffset = 0;
  let mismatches = 0;
  let completed = 0;
  const finished = new Promise<void>((resolve) => {
    a.setReceiver((packets) => {
      for (const packet of packets) {
        // The link hands out views into its RX ring: where the packet sits in the ring.
        highestOffset = Math.max(highestOffset, packet.byteOffset);
        if (!Buffer.from(packet).equals(payload(completed))) mismatches++;
        completed++;
        if (completed === rounds) resolve();
        else a.send(payload(completed));
      }
    });
  });
  a.send(payload(0));
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    finished.then(() => 'completed'),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`stalled after ${completed} rounds`), 20_000))),
  ]);
  clearTimeout(timer);
  await Promise.all([a.close(), b.close()]);
  expect(outcome).toBe('completed');
  expect(mismatches).toBe(0);
  // One packet in flight at a time: each lands within RESTART_OFFSET plus one record of the start.
  expect(highestOffset).toBeLessThan(RESTART_OFFSET + 65540);
  expect(rounds * 19_000).toBeGreaterThan(4 * ringBytes);
}, 40_000);
