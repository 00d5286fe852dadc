/**
 * Loss recovery of the send side: when a segment is deemed lost, when the connection enters and
 * leaves recovery, and how much it may send meanwhile. It decides from the transmit records; the
 * sender performs the transmissions it allows.
 *
 *   - RFC 6675 SACK-based recovery: DupThresh duplicate ACKs or IsLost(SND.UNA) start it (section
 *     5), IsLost marks the holes with DupThresh SACKed segments (or more than (DupThresh - 1) *
 *     SMSS SACKed bytes) above them (section 4), RecoveryPoint ends it, pipe is the records' bytes
 *     in flight; the scoreboard survives a timeout (section 5.1).
 *   - Without SACK, RFC 6582 NewReno: the third duplicate ACK retransmits SND.UNA, and each
 *     partial ACK in recovery the new SND.UNA.
 *   - RFC 6937 PRR: during fast recovery cwnd = pipe + sndcnt on every ACK.
 *   - Spurious retransmissions (RFC 2883 D-SACK, RFC 3708): when every retransmission of the
 *     latest recovery came back as a D-SACK, the congestion response is undone.
 *
 * RACK-TLP (RFC 8985) marks lost records too (src/tcp/rack.ts); this class only sees the result
 * (records awaiting retransmission) and enters recovery for it like for any other loss.
 */
import type { Counters } from '../counters.js';
import type { CongestionControl } from './congestion-control.js';
import { timestampAt } from './options.js';
import { ProportionalRateReduction } from './prr.js';
import { seqLt } from './seq.js';
import type { TransmitRecords } from './transmit-records.js';

/** RFC 6675 section 2 / RFC 5681 3.2: DupThresh. */
const DUPLICATE_ACK_THRESHOLD = 3;

/** Where the sender stands (Linux calls these Open, Recovery and Loss). */
export type RecoveryPhase = 'open' | 'fast-recovery' | 'timeout-recovery';

/** What one ACK told the send side, for recovery. */
export interface RecoveryAck {
  now: number;
  /** SND.UNA after the ACK. */
  sndUna: number;
  /** Bytes of data newly cumulatively acknowledged. */
  ackedBytes: number;
  /** RFC 6937 DeliveredData: newly acknowledged bytes not SACKed before, plus newly SACKed bytes. */
  deliveredBytes: number;
  /** A duplicate ACK in the sense of RFC 5681 section 2 or RFC 6675 section 2. */
  duplicate: boolean;
  /** SND.MAX: the end of the highest segment sent. */
  sndMax: number;
  smss: number;
  sackPermitted: boolean;
}

export class LossRecovery {
  phase: RecoveryPhase = 'open';
  /** RFC 6675 RecoveryPoint (and RFC 6582 "recover"): SND.MAX when recovery began. */
  recoveryPoint = -1;
  /** Consecutive duplicate ACKs (RFC 5681 section 2). */
  duplicateAcks = 0;
  /** Made when fast recovery first starts (the only phase that uses it): most connections never need it. */
  private prr: ProportionalRateReduction | undefined;
  /**
   * Retransmissions of the latest congestion response not yet shown spurious by a D-SACK; undo is
   * possible while `undoPossible` (RFC 3708 section 3, the idea of Linux's undo_retrans).
   */
  private unconfirmedRetransmissions = 0;
  private undoPossible = false;
  /** SND.UNA when the episode began: only D-SACKs of data above it speak of its retransmissions. */
  private undoMarker = -1;
  /** RFC 6675 section 5 NextSeg rule 4: the rescue retransmission is made once per recovery. */
  rescueSent = false;
  /**
   * Without SACK, each duplicate ACK means a segment left the network (RFC 5681 3.2 step 4): the
   * bytes they stand for, taken out of pipe (as RFC 6937 section 3 estimates DeliveredData).
   */
  private duplicateAckedBytes = 0;
  /** When the timeout that began the current timeout recovery resent SND.UNA (RFC 3522 RetransmitTS). */
  private timeoutRetransmittedAt: number | undefined;

  constructor(
    private readonly records: TransmitRecords,
    private readonly counters: Counters,
  ) {}

  get inRecovery(): boolean {
    return this.phase !== 'open';
  }

  /** RFC 6675 pipe: the bytes in the network (without SACK, less what duplicate ACKs reported delivered). */
  get pipe(): number {
    return Math.max(0, this.records.pipe - this.duplicateAckedBytes);
  }

  /** RFC 3042 Limited Transmit: one new segment beyond cwnd on each of the first two duplicate ACKs. */
  limitedTransmitAllowance(smss: number): number {
    if (this.phase !== 'open' || this.duplicateAcks === 0) return 0;
    return Math.min(this.duplicateAcks, DUPLICATE_ACK_THRESHOLD - 1) * smss;
  }

  /**
   * An ACK was processed (records acknowledged and SACKed, other loss detectors run). Marks what
   * RFC 6675 / RFC 6582 deem lost, enters, continues or ends recovery, and sets cwnd during fast
   * recovery (PRR). Returns true when the congestion window may grow on this ACK (outside recovery).
   */
  onAck(ack: RecoveryAck, congestion: CongestionControl): boolean {
    let delivered = ack.deliveredBytes;
    if (ack.ackedBytes > 0) this.duplicateAcks = 0;
    else if (ack.duplicate) this.duplicateAcks++;
    if (!ack.sackPermitted) {
      // RFC 6937 section 3 without SACK: a duplicate ACK delivered one SMSS; a later cumulative ACK
      // delivered what it acknowledges less what the duplicates before it already counted.
      if (ack.duplicate) {
        delivered = ack.smss;
        this.duplicateAckedBytes = Math.min(this.duplicateAckedBytes + ack.smss, Math.max(0, this.records.pipe - ack.smss));
      } else if (ack.ackedBytes > 0) {
        delivered = Math.max(0, ack.ackedBytes - this.duplicateAckedBytes);
        this.duplicateAckedBytes = Math.max(0, this.duplicateAckedBytes - ack.ackedBytes);
      }
    }

    let recoveryEnded = false;
    if (this.phase !== 'open' && ack.sndUna >= this.recoveryPoint && ack.ackedBytes > 0) {
      recoveryEnded = this.phase === 'fast-recovery';
      // RFC 6675 section 5: an ACK covering RecoveryPoint ends recovery; RFC 6937: cwnd = ssthresh.
      if (this.phase === 'fast-recovery') congestion.onRecoveryEnd(ack.now);
      this.phase = 'open';
      this.duplicateAckedBytes = 0;
    }

    if (ack.sackPermitted) this.markLostBySack(ack.smss);
    if (this.phase === 'open') {
      if (this.duplicateAcks >= DUPLICATE_ACK_THRESHOLD && this.records.count > 0 && !this.records.isSacked(0)) {
        // RFC 6582 3.2 step 2: duplicates of segments sent before the last recovery's "recover" point
        // do not start another one (without SACK they cannot be told apart from echoes).
        if (ack.sackPermitted || ack.sndUna > this.recoveryPoint) {
          // RFC 5681 3.2 step 2 / RFC 6675 section 5 step 4.1: retransmit the first unacknowledged segment.
          this.records.markLost(0);
        }
      }
      if (this.records.lostCount > 0) this.enterFastRecovery(ack, delivered, congestion);
      // The ACK that ends fast recovery does not grow the window it just set (RFC 6937).
      else return !recoveryEnded;
    } else if (this.phase === 'fast-recovery') {
      let partialAck = false;
      if (!ack.sackPermitted && ack.ackedBytes > 0 && this.records.count > 0) {
        // RFC 6582 3.2 step 5: a partial ACK: the segment at the new SND.UNA is lost too, and is
        // retransmitted at once.
        this.records.markLost(0);
        partialAck = true;
      }
      this.applyPrr(delivered, congestion, ack.smss, partialAck);
    } else {
      // Recovery after a timeout: slow start from the loss window (RFC 5681 3.1) until RecoveryPoint.
      return true;
    }
    return false;
  }

  /**
   * RFC 6298 5.4-5.6 and RFC 6675 section 5.1: the retransmission timer expired. Returns true when
   * the receiver reneged, so that the sender forgets its SACK scoreboard too.
   */
  onRetransmissionTimeout(now: number, sndUna: number, sndMax: number, smss: number, congestion: CongestionControl): boolean {
    let reneged = false;
    if (this.records.count > 0 && this.records.isSacked(0)) {
      reneged = true;
      // RFC 2018 section 8 / RFC 6675 5.1: SND.UNA's segment was SACKed yet is not acknowledged: the
      // receiver reneged, so SACK information cannot be trusted any more.
      this.counters.add('sack_reneging');
      this.records.clearSacked();
    }
    if (this.phase !== 'timeout-recovery') {
      congestion.onRetransmissionTimeout(now, sndMax - sndUna);
      this.beginUndoEpisode(sndUna);
      // RFC 3522 section 2: RetransmitTS, the timestamp of the first retransmission, sent now.
      this.timeoutRetransmittedAt = now;
    } else {
      // A further timeout of the same episode: the loss window again, ssthresh unchanged (RFC 5681
      // 3.1: ssthresh is set from the flight of the first timeout only).
      congestion.cwnd = smss;
    }
    this.phase = 'timeout-recovery';
    this.recoveryPoint = sndMax;
    this.duplicateAcks = 0;
    this.duplicateAckedBytes = 0;
    // RFC 6675 5.1: every segment not SACKed is now deemed lost and resent as the window allows.
    this.records.markAllLost();
    return reneged;
  }

  /**
   * A timer found losses (RACK's reorder timeout, RFC 8985 6.3): recovery begins if it has not.
   * Returns true when it began.
   */
  onLossDetectedByTimer(now: number, sndUna: number, sndMax: number, smss: number, congestion: CongestionControl): boolean {
    if (this.phase !== 'open' || this.records.lostCount === 0) return false;
    const ack: RecoveryAck = { now, sndUna, ackedBytes: 0, deliveredBytes: 0, duplicate: false, sndMax, smss, sackPermitted: true };
    this.enterFastRecovery(ack, 0, congestion);
    return true;
  }

  /** RFC 8985 7.4.2: a tail loss probe repaired a loss: the congestion response of a fast recovery, without one. */
  onLossRepairedByProbe(now: number, sndUna: number, flightSize: number, congestion: CongestionControl): void {
    if (this.phase !== 'open') return;
    congestion.onCongestionEvent(now, flightSize);
    congestion.cwnd = Math.min(congestion.cwnd, congestion.ssthresh);
    this.beginUndoEpisode(sndUna);
  }

  /** Bytes were retransmitted. */
  onRetransmitted(bytes: number): void {
    this.unconfirmedRetransmissions++;
    if (this.phase === 'fast-recovery') this.prr!.onSent(bytes);
  }

  /** New data was sent. */
  onNewDataSent(bytes: number): void {
    if (this.phase === 'fast-recovery') this.prr!.onSent(bytes);
  }

  /**
   * The first ACK of new data after a timeout (RFC 3522, the Eifel detection algorithm): when its
   * timestamp echo is older than the timeout's retransmission, the original transmission reached
   * the peer and only its ACKs were lost or late, so the timeout was spurious. The response is
   * Linux's (tcp_try_undo_loss, in the spirit of RFC 4015): cwnd and ssthresh as before the
   * timeout, and what it deemed lost and has not resent is in flight again. Returns true then.
   */
  onFirstAckAfterTimeout(echo: number | undefined, congestion: CongestionControl): boolean {
    const retransmittedAt = this.timeoutRetransmittedAt;
    this.timeoutRetransmittedAt = undefined;
    if (this.phase !== 'timeout-recovery' || retransmittedAt === undefined || echo === undefined) return false;
    if (!seqLt(echo, timestampAt(retransmittedAt))) return false;
    congestion.undo();
    this.records.clearLost();
    this.phase = 'open';
    this.undoPossible = false;
    this.counters.add('spurious_timeouts_undone');
    return true;
  }

  /**
   * A D-SACK (RFC 2883) reported a duplicate of a retransmitted range: one retransmission was not
   * needed. When all of them were not, the congestion response was spurious (RFC 3708 section 3):
   * undo it. Returns true when it was undone.
   */
  onDuplicateDelivered(duplicateEnd: number, congestion: CongestionControl): boolean {
    if (!this.undoPossible || this.unconfirmedRetransmissions <= 0) return false;
    // A duplicate of data at or below where the episode began was retransmitted before it.
    if (duplicateEnd <= this.undoMarker) return false;
    this.unconfirmedRetransmissions--;
    if (this.unconfirmedRetransmissions > 0) return false;
    this.undoPossible = false;
    congestion.undo();
    this.counters.add('spurious_recoveries_undone');
    if (this.phase === 'fast-recovery') this.phase = 'open';
    return true;
  }

  private enterFastRecovery(ack: RecoveryAck, delivered: number, congestion: CongestionControl): void {
    // RFC 6675 section 5 step 4 / RFC 5681 3.2 step 2: ssthresh from the flight; RecoveryPoint.
    const flightSize = ack.sndMax - ack.sndUna;
    this.phase = 'fast-recovery';
    this.recoveryPoint = ack.sndMax;
    this.rescueSent = false;
    this.counters.add('fast_retransmits');
    congestion.onCongestionEvent(ack.now, flightSize);
    this.beginUndoEpisode(ack.sndUna);
    // RFC 6937 section 3: RecoverFS = the flight when recovery starts.
    (this.prr ??= new ProportionalRateReduction()).start(congestion.ssthresh, flightSize, ack.smss);
    this.applyPrr(delivered, congestion, ack.smss, true);
  }

  /**
   * RFC 6937 section 3: cwnd = pipe + sndcnt. The fast retransmission (and NewReno's partial-ACK
   * retransmission) always goes out: at least one segment then.
   */
  private applyPrr(deliveredBytes: number, congestion: CongestionControl, smss: number, retransmitNow: boolean): void {
    const pipe = this.pipe;
    let sendable = this.prr!.onAck(deliveredBytes, pipe);
    if (retransmitNow) sendable = Math.max(sendable, smss);
    congestion.cwnd = pipe + sendable;
  }

  private beginUndoEpisode(sndUna: number): void {
    this.unconfirmedRetransmissions = 0;
    this.undoPossible = true;
    this.undoMarker = sndUna;
  }

  /**
   * RFC 6675 section 4 IsLost, applied from SND.UNA upward: a record not SACKed, never
   * retransmitted (a lost retransmission is RACK's to find) and with DupThresh SACKed records or
   * more than (DupThresh - 1) * SMSS SACKed bytes above it is deemed lost.
   */
  private markLostBySack(smss: number): void {
    const records = this.records;
    if (records.sackedCount === 0) return;
    let sackedBytesAbove = records.sackedBytes;
    let sackedRecordsAbove = records.sackedCount;
    const byteThreshold = (DUPLICATE_ACK_THRESHOLD - 1) * smss;
    for (let i = 0; i < records.count; i++) {
      if (sackedRecordsAbove < DUPLICATE_ACK_THRESHOLD && sackedBytesAbove <= byteThreshold) break;
      if (records.isSacked(i)) {
        sackedBytesAbove -= records.end(i) - records.start(i);
        sackedRecordsAbove--;
        continue;
      }
      if (records.isInFlight(i) && !records.isRetransmitted(i)) records.markLost(i);
    }
  }
}
