/**
 * Which acknowledgments measure a round trip (RFC 6298 section 3, RFC 7323 section 4.1), for the
 * sender's RttEstimator (src/tcp/rtt.ts), which only does the arithmetic.
 *
 * With timestamps every ACK of new data may give a sample: the send time of the oldest segment it
 * covers when it covers no retransmission (as Linux measures), else the echoed timestamp under
 * the rules below. Without timestamps one segment at a time is timed, and Karn's rule cancels the
 * measurement when that segment is resent.
 */
import type { TcpSegment } from '../wire/tcp.js';
import { type NegotiatedOptions, timestampAt } from './options.js';
import type { RttEstimator } from './rtt.js';
import { seqLt } from './seq.js';
import type { TransmitRecords } from './transmit-records.js';

export class RttSampler {
  /** Send offset whose acknowledgment completes the timed measurement in progress, or null. */
  private timedEnd: number | null = null;
  private timedStart = 0;

  constructor(
    private readonly records: TransmitRecords,
    private readonly rtt: RttEstimator,
    private readonly options: NegotiatedOptions,
  ) {}

  /** Time the segment ending at `endOffset`, sent at `now`, unless one is timed already (or timestamps measure every ACK). */
  startTiming(endOffset: number, now: number): void {
    if (this.options.timestamps || this.timedEnd !== null) return;
    this.timedEnd = endOffset;
    this.timedStart = now;
  }

  /** Karn's rule (RFC 6298 section 3): the segment being timed is being resent, or all are. */
  cancelTiming(): void {
    this.timedEnd = null;
  }

  /** Data from `start` was retransmitted: a measurement spanning it is ambiguous (Karn). */
  onRetransmitted(start: number): void {
    if (this.timedEnd !== null && start < this.timedEnd) this.timedEnd = null;
  }

  /**
   * Send time of the oldest record wholly below `ackOff` (newly acknowledged) that was neither
   * retransmitted nor SACKed before; undefined when there is none, or when any record below
   * `ackOff` was retransmitted. Karn's rule (RFC 6298 section 3) as Linux applies it
   * (FLAG_RETRANS_DATA_ACKED): an ACK that covers a retransmission may have been caused by it,
   * so the send times of older segments it also covers do not measure one round trip (after a
   * timeout they span the whole backoff and would inflate SRTT and the next RTO).
   */
  private oldestCleanSendTimeBelow(ackOff: number): number | undefined {
    const records = this.records;
    let oldest: number | undefined;
    for (let i = 0; i < records.count && records.start(i) < ackOff; i++) {
      if (records.isRetransmitted(i)) return undefined;
      if (oldest === undefined && records.end(i) <= ackOff && !records.isSacked(i)) oldest = records.sendTime(i);
    }
    return oldest;
  }

  /** When the most recently retransmitted record below `ackOff` was last sent (-Infinity: none). */
  private latestRetransmissionBelow(ackOff: number): number {
    const records = this.records;
    let latest = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < records.count && records.start(i) < ackOff; i++) {
      if (records.isRetransmitted(i) && records.sendTime(i) > latest) latest = records.sendTime(i);
    }
    return latest;
  }

  /** One RTT measurement from an ACK that advances SND.UNA to `ackOff`; returns the sample, if any. */
  take(seg: TcpSegment, ackOff: number, now: number): number | undefined {
    const ts = seg.options.timestamp;
    // A zero TSecr is treated as "no echo" (as Linux does): some stacks send it in SYN-ACKs.
    if (this.options.timestamps && ts !== undefined && ts.echo !== 0) {
      this.timedEnd = null;
      // First choice, as Linux does: the send time of the oldest segment this ACK covers, when it
      // covers no retransmission (RFC 6298 section 3, Karn: only then is it one round trip).
      const sentAt = this.oldestCleanSendTimeBelow(ackOff);
      if (sentAt !== undefined) {
        const rtt = Math.max(0, now - sentAt);
        this.rtt.sample(rtt);
        return rtt;
      }
      // Else RFC 7323 4.1: RTT = now - TSecr, but only when the echo is not older than the
      // retransmission it acknowledges: a receiver whose TS.Recent lags (RFC 7323 4.3) echoes
      // an older segment, and a sample spanning a timeout would inflate SRTT and with it the RTO.
      const difference = (timestampAt(now) - ts.echo) >>> 0;
      if (difference >= 0x7fffffff) return undefined;
      // Timestamps tick in whole milliseconds, so a sub-millisecond round trip echoes the tick it
      // was sent in: a difference of 0 means "less than 1 ms", not 0. Linux takes 1 tick then
      // (tcp_ack_update_rtt); a 0 sample would set RACK.min_RTT to 0 for its whole window (RFC
      // 8985 6.2 step 1), which turns off both the reordering window (min_RTT / 4) and the test
      // that tells the ACK of an original from that of its retransmission (step 2: rtt < min_RTT),
      // so that every retransmission answered by the ACK of its original deems the segments sent
      // before it lost: spurious retransmissions.
      const rtt = Math.max(difference, 1);
      const retransmittedAt = this.latestRetransmissionBelow(ackOff);
      if (retransmittedAt !== Number.NEGATIVE_INFINITY) {
        if (seqLt(ts.echo, timestampAt(retransmittedAt))) return undefined;
        // The echo is the retransmission's, but its ACK may not be the one the retransmission
        // drew: when that ACK was lost, the peer repeats the acknowledgment only with its next
        // segment, sent on its own schedule (its data, or a window probe when our window is
        // closed), seconds later. A sample longer than the un-backed-off RTO is that ambiguous
        // case (RFC 6298 section 3): it is not taken (one such sample had grown SRTT past 2 s
        // and the RTO to 22 s, stalling a 10% loss echo), but the backoff ends.
        if (rtt > this.rtt.unbackedRto) {
          this.rtt.endBackoff();
          return undefined;
        }
      }
      this.rtt.sample(rtt);
      return rtt;
    }
    if (this.timedEnd !== null && ackOff >= this.timedEnd) {
      const rtt = now - this.timedStart;
      this.rtt.sample(rtt);
      this.timedEnd = null;
      return rtt;
    }
    return undefined;
  }
}
