/**
 * TCP super-segments (TSO): with a link that segments, consecutive new data leaves as one segment
 * of several SMSS-sized pieces, while the transmit records stay one per piece.
 */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_PSH } from '../../../src/wire/tcp.js';
import { TcpHarness, patternBytes } from '../../support/tcp-harness.js';

/** A harness whose link takes super-segments of up to `limit` payload bytes. */
function tsoHarness(limit = 65_455): TcpHarness {
  const h = new TcpHarness(1_000_000, 5_000_000, {}, limit);
  h.openActive({ mss: 1000 });
  return h;
}

describe('TCP super-segments', () => {
  it('sends what the initial window allows as one super-segment of SMSS pieces', () => {
    const h = tsoHarness();
    h.conn.write(patternBytes(100_000));
    const sent = h.take();
    expect(sent).toHaveLength(1);
    const [superSegment] = sent;
    expect(superSegment!.seq).toBe(h.ourSeq(0));
    expect(superSegment!.payload).toEqual(patternBytes(10_000));
    expect(superSegment!.segmentSize).toBe(1000);
    // More data is queued behind it: no PSH, no FIN.
    expect(superSegment!.flags).toBe(TCP_ACK);
    // Slow start as before: 2 segments acknowledged open 4 more, which go as one.
    h.ack(2000);
    const next = h.take();
    expect(next.map((s) => [s.seq, s.payload.length, s.segmentSize])).toEqual([[h.ourSeq(10_000), 4000, 1000]]);
  });

  it('keeps one transmit record per segment: a timeout resends only the first segment', () => {
    const h = tsoHarness();
    h.conn.write(patternBytes(10_000));
    expect(h.take()).toHaveLength(1);
    h.ack(3000);
    h.advance(h.conn.stats().rto + 1);
    const [retransmission] = h.take();
    expect(retransmission!.seq).toBe(h.ourSeq(3000));
    expect(retransmission!.payload).toEqual(patternBytes(1000, 3000));
    expect(retransmission!.segmentSize).toBeUndefined();
  });

  it('puts PSH and FIN on the super-segment that ends the data, a short piece last', () => {
    const h = tsoHarness();
    h.conn.write(patternBytes(18_500));
    h.conn.close();
    expect(h.take().map((s) => [s.payload.length, s.flags])).toEqual([[10_000, TCP_ACK]]);
    // The window opens: the rest and the FIN go together, as one super-segment.
    h.ack(10_000);
    const sent = h.take();
    expect(sent.map((s) => [s.seq, s.payload.length, s.flags, s.segmentSize])).toEqual([
      [h.ourSeq(10_000), 8500, TCP_ACK | TCP_PSH | TCP_FIN, 1000],
    ]);
    expect(sent[0]!.payload).toEqual(patternBytes(8500, 10_000));
  });

  it('a short piece ends a super-segment: Nagle holds it while data is in flight, as without TSO', () => {
    const h = tsoHarness();
    h.conn.write(patternBytes(4500));
    const sent = h.take();
    expect(sent.map((s) => [s.payload.length, s.flags, s.segmentSize])).toEqual([[4000, TCP_ACK, 1000]]);
    h.ack(4000);
    expect(h.take().map((s) => [s.seq, s.payload.length, s.flags, s.segmentSize])).toEqual([
      [h.ourSeq(4000), 500, TCP_ACK | TCP_PSH, undefined],
    ]);
  });

  it('cuts at the link limit: whole pieces per super-segment, the rest in the next', () => {
    const h = tsoHarness(3500);
    h.conn.write(patternBytes(100_000));
    expect(h.take().map((s) => [s.payload.length, s.segmentSize])).toEqual([
      [3000, 1000],
      [3000, 1000],
      [3000, 1000],
      [1000, undefined],
    ]);
  });

  it('without a segmenting link every segment is one SMSS', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1000 });
    h.conn.write(patternBytes(100_000));
    const sent = h.take();
    expect(sent).toHaveLength(10);
    expect(sent.every((s) => s.payload.length === 1000 && s.segmentSize === undefined)).toBe(true);
  });
});
