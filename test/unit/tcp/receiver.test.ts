/**
 * The receive side: TcpReceiver alone (acceptability, trimming, ACK policy, window, SACK option
 * size), and through a connection (delayed ACKs, reassembly and SACK blocks, window advertisement,
 * D-SACK blocks of RFC 2883).
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { ConnectionTimers } from '../../../src/tcp/connection-timer.js';
import { NegotiatedOptions } from '../../../src/tcp/options.js';
import { ArrivingText, TcpReceiver } from '../../../src/tcp/receiver.js';
import { SegmentOutcome } from '../../../src/tcp/segment-outcome.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../src/tcp/types.js';
import { TCP_SYN, type TcpOptions } from '../../../src/wire/tcp.js';
import { ManualTime } from '../../support/manual-time.js';
import { HARNESS_TUPLE, TcpHarness, patternBytes } from '../../support/tcp-harness.js';

describe('TcpReceiver', () => {
  /** A receiver whose peer's SYN offered `peerSynOptions` (nothing: no SACK, no timestamps). */
  function receiverUnderTest(
    overrides: Partial<TcpConfig> = {},
    peerSynOptions?: TcpOptions,
  ): {
    receiver: TcpReceiver;
    counters: Counters;
    outcome: SegmentOutcome;
    time: ManualTime;
  } {
    const config: TcpConfig = { ...DEFAULT_TCP_CONFIG, ...overrides };
    const time = new ManualTime();
    const counters = new Counters('tcp');
    const none = (): void => undefined;
    const timers = new ConnectionTimers(time.timers, {
      onRetransmissionTimeout: none,
      onDelayedAckTimeout: none,
      onPersistTimeout: none,
      onReorderTimeout: none,
      onLossProbeTimeout: none,
      onKeepAliveTimeout: none,
      onCloseTimeout: none,
    });
    const options = new NegotiatedOptions(config, HARNESS_TUPLE.remoteAddress);
    if (peerSynOptions !== undefined) {
      options.negotiate(new TcpHarness().seg({ seq: 0xfffffff0, flags: TCP_SYN, options: peerSynOptions }).options, time.now());
    }
    const receiver = new TcpReceiver(config, options, counters, timers);
    receiver.synchronize(0xfffffff0);
    return { receiver, counters, outcome: new SegmentOutcome(), time };
  }
  const text = (offset: number, length: number, syn = false, fin = false): ArrivingText => {
    const t = new ArrivingText();
    t.set(offset, patternBytes(length, Math.max(0, offset)), syn, fin);
    return t;
  };

  it('converts sequence numbers to receive offsets at the edge, across the wrap', () => {
    const { receiver } = receiverUnderTest();
    // IRS 0xfffffff0: the first data byte is 0xfffffff1, offset 0; offset 15 wraps to 0.
    expect(receiver.receiveSeq(-1)).toBe(0xfffffff0);
    expect(receiver.receiveSeq(0)).toBe(0xfffffff1);
    expect(receiver.receiveSeq(15)).toBe(0);
    expect(receiver.receiveOffset(5)).toBe(20);
    expect(receiver.receiveOffset(0xffffffe0)).toBe(-17);
  });

  it('applies the acceptability table of RFC 9293 3.10.7.4', () => {
    const { receiver } = receiverUnderTest();
    // Zero window: only an empty segment exactly at RCV.NXT.
    expect(receiver.isAcceptable(0, 0, 0)).toBe(true);
    expect(receiver.isAcceptable(1, 0, 0)).toBe(false);
    expect(receiver.isAcceptable(0, 1, 0)).toBe(false);
    // Window 100 from RCV.NXT 0; an empty segment at the right edge (the ACK of a peer that
    // filled the window) is accepted too, as Linux does.
    expect([-1, 0, 99, 100, 101].map((off) => receiver.isAcceptable(off, 0, 100))).toEqual([false, true, true, true, false]);
    // Data: the first or the last byte inside the window.
    expect([-20, -10, -5, 95, 99, 100].map((off) => receiver.isAcceptable(off, 10, 100))).toEqual([false, false, true, true, true, false]);
  });

  it('trims a duplicate front part, a SYN below RCV.NXT, and asks for an ACK', () => {
    const { receiver, outcome } = receiverUnderTest();
    receiver.deliver(0, patternBytes(100), outcome);
    expect(receiver.rcvNxt).toBe(100);
    outcome.reset();
    const t = text(50, 100);
    receiver.trim(t, 1000, outcome);
    expect([t.offset, t.payload.length, t.payload[0]]).toEqual([100, 50, 100 % 251]);
    expect(outcome.ackNow).toBe(true);
    // A SYN just below RCV.NXT takes the one offset below the data: the data stays whole.
    const withSyn = text(99, 10, true);
    receiver.trim(withSyn, 1000, outcome);
    expect([withSyn.offset, withSyn.payload.length, withSyn.syn]).toEqual([100, 10, false]);
  });

  it('trims what lies beyond the window and the FIN with it', () => {
    const { receiver, counters, outcome } = receiverUnderTest();
    const t = text(0, 80, false, true);
    receiver.trim(t, 50, outcome);
    expect([t.offset, t.payload.length, t.fin]).toEqual([0, 50, false]);
    expect(outcome.ackNow).toBe(true);
    expect(counters.get('trimmed_beyond_window')).toBe(1);
    // A FIN right at the window's end is cut too; the data before it fits whole.
    outcome.reset();
    const atEdge = text(0, 50, false, true);
    receiver.trim(atEdge, 50, outcome);
    expect([atEdge.payload.length, atEdge.fin, outcome.ackNow]).toEqual([50, false, true]);
    // Inside the window nothing changes and no ACK is asked for.
    outcome.reset();
    const inside = text(0, 10, false, true);
    receiver.trim(inside, 50, outcome);
    expect([inside.payload.length, inside.fin, outcome.ackNow]).toEqual([10, true, false]);
  });

  it('ACK policy: one in-order segment is owed, the second full-sized one by the end of the batch; out-of-order at once', () => {
    const { receiver, counters, outcome } = receiverUnderTest();
    receiver.deliver(0, patternBytes(536), outcome);
    expect([outcome.readable, outcome.ackNow, outcome.ackAtBatchEnd, receiver.ackOwed]).toEqual([true, false, false, true]);
    receiver.deliver(536, patternBytes(536, 536), outcome);
    expect([outcome.ackNow, outcome.ackAtBatchEnd, receiver.ackOwed]).toEqual([false, true, true]);
    receiver.onAckSent();
    expect([receiver.ackOwed, receiver.lastAckSent]).toEqual([false, 1072]);
    outcome.reset();
    receiver.deliver(2000, patternBytes(10), outcome);
    expect([outcome.readable, outcome.ackNow]).toEqual([false, true]);
    expect(counters.get('out_of_order_segments')).toBe(1);
    expect(receiver.outgoingSackOptionBytes()).toBe(0);
  });

  it('a FIN beyond a hole waits until the hole fills', () => {
    const { receiver, outcome } = receiverUnderTest();
    receiver.deliver(100, patternBytes(50, 100), outcome);
    receiver.notePeerFin(150);
    expect(receiver.finInSequence).toBe(false);
    receiver.deliver(0, patternBytes(100), outcome);
    expect(receiver.finInSequence).toBe(true);
    outcome.reset();
    receiver.acceptFin(outcome);
    expect([receiver.rcvNxt, receiver.finReceived, outcome.ackNow, outcome.readable]).toEqual([151, true, true, true]);
    expect(receiver.finInSequence).toBe(false);
  });

  it('SACK option bytes count the D-SACK block within 4 blocks, or 3 beside timestamps (RFC 2018 3)', () => {
    for (const [timestamps, blocks] of [
      [false, 4],
      [true, 3],
    ] as const) {
      const peer: TcpOptions = { mss: 1460, sackPermitted: true, ...(timestamps ? { timestamp: { value: 1, echo: 0 } } : {}) };
      const { receiver, outcome } = receiverUnderTest({}, peer);
      receiver.deliver(0, patternBytes(100), outcome);
      receiver.onAckSent();
      expect([receiver.hasSackBlocksToSend, receiver.outgoingSackOptionBytes()]).toEqual([false, 0]);
      // A retransmission of [0, 100): the D-SACK block alone: 2 NOPs, kind, length, one block.
      const again = text(0, 100);
      receiver.trim(again, 1000, outcome);
      expect([receiver.hasSackBlocksToSend, receiver.outgoingSackOptionBytes()]).toEqual([true, 4 + 8]);
      expect(receiver.outgoingSackBlocks()).toEqual([{ left: receiver.receiveSeq(0), right: receiver.receiveSeq(100) }]);
      receiver.onAckSent();
      expect(receiver.outgoingSackOptionBytes()).toBe(0);
      // Four held ranges: as many blocks as fit; a D-SACK takes the first place, not an extra one.
      for (let i = 1; i <= 4; i++) receiver.deliver(i * 1000, patternBytes(100, i * 1000), outcome);
      expect(receiver.outgoingSackOptionBytes()).toBe(4 + 8 * blocks);
      const duplicate = text(1000, 100);
      receiver.trim(duplicate, 10_000, outcome);
      receiver.deliver(duplicate.offset, duplicate.payload, outcome);
      expect(receiver.outgoingSackOptionBytes()).toBe(4 + 8 * blocks);
      const sent = receiver.outgoingSackBlocks();
      expect(sent).toHaveLength(blocks);
      expect(sent.slice(0, 2)).toEqual([
        { left: receiver.receiveSeq(1000), right: receiver.receiveSeq(1100) },
        { left: receiver.receiveSeq(1000), right: receiver.receiveSeq(1100) },
      ]);
    }
  });

  it('reports only the latest segment, only its lowest duplicated run, and only with SACK negotiated', () => {
    const { receiver, counters, outcome } = receiverUnderTest({}, { mss: 1460, sackPermitted: true });
    receiver.deliver(0, patternBytes(1000), outcome);
    receiver.deliver(2000, patternBytes(500, 2000), outcome);
    receiver.onAckSent();
    // [500, 2200): [500, 1000) is below RCV.NXT, [2000, 2200) is held: the lower run is reported.
    const both = text(500, 1700);
    receiver.trim(both, 10_000, outcome);
    receiver.deliver(both.offset, both.payload, outcome);
    expect(receiver.outgoingSackBlocks()[0]).toEqual({ left: receiver.receiveSeq(500), right: receiver.receiveSeq(1000) });
    // A newer segment with nothing duplicated replaces it: no D-SACK is left (RFC 2883 4 rule 1).
    const fresh = text(3000, 100);
    receiver.trim(fresh, 10_000, outcome);
    receiver.deliver(fresh.offset, fresh.payload, outcome);
    expect(receiver.outgoingSackBlocks()[0]).toEqual({ left: receiver.receiveSeq(3000), right: receiver.receiveSeq(3100) });
    receiver.onAckSent();
    expect(counters.get('dsacks_sent')).toBe(0);

    // Without SACK the duplicate is still trimmed and ACKed at once, but no block is reported.
    const plain = receiverUnderTest();
    plain.receiver.deliver(0, patternBytes(1000), plain.outcome);
    plain.receiver.onAckSent();
    plain.outcome.reset();
    const dup = text(0, 1000);
    plain.receiver.trim(dup, 10_000, plain.outcome);
    expect([plain.outcome.ackNow, plain.receiver.hasSackBlocksToSend, plain.receiver.outgoingSackOptionBytes()]).toEqual([true, false, 0]);
    plain.receiver.onAckSent();
    expect(plain.counters.get('dsacks_sent')).toBe(0);
  });

  it('the advertised right edge never moves left, and grows only by the update threshold (receiver SWS)', () => {
    const { receiver, outcome } = receiverUnderTest({ receiveBufferSize: 4000, windowScaling: false });
    receiver.advertiseSynWindow();
    expect(receiver.window).toBe(4000);
    receiver.deliver(0, patternBytes(3000), outcome);
    // 1000 free: the offer stays what is left of the old window.
    expect(receiver.windowField()).toBe(1000);
    expect(receiver.windowUpdateDue()).toBe(false);
    receiver.buffer.read(new Uint8Array(2000));
    // 3000 free >= 1000 left + min(2000, 536): update.
    expect(receiver.windowUpdateDue()).toBe(true);
    expect(receiver.windowField()).toBe(3000);
    expect(receiver.rcvAdvRight).toBe(6000);
  });

  it('never rounds a scaled window up past what the buffer can hold (RFC 7323 2.4)', () => {
    // A 64 KiB buffer (all of it the window from the start) takes window scale 1: 2-byte granules.
    const size = 65536;
    const { receiver, outcome } = receiverUnderTest({ receiveBufferSize: size }, { windowScale: 7, mss: 1460 });
    receiver.advertiseSynWindow();
    expect(receiver.windowField()).toBe(size / 2);
    // 151 bytes of room left, an odd number: 76 granules would promise 152, a byte the buffer
    // would have to trim. The field says 75; the edge already offered stays where it was,
    // inside the buffer.
    receiver.deliver(0, patternBytes(size - 151), outcome);
    expect(receiver.windowField()).toBe(75);
    expect(receiver.rcvAdvRight).toBe(receiver.buffer.limitOffset);
    // The 151 bytes already offered are still taken whole.
    receiver.deliver(size - 151, patternBytes(151, size - 151), outcome);
    expect(receiver.rcvNxt).toBe(size);
  });
});

describe('TCP receiving', () => {
  it('delayed ACK: one segment waits delayedAckTimeout, every second full segment is ACKed at once', () => {
    const h = new TcpHarness(1, 2, { delayedAckTimeout: 40 });
    h.openActive();
    h.data(0, patternBytes(1460));
    expect(h.take()).toHaveLength(0);
    h.advance(39);
    expect(h.take()).toHaveLength(0);
    h.advance(1);
    const [delayed] = h.take();
    expect(delayed!.ack).toBe(h.peerSeq(1460));
    h.data(1460, patternBytes(1460));
    expect(h.take()).toHaveLength(0);
    h.data(2920, patternBytes(1460));
    const [second] = h.take();
    expect(second!.ack).toBe(h.peerSeq(4380));
    expect(h.readable).toBe(3);
  });

  it('after a hole is filled, the next 16 in-order segments are ACKed at once (quick ACKs), then delayed again', () => {
    const h = new TcpHarness(1, 2, { delayedAckTimeout: 40 });
    h.openActive();
    // Segment 1 arrives before segment 0: a hole, ACKed at once, then filled, ACKed at once.
    h.data(1460, patternBytes(1460));
    expect(h.take()).toHaveLength(1);
    h.data(0, patternBytes(1460));
    expect(h.take()).toHaveLength(1);
    for (let i = 2; i < 18; i++) {
      h.data(i * 1460, patternBytes(1460));
      const acks = h.take();
      expect(acks).toHaveLength(1);
      expect(acks[0]!.ack).toBe(h.peerSeq((i + 1) * 1460));
    }
    // The quick ACKs are spent: one more segment waits for the delayed-ACK timer.
    h.data(18 * 1460, patternBytes(1460));
    expect(h.take()).toHaveLength(0);
  });

  it('piggybacks the ACK on outgoing data', () => {
    const h = new TcpHarness();
    h.openActive();
    h.data(0, patternBytes(100));
    expect(h.take()).toHaveLength(0);
    h.conn.write(patternBytes(10));
    const [seg] = h.take();
    expect(seg!.payload.length).toBe(10);
    expect(seg!.ack).toBe(h.peerSeq(100));
    h.advance(1000);
    expect(h.take().filter((s) => s.payload.length === 0)).toHaveLength(0);
  });

  it('out-of-order data is held, dup ACKs carry SACK blocks (most recent first), hole fill ACKs at once', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, sackPermitted: true });
    h.data(1000, patternBytes(1000, 1000));
    let [dup] = h.take();
    expect(dup!.ack).toBe(h.peerSeq(0));
    expect(dup!.options.sackBlocks).toEqual([{ left: h.peerSeq(1000), right: h.peerSeq(2000) }]);
    h.data(3000, patternBytes(1000, 3000));
    [dup] = h.take();
    expect(dup!.ack).toBe(h.peerSeq(0));
    expect(dup!.options.sackBlocks).toEqual([
      { left: h.peerSeq(3000), right: h.peerSeq(4000) },
      { left: h.peerSeq(1000), right: h.peerSeq(2000) },
    ]);
    expect(h.conn.readableLength).toBe(0);
    h.data(0, patternBytes(1000));
    const [fill] = h.take();
    expect(fill!.ack).toBe(h.peerSeq(2000));
    expect(fill!.options.sackBlocks).toEqual([{ left: h.peerSeq(3000), right: h.peerSeq(4000) }]);
    h.data(2000, patternBytes(1000, 2000));
    const [last] = h.take();
    expect(last!.ack).toBe(h.peerSeq(4000));
    expect(last!.options.sackBlocks).toBeUndefined();
    expect(h.readAll()).toEqual(patternBytes(4000));
  });

  it('at most 3 SACK blocks with timestamps', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 0 } });
    for (let i = 1; i <= 5; i++) h.data(i * 200, patternBytes(100), { options: { timestamp: { value: 1, echo: 0 } } });
    const last = h.take().at(-1)!;
    expect(last.options.sackBlocks).toHaveLength(3);
    expect(last.options.sackBlocks![0]).toEqual({ left: h.peerSeq(1000), right: h.peerSeq(1100) });
  });

  it('out-of-order data beyond outOfOrderLimit is dropped and counted', () => {
    const h = new TcpHarness(1, 2, { outOfOrderLimit: 1500 });
    h.openActive();
    h.data(1000, patternBytes(1000));
    h.data(3000, patternBytes(1000));
    expect(h.counters.get('drop.ooo_limit')).toBe(1);
    h.data(0, patternBytes(1000));
    expect(h.conn.readableLength).toBe(2000);
  });

  it('trims duplicate front parts and beyond-window tails; unacceptable segments draw an ACK', () => {
    const h = new TcpHarness(1, 2, { receiveBufferSize: 4000 });
    h.openActive();
    h.data(0, patternBytes(1000));
    h.data(500, patternBytes(1000, 500));
    expect(h.conn.readableLength).toBe(1500);
    h.take();
    // Window offered was 4000 from offset 0: bytes beyond 4000 are cut.
    h.data(1500, patternBytes(3000, 1500));
    expect(h.conn.readableLength).toBe(4000);
    expect(h.take().at(-1)!.ack).toBe(h.peerSeq(4000));
    expect(h.readAll()).toEqual(patternBytes(4000));
    h.data(100_000, patternBytes(10));
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(4000));
    expect(h.counters.get('drop.out_of_window')).toBe(1);
  });

  it('advertises free space, never shrinks, and sends a window update after read (receiver SWS)', () => {
    const h = new TcpHarness(1, 2, { receiveBufferSize: 4000 });
    h.openActive();
    for (let i = 0; i < 4; i++) h.data(i * 1000, patternBytes(1000, i * 1000));
    const acks = h.take();
    expect(acks.at(-1)!.ack).toBe(h.peerSeq(4000));
    expect(acks.at(-1)!.window).toBe(0);
    // A zero window accepts no data, but still answers.
    h.data(4000, patternBytes(10));
    const [zeroAck] = h.take();
    expect(zeroAck!.window).toBe(0);
    expect(zeroAck!.ack).toBe(h.peerSeq(4000));
    const buf = new Uint8Array(1000);
    h.conn.read(buf);
    // 1000 free < min(4000/2, 1460): no update yet (RFC 1122 4.2.3.3).
    expect(h.take()).toHaveLength(0);
    h.conn.read(buf);
    const [update] = h.take();
    expect(update!.window).toBe(2000);
    expect(update!.ack).toBe(h.peerSeq(4000));
  });
});

describe('D-SACK (RFC 2883)', () => {
  const SACK = { mss: 1460, sackPermitted: true } as const;

  it('a retransmission of acknowledged data is ACKed at once with the duplicate below the ACK as the first block', () => {
    const h = new TcpHarness();
    h.openActive(SACK);
    h.data(0, patternBytes(1000));
    h.data(1000, patternBytes(1000, 1000));
    expect(h.take().at(-1)!.ack).toBe(h.peerSeq(2000));
    // The whole segment lies below RCV.NXT: unacceptable, answered by an ACK carrying the D-SACK.
    h.data(1000, patternBytes(1000, 1000));
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(2000));
    expect(ack!.options.sackBlocks).toEqual([{ left: h.peerSeq(1000), right: h.peerSeq(2000) }]);
    expect(h.counters.get('dsacks_sent')).toBe(1);
    expect(h.readAll()).toEqual(patternBytes(2000));
  });

  it('a duplicate of held out-of-order data: the D-SACK block, then the held block containing it', () => {
    const h = new TcpHarness();
    h.openActive(SACK);
    h.data(1000, patternBytes(1000, 1000));
    h.data(2000, patternBytes(1000, 2000));
    h.data(5000, patternBytes(1000, 5000));
    h.take();
    h.data(2000, patternBytes(1000, 2000));
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(0));
    expect(ack!.options.sackBlocks).toEqual([
      { left: h.peerSeq(2000), right: h.peerSeq(3000) },
      { left: h.peerSeq(1000), right: h.peerSeq(3000) },
      { left: h.peerSeq(5000), right: h.peerSeq(6000) },
    ]);
  });

  it('partial overlap reports just the duplicated part, below RCV.NXT or inside a held block', () => {
    const h = new TcpHarness();
    h.openActive(SACK);
    h.data(0, patternBytes(1000));
    h.data(3000, patternBytes(1000, 3000));
    h.take();
    // [500, 1500): [500, 1000) was received; [1000, 1500) is new.
    h.data(500, patternBytes(1000, 500));
    let [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(1500));
    expect(ack!.options.sackBlocks).toEqual([
      { left: h.peerSeq(500), right: h.peerSeq(1000) },
      { left: h.peerSeq(3000), right: h.peerSeq(4000) },
    ]);
    // [2500, 3500): [3000, 3500) is held; the block containing it grew to [2500, 4000).
    h.data(2500, patternBytes(1000, 2500));
    [ack] = h.take();
    expect(ack!.options.sackBlocks).toEqual([
      { left: h.peerSeq(3000), right: h.peerSeq(3500) },
      { left: h.peerSeq(2500), right: h.peerSeq(4000) },
    ]);
    // [1000, 3000) fills the hole: [1000, 1500) is below RCV.NXT and [2500, 3000) repeats part of the
    // held block it absorbs. One block reports one run: the lower.
    h.data(1000, patternBytes(2000, 1000));
    [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(4000));
    expect(ack!.options.sackBlocks).toEqual([{ left: h.peerSeq(1000), right: h.peerSeq(1500) }]);
    expect(h.counters.get('dsacks_sent')).toBe(3);
    expect(h.readAll()).toEqual(patternBytes(4000));
  });

  it('a run that fills the hole and overlaps a held block reports the overlap below the new ACK', () => {
    const h = new TcpHarness();
    h.openActive(SACK);
    h.data(1000, patternBytes(1000, 1000));
    h.take();
    h.data(0, patternBytes(1500));
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(2000));
    expect(ack!.options.sackBlocks).toEqual([{ left: h.peerSeq(1000), right: h.peerSeq(1500) }]);
    expect(h.readAll()).toEqual(patternBytes(2000));
  });

  it('the D-SACK appears on exactly one ACK', () => {
    const h = new TcpHarness(1, 2, { delayedAckTimeout: 40 });
    h.openActive(SACK);
    h.data(0, patternBytes(1000));
    h.advance(40);
    h.take();
    h.data(0, patternBytes(1000));
    const [first] = h.take();
    expect(first!.options.sackBlocks).toEqual([{ left: h.peerSeq(0), right: h.peerSeq(1000) }]);
    // New in-order data: its (delayed) ACK carries no SACK option.
    h.data(1000, patternBytes(100, 1000));
    h.advance(40);
    const [next] = h.take();
    expect(next!.ack).toBe(h.peerSeq(1100));
    expect(next!.options.sackBlocks).toBeUndefined();
    // Nor does data we send afterwards.
    h.conn.write(patternBytes(10));
    const [data] = h.take();
    expect(data!.options.sackBlocks).toBeUndefined();
    expect(h.counters.get('dsacks_sent')).toBe(1);
  });

  it('no D-SACK without SACK negotiated: the duplicate is still ACKed at once', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460 });
    h.data(0, patternBytes(1000));
    h.data(1000, patternBytes(1000, 1000));
    h.take();
    h.data(500, patternBytes(1000, 500));
    h.data(1000, patternBytes(1000, 1000));
    const acks = h.take();
    expect(acks).toHaveLength(2);
    expect(acks.map((a) => [a.ack, a.options.sackBlocks])).toEqual([
      [h.peerSeq(2000), undefined],
      [h.peerSeq(2000), undefined],
    ]);
    expect(h.counters.get('dsacks_sent')).toBe(0);
  });

  it('with timestamps the D-SACK takes the first of 3 blocks', () => {
    const h = new TcpHarness();
    const ts = { timestamp: { value: 1, echo: 0 } };
    h.openActive({ ...SACK, ...ts });
    for (let i = 1; i <= 4; i++) h.data(i * 1000, patternBytes(100, i * 1000), { options: ts });
    h.take();
    h.data(1000, patternBytes(100, 1000), { options: ts });
    const [ack] = h.take();
    expect(ack!.options.sackBlocks).toEqual([
      { left: h.peerSeq(1000), right: h.peerSeq(1100) },
      { left: h.peerSeq(1000), right: h.peerSeq(1100) },
      { left: h.peerSeq(4000), right: h.peerSeq(4100) },
    ]);
  });
});
