/**
 * CUBIC congestion control (RFC 9438), with HyStart++ (RFC 9406) in the initial slow start.
 *
 * cwnd and ssthresh are bytes, as the sender counts them; the CUBIC formulas are evaluated in
 * segments of SMSS and seconds, as RFC 9438 writes them (C = 0.4 segments/s^3). Time comes from
 * the caller (stack ms), never from a clock.
 *
 * Fast retransmit, the recovery point and PRR belong to the sender; see
 * src/tcp/congestion-control.ts for the contract.
 */

import type { AckSample, CongestionControl } from './congestion-control.js';
import { INITIAL_SSTHRESH, initialWindow, rescaleWindow, wasCwndLimited } from './congestion-window.js';
import { HyStartPlusPlus } from './hystart.js';

/** RFC 9438 4.1 and 5: C, in segments per second cubed. */
const CUBIC_C = 0.4;
/** RFC 9438 4.6: the multiplicative decrease factor. */
const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic), AIMD-friendly with Reno. */
const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);
/** RFC 9438 4.2: the target never exceeds 1.5 * cwnd. */
const MAX_TARGET_GROWTH = 1.5;
/** RFC 3465 2.3: standard slow start (after the first loss) counts at most 2*SMSS per ACK. */
const SLOW_START_BYTE_LIMIT_SEGMENTS = 2;

/** Everything undo() restores (RFC 9438 4.9). Windows in bytes, CUBIC state in segments. */
interface CubicSnapshot {
  cwnd: number;
  ssthresh: number;
  wMax: number | undefined;
  cwndPrior: number;
  epochStart: number | undefined;
  cwndEpoch: number;
  k: number;
  wEst: number;
  afterTimeout: boolean;
}

export class CubicCongestionControl implements CongestionControl {
  readonly name = 'cubic';
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  private smss: number;
  /** Growth below one byte, carried to the next ACK so that cwnd stays a whole number of bytes. */
  private fractionalGrowth = 0;
  /** RFC 9438 4.6 W_max (segments): the window just before the last reduction; undefined before any. */
  private wMax: number | undefined;
  /** RFC 9438 4.6 cwnd_prior (segments): cwnd before the last reduction (for alpha_cubic, 4.3). */
  private cwndPrior = 0;
  /** RFC 9438 4.2 t_epoch (stack ms): when the current congestion avoidance stage began. */
  private epochStart: number | undefined;
  /** RFC 9438 4.2 cwnd_epoch (segments): cwnd at t_epoch. */
  private cwndEpoch = 0;
  /** RFC 9438 4.2 K (seconds): when W_cubic reaches W_max. */
  private k = 0;
  /** RFC 9438 4.3 W_est (segments): the window Reno would have in the same time. */
  private wEst = 0;
  /** RFC 9438 4.8: the next congestion avoidance stage is the first after a timeout. */
  private afterTimeout = false;
  /** When the flow stopped being cwnd-limited (stack ms): the ACK before the first one that was not. */
  private appLimitedSince: number | undefined;
  /** When the last ACK arrived (stack ms). */
  private lastAckAt: number | undefined;
  /** Made on the first ACK of the initial slow start: an idle connection never needs it. */
  private hystart: HyStartPlusPlus | undefined;
  private atInitialWindow = true;
  private beforeResponse: CubicSnapshot | undefined;
  /** A response was made and nothing was acknowledged outside recovery since (see newreno.ts). */
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
    const previousAckAt = this.lastAckAt ?? sample.now;
    this.lastAckAt = sample.now;
    if (!wasCwndLimited(this.cwnd, this.ssthresh, this.smss, sample.flightBefore)) {
      // RFC 9438 5.8 / RFC 7661: no growth while the application (or the receiver) limits the
      // flow, and the time it spends so does not count as CUBIC time (below). The window was in
      // use up to the previous ACK at least; a pause in sending shows as a gap before this one.
      this.appLimitedSince ??= previousAckAt;
      return;
    }
    if (this.appLimitedSince !== undefined) {
      // RFC 9438 5.8: shift t_epoch by the time the flow was not cwnd-limited, so that W_cubic
      // does not jump ahead with time the window was not used.
      if (this.epochStart !== undefined) this.epochStart += sample.now - this.appLimitedSince;
      this.appLimitedSince = undefined;
    }
    if (this.cwnd < this.ssthresh) this.slowStart(sample);
    else this.congestionAvoidance(sample);
  }

  onCongestionEvent(_now: number, _flightSize: number): void {
    this.rememberBeforeResponse();
    this.reduce();
    this.responseWithoutProgress = true;
  }

  onRecoveryEnd(_now: number): void {
    // RFC 6937 3.1: "On exiting recovery: cwnd = ssthresh". The next congestion avoidance ACK
    // starts a new epoch (RFC 9438 4.2: t_epoch, cwnd_epoch = cwnd, K, W_est = cwnd_epoch).
    // After an undo during recovery ssthresh may be back at its "arbitrarily high" initial
    // value; cwnd then stays as undo restored it.
    if (this.ssthresh < INITIAL_SSTHRESH) this.cwnd = this.ssthresh;
    this.fractionalGrowth = 0;
    this.epochStart = undefined;
    this.responseWithoutProgress = false;
  }

  onRetransmissionTimeout(_now: number, _flightSize: number): void {
    // RFC 9438 4.8: ssthresh as in 4.6, cwnd as Reno (RFC 5681 3.1 loss window of 1 SMSS). A
    // second timeout with no progress since the first, or one during a recovery that already
    // reduced, holds ssthresh constant (RFC 5681 3.1).
    if (!this.responseWithoutProgress) {
      this.rememberBeforeResponse();
      this.reduce();
    }
    this.cwnd = this.smss;
    this.fractionalGrowth = 0;
    this.afterTimeout = true;
    this.epochStart = undefined;
    this.responseWithoutProgress = true;
  }

  undo(): void {
    const before = this.beforeResponse;
    if (before === undefined) return;
    // RFC 9438 4.9: a spurious congestion event: restore cwnd, ssthresh and the CUBIC state from
    // before it (RFC 3708 section 3, Linux-style: never shrink what has grown since).
    this.cwnd = Math.max(this.cwnd, before.cwnd);
    this.ssthresh = Math.max(this.ssthresh, before.ssthresh);
    this.wMax = before.wMax;
    this.cwndPrior = before.cwndPrior;
    this.epochStart = before.epochStart;
    this.cwndEpoch = before.cwndEpoch;
    this.k = before.k;
    this.wEst = before.wEst;
    this.afterTimeout = before.afterTimeout;
    this.fractionalGrowth = 0;
    this.beforeResponse = undefined;
    this.responseWithoutProgress = false;
  }

  onIdleRestart(_now: number): void {
    // RFC 5681 4.1: cwnd = min(IW, cwnd) after an idle period longer than an RTO. RFC 9438 5.8:
    // the idle time must not count as CUBIC time: the next congestion avoidance ACK starts a new
    // epoch from the restarted window (W_max kept, so K is the time back up to it).
    this.cwnd = Math.min(this.cwnd, initialWindow(this.smss, false));
    this.fractionalGrowth = 0;
    this.epochStart = undefined;
    this.appLimitedSince = undefined;
    this.lastAckAt = undefined;
  }

  setMss(smss: number): void {
    if (smss === this.smss) return;
    // The CUBIC state is in segments and stays as it is; the byte windows keep their segments.
    if (this.atInitialWindow) this.cwnd = initialWindow(smss, this.synLost);
    else this.cwnd = rescaleWindow(this.cwnd, this.smss, smss);
    this.ssthresh = rescaleWindow(this.ssthresh, this.smss, smss);
    if (this.beforeResponse !== undefined) {
      this.beforeResponse.cwnd = rescaleWindow(this.beforeResponse.cwnd, this.smss, smss);
      this.beforeResponse.ssthresh = rescaleWindow(this.beforeResponse.ssthresh, this.smss, smss);
    }
    this.fractionalGrowth = 0;
    this.smss = smss;
  }

  private slowStart(sample: AckSample): void {
    if (this.ssthresh === INITIAL_SSTHRESH) {
      // RFC 9406 4.2: HyStart++ in the initial slow start only ("the remainder of the connection
      // lifetime" uses standard slow start, bounded by the ssthresh a loss discovered).
      const step = (this.hystart ??= new HyStartPlusPlus()).onAck(
        sample.ackedBytes,
        sample.rttSample,
        sample.sndUna,
        sample.sndNxt,
        this.smss,
      );
      this.grow(step.cwndIncrease);
      if (step.endSlowStart) this.ssthresh = this.cwnd;
      return;
    }
    // RFC 5681 3.1 slow start, RFC 3465 2.3 byte counting with L = 2*SMSS, up to ssthresh.
    const increase = Math.min(sample.ackedBytes, SLOW_START_BYTE_LIMIT_SEGMENTS * this.smss);
    this.grow(Math.min(increase, this.ssthresh - this.cwnd));
  }

  private congestionAvoidance(sample: AckSample): void {
    const cwndSegments = (this.cwnd + this.fractionalGrowth) / this.smss;
    const epochStart = this.epochStart ?? this.startEpoch(sample.now, cwndSegments);
    const segmentsAcked = sample.ackedBytes / this.smss;
    const t = (sample.now - epochStart) / 1000;
    // RFC 9438 4.2: the target is W_cubic one RTT ahead, clamped to [cwnd, 1.5*cwnd]. RTT is
    // the smoothed RTT, or the minimum before SRTT exists.
    const rttMs = sample.smoothedRtt > 0 ? sample.smoothedRtt : Number.isFinite(sample.minRtt) ? sample.minRtt : 0;
    const target = Math.min(Math.max(this.wCubic(t + rttMs / 1000), cwndSegments), MAX_TARGET_GROWTH * cwndSegments);
    // RFC 9438 4.3: W_est grows by alpha_cubic per window of acknowledged segments; alpha_cubic
    // becomes 1 once W_est reaches cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / cwndSegments;
    let next: number;
    if (this.wCubic(t) < this.wEst) {
      // RFC 9438 4.3 Reno-friendly region: cwnd = W_est (never below the window already held).
      next = Math.max(cwndSegments, this.wEst);
    } else {
      // RFC 9438 4.4 (concave, cwnd < W_max) and 4.5 (convex, cwnd >= W_max): cwnd grows by
      // (target - cwnd) / cwnd per acknowledged segment.
      next = cwndSegments + ((target - cwndSegments) * segmentsAcked) / cwndSegments;
    }
    this.grow(next * this.smss - (this.cwnd + this.fractionalGrowth));
  }

  /** RFC 9438 4.2: start a congestion avoidance stage at `now` from `cwndSegments`; returns t_epoch. */
  private startEpoch(now: number, cwndSegments: number): number {
    this.epochStart = now;
    this.cwndEpoch = cwndSegments;
    // RFC 9438 4.8: the first stage after a timeout uses W_max = cwnd_epoch (K = 0). With no
    // reduction yet (slow start ended by HyStart++ or at ssthresh) there is no W_max either.
    if (this.wMax === undefined || this.afterTimeout) this.wMax = cwndSegments;
    this.afterTimeout = false;
    // RFC 9438 4.2 equation 2: K = cubic_root((W_max - cwnd_epoch) / C). When cwnd_epoch is above
    // W_max the root is negative and W_cubic still starts at cwnd_epoch (convex region).
    this.k = Math.cbrt((this.wMax - this.cwndEpoch) / CUBIC_C);
    // RFC 9438 4.3: W_est = cwnd_epoch at the start of the stage.
    this.wEst = cwndSegments;
    return now;
  }

  /** RFC 9438 4.1 equation 1: W_cubic(t) = C * (t - K)^3 + W_max, in segments, t in seconds. */
  private wCubic(t: number): number {
    return CUBIC_C * (t - this.k) ** 3 + (this.wMax ?? this.cwndEpoch);
  }

  /** RFC 9438 4.6 multiplicative decrease and 4.7 fast convergence. */
  private reduce(): void {
    const cwndSegments = (this.cwnd + this.fractionalGrowth) / this.smss;
    // RFC 9438 4.7: a window that stopped short of the previous W_max means a new flow is
    // competing: release bandwidth by remembering a lower W_max.
    if (this.wMax !== undefined && cwndSegments < this.wMax) this.wMax = (cwndSegments * (1 + CUBIC_BETA)) / 2;
    else this.wMax = cwndSegments;
    this.cwndPrior = cwndSegments;
    // RFC 9438 4.6: ssthresh = beta_cubic times the window, at least 2 SMSS. The window is cwnd,
    // as in Linux and Windows, which RFC 9438 4.6 allows when cwnd cannot grow while the flight is
    // smaller than it (wasCwndLimited, RFC 7661, does that here). flight_size is not robust: after
    // losses the flight is below cwnd when the next loss is found, so each response cut the
    // window again from an already reduced base; at 10% random loss ssthresh sank to 2 SMSS, and an
    // 8 MiB echo took twice as long with twice the timeouts. (cwnd itself is brought down to
    // ssthresh by PRR in the sender, or set to the loss window on a timeout.)
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), 2 * this.smss);
    this.fractionalGrowth = 0;
    this.epochStart = undefined;
    this.afterTimeout = false;
  }

  /** Add `bytes` (possibly fractional) to cwnd, keeping cwnd whole. */
  private grow(bytes: number): void {
    const precise = this.cwnd + this.fractionalGrowth + bytes;
    this.cwnd = Math.floor(precise);
    this.fractionalGrowth = precise - this.cwnd;
  }

  private rememberBeforeResponse(): void {
    this.atInitialWindow = false;
    if (this.responseWithoutProgress) return;
    this.beforeResponse = {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      wMax: this.wMax,
      cwndPrior: this.cwndPrior,
      epochStart: this.epochStart,
      cwndEpoch: this.cwndEpoch,
      k: this.k,
      wEst: this.wEst,
      afterTimeout: this.afterTimeout,
    };
  }
}
