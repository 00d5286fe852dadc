/**
 * The send side: TcpSender alone (numbering, output by state, transmit records, ACK checks, SACK
 * recovery), and through a connection (Nagle, slow start, RTT, retransmission, persist).
 */
import { ChallengeAckBudget } from '../../../src/tcp/ack-rate-limit.js';
import { seqDiff } from '../../../src/tcp/seq.js';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { ConnectionTimers } from '../../../src/tcp/connection-timer.js';
import { NegotiatedOptions } from '../../../src/tcp/options.js';
import { TcpReceiver } from '../../../src/tcp/receiver.js';
import { SegmentOutcome } from '../../../src/tcp/segment-outcome.js';
import { TcpSender } from '../../../src/tcp/sender.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig, type TcpEnvironment } from '../../../src/tcp/types.js';
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { ManualTime } from '../../support/manual-time.js';
import { HARNESS_TUPLE, TcpHarness, patternBytes, payloadTotal } from '../../support/tcp-harness.js';

describe('TcpSender', () => {
  const ISS = 0xffffff00;
  function senderUnderTest(overrides: Partial<TcpConfig> = {}) {
    const config: TcpConfig = { ...DEFAULT_TCP_CONFIG, mss: 1000, timestamps: false, ...overrides };
    const time = new ManualTime();
    const counters = new Counters('tcp');
    const sent: TcpSegment[] = [];
    const env: TcpEnvironment = {
      now: () => time.now(),
      timers: time.timers,
      transmit: (s) => sent.push({ ...s, payload: s.payload.slice() }),
      counters,
      challengeAcks: new ChallengeAckBudget(() => 0.5),
      release: () => undefined,
    };
    const options = new NegotiatedOptions(config, HARNESS_TUPLE.remoteAddress);
    const outcome = new SegmentOutcome();
    const handlers = {
      onRetransmissionTimeout: (now: number) => sender.onRetransmissionTimeout(now, 'ESTABLISHED'),
      onDelayedAckTimeout: () => undefined,
      onPersistTimeout: (now: number) => sender.onPersistTimeout(now, 'ESTABLISHED'),
      onReorderTimeout: (now: number) => sender.onReorderTimeout(now, 'ESTABLISHED'),
      onLossProbeTimeout: (now: number) => sender.onLossProbeTimeout(now, 'ESTABLISHED'),
      onKeepAliveTimeout: () => undefined,
      onCloseTimeout: () => undefined,
    };
    const timers = new ConnectionTimers(time.timers, handlers);
    const receiver = new TcpReceiver(config, options, counters, timers);
    const sender: TcpSender = new TcpSender(HARNESS_TUPLE, ISS, config, env, counters, options, receiver, timers, outcome);
    const peerSegment = (fields: Partial<TcpSegment>): TcpSegment => ({
      sourcePort: HARNESS_TUPLE.remotePort,
      destinationPort: HARNESS_TUPLE.localPort,
      seq: 1,
      ack: 0,
      flags: TCP_ACK,
      window: 65535,
      urgentPointer: 0,
      options: {},
      payload: new Uint8Array(0),
      ...fields,
    });
    // Passive open: the peer's SYN (IRS 0, MSS 1000, SACK), our SYN-ACK, the third ACK.
    const syn = peerSegment({ seq: 0, flags: TCP_SYN, options: { mss: 1000, sackPermitted: true } });
    receiver.synchronize(0);
    options.negotiate(syn.options, 0);
    sender.openPassive(65535);
    sender.onEstablished();
    sender.onAck(peerSegment({ ack: sender.sendSeq(0) }), 0, false, 0, outcome);
    sent.length = 0;
    /** The peer acknowledges send offset `off`, with SACK blocks as send-offset pairs. */
    const ack = (off: number, sack: Array<[number, number]> = []): boolean =>
      sender.onAck(
        peerSegment({
          ack: sender.sendSeq(off),
          options: sack.length ? { sackBlocks: sack.map(([l, r]) => ({ left: sender.sendSeq(l), right: sender.sendSeq(r) })) } : {},
        }),
        0,
        false,
        time.now(),
        outcome,
      );
    return { sender, sent, time, outcome, counters, ack };
  }

  function records(sender: TcpSender): string[] {
    const r = sender.records;
    const out: string[] = [];
    for (let i = 0; i < r.count; i++) {
      out.push(
        `${r.start(i)}-${r.end(i)}${r.isRetransmitted(i) ? 'R' : ''}${r.isSacked(i) ? 'S' : ''}${r.isAwaitingRetransmission(i) ? 'L' : ''}@${r.sendTime(i)}`,
      );
    }
    return out;
  }

  it('numbers segments from ISS + 1 across the wrap and sends only in the states that send data', () => {
    const { sender, sent } = senderUnderTest();
    expect(sender.sendSeq(-1)).toBe(ISS);
    expect(sender.sendSeq(0x100)).toBe(1);
    expect(sender.ackOffset(1)).toBe(0x100);
    sender.buffer.write(patternBytes(2000));
    sender.output('SYN-RECEIVED');
    sender.output('FIN-WAIT-2');
    expect(sent).toHaveLength(0);
    sender.output('ESTABLISHED');
    expect(sent.map((s) => [s.seq, s.payload.length])).toEqual([
      [sender.sendSeq(0), 1000],
      [sender.sendSeq(1000), 1000],
    ]);
  });

  it('keeps one transmit record per segment in flight: appended, trimmed by the ACK, SACKed, retransmitted', () => {
    const { sender, time, ack } = senderUnderTest();
    sender.buffer.write(patternBytes(5000));
    sender.output('ESTABLISHED');
    expect(records(sender)).toEqual(['0-1000@0', '1000-2000@0', '2000-3000@0', '3000-4000@0', '4000-5000@0']);
    // Less than the PTO (2*SRTT + 2 ms, SRTT 0 here), so no tail loss probe interferes.
    time.advance(1);
    ack(1500);
    expect(records(sender)).toEqual(['1500-2000@0', '2000-3000@0', '3000-4000@0', '4000-5000@0']);
    ack(1500, [[3000, 4000]]);
    // RACK (RFC 8985 6.2): the SACKed segment was sent no earlier than the two below it, which have
    // been outstanding longer than RACK.rtt + reo_wnd (0: min_RTT is 0 here): they are lost.
    expect(records(sender)).toEqual(['1500-2000L@0', '2000-3000L@0', '3000-4000S@0', '4000-5000@0']);
    expect(sender.recovery.phase).toBe('fast-recovery');
    // PRR (RFC 6937 3.1, pipe of one segment well below ssthresh = 0.7 * cwnd): PRR-SSRB allows
    // DeliveredData + MSS, two segments: both holes are resent, the first as a full segment (the
    // short first record joined with half of the next), then the rest of the second.
    sender.output('ESTABLISHED');
    expect(records(sender)).toEqual(['1500-2500R@1', '2500-3000R@1', '3000-4000S@0', '4000-5000@0']);
    // The retransmission timeout: everything not SACKed is lost (the scoreboard is kept, RFC 6675
    // 5.1), and the loss window (one SMSS) resends one segment from SND.UNA, not a byte more.
    const rto = sender.rtt.rto;
    time.advance(rto);
    const at = 1 + rto;
    expect(records(sender)).toEqual([`1500-2500R@${at}`, '2500-3000RL@1', '3000-4000S@0', '4000-5000L@0']);
  });

  it('an ACK for data never sent asks for an ACK and is dropped', () => {
    const { sender, outcome, ack, counters } = senderUnderTest();
    sender.buffer.write(patternBytes(100));
    sender.output('ESTABLISHED');
    outcome.reset();
    expect(ack(101)).toBe(false);
    expect(outcome.ackNow).toBe(true);
    expect(counters.get('drop.ack_unsent')).toBe(1);
    expect(ack(100)).toBe(true);
    expect(outcome.writable).toBe(true);
    expect(sender.sndUna).toBe(100);
  });

  it('any segment carrying an ACK satisfies an ACK the segment outcome asked for', () => {
    const { sender, sent, outcome } = senderUnderTest();
    outcome.ackNow = true;
    sender.sendAck();
    expect(outcome.ackNow).toBe(false);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.seq).toBe(sender.sendSeq(0));
    expect(sent[0]!.ack).toBe(1);
  });

  it('SACK blocks steer the fast retransmission around what the peer holds', () => {
    const { sender, sent, ack } = senderUnderTest();
    sender.buffer.write(patternBytes(6000));
    sender.output('ESTABLISHED');
    sent.length = 0;
    ack(0, [[1000, 2000]]);
    ack(0, [[1000, 3000]]);
    ack(0, [[1000, 4000]]);
    expect(sender.scoreboard.sackedRanges()).toEqual([{ start: 1000, end: 4000 }]);
    // RFC 6675 IsLost: three SACKed segments above the first: it is lost, recovery begins.
    expect(sender.recovery.phase).toBe('fast-recovery');
    sender.output('ESTABLISHED');
    // The hole goes first (NextSeg rule 1); with no new data, the rescue retransmission (rule 4)
    // resends the highest segment not SACKed, once.
    expect(sent.map((s) => [seqDiff(s.seq, sender.sendSeq(0)), s.payload.length])).toEqual([
      [0, 1000],
      [5000, 1000],
    ]);
    sender.output('ESTABLISHED');
    expect(sent).toHaveLength(2);
  });
});

describe('TCP sending', () => {
  it('Nagle holds a small segment while data is in flight; setNoDelay sends at once', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.write(patternBytes(100));
    expect(h.take()).toHaveLength(1);
    h.conn.write(patternBytes(100));
    expect(h.take()).toHaveLength(0);
    h.ack(100);
    const [held] = h.take();
    expect(held!.payload.length).toBe(100);
    expect(held!.seq).toBe(h.ourSeq(100));
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(10));
    const [immediate] = h.take();
    expect(immediate!.payload.length).toBe(10);
  });

  it('initial window is 10 segments (RFC 6928) and slow start grows it', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1000 });
    h.conn.write(patternBytes(100_000));
    const first = h.take();
    expect(payloadTotal(first)).toBe(10_000);
    expect(first.every((s) => s.payload.length === 1000)).toBe(true);
    h.ack(2000);
    expect(payloadTotal(h.take())).toBe(4000);
    expect(h.conn.stats().cwnd).toBe(12_000);
  });

  it('RTT estimate follows RFC 6298 after samples', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460 }, 65535, 100);
    let s = h.conn.stats();
    expect(s.srtt).toBe(100);
    expect(s.rttvar).toBe(50);
    expect(s.rto).toBe(300);
    h.conn.write(patternBytes(100));
    h.advance(50);
    h.ack(100);
    s = h.conn.stats();
    expect(s.rttvar).toBeCloseTo(50);
    expect(s.srtt).toBeCloseTo(93.75);
    expect(s.rto).toBeCloseTo(293.75);
  });

  it('RTT from timestamp echoes', () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    // The SYN-ACK echoes 0: no timestamp sample, the SYN is timed instead (80 ms).
    h.openActive({ mss: 1460, timestamp: { value: 1, echo: 0 } }, 65535, 80);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(100));
    const [seg] = h.take();
    h.advance(50);
    h.conn.write(patternBytes(100));
    h.advance(30);
    expect(h.take()).toHaveLength(1);
    // The ACK of both segments echoes the first one's TSval: 80 ms.
    h.ack(200, { options: { timestamp: { value: 2, echo: seg!.options.timestamp!.value } } });
    expect(h.conn.stats().srtt).toBe(80);
    expect(h.conn.stats().rttvar).toBe(30);
  });

  it('after a timeout, an echo older than the retransmission it acknowledges gives no RTT sample (RFC 7323 4.3)', () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    h.openActive({ mss: 1460, timestamp: { value: 1, echo: 0 } }, 65535, 10);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(100));
    const [original] = h.take();
    const srttBefore = h.conn.stats().srtt;
    // The segment is lost: the RTO resends it; the ACK then echoes the ORIGINAL's TSval (a
    // receiver whose TS.Recent lags): now - echo spans the timeout and must not be sampled.
    h.advance(h.conn.stats().rto);
    expect(h.take()).toHaveLength(1);
    h.advance(5);
    h.ack(100, { options: { timestamp: { value: 2, echo: original!.options.timestamp!.value } } });
    expect(h.conn.stats().srtt).toBe(srttBefore);
  });

  it("an ACK covering a retransmission takes no sample from the older segments it covers (Karn, as Linux's FLAG_RETRANS_DATA_ACKED)", () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    h.openActive({ mss: 1000, timestamp: { value: 1, echo: 0 } }, 65535, 10);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(3000));
    expect(h.take().length).toBeGreaterThan(2);
    // All are delivered but the ACKs are lost: the RTO resends the first only.
    h.advance(h.conn.stats().rto);
    const [retransmission] = h.take();
    const srttBefore = h.conn.stats().srtt;
    h.advance(10);
    // The peer's ACK of everything echoes the retransmission: one round trip (10 ms), not the
    // time since the originals were sent (which spans the timeout).
    h.ack(3000, { options: { timestamp: { value: 2, echo: retransmission!.options.timestamp!.value } } });
    expect(h.conn.stats().srtt).toBeCloseTo(srttBefore);
  });

  it('an ACK of a retransmission arriving later than the un-backed-off RTO gives no sample, but ends the backoff', () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    h.openActive({ mss: 1000, timestamp: { value: 1, echo: 0 } }, 65535, 10);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(1000));
    h.take();
    const baseRto = h.conn.stats().rto;
    h.advance(baseRto);
    const [retransmission] = h.take();
    expect(h.conn.stats().rto).toBe(2 * baseRto);
    const srttBefore = h.conn.stats().srtt;
    // The ACK the retransmission drew was lost; the peer repeats it only with its next segment,
    // long after: that delay is the peer's schedule, not the path's round trip.
    h.advance(baseRto + 50);
    h.ack(1000, { options: { timestamp: { value: 2, echo: retransmission!.options.timestamp!.value } } });
    expect(h.conn.stats().srtt).toBe(srttBefore);
    expect(h.conn.stats().rto).toBe(baseRto);
  });

  it('a timeout whose retransmission the ACK does not echo was spurious (RFC 3522): cwnd, ssthresh and the RTO come back', () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    h.openActive({ mss: 1000, timestamp: { value: 1, echo: 0 } }, 65535, 10);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(3000));
    const originals = h.take();
    expect(originals.length).toBeGreaterThan(2);
    const before = h.conn.stats();
    // Every segment arrived but every ACK was lost: the RTO resends the first.
    h.advance(before.rto);
    expect(h.take()).toHaveLength(1);
    expect(h.conn.stats().cwnd).toBeLessThan(before.cwnd);
    // A late ACK of everything echoes an original's TSval, older than the retransmission.
    h.advance(5);
    h.ack(3000, { options: { timestamp: { value: 2, echo: originals[0]!.options.timestamp!.value } } });
    const after = h.conn.stats();
    expect(h.counters.get('spurious_timeouts_undone')).toBe(1);
    expect([after.cwnd, after.ssthresh, after.rto]).toEqual([before.cwnd, before.ssthresh, before.rto]);
    // Nothing else is resent: the records the timeout deemed lost were delivered.
    expect(h.take().filter((s) => s.payload.length > 0)).toHaveLength(0);
  });

  it('a timeout whose retransmission the ACK echoes was real: no undo', () => {
    const h = new TcpHarness();
    h.clock.set(10_000);
    h.openActive({ mss: 1000, timestamp: { value: 1, echo: 0 } }, 65535, 10);
    h.conn.setNoDelay(true);
    h.conn.write(patternBytes(1000));
    h.take();
    const before = h.conn.stats();
    h.advance(before.rto);
    const [retransmission] = h.take();
    h.advance(5);
    h.ack(1000, { options: { timestamp: { value: 2, echo: retransmission!.options.timestamp!.value } } });
    expect(h.counters.get('spurious_timeouts_undone')).toBe(0);
    expect(h.conn.stats().cwnd).toBeLessThan(before.cwnd);
  });

  it('retransmits with exponential backoff and fails with RST + ETIMEDOUT', () => {
    const h = new TcpHarness(1, 2, { maxRetransmissions: 3 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.conn.write(patternBytes(100));
    const start = h.clock.now();
    h.take();
    h.advance(10_000);
    const out = h.take();
    const retrans = out.filter((s) => s.payload.length === 100);
    expect(retrans.map((s) => s.at - start)).toEqual([300, 900, 2100]);
    expect(retrans.every((s) => s.seq === h.ourSeq(0))).toBe(true);
    expect(out.at(-1)!.flags & TCP_RST).toBe(TCP_RST);
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
    expect(h.conn.stats().state).toBe('CLOSED');
  });

  it("Karn's rule: an ACK of retransmitted data gives no RTT sample; the backed-off RTO stays", () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460 }, 65535, 100);
    h.conn.write(patternBytes(100));
    h.take();
    h.advance(300);
    expect(h.take()).toHaveLength(1);
    expect(h.conn.stats().rto).toBe(600);
    h.advance(10);
    h.ack(100);
    expect(h.conn.stats().srtt).toBe(100);
    expect(h.conn.stats().rto).toBe(600);
    // A fresh segment measured normally ends the backoff.
    h.conn.write(patternBytes(100));
    h.advance(100);
    h.ack(200);
    expect(h.conn.stats().rto).toBeCloseTo(100 + 4 * 37.5);
  });

  it('timeout collapses cwnd to one segment and sets ssthresh to half the flight (NewReno)', () => {
    const h = new TcpHarness(1, 2, { congestionControl: 'newreno' });
    h.openActive({ mss: 1000 }, 65535, 100);
    h.conn.write(patternBytes(10_000));
    h.take();
    h.advance(300);
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.seq).toBe(h.ourSeq(0));
    expect(h.conn.stats().cwnd).toBe(1000);
    expect(h.conn.stats().ssthresh).toBe(5000);
    expect(h.counters.get('timeouts')).toBe(1);
  });

  it('without SACK: fast retransmit on three duplicate ACKs, PRR sets cwnd, NewReno partial ACK, exit on full ACK', () => {
    const h = new TcpHarness(1, 2, { congestionControl: 'newreno' });
    h.openActive({ mss: 1000 });
    h.conn.write(patternBytes(10_000));
    expect(h.take()).toHaveLength(10);
    h.ack(0);
    h.ack(0);
    expect(h.take()).toHaveLength(0);
    h.ack(0);
    const [fast] = h.take();
    expect(fast!.seq).toBe(h.ourSeq(0));
    expect(fast!.payload.length).toBe(1000);
    expect(h.counters.get('fast_retransmits')).toBe(1);
    expect(h.conn.stats().ssthresh).toBe(5000);
    // RFC 6937: pipe = 10 sent - 1 lost - 3 reported by duplicates = 6000; sndcnt = one segment
    // (the fast retransmission always goes), so cwnd = 7000.
    expect(h.conn.stats().cwnd).toBe(7000);
    // Partial ACK: segment 3 was lost too.
    h.ack(3000);
    const [partial] = h.take();
    expect(partial!.seq).toBe(h.ourSeq(3000));
    h.ack(10_000);
    expect(h.conn.stats().cwnd).toBeLessThanOrEqual(5000);
    expect(h.counters.get('fast_retransmits')).toBe(1);
  });

  it('zero window: persist probes back off; answered probes keep the connection; window opening resumes', () => {
    const h = new TcpHarness(1, 2, { maxRetransmissions: 3 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(patternBytes(1000));
    expect(h.take()).toHaveLength(0);
    const probeTimes: number[] = [];
    const start = h.clock.now();
    for (let i = 0; i < 6; i++) {
      h.advance(2 ** i * 300);
      const out = h.take();
      expect(out).toHaveLength(1);
      expect(out[0]!.payload.length).toBe(1);
      expect(out[0]!.seq).toBe(h.ourSeq(0));
      probeTimes.push(out[0]!.at - start);
      h.ack(0, { window: 0 });
    }
    expect(probeTimes).toEqual([300, 900, 2100, 4500, 9300, 18900]);
    expect(h.conn.state).toBe('ESTABLISHED');
    h.ack(0, { window: 65535 });
    const out = h.take();
    expect(payloadTotal(out)).toBe(1000);
    expect(out[0]!.seq).toBe(h.ourSeq(0));
  });

  it('zero window: unanswered probes time the connection out', () => {
    const h = new TcpHarness(1, 2, { maxRetransmissions: 2 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(patternBytes(10));
    h.advance(600_000);
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
  });

  it('a peer that accepts the probe byte moves SND.UNA past it', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(patternBytes(10));
    h.advance(300);
    h.take();
    h.ack(1, { window: 65535 });
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.seq).toBe(h.ourSeq(1));
    expect(out[0]!.payload.length).toBe(9);
  });

  it('onWritable fires when acknowledged data frees buffer space; write returns 0 when full', () => {
    const h = new TcpHarness(1, 2, { sendBufferSize: 3000 });
    h.openActive({ mss: 1000 });
    expect(h.conn.write(patternBytes(5000))).toBe(3000);
    expect(h.conn.write(patternBytes(1))).toBe(0);
    expect(h.conn.writableLength).toBe(3000);
    h.take();
    h.ack(1000);
    expect(h.writable).toBe(1);
    expect(h.conn.writableLength).toBe(2000);
  });
});
