/**
 * Hostile input at the stack's front door: random TCP and UDP segments with valid checksums
 * (so they get past the codecs and reach the state machines), aimed at a listening port and at
 * an established connection. Nothing may throw, tables must stay bounded, and the established
 * connection must either survive or end with a typed error, never hang the stack.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen, listenPacket } from '../../src/api/net.js';
import { ICMP_ECHO_REPLY } from '../../src/wire/icmpv4.js';
import { PROTOCOL_ICMP } from '../../src/wire/ipv4.js';
import { memoryLinkPair } from '../../src/link/link.js';
import { mulberry32 } from '../../src/random.js';
import { Stack } from '../../src/stack.js';
import type { TcpSegment } from '../../src/wire/tcp.js';
import { ReplayLink } from '../replay/replay-link.js';
import { echoRequestPacket, tcpPacket, TEST_DESTINATION, TEST_SOURCE, udpPacket } from '../support/packets.js';

/** The packet builders' default addresses: every injected packet goes PEER -> STACK. */
const PEER = TEST_SOURCE;
const STACK = TEST_DESTINATION;

function randomSegment(random: () => number, ports: { source: number; destination: number }): TcpSegment {
  const pick = (n: number) => Math.floor(random() * n);
  const options: TcpSegment['options'] = {};
  if (random() < 0.3) options.mss = pick(0x10000);
  if (random() < 0.3) options.windowScale = pick(15);
  if (random() < 0.2) options.sackPermitted = true;
  if (random() < 0.3) options.timestamp = { value: pick(2 ** 32), echo: pick(2 ** 32) };
  if (random() < 0.2) options.sackBlocks = [{ left: pick(2 ** 32), right: pick(2 ** 32) }];
  return {
    sourcePort: ports.source,
    destinationPort: ports.destination,
    seq: pick(2 ** 32),
    ack: pick(2 ** 32),
    flags: pick(256),
    window: pick(0x10000),
    urgentPointer: pick(0x10000),
    options,
    payload: new Uint8Array(pick(3) === 0 ? pick(1400) : 0),
  };
}

describe('stack under random segments with valid checksums', () => {
  it('never throws, keeps its tables bounded, and keeps serving', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: STACK });
    const listener = await listen('tcp', ':80', { stack, backlog: 16, maxHalfOpen: 16 });
    const udp = await listenPacket('udp', ':53', { stack, receiveQueueLength: 8 });
    const random = mulberry32(2024);
    for (let round = 0; round < 20_000; round++) {
      const segment = randomSegment(random, {
        source: 1024 + Math.floor(random() * 64),
        destination: random() < 0.7 ? 80 : Math.floor(random() * 100),
      });
      link.inject([tcpPacket(segment)]);
      if (round % 10 === 0) {
        const payload = new Uint8Array(Math.floor(random() * 200));
        link.inject([udpPacket({ sourcePort: 4000, destinationPort: random() < 0.5 ? 53 : 54, payload })]);
      }
      if (round % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    link.drain();
    expect(stack.counters('ip').get('drop.internal_error')).toBe(0);
    // Half-open connections are bounded by maxHalfOpen (beyond it SYN cookies keep no state); the accept queue by the backlog.
    const table = stack.tcp.tableStats();
    expect(table.listeners[0]!.halfOpen).toBeLessThanOrEqual(16);
    expect(table.connections).toBeLessThanOrEqual(32);
    expect(stack.counters('udp').get('drop.receive_queue_full')).toBeGreaterThan(0);
    // The stack still works: a ping gets its reply.
    link.inject([echoRequestPacket(0x77, 1, new Uint8Array(16))]);
    const replies = link.drain().filter((packet) => packet[9] === PROTOCOL_ICMP && packet[20] === ICMP_ECHO_REPLY);
    expect(replies).toHaveLength(1);
    listener.close();
    udp.close();
  }, 60_000);

  it('an established connection survives random in-flight garbage or ends with a typed error', async () => {
    const [linkA, linkB] = memoryLinkPair(1500);
    let inject: ((packets: readonly Uint8Array[]) => void) | undefined;
    const tap = {
      mtu: 1500,
      setReceiver(receiver: (packets: readonly Uint8Array[]) => void) {
        inject = receiver;
        linkB.setReceiver(receiver);
      },
      send: (packet: Uint8Array) => linkB.send(packet),
      close: () => linkB.close(),
    };
    const client = new Stack({ link: linkA, address: PEER });
    const server = new Stack({ link: tap, address: STACK });
    const listener = await listen('tcp', ':7', { stack: server });
    const accepting = listener.accept();
    const conn = await dial('tcp', '10.0.0.2:7', { stack: client });
    const accepted = await accepting;
    const random = mulberry32(7);
    for (let i = 0; i < 5000; i++) {
      const segment = randomSegment(random, { source: conn.localAddr.port, destination: 7 });
      inject!([tcpPacket(segment)]);
    }
    expect(server.counters('ip').get('drop.internal_error')).toBe(0);
    // Blind in-window attacks are what RFC 5961 defends against: the connection is either still
    // usable, or (if a guess hit the exact sequence number) reset with a typed error.
    const outcome = await conn
      .write(new TextEncoder().encode('still there?'))
      .then(async () => {
        const buffer = new Uint8Array(64);
        const n = await accepted.read(buffer, { signal: AbortSignal.timeout(2000) });
        return n === null ? 'eof' : Buffer.from(buffer.subarray(0, n)).toString();
      })
      .catch((error: unknown) => (error as { code?: string }).code ?? String(error));
    expect(['still there?', 'ECONNRESET', 'EPIPE']).toContain(outcome);
    expect(server.counters('tcp').get('challenge_acks') + server.counters('tcp').get('dropped')).toBeGreaterThan(0);
  }, 60_000);
});
