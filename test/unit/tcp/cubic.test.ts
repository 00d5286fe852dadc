import { describe, expect, it } from 'vitest';
import { CubicCongestionControl } from '../../../src/tcp/cubic.js';

const MSS = 1000;

// RFC 9438 constants, written out here so that the test checks the code against the RFC.
const C = 0.4;
const BETA = 0.7;
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);

/**
 * An ACK-clocked bulk flow: one ACK per segment, cwnd segments acknowledged per round trip (the
 * next ACK comes RTT / cwnd after the last), every ACK with the sender limited by cwnd.
 */
class BulkFlow {
  sndUna = 0;
  constructor(
    readonly cc: CubicCongestionControl,
    public now: number,
    public rttMs: number,
  ) {}

  /** One ACK of `segments` segments at `now`; `flightBefore` defaults to a full window. */
  ack(segments = 1, flightBefore = this.cc.cwnd): void {
    this.sndUna += segments * MSS;
    this.cc.onAck({
      now: this.now,
      ackedBytes: segments * MSS,
      flightBefore,
      rttSample: this.rttMs,
      minRtt: this.rttMs,
      smoothedRtt: this.rttMs,
      sndUna: this.sndUna,
      sndNxt: this.sndUna + this.cc.cwnd,
    });
  }

  /** The next ACK of the bulk flow; `afterAck` sees the time and cwnd (segments) after it. */
  nextAck(afterAck?: (now: number, cwndSegments: number) => void): void {
    this.now += (this.rttMs * MSS) / this.cc.cwnd;
    this.ack();
    afterAck?.(this.now, this.cc.cwnd / MSS);
  }

  /** ACKs until `untilMs`. */
  runUntil(untilMs: number, afterAck?: (now: number, cwndSegments: number) => void): void {
    while (this.now < untilMs) this.nextAck(afterAck);
  }

  /** One round trip of ACKs. */
  round(): void {
    this.runUntil(this.now + this.rttMs);
  }

  /** ACKs until the controller leaves slow start; returns the time of the next ACK (the epoch start). */
  leaveSlowStart(): number {
    while (this.cc.inSlowStart) this.nextAck();
    return this.now + (this.rttMs * MSS) / this.cc.cwnd;
  }
}

/** RFC 9438 4.1 equation 1, t in seconds. */
function wCubic(t: number, wMax: number, k: number): number {
  return C * (t - k) ** 3 + wMax;
}

/**
 * RFC 9438 4.3: W_est after `rounds` round trips of a full window: alpha_cubic per round trip up
 * to cwnd_prior, then 1 per round trip.
 */
function wEst(rounds: number, cwndEpoch: number, cwndPrior: number): number {
  const roundsAtPrior = Math.max(0, (cwndPrior - cwndEpoch) / ALPHA);
  if (rounds <= roundsAtPrior) return cwndEpoch + ALPHA * rounds;
  return Math.max(cwndEpoch, cwndPrior) + (rounds - roundsAtPrior);
}

/**
 * Checks after every ACK of a congestion avoidance stage that cwnd follows RFC 9438: at least the
 * larger of W_cubic(t) and W_est(t) (less one segment for the per-ACK steps), and at most the
 * larger of them one RTT ahead (the 4.2 target is W_cubic(t + RTT)). t runs from the stage's
 * first ACK, `epochStartMs`.
 */
function expectFollowsCubic(
  flow: BulkFlow,
  untilMs: number,
  model: { epochStartMs: number; wMax: number; k: number; cwndEpoch: number; cwndPrior: number },
): void {
  const rtt = flow.rttMs / 1000;
  const expected = (t: number): number => Math.max(wCubic(t, model.wMax, model.k), wEst(t / rtt, model.cwndEpoch, model.cwndPrior));
  flow.runUntil(untilMs, (now, cwnd) => {
    const t = (now - model.epochStartMs) / 1000;
    expect(cwnd).toBeGreaterThanOrEqual(expected(t) - 1);
    expect(cwnd).toBeLessThanOrEqual(expected(t + rtt) + 1);
  });
}

/** A controller that saw a loss at cwnd = `segments` (W_max) and has just ended recovery at `now`. */
function afterLossAt(segments: number, now: number): CubicCongestionControl {
  const cc = new CubicCongestionControl(MSS);
  cc.cwnd = segments * MSS;
  cc.ssthresh = segments * MSS; // out of slow start
  cc.onCongestionEvent(now, segments * MSS);
  cc.cwnd = Math.floor(cc.ssthresh / 2); // whatever PRR left
  cc.onRecoveryEnd(now);
  return cc;
}

describe('CUBIC multiplicative decrease (RFC 9438 4.6) and timeouts (4.8)', () => {
  it('a loss sets ssthresh = 0.7 * cwnd (at least 2 SMSS) and leaves cwnd to PRR; recovery ends at ssthresh', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.cwnd = 100 * MSS;
    cc.onCongestionEvent(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(100 * MSS);
    cc.onRecoveryEnd(50);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.inSlowStart).toBe(false);
    const small = new CubicCongestionControl(MSS);
    small.cwnd = 2 * MSS;
    small.onCongestionEvent(0, 2 * MSS);
    expect(small.ssthresh).toBe(2 * MSS);
  });

  it('the reduction starts from cwnd, not from a flight that earlier losses left smaller (RFC 9438 4.6)', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.cwnd = 20 * MSS;
    cc.ssthresh = 20 * MSS;
    // Only 6 segments in flight when the loss is found (holes of an earlier loss were not refilled yet).
    cc.onCongestionEvent(0, 6 * MSS);
    expect(cc.ssthresh).toBe(14 * MSS);
  });

  it('a timeout: ssthresh as for a loss, cwnd = 1 SMSS; a repeated one holds ssthresh', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.cwnd = 100 * MSS;
    cc.onRetransmissionTimeout(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.onRetransmissionTimeout(1000, MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
  });

  it('after a timeout: slow start to ssthresh, then W_max = cwnd_epoch and K = 0 (4.8)', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.cwnd = 100 * MSS;
    cc.onRetransmissionTimeout(0, 100 * MSS);
    const flow = new BulkFlow(cc, 1000, 100);
    const epochStartMs = flow.leaveSlowStart();
    expect(cc.cwnd).toBe(70 * MSS);
    expectFollowsCubic(flow, epochStartMs + 5000, { epochStartMs, wMax: 70, k: 0, cwndEpoch: 70, cwndPrior: 100 });
  });
});

describe('CUBIC window growth (RFC 9438 4.1-4.5)', () => {
  it('follows W_cubic(t) = C*(t-K)^3 + W_max with K = cbrt(W_max*(1-beta)/C): concave, plateau, convex', () => {
    const cc = afterLossAt(100, 0);
    const flow = new BulkFlow(cc, 0, 100);
    const k = Math.cbrt((100 * (1 - BETA)) / C); // 4.217 s
    const epochStartMs = flow.rttMs / 70;
    expectFollowsCubic(flow, 8000, { epochStartMs, wMax: 100, k, cwndEpoch: 70, cwndPrior: 100 });
    // Past K the window is in the convex region, above W_max.
    expect(cc.cwnd / MSS).toBeGreaterThan(100 + C * (7.5 - k) ** 3 - 1);
  });

  it('takes the Reno-friendly W_est when it is larger (small W_max, many round trips: 4.3)', () => {
    const cc = afterLossAt(10, 0);
    const flow = new BulkFlow(cc, 0, 100);
    const k = Math.cbrt((10 * (1 - BETA)) / C);
    const epochStartMs = flow.rttMs / 7;
    expectFollowsCubic(flow, 3000, { epochStartMs, wMax: 10, k, cwndEpoch: 7, cwndPrior: 10 });
    // Here W_est leads: 7 segments + alpha per round to 10, then one per round.
    const rounds = (flow.now - epochStartMs) / flow.rttMs;
    expect(wEst(rounds, 7, 10)).toBeGreaterThan(wCubic(rounds / 10, 10, k) + 5);
    expect(Math.abs(cc.cwnd / MSS - wEst(rounds, 7, 10))).toBeLessThan(1);
  });

  it('clamps the target to 1.5 * cwnd (4.2): one ACK adds at most half a segment per segment acknowledged', () => {
    const cc = afterLossAt(100, 0);
    const flow = new BulkFlow(cc, 0, 100);
    flow.round(); // the epoch has begun
    const before = cc.cwnd;
    // An SRTT of 100 s puts W_cubic(t + RTT) far beyond 1.5 * cwnd.
    cc.onAck({
      now: flow.now + 1,
      ackedBytes: MSS,
      flightBefore: before,
      rttSample: 1e5,
      minRtt: 100,
      smoothedRtt: 1e5,
      sndUna: 0,
      sndNxt: 0,
    });
    expect(cc.cwnd - before).toBeLessThanOrEqual(MSS / 2 + 1);
    expect(cc.cwnd - before).toBeGreaterThanOrEqual(MSS / 2 - 1);
  });

  it('does not grow while not cwnd-limited', () => {
    const cc = afterLossAt(100, 0);
    const flow = new BulkFlow(cc, 0, 100);
    for (let i = 0; i < 200; i++) {
      flow.now += 10;
      flow.ack(1, 50 * MSS);
    }
    expect(cc.cwnd).toBe(70 * MSS);
  });
});

describe('CUBIC fast convergence (RFC 9438 4.7)', () => {
  it('a loss below the previous W_max remembers W_max = cwnd * (1 + beta) / 2', () => {
    const cc = afterLossAt(100, 0);
    // The second loss comes at 80 segments, short of W_max = 100: another flow is competing.
    cc.cwnd = 80 * MSS;
    cc.onCongestionEvent(1000, 80 * MSS);
    expect(cc.ssthresh).toBe(56 * MSS);
    cc.onRecoveryEnd(1000);
    const wMax = (80 * (1 + BETA)) / 2; // 68, not 80
    const k = Math.cbrt((wMax - 56) / C);
    // A long RTT keeps W_est (Reno-friendly) below W_cubic here.
    const flow = new BulkFlow(cc, 1000, 500);
    const epochStartMs = 1000 + flow.rttMs / 56;
    expectFollowsCubic(flow, 1000 + k * 1000, { epochStartMs, wMax, k, cwndEpoch: 56, cwndPrior: 80 });
    // At K the window is at the lowered plateau.
    expect(Math.abs(cc.cwnd / MSS - wMax)).toBeLessThan(1.5);
  });
});

describe('CUBIC undo of a spurious congestion event (RFC 9438 4.9)', () => {
  it('restores cwnd, ssthresh and the epoch: growth goes on as if the event had not happened', () => {
    const spurious = afterLossAt(100, 0);
    const reference = afterLossAt(100, 0);
    const a = new BulkFlow(spurious, 0, 100);
    const b = new BulkFlow(reference, 0, 100);
    a.runUntil(2000);
    b.runUntil(2000);
    const cwndAtEvent = spurious.cwnd;
    spurious.onCongestionEvent(a.now, cwndAtEvent);
    spurious.cwnd = spurious.ssthresh;
    spurious.undo();
    expect(spurious.cwnd).toBe(cwndAtEvent);
    expect(spurious.ssthresh).toBe(reference.ssthresh);
    a.runUntil(4000);
    b.runUntil(4000);
    expect(Math.abs(spurious.cwnd - reference.cwnd)).toBeLessThanOrEqual(1);
  });

  it('after a spurious timeout, returns to the window and state from before it', () => {
    const cc = afterLossAt(100, 0);
    const flow = new BulkFlow(cc, 0, 100);
    flow.runUntil(1000);
    const cwnd = cc.cwnd;
    cc.onRetransmissionTimeout(flow.now, cwnd);
    flow.round(); // slow start after the timeout
    cc.undo();
    expect(cc.cwnd).toBe(cwnd);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.inSlowStart).toBe(false);
  });

  it('undo during recovery from slow start: recovery end keeps the restored cwnd', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.onCongestionEvent(0, 10 * MSS);
    cc.cwnd = 6 * MSS;
    cc.undo();
    cc.onRecoveryEnd(100);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.inSlowStart).toBe(true);
  });

  it('undo is used once: a second call has nothing to restore', () => {
    const cc = afterLossAt(100, 0);
    cc.undo();
    expect(cc.cwnd).toBe(100 * MSS);
    cc.cwnd = 50 * MSS;
    cc.undo();
    expect(cc.cwnd).toBe(50 * MSS);
  });
});

describe('CUBIC after idle or application-limited periods (RFC 5681 4.1, RFC 9438 5.8)', () => {
  it('restart after idle takes cwnd to min(cwnd, IW); the new epoch does not count the idle time', () => {
    const cc = afterLossAt(100, 0);
    const flow = new BulkFlow(cc, 0, 100);
    flow.runUntil(2000);
    // 30 s idle, then the sender restarts.
    flow.now += 30_000;
    cc.onIdleRestart(flow.now);
    expect(cc.cwnd).toBe(10 * MSS);
    const epochStartMs = flow.leaveSlowStart();
    expect(cc.cwnd).toBe(70 * MSS);
    // Congestion avoidance restarts from cwnd_epoch = 70 towards W_max = 100: no jump.
    const k = Math.cbrt((100 - 70) / C);
    expectFollowsCubic(flow, flow.now + 2000, { epochStartMs, wMax: 100, k, cwndEpoch: 70, cwndPrior: 100 });
  });

  it('an application-limited pause shifts the epoch: the window goes on where it left off', () => {
    const paused = afterLossAt(100, 0);
    const reference = afterLossAt(100, 0);
    const a = new BulkFlow(paused, 0, 100);
    const b = new BulkFlow(reference, 0, 100);
    a.runUntil(2000);
    b.runUntil(2000);
    // 2 s in which the application sends little: ACKs arrive but cwnd does not limit.
    for (let i = 0; i < 20; i++) {
      a.now += 100;
      a.ack(1, 5 * MSS);
    }
    const cwndBefore = paused.cwnd;
    expect(cwndBefore).toBe(reference.cwnd);
    // Bulk again: the first round trip grows like the reference's next one, not by half a window.
    a.round();
    b.round();
    expect(paused.cwnd - cwndBefore).toBeLessThan(3 * MSS);
    expect(Math.abs(paused.cwnd - reference.cwnd)).toBeLessThanOrEqual(MSS);
  });
});

describe('CUBIC slow start', () => {
  it('uses HyStart++ in the initial slow start: a delay rise ends it with ssthresh = cwnd', () => {
    const cc = new CubicCongestionControl(MSS);
    const flow = new BulkFlow(cc, 0, 50);
    flow.round();
    flow.round();
    expect(cc.inSlowStart).toBe(true);
    // The RTT rises by 20 ms and stays there: CSS, then congestion avoidance after CSS_ROUNDS.
    flow.rttMs = 70;
    flow.leaveSlowStart();
    expect(cc.ssthresh).toBe(cc.cwnd);
    // Plain slow start adds one segment per segment acknowledged; CSS added a quarter of that.
    const segmentsAcknowledged = flow.sndUna / MSS;
    expect(cc.cwnd).toBeLessThan(10 * MSS + segmentsAcknowledged * MSS - 8 * MSS);
  });

  it('keeps doubling on a path with 0-1 ms RTT samples', () => {
    const cc = new CubicCongestionControl(MSS);
    const flow = new BulkFlow(cc, 0, 1);
    // Eight doublings' worth of ACKs (10 + 20 + ... + 1280 segments), each adding one segment.
    for (let i = 0; i < 2550; i++) {
      flow.rttMs = i % 3 === 0 ? 0 : 1;
      flow.nextAck();
    }
    expect(cc.inSlowStart).toBe(true);
    expect(cc.cwnd).toBe(10 * MSS * 2 ** 8);
  });

  it('after a loss, slow start (below ssthresh) is standard: at most 2 SMSS per ACK, up to ssthresh', () => {
    const cc = new CubicCongestionControl(MSS);
    cc.cwnd = 20 * MSS;
    cc.onRetransmissionTimeout(0, 20 * MSS);
    const flow = new BulkFlow(cc, 0, 10);
    flow.ack(5);
    expect(cc.cwnd).toBe(3 * MSS);
    cc.cwnd = 13 * MSS;
    flow.ack(2);
    expect(cc.cwnd).toBe(14 * MSS);
  });

  it('a new SMSS before any ACK recomputes the initial window; later it keeps segments', () => {
    const cc = new CubicCongestionControl(536);
    cc.setMss(1460);
    expect(cc.cwnd).toBe(14_600);
    cc.onAck({ now: 0, ackedBytes: 1460, flightBefore: 14_600, rttSample: 1, minRtt: 1, smoothedRtt: 1, sndUna: 1460, sndNxt: 14_600 });
    expect(cc.cwnd).toBe(11 * 1460);
    cc.setMss(1000);
    expect(cc.cwnd).toBe(11 * 1000);
  });
});
