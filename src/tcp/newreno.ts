/**
 * NewReno's window arithmetic (RFC 5681): slow start with appropriate byte counting (RFC 3465),
 * congestion avoidance, the multiplicative decrease on loss and on a retransmission timeout,
 * undo of a spurious response (RFC 3708, Linux-style), restart after idle (RFC 5681 4.1).
 *
 * Fast retransmit, the recovery point (RFC 6582) and how much to send during recovery (PRR,
 * RFC 6937) belong to the sender; see src/tcp/congestion-control.ts for the contract.
 */

import type { AckSample, CongestionControl } from './congestion-control.js';
import { INITIAL_SSTHRESH, initialWindow, rescaleWindow, wasCwndLimited } from './congestion-window.js';

/** RFC 3465 2.3: slow start counts at most L = 2*SMSS of the bytes one ACK acknowledges. */
const SLOW_START_BYTE_LIMIT_SEGMENTS = 2;

/** cwnd and ssthresh from before the last congestion response, for undo(). */
interface WindowSnapshot {
  cwnd: number;
  ssthresh: number;
}

export class NewRenoCongestionControl implements CongestionControl {
  readonly name = 'newreno';
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  private smss: number;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 3.1 byte counting). */
  private bytesAckedInAvoidance = 0;
  /** Nothing acknowledged and no congestion yet: a new SMSS recomputes the initial window. */
  private atInitialWindow = true;
  /** The state undo() restores; undefined when there is nothing to undo. */
  private beforeResponse: WindowSnapshot | undefined;
  /**
   * A congestion response (loss or RTO) was made and no new data has been acknowledged outside
   * recovery since: a further RTO belongs to the same episode and keeps ssthresh (RFC 5681 3.1:
   * when a retransmitted segment times out again "the value of ssthresh is held constant").
   */
  private responseWithoutProgress = false;

  constructor(
    smss: number,
    /** RFC 5681 3.1: after a lost SYN or SYN-ACK the initial window is one segment. */
    private readonly synLost = false,
  ) {
    this.smss = smss;
    this.cwnd = initialWindow(smss, synLost);
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  onAck(sample: AckSample): void {
    this.atInitialWindow = false;
    this.responseWithoutProgress = false;
    // RFC 7661: grow only while cwnd limited the sender.
    if (!wasCwndLimited(this.cwnd, this.ssthresh, this.smss, sample.flightBefore)) return;
    let acked = sample.ackedBytes;
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 3.1 slow start with appropriate byte counting (RFC 3465 2.3, L = 2*SMSS so that
      // delayed ACKs covering two segments still double cwnd every round trip). Slow start stops
      // at ssthresh; what the ACK acknowledged beyond that counts for congestion avoidance.
      const increase = Math.min(acked, SLOW_START_BYTE_LIMIT_SEGMENTS * this.smss);
      const room = this.ssthresh - this.cwnd;
      if (increase < room) {
        this.cwnd += increase;
        return;
      }
      this.cwnd = this.ssthresh;
      acked -= room;
    }
    // RFC 5681 3.1 congestion avoidance (the byte-counting variant of equation 3, RFC 3465 2.1):
    // one SMSS per cwnd of acknowledged bytes.
    this.bytesAckedInAvoidance += acked;
    if (this.bytesAckedInAvoidance >= this.cwnd) {
      this.bytesAckedInAvoidance -= this.cwnd;
      this.cwnd += this.smss;
    }
  }

  onCongestionEvent(_now: number, flightSize: number): void {
    this.rememberBeforeResponse();
    // RFC 5681 3.2 step 2 (equation 4): ssthresh = max(FlightSize / 2, 2*SMSS). cwnd is brought
    // down to it by PRR (RFC 6937), which the sender runs.
    this.ssthresh = this.halvedFlight(flightSize);
    this.bytesAckedInAvoidance = 0;
    this.responseWithoutProgress = true;
  }

  onRecoveryEnd(_now: number): void {
    // RFC 6937 section 3.1: "On exiting recovery: cwnd = ssthresh".
    // After an undo during recovery ssthresh may be back at its "arbitrarily high" initial
    // value; cwnd then stays as undo restored it.
    if (this.ssthresh < INITIAL_SSTHRESH) this.cwnd = this.ssthresh;
    this.bytesAckedInAvoidance = 0;
    this.responseWithoutProgress = false;
  }

  onRetransmissionTimeout(_now: number, flightSize: number): void {
    if (!this.responseWithoutProgress) {
      this.rememberBeforeResponse();
      // RFC 5681 3.1 equation 4. A second timeout with no progress since the first (or one
      // during a recovery that already reduced) holds ssthresh constant (RFC 5681 3.1).
      this.ssthresh = this.halvedFlight(flightSize);
    }
    // RFC 5681 3.1: the loss window, LW = 1 SMSS.
    this.cwnd = this.smss;
    this.bytesAckedInAvoidance = 0;
    this.responseWithoutProgress = true;
  }

  undo(): void {
    const before = this.beforeResponse;
    if (before === undefined) return;
    // RFC 3708 section 3 (and Linux's tcp_undo_cwnd_reduction): the response was spurious, so
    // restore the window; never shrink what has grown since.
    this.cwnd = Math.max(this.cwnd, before.cwnd);
    this.ssthresh = Math.max(this.ssthresh, before.ssthresh);
    this.beforeResponse = undefined;
    this.responseWithoutProgress = false;
    this.bytesAckedInAvoidance = 0;
  }

  onIdleRestart(_now: number): void {
    // RFC 5681 4.1: after an idle period longer than an RTO, cwnd = RW = min(IW, cwnd), with IW
    // the RFC 6928 value (the lost-SYN rule of 3.1 is about the first window only).
    this.cwnd = Math.min(this.cwnd, initialWindow(this.smss, false));
    this.bytesAckedInAvoidance = 0;
  }

  setMss(smss: number): void {
    if (smss === this.smss) return;
    if (this.atInitialWindow) {
      this.cwnd = initialWindow(smss, this.synLost);
    } else {
      this.cwnd = rescaleWindow(this.cwnd, this.smss, smss);
    }
    this.ssthresh = rescaleWindow(this.ssthresh, this.smss, smss);
    if (this.beforeResponse !== undefined) {
      this.beforeResponse = {
        cwnd: rescaleWindow(this.beforeResponse.cwnd, this.smss, smss),
        ssthresh: rescaleWindow(this.beforeResponse.ssthresh, this.smss, smss),
      };
    }
    this.bytesAckedInAvoidance = 0;
    this.smss = smss;
  }

  /** RFC 5681 3.1 equation 4: max(FlightSize / 2, 2*SMSS). */
  private halvedFlight(flightSize: number): number {
    return Math.max(Math.floor(flightSize / 2), 2 * this.smss);
  }

  /** Keep the window from before this episode's first response (RFC 3708 section 3: "prior"). */
  private rememberBeforeResponse(): void {
    this.atInitialWindow = false;
    if (this.responseWithoutProgress) return;
    this.beforeResponse = { cwnd: this.cwnd, ssthresh: this.ssthresh };
  }
}
