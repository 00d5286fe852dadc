/**
 * Round-trip time estimation and the retransmission timeout (RFC 6298).
 *
 * The estimator only does arithmetic; deciding which measurements are valid (Karn's rule,
 * RFC 6298 section 3, or timestamp echoes, RFC 7323 section 4) is the connection's job.
 */

export interface RttConfig {
  /** RTO before any measurement (RFC 6298 2.1: 1 s). */
  initialRto: number;
  /** Lower bound for the RTO (RFC 6298 2.4 says 1 s; Linux and this stack use 200 ms). */
  minRto: number;
  /** Upper bound for the RTO, also for backed-off values (RFC 6298 2.5: at least 60 s). */
  maxRto: number;
  /** Clock granularity G in ms (RFC 6298 2: the RTO is at least SRTT + G). */
  granularity?: number;
}

/** RFC 6298 section 2: alpha = 1/8, beta = 1/4, K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RttEstimator {
  /** Smoothed round-trip time in ms (0 until the first sample). */
  srtt = 0;
  /** Round-trip time variation in ms (0 until the first sample). */
  rttvar = 0;
  /** Number of samples taken. */
  samples = 0;
  private baseRto: number;
  private backoffShift = 0;
  private readonly granularity: number;

  constructor(private readonly config: RttConfig) {
    this.granularity = config.granularity ?? 1;
    this.baseRto = this.clamp(config.initialRto);
  }

  /** The current retransmission timeout including exponential backoff, in ms. */
  get rto(): number {
    return this.clamp(this.baseRto * 2 ** this.backoffShift);
  }

  get hasSample(): boolean {
    return this.samples > 0;
  }

  /** The retransmission timeout without backoff (RFC 6298 2.3), in ms. */
  get unbackedRto(): number {
    return this.baseRto;
  }

  /** Number of consecutive backoffs applied since the last sample. */
  get backoffCount(): number {
    return this.backoffShift;
  }

  /** Feed one valid measurement R in ms (RFC 6298 2.2 and 2.3). */
  sample(rtt: number): void {
    const r = Math.max(0, rtt);
    if (this.samples === 0) {
      // RFC 6298 2.2: the first measurement R: SRTT <- R, RTTVAR <- R/2.
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      // RFC 6298 2.3: RTTVAR is updated with the old SRTT, then SRTT.
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.samples++;
    // RFC 6298 2.2/2.3: RTO <- SRTT + max(G, K*RTTVAR); a new sample also ends any backoff
    // (section 5, note after 5.7: the backed-off RTO is kept until a new valid sample).
    this.baseRto = this.clamp(this.srtt + Math.max(this.granularity, K * this.rttvar));
    this.backoffShift = 0;
  }

  /** RFC 6298 5.5: after a retransmission timeout, RTO <- RTO * 2 (bounded by maxRto). */
  backoff(): void {
    if (this.rto < this.config.maxRto) this.backoffShift++;
  }

  /**
   * The peer acknowledged a retransmission but the ACK gives no valid sample (Karn's ambiguity,
   * RFC 6298 section 3): the path works again, so the timeout returns to the estimate the
   * samples so far support instead of staying doubled until some later clean sample, as the
   * backoff exists to probe a path that answers nothing (RFC 6298 5.5, RFC 2988 note on Karn).
   */
  endBackoff(): void {
    this.backoffShift = 0;
  }

  /**
   * RFC 6298 5.7: when the SYN timed out and no sample was taken, the RTO is re-initialized to
   * 3 s once data transmission begins.
   */
  resetAfterSynTimeout(): void {
    if (this.samples === 0) {
      this.baseRto = this.clamp(Math.max(3000, this.config.initialRto));
    }
    this.backoffShift = 0;
  }

  private clamp(value: number): number {
    return Math.min(this.config.maxRto, Math.max(this.config.minRto, value));
  }
}
