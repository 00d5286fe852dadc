/**
 * HyStart++ (RFC 9406): slow start that watches the round trip time and leaves before it
 * overshoots. A rise in the per-round minimum RTT moves it to Conservative Slow Start (CSS, a
 * quarter of the growth); if the rise was jitter it goes back to slow start, and after CSS_ROUNDS
 * rounds of CSS it ends slow start (the controller sets ssthresh = cwnd).
 *
 * Pure: the controller hands it each slow-start ACK (bytes acknowledged, the ACK's RTT sample in
 * ms, SND.UNA and SND.NXT) and applies the returned cwnd increase.
 */

/** RFC 9406 section 4.3 constants. Times are ms. */
const MIN_RTT_THRESH = 4;
const MAX_RTT_THRESH = 16;
const MIN_RTT_DIVISOR = 8;
const N_RTT_SAMPLE = 8;
const CSS_GROWTH_DIVISOR = 4;
const CSS_ROUNDS = 5;
/**
 * RFC 9406 section 4.2: at most L*SMSS of one ACK's acknowledged bytes count for growth; L = 8
 * for a sender that does not pace (this stack does not).
 */
const GROWTH_LIMIT_SEGMENTS = 8;

export type HyStartPhase = 'slow-start' | 'conservative-slow-start' | 'done';

/** What one slow-start ACK asks of the controller. */
export interface HyStartStep {
  /** Bytes to add to cwnd. */
  cwndIncrease: number;
  /** RFC 9406 4.2: CSS_ROUNDS rounds of CSS passed: enter congestion avoidance (ssthresh = cwnd). */
  endSlowStart: boolean;
}

export class HyStartPlusPlus {
  phase: HyStartPhase = 'slow-start';
  /** Minimum RTT of the previous round (ms), Infinity when unknown. */
  private lastRoundMinRtt = Infinity;
  /** Minimum RTT of the current round so far (ms). */
  private currentRoundMinRtt = Infinity;
  /** RTT samples taken in the current round. */
  private rttSampleCount = 0;
  /** The round ends when SND.UNA reaches this offset (SND.NXT at the round's start). */
  private windowEnd: number | undefined;
  /** RFC 9406 4.2: the current round's minimum RTT when CSS was entered. */
  private cssBaselineMinRtt = Infinity;
  /** Rounds ended since CSS was entered (the round it was entered in is the first). */
  private cssRoundsCompleted = 0;

  /**
   * One ACK in slow start that acknowledged `ackedBytes` new bytes while cwnd limited the sender.
   * `sndUna` is SND.UNA after the ACK and `sndNxt` SND.NXT.
   */
  onAck(ackedBytes: number, rttSample: number | undefined, sndUna: number, sndNxt: number, smss: number): HyStartStep {
    if (this.phase === 'done') return { cwndIncrease: 0, endSlowStart: false };
    let endSlowStart = false;
    // RFC 9406 4.2: rounds are delimited by SND.NXT at a round's start; the ACK that covers it
    // begins the next round.
    if (this.windowEnd === undefined || sndUna >= this.windowEnd) {
      this.startRound(sndNxt);
      if (this.phase === 'conservative-slow-start') {
        this.cssRoundsCompleted++;
        // "If CSS_ROUNDS rounds are complete during CSS, enter congestion avoidance".
        if (this.cssRoundsCompleted >= CSS_ROUNDS) endSlowStart = true;
      }
    }
    // RFC 9406 4.2: cwnd += min(N, L*SMSS) per ACK, divided by CSS_GROWTH_DIVISOR during CSS.
    let cwndIncrease = Math.min(ackedBytes, GROWTH_LIMIT_SEGMENTS * smss);
    if (this.phase === 'conservative-slow-start') cwndIncrease /= CSS_GROWTH_DIVISOR;
    if (endSlowStart) {
      this.phase = 'done';
      return { cwndIncrease: 0, endSlowStart };
    }
    if (rttSample !== undefined) this.takeRttSample(rttSample);
    return { cwndIncrease, endSlowStart };
  }

  /** RFC 9406 4.2: "At the start of each round during standard slow start and CSS". */
  private startRound(sndNxt: number): void {
    this.lastRoundMinRtt = this.currentRoundMinRtt;
    this.currentRoundMinRtt = Infinity;
    this.rttSampleCount = 0;
    this.windowEnd = sndNxt;
  }

  private takeRttSample(rtt: number): void {
    this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, rtt);
    this.rttSampleCount++;
    if (this.rttSampleCount < N_RTT_SAMPLE) return;
    if (this.phase === 'slow-start') {
      if (this.lastRoundMinRtt === Infinity) return;
      // RFC 9406 4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
      // MAX_RTT_THRESH)). The 4 ms floor keeps whole-millisecond samples on a sub-millisecond
      // path (0 then 1 ms) from looking like a delay increase.
      const rttThresh = Math.max(MIN_RTT_THRESH, Math.min(this.lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH));
      if (this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThresh) {
        this.cssBaselineMinRtt = this.currentRoundMinRtt;
        this.phase = 'conservative-slow-start';
        this.cssRoundsCompleted = 0;
      }
    } else if (this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // RFC 9406 4.2: the RTT fell below the baseline: the increase was spurious (jitter);
      // resume standard slow start.
      this.cssBaselineMinRtt = Infinity;
      this.phase = 'slow-start';
      this.cssRoundsCompleted = 0;
    }
  }
}
