/**
 * SYN cookies (RFC 4987 3.6): the cookie alone (encode and validate, forged and stale cookies),
 * the options carried in the TSval, and the listener path of a stack: cookies sent once the
 * half-open bound is reached, a forged cookie ACK reset and counted, and a cookie connection
 * moving data both ways like any other.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { FakeClock } from '../../../src/clock.js';
import type { Link } from '../../../src/link/link.js';
import { Stack } from '../../../src/stack.js';
import { NegotiatedOptions } from '../../../src/tcp/options.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import {
  COOKIE_MAX_AGE_PERIODS,
  COOKIE_MSS_TABLE,
  COOKIE_PERIOD_MS,
  COOKIES_PER_SOURCE_PER_SECOND,
  CookieSourceBudget,
  cookieSynOptions,
  cookieTimestamp,
  SynCookies,
} from '../../../src/tcp/syn-cookies.js';
import { DEFAULT_TCP_CONFIG, type TcpFourTuple } from '../../../src/tcp/types.js';
import { PROTOCOL_TCP, parseIPv4Packet } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_ACK, TCP_RST, TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { ManualTime } from '../../support/manual-time.js';
import { tcpPacket, tcpSegment, TEST_DESTINATION } from '../../support/packets.js';
import { stackPair } from '../../support/stack-pair.js';

const SECRET = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
const TUPLE: TcpFourTuple = { localAddress: 0x0a000002, localPort: 80, remoteAddress: 0x0a000001, remotePort: 40000 };
const PEER_ISN = 0xfffffff0;

describe('SynCookies', () => {
  it('round-trips every MSS table entry, rounding a peer MSS down to the table (and up to its floor)', () => {
    const cookies = new SynCookies(SECRET);
    const now = 5 * COOKIE_PERIOD_MS + 1234;
    for (const mss of COOKIE_MSS_TABLE) {
      for (const peerMss of [mss, mss + 1]) {
        const cookie = cookies.issue(TUPLE, PEER_ISN, peerMss, now);
        expect(cookie).toBeGreaterThanOrEqual(0);
        expect(cookie).toBeLessThanOrEqual(0xffffffff);
        expect(cookies.validate(TUPLE, PEER_ISN, cookie, now)).toBe(peerMss === 1461 ? 1460 : mss);
      }
    }
    expect(cookies.validate(TUPLE, PEER_ISN, cookies.issue(TUPLE, PEER_ISN, 9000, now), now)).toBe(1460);
    expect(cookies.validate(TUPLE, PEER_ISN, cookies.issue(TUPLE, PEER_ISN, 1400, now), now)).toBe(1300);
    expect(cookies.validate(TUPLE, PEER_ISN, cookies.issue(TUPLE, PEER_ISN, 100, now), now)).toBe(536);
  });

  it('rejects a forged cookie: a wrong MAC, another secret, an altered tuple or peer ISN', () => {
    const cookies = new SynCookies(SECRET);
    const now = 3 * COOKIE_PERIOD_MS;
    const cookie = cookies.issue(TUPLE, PEER_ISN, 1460, now);
    expect(cookies.validate(TUPLE, PEER_ISN, cookie, now)).toBe(1460);
    for (let bit = 0; bit < 27; bit++) expect(cookies.validate(TUPLE, PEER_ISN, (cookie ^ (1 << bit)) >>> 0, now)).toBeUndefined();
    expect(new SynCookies(SECRET.map((b) => b ^ 1)).validate(TUPLE, PEER_ISN, cookie, now)).toBeUndefined();
    expect(cookies.validate({ ...TUPLE, remotePort: 40001 }, PEER_ISN, cookie, now)).toBeUndefined();
    expect(cookies.validate({ ...TUPLE, remoteAddress: 0x0a000003 }, PEER_ISN, cookie, now)).toBeUndefined();
    expect(cookies.validate({ ...TUPLE, localPort: 81 }, PEER_ISN, cookie, now)).toBeUndefined();
    expect(cookies.validate(TUPLE, seqAdd(PEER_ISN, 1), cookie, now)).toBeUndefined();
  });

  it('accepts a cookie for the current and COOKIE_MAX_AGE_PERIODS previous periods, then no more', () => {
    const time = new ManualTime(new FakeClock(10 * COOKIE_PERIOD_MS + 500));
    const cookies = new SynCookies(SECRET);
    const cookie = cookies.issue(TUPLE, PEER_ISN, 1440, time.now());
    const periodStart = 10 * COOKIE_PERIOD_MS;
    time.advanceTo(periodStart + (COOKIE_MAX_AGE_PERIODS + 1) * COOKIE_PERIOD_MS - 1);
    expect(cookies.validate(TUPLE, PEER_ISN, cookie, time.now())).toBe(1440);
    time.advance(1);
    expect(cookies.validate(TUPLE, PEER_ISN, cookie, time.now())).toBeUndefined();
    // Eight periods on, the 3-bit counter comes round again: the MAC over the full period still refuses it.
    time.advanceTo(periodStart + 8 * COOKIE_PERIOD_MS);
    expect(cookies.validate(TUPLE, PEER_ISN, cookie, time.now())).toBeUndefined();
  });

  it('carries window scale and SACK-permitted in the TSval, never ahead of the clock; without timestamps only the MSS', () => {
    for (const now of [0, 31, 32, 100_000, 2 ** 32 + 17]) {
      for (const windowScale of [undefined, 0, 1, 7, 14]) {
        for (const sack of [false, true]) {
          const value = cookieTimestamp(now, windowScale, sack);
          const clock = Math.floor(now) >>> 0;
          expect((clock - value) >>> 0 < 32).toBe(true);
          const options = cookieSynOptions(1300, { value: 999, echo: value });
          expect(options).toEqual({
            mss: 1300,
            ...(windowScale !== undefined ? { windowScale } : {}),
            ...(sack ? { sackPermitted: true } : {}),
            timestamp: { value: 999, echo: 0 },
          });
          // What NegotiatedOptions makes of it is what the SYN itself would have given.
          const fromCookie = new NegotiatedOptions(DEFAULT_TCP_CONFIG, TUPLE.remoteAddress);
          fromCookie.negotiate(options, now);
          const fromSyn = new NegotiatedOptions(DEFAULT_TCP_CONFIG, TUPLE.remoteAddress);
          fromSyn.negotiate({ mss: 1300, windowScale, sackPermitted: sack, timestamp: { value: 999, echo: 0 } }, now);
          expect(fromCookie).toEqual(fromSyn);
        }
      }
    }
    expect(cookieSynOptions(1460, undefined)).toEqual({ mss: 1460 });
  });
});

/** The TCP segments in `packets`, parsed. */
function segmentsOf(packets: readonly Uint8Array[]): TcpSegment[] {
  const out: TcpSegment[] = [];
  for (const packet of packets) {
    const ip = parseIPv4Packet(packet);
    if (!ip.ok || ip.header.protocol !== PROTOCOL_TCP) continue;
    const tcp = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
    if (tcp.ok) out.push({ ...tcp.segment, payload: tcp.segment.payload.slice() });
  }
  return out;
}

describe('CookieSourceBudget', () => {
  it('gives each source its budget per second, then refuses it until the second turns', () => {
    const budget = new CookieSourceBudget(3);
    const taken = [0, 1, 2, 3, 4].map(() => budget.take(7, 1000));
    expect(taken).toEqual([true, true, true, false, false]);
    expect(budget.take(8, 1500)).toBe(true); // another source is not affected
    expect(budget.take(7, 1999)).toBe(false);
    expect(budget.take(7, 2000)).toBe(true);
  });
});

describe('the listener with SYN cookies', () => {
  async function listenerStack(maxHalfOpen: number) {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: TEST_DESTINATION, clock: new FakeClock(1_000_000), manualTimers: true });
    const listener = await listen('tcp', ':80', { stack, backlog: 8, maxHalfOpen });
    return { link, stack, listener, time: ManualTime.of(stack), tcp: stack.counters('tcp') };
  }

  const syn = (port: number, seq: number, options: TcpSegment['options'] = { mss: 1460 }) =>
    tcpPacket(tcpSegment({ sourcePort: port, seq, ack: 0, flags: TCP_SYN, options }));

  it('drops the SYNs of a flooding source beyond its cookie budget, and still answers another source', async () => {
    const { link, tcp } = await listenerStack(1);
    const flood = Array.from({ length: COOKIES_PER_SOURCE_PER_SECOND + 100 }, (_, i) => syn(10000 + (i % 50000), i * 7));
    link.inject(flood);
    // The first SYN took the half-open slot; the next ones draw cookies up to the budget.
    expect(tcp.get('syncookies_sent')).toBe(COOKIES_PER_SOURCE_PER_SECOND);
    expect(tcp.get('drop.syncookies_source_limited')).toBe(99);
    link.drain();
    link.inject([
      tcpPacket(tcpSegment({ sourcePort: 40000, seq: 1, ack: 0, flags: TCP_SYN, options: { mss: 1460 } }), { source: 0x0a000063 }),
    ]);
    const [answer] = segmentsOf(link.drain());
    expect(answer?.flags).toBe(TCP_SYN | TCP_ACK);
  });

  it('answers a SYN beyond the half-open bound with a stateless cookie SYN-ACK, and a valid cookie ACK becomes an accepted connection', async () => {
    const { link, stack, listener, time, tcp } = await listenerStack(1);
    link.inject([
      syn(40000, 1000),
      syn(40001, 5000, { mss: 1400, windowScale: 7, sackPermitted: true, timestamp: { value: 777, echo: 0 } }),
    ]);
    const [first, cookieSynAck] = segmentsOf(link.drain());
    expect(first!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(cookieSynAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(cookieSynAck!.ack).toBe(5001);
    expect(cookieSynAck!.options.windowScale).toBe(5);
    expect(cookieSynAck!.options.sackPermitted).toBe(true);
    expect(cookieSynAck!.options.timestamp!.echo).toBe(777);
    expect(tcp.get('syncookies_sent')).toBe(1);
    expect(stack.tcp.tableStats().connections).toBe(1); // only the first, half-open

    time.advance(50);
    const ts = { value: 800, echo: cookieSynAck!.options.timestamp!.value };
    link.inject([
      tcpPacket(tcpSegment({ sourcePort: 40001, seq: 5001, ack: seqAdd(cookieSynAck!.seq, 1), window: 100, options: { timestamp: ts } })),
    ]);
    expect(tcp.get('syncookies_accepted')).toBe(1);
    const conn: TcpConn = await listener.accept();
    expect(conn.remoteAddr.port).toBe(40001);
    expect(conn.connection.state).toBe('ESTABLISHED');
    expect(conn.connection.maxSegmentSize.peer).toBe(1300);
    // The peer's window is scaled by the shift the cookie carried: the first reply uses 100 << 7.
    await conn.write(new Uint8Array(20_000));
    const sent = segmentsOf(link.drain());
    const data = sent.filter((s) => s.payload.length > 0);
    expect(data.reduce((n, s) => n + s.payload.length, 0)).toBeGreaterThan(12_800 - 1300);
    expect(data.every((s) => s.options.timestamp?.echo === 800)).toBe(true);
    listener.close();
    await stack.close();
  });

  it('resets and counts a forged cookie ACK; a stray ACK with no cookie sent recently is reset without a check', async () => {
    const { link, stack, listener, time, tcp } = await listenerStack(0);
    link.inject([tcpPacket(tcpSegment({ sourcePort: 40005, seq: 1, ack: 12345 }))]);
    expect(tcp.get('syncookies_rejected')).toBe(0);
    expect(segmentsOf(link.drain())[0]!.flags).toBe(TCP_RST);

    link.inject([syn(40000, 1000)]);
    const [synAck] = segmentsOf(link.drain());
    expect(tcp.get('syncookies_sent')).toBe(1);
    // Wrong cookie, wrong peer ISN, wrong port: each reset and counted.
    link.inject([
      tcpPacket(tcpSegment({ sourcePort: 40000, seq: 1001, ack: seqAdd(synAck!.seq, 2) })),
      tcpPacket(tcpSegment({ sourcePort: 40000, seq: 1002, ack: seqAdd(synAck!.seq, 1) })),
      tcpPacket(tcpSegment({ sourcePort: 40009, seq: 1001, ack: seqAdd(synAck!.seq, 1) })),
    ]);
    expect(tcp.get('syncookies_rejected')).toBe(3);
    expect(segmentsOf(link.drain()).map((s) => s.flags)).toEqual([TCP_RST, TCP_RST, TCP_RST]);
    // Stale: the right ACK, too late (another SYN keeps the listener checking cookies).
    time.advance((COOKIE_MAX_AGE_PERIODS + 1) * COOKIE_PERIOD_MS);
    link.inject([syn(40001, 1)]);
    link.drain();
    link.inject([tcpPacket(tcpSegment({ sourcePort: 40000, seq: 1001, ack: seqAdd(synAck!.seq, 1) }))]);
    expect(tcp.get('syncookies_rejected')).toBe(4);
    expect(tcp.get('syncookies_accepted')).toBe(0);
    expect(stack.tcp.tableStats().connections).toBe(0);
    listener.close();
    await stack.close();
  });

  it('reclaims half-open entries that went unanswered twice once the queue is more than half full', async () => {
    const { link, stack, listener, time, tcp } = await listenerStack(4);
    link.inject([syn(41000, 1), syn(41001, 1), syn(41002, 1)]);
    time.advance(3100); // SYN-ACK retransmissions at 1 s and 3 s
    expect(segmentsOf(link.drain())).toHaveLength(9);
    link.inject([syn(41003, 1)]);
    expect(tcp.get('halfopen_reclaimed')).toBe(3);
    expect(stack.tcp.tableStats().listeners[0]!.halfOpen).toBe(1);
    // Silently: no RST to the peers that did not answer, only the new SYN-ACK.
    expect(segmentsOf(link.drain()).map((s) => s.flags)).toEqual([TCP_SYN | TCP_ACK]);
    // Without pressure a half-open connection lives through 5 SYN-ACK retransmissions (about 63 s).
    time.advance(62_000);
    expect(stack.tcp.tableStats().listeners[0]!.halfOpen).toBe(1);
    time.advance(1_000);
    expect(stack.tcp.tableStats().listeners[0]!.halfOpen).toBe(0);
    expect(segmentsOf(link.drain()).filter((s) => s.flags === (TCP_SYN | TCP_ACK))).toHaveLength(5);
    listener.close();
    await stack.close();
  });
});

/** Record the TCP segments that arrive at a link's owner. */
function recording(link: Link, into: TcpSegment[]): Link {
  return {
    mtu: link.mtu,
    setReceiver: (receiver) =>
      link.setReceiver((packets) => {
        into.push(...segmentsOf(packets));
        receiver(packets);
      }),
    send: (packet) => link.send(packet),
    close: () => link.close(),
  };
}

async function echoOnce(conn: TcpConn): Promise<void> {
  const buffer = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    await conn.write(buffer.subarray(0, n));
  }
  conn.close();
}

async function readAll(conn: TcpConn, expected: number): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let have = 0;
  const buffer = new Uint8Array(65536);
  while (have < expected) {
    const n = await conn.read(buffer);
    if (n === null) break;
    out.set(buffer.subarray(0, n), have);
    have += n;
  }
  return out.subarray(0, have);
}

describe('a connection made by a SYN cookie', () => {
  for (const timestamps of [true, false]) {
    it(`moves data both ways like any other (${timestamps ? 'options kept through timestamps' : 'no timestamps: options lost'})`, async () => {
      const atClient: TcpSegment[] = [];
      const { a, b } = stackPair({ mtu: 1400, tcp: { timestamps }, wrap: (link) => recording(link, atClient) });
      const listener = await listen('tcp', ':7', { stack: b, maxHalfOpen: 0 });
      const accepting = listener.accept();
      const client = await dial('tcp', '10.0.0.2:7', { stack: a });
      const server = await accepting;
      const echoing = echoOnce(server);
      const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251);
      const reading = readAll(client, data.length);
      await client.write(data);
      client.closeWrite();
      expect(await reading).toEqual(data);
      await echoing;
      const counters = b.counters('tcp');
      expect(counters.get('syncookies_sent')).toBe(1);
      expect(counters.get('syncookies_accepted')).toBe(1);
      expect(server.connection.maxSegmentSize.peer).toBe(1300);
      const fromServer = atClient.filter((s) => !(s.flags & TCP_SYN));
      expect(fromServer.length).toBeGreaterThan(0);
      // With timestamps the server scales its window (by 2^5) and stamps every segment: its
      // (auto-tuned) window goes past what an unscaled field can say; without, the field is the
      // unscaled maximum.
      expect(fromServer.every((s) => (s.options.timestamp !== undefined) === timestamps)).toBe(true);
      const widestField = Math.max(...fromServer.map((s) => s.window));
      if (timestamps) expect([widestField < 65535, widestField * 32 > 65535]).toEqual([true, true]);
      else expect(widestField).toBe(65535);
      client.close();
      listener.close();
      await Promise.all([a.close(200), b.close(200)]);
    });
  }
});
