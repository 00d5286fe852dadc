/**
 * Congestion control: slow start and congestion avoidance (RFC 5681), fast retransmit and fast
 * recovery with the NewReno modification (RFC 6582), initial window per RFC 6928.
 *
 * Pure arithmetic over byte counts and stream offsets (64-bit-safe plain numbers the connection
 * derives from sequence numbers); the connection performs the retransmissions this class asks for.
 */

/** What the connection must do after a new cumulative ACK. */
export type NewAckOutcome =
  /** Ordinary ACK outside fast recovery. */
  | 'normal'
  /** RFC 6582 3.2 step 5: partial ACK in fast recovery: retransmit the first unacknowledged segment. */
  | 'partial'
  /** RFC 6582 3.2 step 5: full ACK: fast recovery is over. */
  | 'recovered';

/** What the connection must do after a duplicate ACK. */
export type DuplicateAckOutcome =
  /** Fewer than three duplicates, or the guard of RFC 6582 3.2 step 2 held: nothing. */
  | 'none'
  /** RFC 5681 3.2 steps 2-4: the third duplicate: retransmit SND.UNA and enter fast recovery. */
  | 'fast-retransmit'
  /** RFC 5681 3.2 step 4: further duplicate in fast recovery: cwnd inflated, try sending. */
  | 'inflate';

/** RFC 5681 3.2: the duplicate ACK threshold. */
const DUPLICATE_ACK_THRESHOLD = 3;

/** RFC 6928 section 2: IW = min(10*MSS, max(2*MSS, 14600)). */
function initialWindow(smss: number): number {
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

export class NewRenoCongestionControl {
  /** Congestion window in bytes. */
  cwnd: number;
  /** Slow start threshold in bytes (RFC 5681 3.1: initially arbitrarily high). */
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Consecutive duplicate ACKs seen. */
  duplicateAcks = 0;
  /** In fast recovery (RFC 5681 3.2, RFC 6582 3.2). */
  inFastRecovery = false;
  /**
   * RFC 6582 3.2 step 1: "recover", the offset of the highest octet sent when recovery (or a
   * timeout) began; initialized to the initial send sequence number (offset -1 in the
   * connection's numbering). An ACK above it is a full acknowledgment.
   */
  recover = -1;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 3.1 byte counting). */
  private bytesAckedInAvoidance = 0;

  constructor(
    private smss: number,
    /** RFC 5681 3.1 / RFC 6928: after a lost SYN or SYN-ACK the initial window is one segment. */
    synLost = false,
  ) {
    this.cwnd = synLost ? smss : initialWindow(smss);
  }

  get senderMss(): number {
    return this.smss;
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  /**
   * A cumulative ACK acknowledged `ackedBytes` new bytes (sequence space) and SND.UNA is now
   * `ackOffset`; `flightBefore` was outstanding before it, `flightAfter` remains outstanding.
   */
  onNewAck(ackedBytes: number, ackOffset: number, flightBefore: number, flightAfter: number): NewAckOutcome {
    this.duplicateAcks = 0;
    if (this.inFastRecovery) {
      if (ackOffset > this.recover) {
        // RFC 6582 3.2 step 5 (full acknowledgment): cwnd <- min(ssthresh, max(FlightSize, SMSS) + SMSS).
        this.cwnd = Math.min(this.ssthresh, Math.max(flightAfter, this.smss) + this.smss);
        this.inFastRecovery = false;
        this.bytesAckedInAvoidance = 0;
        return 'recovered';
      }
      // RFC 6582 3.2 step 5 (partial acknowledgment): deflate by the amount acknowledged, add back
      // one SMSS if at least that much was acknowledged.
      this.cwnd = Math.max(this.smss, this.cwnd - ackedBytes + (ackedBytes >= this.smss ? this.smss : 0));
      return 'partial';
    }
    // RFC 7661 (and Linux's is_cwnd_limited): grow cwnd only while it limits the sender; an
    // application- or receiver-limited sender has not shown that the path holds a larger window.
    if (!this.wasCwndLimited(flightBefore)) return 'normal';
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 3.1 slow start, with appropriate byte counting (RFC 3465 2.3) and L = 2*SMSS so
      // that delayed ACKs covering two segments still double cwnd every round trip.
      this.cwnd += Math.min(ackedBytes, 2 * this.smss);
    } else {
      // RFC 5681 3.1 congestion avoidance: one SMSS per cwnd of acknowledged bytes.
      this.bytesAckedInAvoidance += ackedBytes;
      if (this.bytesAckedInAvoidance >= this.cwnd) {
        this.bytesAckedInAvoidance -= this.cwnd;
        this.cwnd += this.smss;
      }
    }
    return 'normal';
  }

  /** In slow start a flight of half the window counts (ACK clocking doubles it); else a nearly full one. */
  wasCwndLimited(flightBefore: number): boolean {
    if (this.cwnd < this.ssthresh) return 2 * flightBefore >= this.cwnd;
    return flightBefore + this.smss >= this.cwnd;
  }

  /**
   * A duplicate ACK (RFC 5681 section 2, or RFC 6675 section 2 for SACK: one that SACKs new data).
   * `sndUna` is the cumulative ACK, `highestSent` the offset just past the highest octet
   * transmitted (SND.MAX), `flightSize` the bytes outstanding.
   */
  onDuplicateAck(sndUna: number, highestSent: number, flightSize: number): DuplicateAckOutcome {
    if (this.inFastRecovery) {
      // RFC 5681 3.2 step 4: each further duplicate means a segment left the network.
      this.cwnd += this.smss;
      return 'inflate';
    }
    this.duplicateAcks++;
    if (this.duplicateAcks !== DUPLICATE_ACK_THRESHOLD) return 'none';
    // RFC 6582 3.2 step 2: only start recovery if the cumulative ACK covers more than "recover";
    // otherwise these duplicates are echoes of retransmissions already made.
    if (sndUna <= this.recover) return 'none';
    this.recover = highestSent - 1;
    // RFC 5681 3.2 step 2 (equation 4) and step 3.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.smss);
    this.cwnd = this.ssthresh + DUPLICATE_ACK_THRESHOLD * this.smss;
    this.inFastRecovery = true;
    return 'fast-retransmit';
  }

  /**
   * RFC 3042 Limited Transmit: on the first two duplicate ACKs a new segment may be sent beyond
   * cwnd each, so that a small window still produces enough duplicates for fast retransmit.
   */
  get limitedTransmitAllowance(): number {
    if (this.inFastRecovery || this.duplicateAcks === 0) return 0;
    return Math.min(this.duplicateAcks, DUPLICATE_ACK_THRESHOLD - 1) * this.smss;
  }

  /**
   * In fast recovery, the connection spent the credit of a duplicate ACK (RFC 5681 3.2 step 4
   * inflation) on retransmitting a SACK-identified hole (RFC 6675 NextSeg rule 1) instead of on
   * new data: one segment out per segment that left the network.
   */
  spendInflation(bytes: number): void {
    if (this.inFastRecovery) this.cwnd = Math.max(this.smss, this.cwnd - bytes);
  }

  /** RFC 5681 3.1 (equation 4 and the loss window) and RFC 6582 3.2 step 4: retransmission timeout. */
  onRetransmissionTimeout(flightSize: number, highestSent: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.smss);
    this.cwnd = this.smss;
    this.recover = highestSent - 1;
    this.inFastRecovery = false;
    this.duplicateAcks = 0;
    this.bytesAckedInAvoidance = 0;
  }
}
