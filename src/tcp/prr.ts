/**
 * Proportional Rate Reduction (RFC 6937 section 3) with the slow-start reduction bound (PRR-SSRB):
 * how many bytes the sender may send on each ACK during loss recovery.
 *
 * While pipe is above ssthresh, PRR spreads the window reduction over the recovery round trip:
 * it sends in proportion ssthresh / RecoverFS of what is delivered. Once pipe falls to ssthresh or
 * below (heavy loss, or an application pause), PRR-SSRB grows pipe back towards ssthresh at most
 * as fast as slow start would, and never by more than one SMSS beyond what was delivered.
 *
 * The sender calls start() when it enters recovery, onAck() on every ACK during recovery (after
 * updating the scoreboard and pipe), sends at most the returned sndcnt (RFC 6937 3.1 then lets
 * cwnd = pipe + sndcnt), and reports every byte sent or resent in recovery with onSent().
 */

export class ProportionalRateReduction {
  /** The target window (bytes) the congestion controller chose. */
  private ssthresh = 0;
  /** RFC 6937 RecoverFS: the bytes in flight when recovery began. */
  private recoverFs = 0;
  private smss = 1;
  /** RFC 6937 prr_delivered: bytes delivered to the receiver since recovery began. */
  private prrDelivered = 0;
  /** RFC 6937 prr_out: bytes sent since recovery began. */
  private prrOut = 0;

  /** Recovery starts: RecoverFS = pipe (bytes in flight) at that moment. */
  start(ssthresh: number, recoverFs: number, smss: number): void {
    // RFC 6937 section 3.1 "On entering recovery".
    this.ssthresh = ssthresh;
    this.recoverFs = recoverFs;
    this.smss = smss;
    this.prrDelivered = 0;
    this.prrOut = 0;
  }

  /**
   * One ACK during recovery: DeliveredData (bytes newly cumulatively ACKed + newly SACKed) and
   * pipe after processing it; returns sndcnt, the bytes that may be sent on this ACK.
   */
  onAck(deliveredData: number, pipe: number): number {
    // RFC 6937 section 3.1 "On every ACK during recovery".
    this.prrDelivered += deliveredData;
    let sndcnt: number;
    if (pipe > this.ssthresh) {
      // Proportional rate reduction: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
      // The ceiling is taken in whole segments, as in the RFC's examples (which count segments):
      // a sender that sends full segments then sends one on the first ACK (the fast retransmit)
      // and one on every other ACK when ssthresh is half of RecoverFS.
      const proportionalShare = (this.prrDelivered * this.ssthresh) / Math.max(this.recoverFs, this.smss);
      sndcnt = Math.ceil(proportionalShare / this.smss) * this.smss - this.prrOut;
    } else {
      // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS: pipe may grow by one
      // segment more than the ACK delivered, as slow start would.
      const limit = Math.max(this.prrDelivered - this.prrOut, deliveredData) + this.smss;
      // "Attempt to catch up, as permitted by limit".
      sndcnt = Math.min(this.ssthresh - pipe, limit);
    }
    // A negative sndcnt means the sender is ahead of its share: send nothing.
    return Math.max(0, sndcnt);
  }

  /** Bytes sent during recovery (prr_out). */
  onSent(bytes: number): void {
    // RFC 6937 section 3.1 "On any data transmission or retransmission".
    this.prrOut += bytes;
  }
}
