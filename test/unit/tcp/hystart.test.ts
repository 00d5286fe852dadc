import { describe, expect, it } from 'vitest';
import { HyStartPlusPlus, type HyStartStep } from '../../../src/tcp/hystart.js';

const MSS = 1000;

/**
 * An ACK-clocked slow start over one path: every ACK acknowledges one segment and the sender then
 * fills cwnd. A round (RFC 9406 4.2) begins with the ACK that covers SND.NXT as it was when the
 * previous round began.
 */
class SlowStartPath {
  sndUna = 0;
  sndNxt: number;
  cwnd: number;

  constructor(
    readonly hystart: HyStartPlusPlus,
    initialSegments = 10,
  ) {
    this.cwnd = initialSegments * MSS;
    this.sndNxt = this.cwnd;
  }

  ack(rtt: number | undefined): HyStartStep {
    this.sndUna += MSS;
    const step = this.hystart.onAck(MSS, rtt, this.sndUna, this.sndNxt, MSS);
    this.cwnd += step.cwndIncrease;
    this.sndNxt = Math.max(this.sndNxt, this.sndUna + Math.floor(this.cwnd / MSS) * MSS);
    return step;
  }

  /** All the ACKs of one round, each with the RTT `rttOf(i)` (i = index of the ACK in the round). */
  round(rttOf: (i: number) => number | undefined): HyStartStep[] {
    const roundEnd = this.sndNxt;
    const steps = [this.ack(rttOf(0))];
    while (this.sndUna + MSS < roundEnd) steps.push(this.ack(rttOf(steps.length)));
    return steps;
  }
}

const constant =
  (rtt: number): ((i: number) => number) =>
  () =>
    rtt;

describe('HyStart++ (RFC 9406)', () => {
  it('stays in slow start, doubling cwnd every round, while the RTT does not rise', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    for (let round = 0; round < 6; round++) {
      const before = path.cwnd;
      const steps = path.round(constant(50));
      expect(steps.every((s) => s.cwndIncrease === MSS && !s.endSlowStart)).toBe(true);
      expect(path.cwnd).toBeGreaterThanOrEqual(before + steps.length * MSS);
    }
    expect(path.hystart.phase).toBe('slow-start');
  });

  it('counts at most L = 8 SMSS of one ACK (section 4.2, a sender that does not pace)', () => {
    const hystart = new HyStartPlusPlus();
    expect(hystart.onAck(20 * MSS, 50, 20 * MSS, 40 * MSS, MSS).cwndIncrease).toBe(8 * MSS);
    expect(hystart.onAck(3 * MSS, 50, 23 * MSS, 40 * MSS, MSS).cwndIncrease).toBe(3 * MSS);
  });

  it('enters CSS after N_RTT_SAMPLE = 8 samples once the round minimum rises by RttThresh', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    path.round(constant(50));
    // RttThresh = max(4, min(50 / 8, 16)) = 6.25 ms: 57 ms is a rise of 7.
    const steps = path.round(constant(57));
    // The 8th sample triggers CSS; growth from the 9th ACK on is 1/CSS_GROWTH_DIVISOR = 1/4.
    expect(steps.slice(0, 8).map((s) => s.cwndIncrease)).toEqual(Array<number>(8).fill(MSS));
    expect(steps.slice(8).every((s) => s.cwndIncrease === MSS / 4)).toBe(true);
    expect(path.hystart.phase).toBe('conservative-slow-start');
  });

  it('does not react to a rise smaller than RttThresh', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    path.round(constant(50));
    path.round(constant(56)); // + 6 < 6.25
    expect(path.hystart.phase).toBe('slow-start');
  });

  it('needs 8 RTT samples in the round: ACKs without a sample do not count', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    path.round(constant(50));
    path.round((i) => (i < 7 ? 80 : undefined));
    expect(path.hystart.phase).toBe('slow-start');
  });

  it('returns to slow start when the RTT falls below the CSS baseline (the rise was jitter)', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    path.round(constant(50));
    path.round(constant(60));
    expect(path.hystart.phase).toBe('conservative-slow-start');
    const steps = path.round(constant(52));
    expect(path.hystart.phase).toBe('slow-start');
    // Full growth again from the ACK after the 8th sample.
    expect(steps.slice(8).every((s) => s.cwndIncrease === MSS)).toBe(true);
  });

  it('ends slow start (ssthresh = cwnd) when CSS_ROUNDS = 5 rounds of CSS are complete', () => {
    const path = new SlowStartPath(new HyStartPlusPlus());
    path.round(constant(50));
    path.round(constant(60)); // CSS entered in this round: the first CSS round
    for (let round = 2; round <= 5; round++) {
      const steps = path.round(constant(60));
      expect(steps.some((s) => s.endSlowStart)).toBe(false);
      expect(path.hystart.phase).toBe('conservative-slow-start');
    }
    // The ACK that completes the fifth round ends slow start.
    const cwndBefore = path.cwnd;
    const last = path.ack(60);
    expect(last).toEqual({ cwndIncrease: 0, endSlowStart: true });
    expect(path.cwnd).toBe(cwndBefore);
    expect(path.hystart.phase).toBe('done');
    expect(path.ack(60)).toEqual({ cwndIncrease: 0, endSlowStart: false });
  });

  describe('whole-millisecond RTT samples on a sub-millisecond path (TUN device)', () => {
    it('samples of 0 to 2 ms never leave slow start: MIN_RTT_THRESH clamps the threshold to 4 ms', () => {
      const path = new SlowStartPath(new HyStartPlusPlus());
      for (let round = 0; round < 12; round++) {
        // Rounds alternate between a 0 ms and a 1 ms minimum, and samples jitter within a round.
        path.round((i) => (round % 2 === 0 ? 0 : 1 + (i % 2)));
        expect(path.hystart.phase).toBe('slow-start');
      }
    });

    it('a rise from 0 to 3 ms is below the 4 ms floor; from 0 to 4 ms it is a delay increase', () => {
      const below = new SlowStartPath(new HyStartPlusPlus());
      below.round(constant(0));
      below.round(constant(3));
      expect(below.hystart.phase).toBe('slow-start');

      const at = new SlowStartPath(new HyStartPlusPlus());
      at.round(constant(0));
      at.round(constant(4));
      expect(at.hystart.phase).toBe('conservative-slow-start');
    });

    it('MAX_RTT_THRESH caps the threshold at 16 ms on a long path', () => {
      const path = new SlowStartPath(new HyStartPlusPlus());
      path.round(constant(400)); // 400 / 8 = 50, capped to 16
      path.round(constant(416));
      expect(path.hystart.phase).toBe('conservative-slow-start');
    });
  });
});
