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
