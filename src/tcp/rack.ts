/**
 * RACK, time-based loss detection (RFC 8985 section 6): a segment is deemed lost when a segment
 * sent after it has been delivered (cumulatively ACKed or SACKed) and a reordering window has
 * passed since. Pure and deterministic: time comes in as stack milliseconds, positions are send
 * offsets, and the only side effect outside this object is RackRecords.markLost.
 *
 * The sender drives it on each ACK (RFC 8985 6.2): onRttSample (step 1), beginAck then
 * onDelivered for each newly delivered record (steps 2 and 3), updateReorderWindow (step 4),
 * detectLoss (step 5), and arms the reorder timer with the timeout detectLoss returns; on that
 * timer's expiry it calls onReorderTimerExpired (6.3).
 */
import { timestampAt } from './options.js';
import { seqLt } from './seq.js';

/** The transmit records as RACK sees them (TransmitRecords implements this). Index 0 = oldest (lowest offset). */
export interface RackRecords {
  readonly count: number;
  start(i: number): number;
  end(i: number): number;
  /** Last (re)transmission time. */
  sendTime(i: number): number;
  isRetransmitted(i: number): boolean; // ever retransmitted
  isSacked(i: number): boolean;
  /** Deemed lost and not retransmitted since (awaiting retransmission). */
  isAwaitingRetransmission(i: number): boolean;
  /** Not SACKed and not awaiting retransmission: its latest transmission is in the network. */
  isInFlight(i: number): boolean;
  /** Deem the latest transmission of record i lost (it becomes awaiting retransmission). */
  markLost(i: number): void;
}

/** What the sender knows on this ACK that the reordering window depends on (RFC 8985 6.2 step 4). */
export interface ReorderWindowInput {
  /** SND.UNA after this ACK (send offset). */
  sndUna: number;
  /** SND.NXT: the highest send offset sent so far (SND.MAX). */
  sndNxt: number;
  /** This ACK carried a D-SACK block (RFC 2883). */
  dsackReceived: boolean;
  /** This ACK ended fast recovery or RTO recovery. */
  recoveryEnded: boolean;
  /** The sender is in fast recovery or RTO recovery. */
  inRecovery: boolean;
  /** RACK.segs_sacked: segments currently SACKed in the scoreboard. */
  sackedSegments: number;
  /** SRTT in ms (0 before the first sample). */
  smoothedRtt: number;
}

/** What one loss detection pass found. */
export interface RackLossResult {
  /** Records this pass marked lost (through RackRecords.markLost). */
  markedLost: number;
  /** Arm the reorder timer this many ms from now; 0 means no timer is needed (stop it). */
  reorderTimeout: number;
}

/** RFC 8985 6.2 step 4: the classic DupThresh (RFC 6675) below which RACK keeps a window without reordering seen. */
const RACK_DUP_THRESH = 3;
/** RFC 8985 6.2 step 4: recoveries an inflated reordering window persists after the last D-SACK round. */
const REORDER_WINDOW_PERSIST_RECOVERIES = 16;
/** RFC 8985 6.2 step 1 asks for a windowed minimum RTT; Linux keeps its minimum for 300 s. */
export const RACK_MIN_RTT_WINDOW_MS = 300_000;

/**
 * RFC 8985 6.2 step 2, RACK_sent_after: was (time1, end1) sent after (time2, end2)? Ties in time
 * (clock granularity, or segments sent in one burst) are broken by the end offset.
 */
function rackSentAfter(time1: number, end1: number, time2: number, end2: number): boolean {
  return time1 > time2 || (time1 === time2 && end1 > end2);
}

export class RackLossDetection {
  // --- RFC 8985 6.1 per-connection state.
  /** RACK.min_RTT in ms: a windowed minimum of the connection's RTT samples (Infinity before one). */
  private minRttValue = Number.POSITIVE_INFINITY;
  private minRttTakenAt = Number.NEGATIVE_INFINITY;
  /** RACK.rtt: the RTT of the most recently sent segment delivered on the last ACK that had a valid one. */
  private rackRtt = 0;
  /** RACK.xmit_ts and RACK.end_seq: the most recently sent segment delivered so far (RACK.segment). */
  private rackSendTime = Number.NEGATIVE_INFINITY;
  private rackEnd = Number.NEGATIVE_INFINITY;
  /** RACK.fack: the highest end offset delivered so far. */
  private forwardAck = Number.NEGATIVE_INFINITY;
  /** RACK.reordering_seen. */
  private reorderingSeenValue = false;
  /** RACK.reo_wnd in ms, as step 4 last computed it; detectLoss and the timer path use it. */
  private reorderWindowValue = 0;
  /** RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round (undefined = None). */
  private reorderWindowMultiplierValue = 1;
  private reorderWindowPersistValue = REORDER_WINDOW_PERSIST_RECOVERIES;
  private dsackRoundValue: number | undefined = undefined;

  // --- The ACK being processed (between beginAck and the next beginAck).
  private ackTime = 0;
  private ackEchoedTimestamp: number | undefined = undefined;
  private forwardAckBeforeAck = Number.NEGATIVE_INFINITY;
  private ackNewestSendTime = Number.NEGATIVE_INFINITY;
  private ackNewestEnd = Number.NEGATIVE_INFINITY;

  get minRtt(): number {
    return this.minRttValue;
  }
  get rtt(): number {
    return this.rackRtt;
  }
  /** RACK.xmit_ts (-Infinity until something was delivered). */
  get sendTime(): number {
    return this.rackSendTime;
  }
  /** RACK.end_seq as a send offset (-Infinity until something was delivered). */
  get endOffset(): number {
    return this.rackEnd;
  }
  get forwardAcknowledgment(): number {
    return this.forwardAck;
  }
  get reorderingSeen(): boolean {
    return this.reorderingSeenValue;
  }
  get reorderWindow(): number {
    return this.reorderWindowValue;
  }
  get reorderWindowMultiplier(): number {
    return this.reorderWindowMultiplierValue;
  }
  get reorderWindowPersist(): number {
    return this.reorderWindowPersistValue;
  }
  get dsackRound(): number | undefined {
    return this.dsackRoundValue;
  }

  /**
   * RFC 8985 6.2 step 1: a valid RTT measurement (RFC 6298 / RFC 7323) updates RACK.min_RTT. The
   * RFC asks for a windowed minimum that adapts to a longer path: a minimum older than the window
   * is replaced by the next sample.
   */
  onRttSample(rtt: number, now: number): void {
    if (rtt <= this.minRttValue || now - this.minRttTakenAt > RACK_MIN_RTT_WINDOW_MS) {
      this.minRttValue = rtt;
      this.minRttTakenAt = now;
    }
  }

  /**
   * An ACK is being processed at `now`; `echoedTimestamp` is its TSecr (RFC 7323) when the
   * connection uses timestamps and the ACK echoes one, else undefined.
   */
  beginAck(now: number, echoedTimestamp: number | undefined): void {
    this.ackTime = now;
    this.ackEchoedTimestamp = echoedTimestamp;
    this.forwardAckBeforeAck = this.forwardAck;
    this.ackNewestSendTime = Number.NEGATIVE_INFINITY;
    this.ackNewestEnd = Number.NEGATIVE_INFINITY;
  }

  /**
   * One record newly delivered by the ACK begun with beginAck: cumulatively acknowledged (and not
   * SACKed before) or newly SACKed. `end` is its end offset (the new SND.UNA for a record the
   * cumulative ACK cuts), `sendTime` its last transmission time. Any order.
   */
  onDelivered(end: number, sendTime: number, retransmitted: boolean): void {
    this.detectReordering(end, retransmitted);
    const rtt = this.ackTime - sendTime;
    if (retransmitted) {
      // RFC 8985 6.2 step 2: the delivery may be of an earlier transmission, and the RTT of the
      // last one would be vastly underestimated. Ignore the record when the ACK's TSecr says it
      // echoes an earlier transmission, or (the heuristic without timestamps) when the last
      // retransmission was sent less than min_RTT ago.
      const echoed = this.ackEchoedTimestamp;
      if (echoed !== undefined && seqLt(echoed, timestampAt(sendTime))) return;
      if (rtt < this.minRttValue) return;
    }
    // RFC 8985 6.2 step 2: the RFC walks the records in ascending send time, so RACK.rtt ends as
    // the RTT of this ACK's most recently sent valid record; keeping that record per ACK gives the
    // same result in any order.
    if (rackSentAfter(sendTime, end, this.ackNewestSendTime, this.ackNewestEnd)) {
      this.ackNewestSendTime = sendTime;
      this.ackNewestEnd = end;
      this.rackRtt = rtt;
    }
    if (rackSentAfter(sendTime, end, this.rackSendTime, this.rackEnd)) {
      this.rackSendTime = sendTime;
      this.rackEnd = end;
    }
  }

  /**
   * RFC 8985 6.2 step 4: the reordering window. Call once per ACK after the deliveries and after
   * the sender decided whether this ACK enters or ends recovery.
   */
  updateReorderWindow(input: ReorderWindowInput): void {
    // A D-SACK round ends when SND.UNA passes the SND.NXT it started at.
    if (this.dsackRoundValue !== undefined && input.sndUna >= this.dsackRoundValue) this.dsackRoundValue = undefined;
    if (this.dsackRoundValue === undefined && input.dsackReceived) {
      // A D-SACK says a retransmission was spurious: widen the window by min_RTT/4 once per
      // round trip that sees one, and keep it for the next 16 recoveries.
      this.dsackRoundValue = input.sndNxt;
      this.reorderWindowMultiplierValue += 1;
      this.reorderWindowPersistValue = REORDER_WINDOW_PERSIST_RECOVERIES;
    } else if (input.recoveryEnded) {
      // Each recovery without a D-SACK uses up one of the 16; then the window returns to min_RTT/4.
      this.reorderWindowPersistValue = Math.max(0, this.reorderWindowPersistValue - 1);
      if (this.reorderWindowPersistValue === 0) this.reorderWindowMultiplierValue = 1;
    }
    if (!this.reorderingSeenValue && (input.inRecovery || input.sackedSegments >= RACK_DUP_THRESH)) {
      // Without reordering seen, be as quick as DupThresh: no window during recovery, nor once
      // DupThresh segments are SACKed.
      this.reorderWindowValue = 0;
      return;
    }
    // The window MUST be bounded, by SRTT.
    this.reorderWindowValue = Math.min((this.reorderWindowMultiplierValue * this.minRttValue) / 4, input.smoothedRtt);
  }

  /**
   * RFC 8985 6.2 step 5: mark lost every record in flight that was sent before RACK.segment and
   * whose RACK.rtt + reo_wnd has passed since its last transmission. This covers retransmissions
   * in flight again: a lost retransmission is found without waiting for an RTO. Returns what it
   * marked and the reorder timeout for the records that are not yet overdue.
   *
   * Work: records are in offset order, and a record never retransmitted was sent no later than
   * every record above it (new data leaves in offset order; a retransmission only moves a send
   * time later). So the scan stops at the first never-retransmitted record sent after
   * RACK.segment: it visits the records from SND.UNA up to about RACK.end_seq, plus the
   * retransmitted ones above it, never more than the records in flight.
   */
  detectLoss(records: RackRecords, now: number): RackLossResult {
    let markedLost = 0;
    let reorderTimeout = 0;
    if (this.rackSendTime === Number.NEGATIVE_INFINITY) return { markedLost, reorderTimeout };
    const count = records.count;
    for (let i = 0; i < count; i++) {
      const sendTime = records.sendTime(i);
      if (!rackSentAfter(this.rackSendTime, this.rackEnd, sendTime, records.end(i))) {
        if (!records.isRetransmitted(i)) break;
        continue;
      }
      // SACKed records are delivered; records awaiting retransmission are lost already.
      if (!records.isInFlight(i)) continue;
      const remaining = sendTime + this.rackRtt + this.reorderWindowValue - now;
      if (remaining <= 0) {
        records.markLost(i);
        markedLost++;
      } else {
        reorderTimeout = Math.max(reorderTimeout, remaining);
      }
    }
    return { markedLost, reorderTimeout };
  }

  /**
   * RFC 8985 6.3: the reorder timer fired: run loss detection again with the state of the last
   * ACK (RACK_detect_loss_and_arm_timer); re-arm with the returned timeout if it is not 0.
   */
  onReorderTimerExpired(records: RackRecords, now: number): RackLossResult {
    return this.detectLoss(records, now);
  }

  /**
   * RFC 8985 6.3, RACK_mark_losses_on_RTO: on a retransmission timeout, the record at SND.UNA and
   * every record in flight whose RACK.rtt + reo_wnd has passed since its last transmission are
   * lost; the others may still arrive. Returns how many it marked. (A sender that deems every
   * record lost on an RTO, RFC 6675 5.1 style, does not need this.)
   */
  markLostOnRetransmissionTimeout(records: RackRecords, now: number): number {
    let markedLost = 0;
    const count = records.count;
    for (let i = 0; i < count; i++) {
      if (!records.isInFlight(i)) continue;
      if (i === 0 || records.sendTime(i) + this.rackRtt + this.reorderWindowValue - now <= 0) {
        records.markLost(i);
        markedLost++;
      }
    }
    return markedLost;
  }

  /**
   * RFC 8985 6.2 step 3: a delivered record that was never retransmitted and ends below RACK.fack
   * (as it was before this ACK) arrived out of order. Retransmitted records are excluded: their
   * delivery below RACK.fack is the retransmission, not reordering.
   */
  private detectReordering(end: number, retransmitted: boolean): void {
    if (end < this.forwardAckBeforeAck && !retransmitted) this.reorderingSeenValue = true;
    if (end > this.forwardAck) this.forwardAck = end;
  }
}
