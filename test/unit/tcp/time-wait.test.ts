/**
 * TIME-WAIT (RFC 9293 3.10.7.4) as compact records: the table on its own with manual time
 * (2*MSL expiry with one deadline, the retransmitted FIN, RST, PAWS, RFC 6191 reuse, the cap),
 * then through the TCP layer: a stack fed crafted segments, and two stacks in memory.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { FakeClock } from '../../../src/clock.js';
import { Counters } from '../../../src/counters.js';
import { createLogger } from '../../../src/log.js';
import { seededRandom } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import { TimeWaitTable } from '../../../src/tcp/time-wait.js';
import type { TcpFourTuple, TimeWaitState } from '../../../src/tcp/types.js';
import { parseIPv4Packet } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOptions, type TcpSegment } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { ManualTime } from '../../support/manual-time.js';
import { tcpPacket, tcpSegment, TEST_DESTINATION, TEST_SOURCE } from '../../support/packets.js';
import { stackPair } from '../../support/stack-pair.js';

const MSL = 1000;
const TUPLE: TcpFourTuple = { localAddress: TEST_DESTINATION, localPort: 80, remoteAddress: TEST_SOURCE, remotePort: 40000 };
const KEY = 'peer:40000:80';
/** The record's RCV.NXT and SND.NXT, near the top of sequence space to cross the wrap. */
const RCV_NXT = 0xffff_fff0;
const SND_NXT = 0x1000;

function tableUnderTest(options: { timestamps?: boolean; maxTimeWait?: number } = {}) {
  const time = new ManualTime();
  const counters = new Counters('tcp');
  const sent: TcpSegment[] = [];
  const warnings: string[] = [];
  const logger = createLogger('warn', (line) => warnings.push(line));
  const table = new TimeWaitTable(
    { msl: MSL, maxTimeWait: options.maxTimeWait ?? 100, timestamps: options.timestamps ?? true },
    { now: () => time.now(), timers: time.timers, counters, logger, transmit: (_tuple, segment) => sent.push(segment) },
  );
  return { time, counters, sent, warnings, table };
}

function state(tsRecent?: number): TimeWaitState {
  return { rcvNxt: RCV_NXT, sndNxt: SND_NXT, tsRecent };
}

/** A segment from the peer of TUPLE. */
function peerSegment(fields: Partial<TcpSegment>): TcpSegment {
  return tcpSegment({ sourcePort: TUPLE.remotePort, destinationPort: TUPLE.localPort, ...fields });
}

describe('TimeWaitTable', () => {
  it('expires every record 2*MSL after it entered, with one deadline on the queue for all of them', () => {
    const { time, counters, table } = tableUnderTest();
    for (let i = 0; i < 50; i++) {
      table.enter(`k${i}`, TUPLE, state());
      time.advance(10);
    }
    expect(table.size).toBe(50);
    expect(time.timers.size).toBe(1);
    expect(counters.get('time_wait_entered')).toBe(50);
    // The first entered at 0, the last at 490.
    time.advanceTo(2 * MSL - 1);
    expect(table.size).toBe(50);
    time.advanceTo(2 * MSL);
    expect(table.size).toBe(49);
    expect(table.get('k0')).toBeUndefined();
    time.advanceTo(490 + 2 * MSL - 1);
    expect(table.size).toBe(1);
    time.advanceTo(490 + 2 * MSL);
    expect(table.size).toBe(0);
    expect(counters.get('time_wait_expired')).toBe(50);
    expect(time.timers.size).toBe(0);
  });

  it('ACKs a retransmitted FIN again and restarts its 2*MSL, behind younger records', () => {
    const { time, counters, sent, table } = tableUnderTest();
    table.enter('old', TUPLE, state(7));
    time.advance(500);
    table.enter('young', TUPLE, state(7));
    time.advance(1000);
    const fin = peerSegment({
      seq: seqAdd(RCV_NXT, -1),
      ack: SND_NXT,
      flags: TCP_FIN | TCP_ACK,
      options: { timestamp: { value: 8, echo: 1 } },
    });
    expect(table.handleSegment('old', table.get('old')!, fin)).toBeUndefined();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ seq: SND_NXT, ack: RCV_NXT, flags: TCP_ACK, sourcePort: 80, destinationPort: 40000 });
    expect(sent[0]!.options.timestamp).toEqual({ value: 1500, echo: 7 });
    expect(counters.get('time_wait_fin_reacked')).toBe(1);
    // 'young' (entered at 500) now expires first, at 2500; 'old' at 1500 + 2000.
    time.advanceTo(2500);
    expect(table.get('young')).toBeUndefined();
    expect(table.get('old')).toBeDefined();
    time.advanceTo(3499);
    expect(table.get('old')).toBeDefined();
    time.advanceTo(3500);
    expect(table.size).toBe(0);
  });

  it('rate-limits its ACKs per record (RFC 5961 section 7): a burst draws one, the next comes 500 ms later', () => {
    const { time, counters, sent, table } = tableUnderTest();
    const otherTuple = { ...TUPLE, remotePort: 40001 };
    table.enter(KEY, TUPLE, state());
    table.enter('other', otherTuple, state());
    const outOfWindow = peerSegment({ seq: seqAdd(RCV_NXT, 1000), ack: SND_NXT, payload: new Uint8Array(10) });
    for (let i = 0; i < 100; i++) {
      table.handleSegment(KEY, table.get(KEY)!, outOfWindow);
      time.advance(1);
    }
    expect(sent).toHaveLength(1);
    expect(counters.get('ack_ratelimited')).toBe(99);
    expect(counters.get('drop.time_wait_segment')).toBe(100);
    // Each record has its own limit.
    table.handleSegment('other', table.get('other')!, peerSegment({ ...outOfWindow, sourcePort: 40001 }));
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ destinationPort: 40001 });
    // 500 ms after the first ACK (sent at 0) the next may go, a retransmitted FIN's re-ACK too.
    time.advanceTo(499);
    table.handleSegment(KEY, table.get(KEY)!, outOfWindow);
    expect(sent).toHaveLength(2);
    time.advanceTo(500);
    const fin = peerSegment({
      seq: seqAdd(RCV_NXT, -1),
      ack: SND_NXT,
      flags: TCP_FIN | TCP_ACK,
      options: { timestamp: { value: 8, echo: 1 } },
    });
    table.handleSegment(KEY, table.get(KEY)!, fin);
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({ seq: SND_NXT, ack: RCV_NXT, flags: TCP_ACK, destinationPort: 40000 });
    table.handleSegment(KEY, table.get(KEY)!, fin);
    expect(sent).toHaveLength(3);
    expect(counters.get('ack_ratelimited')).toBe(101);
  });

  it('answers other segments with an ACK, ignores a bare ACK at RCV.NXT, ends on a RST in sequence only', () => {
    const { counters, sent, table } = tableUnderTest();
    table.enter(KEY, TUPLE, state());
    const record = table.get(KEY)!;
    table.handleSegment(KEY, record, peerSegment({ seq: RCV_NXT, ack: SND_NXT }));
    expect(sent).toHaveLength(0);
    table.handleSegment(KEY, record, peerSegment({ seq: RCV_NXT, ack: SND_NXT, payload: new Uint8Array(10) }));
    expect(sent).toHaveLength(1);
    expect(counters.get('drop.time_wait_segment')).toBe(1);
    table.handleSegment(KEY, record, peerSegment({ seq: seqAdd(RCV_NXT, 5), ack: 0, flags: TCP_RST }));
    expect(table.size).toBe(1);
    expect(counters.get('drop.time_wait_rst_out_of_window')).toBe(1);
    table.handleSegment(KEY, record, peerSegment({ seq: RCV_NXT, ack: 0, flags: TCP_RST }));
    expect(table.size).toBe(0);
    expect(counters.get('time_wait_reset')).toBe(1);
    expect(sent).toHaveLength(1);
  });

  it('applies PAWS (RFC 7323 5.3): an old TSval draws an ACK and changes nothing', () => {
    const { counters, sent, table } = tableUnderTest();
    table.enter(KEY, TUPLE, state(1000));
    const old = peerSegment({
      seq: seqAdd(RCV_NXT, -1),
      ack: SND_NXT,
      flags: TCP_FIN | TCP_ACK,
      options: { timestamp: { value: 999, echo: 0 } },
    });
    table.handleSegment(KEY, table.get(KEY)!, old);
    expect(counters.get('drop.paws')).toBe(1);
    expect(counters.get('time_wait_fin_reacked')).toBe(0);
    expect(sent).toHaveLength(1);
  });

  it('RFC 6191 with timestamps: a SYN with a newer TSval reopens at once, whatever its sequence number', () => {
    const { counters, sent, table } = tableUnderTest();
    table.enter(KEY, TUPLE, state(1000));
    const older = peerSegment({ seq: seqAdd(RCV_NXT, 1000), flags: TCP_SYN, ack: 0, options: { timestamp: { value: 999, echo: 0 } } });
    expect(table.handleSegment(KEY, table.get(KEY)!, older)).toBeUndefined();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.flags).toBe(TCP_ACK);
    const newer = peerSegment({ seq: seqAdd(RCV_NXT, -1000), flags: TCP_SYN, ack: 0, options: { timestamp: { value: 1001, echo: 0 } } });
    // The new incarnation starts above everything the old one sent (Linux: SND.NXT + 65535 + 2).
    expect(table.handleSegment(KEY, table.get(KEY)!, newer)).toBe(SND_NXT + 65537);
    expect(table.size).toBe(0);
    expect(counters.get('time_wait_reused')).toBe(1);
    expect(sent).toHaveLength(1);
  });

  it('RFC 6191 without timestamps: a SYN above RCV.NXT reopens, one below is answered with an ACK', () => {
    const { counters, sent, table } = tableUnderTest({ timestamps: false });
    table.enter(KEY, TUPLE, state());
    const below = peerSegment({ seq: seqAdd(RCV_NXT, -1), flags: TCP_SYN, ack: 0 });
    expect(table.handleSegment(KEY, table.get(KEY)!, below)).toBeUndefined();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ seq: SND_NXT, ack: RCV_NXT, flags: TCP_ACK });
    expect(counters.get('drop.time_wait_old_syn')).toBe(1);
    // A SYN with ACK is not a new connection either.
    expect(
      table.handleSegment(KEY, table.get(KEY)!, peerSegment({ seq: seqAdd(RCV_NXT, 5), flags: TCP_SYN | TCP_ACK, ack: 1 })),
    ).toBeUndefined();
    // Above RCV.NXT across the 2^32 wrap.
    const above = peerSegment({ seq: seqAdd(RCV_NXT, 100), flags: TCP_SYN, ack: 0 });
    expect(table.handleSegment(KEY, table.get(KEY)!, above)).toBe(SND_NXT + 65537);
    expect(counters.get('time_wait_reused')).toBe(1);
  });

  it('holds at most maxTimeWait records: beyond, the connection closes without TIME-WAIT, logged once a second', () => {
    const { time, counters, warnings, table } = tableUnderTest({ maxTimeWait: 2 });
    for (let i = 0; i < 5; i++) table.enter(`k${i}`, TUPLE, state());
    expect(table.size).toBe(2);
    expect(counters.get('time_wait_entered')).toBe(2);
    expect(counters.get('time_wait_overflow')).toBe(3);
    expect(warnings).toHaveLength(1);
    time.advance(1000);
    table.enter('k5', TUPLE, state());
    expect(warnings).toHaveLength(2);
  });
});

/** One stack on a replay link with manual time; the test plays the peer 10.0.0.1:40000. */
async function serverInTimeWait(options: { timestamps: boolean }) {
  const link = new ReplayLink();
  const clock = new FakeClock();
  const stack = new Stack({ link, address: '10.0.0.2', clock, manualTimers: true, random: seededRandom(5), tcp: { msl: MSL } });
  const time = ManualTime.of(stack);
  const timersBefore = stack.timers.size;
  const listener = await listen('tcp', ':80', { stack });
  const peerIss = 0x7000_0000;
  let peerClock = 5000;
  const ts = (echo: number): TcpOptions => (options.timestamps ? { timestamp: { value: peerClock++, echo } } : {});
  const out = (): TcpSegment[] =>
    link.drain().map((packet) => {
      const ip = parseIPv4Packet(packet);
      if (!ip.ok) throw new Error(ip.reason);
      const parsed = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.segment;
    });
  const send = (segment: Partial<TcpSegment>) =>
    link.inject([tcpPacket(tcpSegment({ sourcePort: 40000, destinationPort: 80, ...segment }))]);

  send({ seq: peerIss, ack: 0, flags: TCP_SYN, options: { mss: 1460, ...ts(0) } });
  const [synAck] = out();
  const iss = synAck!.seq;
  const ourTs = () => synAck!.options.timestamp?.value ?? 0;
  send({ seq: peerIss + 1, ack: iss + 1, options: ts(ourTs()) });
  const conn: TcpConn = await listener.accept();
  conn.close();
  const [fin] = out();
  expect(fin!.flags & TCP_FIN).toBe(TCP_FIN);
  send({ seq: peerIss + 1, ack: iss + 2, flags: TCP_FIN | TCP_ACK, options: ts(ourTs()) });
  const [finAck] = out();
  expect(finAck).toMatchObject({ seq: iss + 2, ack: peerIss + 2, flags: TCP_ACK });
  return { stack, time, timersBefore, conn, listener, peerIss, iss, send, out, ts };
}

describe('TIME-WAIT through the TCP layer', () => {
  it('releases the connection into a record: the table shrinks, no timer of it stays, 2*MSL later the record goes', async () => {
    const { stack, time, timersBefore, conn, listener } = await serverInTimeWait({ timestamps: true });
    expect(stack.tcp.connectionCount).toBe(0);
    expect(stack.tcp.timeWaitCount).toBe(1);
    expect(stack.tcp.tableStats().states).toEqual({ 'TIME-WAIT': 1 });
    // The listener's and the stack's own timers, plus the one TIME-WAIT deadline.
    expect(stack.timers.size).toBe(timersBefore + 1);
    expect(conn.state).toBe('TIME-WAIT');
    time.advance(2 * MSL);
    expect(stack.tcp.timeWaitCount).toBe(0);
    expect(stack.tcp.tableStats().states).toEqual({});
    expect(stack.counters('tcp').get('time_wait_expired')).toBe(1);
    expect(stack.timers.size).toBe(timersBefore);
    listener.close();
    await stack.close();
  });

  it('re-ACKs the retransmitted FIN from the record', async () => {
    const { stack, time, peerIss, iss, send, out, ts, listener } = await serverInTimeWait({ timestamps: true });
    time.advance(1500);
    send({ seq: peerIss + 1, ack: iss + 2, flags: TCP_FIN | TCP_ACK, options: ts(0) });
    const [reAck] = out();
    expect(reAck).toMatchObject({ seq: iss + 2, ack: peerIss + 2, flags: TCP_ACK });
    time.advance(2 * MSL - 1);
    expect(stack.tcp.timeWaitCount).toBe(1);
    time.advance(1);
    expect(stack.tcp.timeWaitCount).toBe(0);
    listener.close();
    await stack.close();
  });

  it('a SYN with a newer timestamp reopens the four-tuple through the listener, ISN above the old SND.NXT', async () => {
    const { stack, peerIss, iss, send, out, ts, listener } = await serverInTimeWait({ timestamps: true });
    // A lower sequence number, but a newer timestamp: RFC 6191 takes the timestamp.
    send({ seq: peerIss - 5000, ack: 0, flags: TCP_SYN, options: { mss: 1460, ...ts(0) } });
    const [synAck] = out();
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck!.seq).toBe(seqAdd(iss, 2 + 65537));
    expect(synAck!.ack).toBe(peerIss - 5000 + 1);
    expect(stack.tcp.timeWaitCount).toBe(0);
    expect(stack.tcp.connectionCount).toBe(1);
    expect(stack.counters('tcp').get('time_wait_reused')).toBe(1);
    listener.close();
    await stack.close();
  });

  it('without timestamps a SYN above RCV.NXT reopens, one below draws an ACK and leaves the record', async () => {
    const { stack, peerIss, iss, send, out, listener } = await serverInTimeWait({ timestamps: false });
    send({ seq: peerIss, ack: 0, flags: TCP_SYN, options: { mss: 1460 } });
    expect(out()).toMatchObject([{ seq: iss + 2, ack: peerIss + 2, flags: TCP_ACK }]);
    expect(stack.tcp.timeWaitCount).toBe(1);
    expect(stack.tcp.connectionCount).toBe(0);
    send({ seq: peerIss + 100_000, ack: 0, flags: TCP_SYN, options: { mss: 1460 } });
    expect(out()).toMatchObject([{ seq: seqAdd(iss, 2 + 65537), ack: peerIss + 100_001, flags: TCP_SYN | TCP_ACK }]);
    expect(stack.tcp.timeWaitCount).toBe(0);
    expect(stack.tcp.connectionCount).toBe(1);
    listener.close();
    await stack.close();
  });
});

/** The server writes a line and closes first; the client reads it to the end and closes. */
async function serverClosesFirst(client: Stack, listener: Awaited<ReturnType<typeof listen>>, address: string): Promise<TcpConn> {
  const accepting = listener.accept();
  const conn = await dial('tcp', address, { stack: client });
  const server = await accepting;
  await server.write(new TextEncoder().encode('bye\n'));
  server.close();
  const buffer = new Uint8Array(16);
  while ((await conn.read(buffer)) !== null);
  conn.close();
  return conn;
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('TIME-WAIT between two stacks in memory', () => {
  it('a server closing first keeps records, not connections, and no timer per record', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':80', { stack: b });
    const timersBefore = b.timers.size;
    for (let i = 0; i < 20; i++) await serverClosesFirst(a, listener, '10.0.0.2:80');
    await waitFor(() => b.tcp.connectionCount === 0 && a.tcp.connectionCount === 0);
    expect(b.tcp.timeWaitCount).toBe(20);
    expect(b.counters('tcp').get('time_wait_entered')).toBe(20);
    expect(b.tcp.tableStats().states).toEqual({ 'TIME-WAIT': 20 });
    expect(b.timers.size).toBe(timersBefore + 1);
    listener.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('beyond tcp.maxTimeWait a connection closes without TIME-WAIT, counted', async () => {
    const { a, b } = stackPair({ tcp: { maxTimeWait: 3 } });
    const listener = await listen('tcp', ':80', { stack: b });
    for (let i = 0; i < 5; i++) await serverClosesFirst(a, listener, '10.0.0.2:80');
    await waitFor(() => b.tcp.connectionCount === 0);
    expect(b.tcp.timeWaitCount).toBe(3);
    expect(b.counters('tcp').get('time_wait_overflow')).toBe(2);
    listener.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('the port of a connection in TIME-WAIT stays free for other four-tuples, not for its own', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':80', { stack: b });
    // The client closes first this time: A holds the TIME-WAIT record.
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:80', { stack: a });
    const server = await accepting;
    client.close();
    while ((await server.read(new Uint8Array(16))) !== null);
    server.close();
    await waitFor(() => a.tcp.timeWaitCount === 1 && b.tcp.connectionCount === 0);
    const port = client.localAddr.port;
    const peer = TEST_DESTINATION;
    expect(a.tcp.fourTupleInUse(a.address, peer, 80, port)).toBe(true);
    expect(a.tcp.fourTupleInUse(a.address, peer, 81, port)).toBe(false);
    // The port itself is not held: only the four-tuple is.
    expect(a.tcp.ports.get(port)).toBeUndefined();
    const again = await serverClosesFirst(a, listener, '10.0.0.2:80');
    expect(again.localAddr.port).not.toBe(port);
    listener.close();
    await Promise.all([a.close(), b.close()]);
  });
});
