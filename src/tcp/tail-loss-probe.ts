/**
 * Tail loss probes (RFC 8985 section 7): when the ACKs of a flight stop coming, send one probe
 * segment after a probe timeout (PTO) well before the RTO, so that its ACK's SACK information lets
 * RACK find the tail loss and recover it by fast recovery instead of an RTO.
 *
 * Pure and deterministic, like RackLossDetection: this class decides whether and when the PTO fires
 * (7.2), what the probe is (7.3), and what a later ACK says about the probe episode (7.4). It owns
 * no timer and sends nothing: the sender arms its connection timer at the deadline computed here,
 * sends the probe, and applies the congestion response when told to.
 */

/** RFC 8985 7.2: TLP.max_ack_delay, the delayed-ACK allowance when one segment is in flight (RFC 9293 3.8.6.3 allows 0.5 s; stacks use 200 ms). */
const TLP_MAX_ACK_DELAY_MS = 200;
/**
 * Added to 2*SRTT when more than one segment is in flight: RFC 8985 7.2 adds nothing, but with
 * the sub-millisecond RTTs of a local TUN device 2*SRTT alone would fire before a peer that
 * batches its ACKs (or a busy event loop) could answer. Linux adds TCP_TIMEOUT_MIN, 2 jiffies
 * (tcp_schedule_loss_probe): 2 ms at HZ=1000. (A 10 ms floor here made every tail loss wait
 * 10 ms where Linux waits about 3 at a 0.3 ms RTT.)
 */
const TLP_PTO_SLACK_MS = 2;
/** RFC 8985 7.2: the PTO when there is no SRTT estimate yet. */
const TLP_PTO_WITHOUT_RTT_MS = 1000;

/** What the sender knows when it considers arming the PTO (RFC 8985 7.2). */
export interface ProbeTimeoutInput {
  now: number;
  /** SACK was negotiated (RFC 8985 section 4: RACK-TLP needs it). */
  sackEnabled: boolean;
  /** The sender is in fast recovery or RTO recovery. */
  inRecovery: boolean;
  /** RACK.segs_sacked: segments currently SACKed. */
  sackedSegments: number;
  /** FlightSize in bytes (SND.MAX - SND.UNA). */
  bytesInFlight: number;
  /** SMSS in bytes: FlightSize of one segment means bytesInFlight <= smss. */
  smss: number;
  /** SRTT in ms, meaningful when hasRttSample. */
  smoothedRtt: number;
  hasRttSample: boolean;
  /** When the retransmission timer would fire (absolute ms): the PTO never fires later. */
  retransmissionDeadline: number;
}

/** What the probe carries (RFC 8985 7.3). */
export type ProbeKind = 'new-data' | 'retransmit-last';

/** What the sender knows when the PTO fires (RFC 8985 7.3). */
export interface ProbeChoiceInput {
  /** The send buffer holds data beyond SND.NXT. */
  hasUnsentData: boolean;
  /** The peer's receive window admits the next new segment (cwnd is not consulted: 7.3). */
  windowAllowsNewData: boolean;
}

/** What an ACK tells about the outstanding probe (RFC 8985 7.4.2). */
export type ProbeAckOutcome =
  /** No probe episode is open. */
  | 'no-episode'
  /** The ACK does not settle the episode yet (below TLP.end_seq, or exactly at it and ambiguous). */
  | 'pending'
  /** The probe carried new data and it was delivered: episode over, nothing to do. */
  | 'new-data-delivered'
  /** Both the original and the probe arrived (D-SACK for the probe, or a duplicate ACK without
   *  SACK): there was no loss; episode over, nothing to do. */
  | 'no-loss'
  /** The retransmitted probe repaired a loss: episode over; the sender MUST invoke the congestion
   *  response (ssthresh and cwnd reduction) as for any other loss. */
  | 'loss-repaired';

/** What one ACK carries that matters to the probe episode (RFC 8985 7.4.2). */
export interface ProbeAckInput {
  /** The ACK's cumulative acknowledgment as a send offset. */
  ackOffset: number;
  /** End offset of the ACK's D-SACK block (RFC 2883: the first block), or undefined without one. */
  dsackEnd: number | undefined;
  /** A duplicate ACK (SND.UNA did not move) that carries no SACK option at all. */
  duplicateWithoutSack: boolean;
}

export class TailLossProbe {
  /** TLP.end_seq: SND.NXT just after the outstanding probe was sent, or undefined (None). */
  private probeEndOffset: number | undefined = undefined;
  /** TLP.is_retrans: the outstanding probe was a retransmission. */
  private probeIsRetransmission = false;
  /** RFC 8985 7.3: at most one probe per RTT sample: true from the connection's start. */
  private rttSampledSinceProbe = true;

  get endOffset(): number | undefined {
    return this.probeEndOffset;
  }
  get isRetransmission(): boolean {
    return this.probeIsRetransmission;
  }
  /** A probe episode is open: no other probe may be sent until it ends. */
  get episodeOpen(): boolean {
    return this.probeEndOffset !== undefined;
  }

  /**
   * RFC 8985 7.1: reset the probe state when fast recovery or RTO recovery starts (and when a
   * connection starts, which the constructor does). Recovery takes over the episode's loss.
   */
  reset(): void {
    this.probeEndOffset = undefined;
    this.probeIsRetransmission = false;
  }

  /** A valid RTT sample was taken: a new probe may be sent (RFC 8985 7.3). */
  onRttSample(): void {
    this.rttSampledSinceProbe = true;
  }

  /**
   * RFC 8985 7.2: the absolute time the PTO should fire, or undefined when no probe is to be
   * scheduled (the sender then keeps the RTO). Call after sending new data that was not itself a
   * probe, and on an ACK that cumulatively acknowledges new data.
   */
  probeDeadline(input: ProbeTimeoutInput): number | undefined {
    // RFC 8985 section 4: RACK-TLP requires SACK; 7.2: a PTO needs data in flight and is not
    // scheduled in fast or RTO recovery or once segments are SACKed (RACK's reorder timer and
    // recovery handle those).
    if (!input.sackEnabled || input.bytesInFlight <= 0 || input.inRecovery || input.sackedSegments > 0) return undefined;
    // RFC 8985 7.3: one probe per episode, and only with a new RTT sample since the last probe;
    // arming a PTO that could send nothing would only delay the RTO's work.
    if (this.probeEndOffset !== undefined || !this.rttSampledSinceProbe) return undefined;
    return Math.min(input.now + probeTimeout(input), input.retransmissionDeadline);
  }

  /**
   * RFC 8985 7.3: the PTO fired: what to send, or undefined for no probe (an episode is open or no
   * RTT sample was taken since the last probe; the sender re-arms the RTO). New data when there
   * is some and the peer's window takes it, else a retransmission of the highest segment sent
   * (the last record). Either way one segment of at most SMSS; the sender calls onProbeSent.
   */
  chooseProbe(input: ProbeChoiceInput): ProbeKind | undefined {
    if (this.probeEndOffset !== undefined || !this.rttSampledSinceProbe) return undefined;
    return input.hasUnsentData && input.windowAllowsNewData ? 'new-data' : 'retransmit-last';
  }

  /**
   * RFC 8985 7.3: the probe left; `sndNxtAfter` is SND.NXT (the highest offset sent) after it. This
   * opens the episode: TLP.end_seq = SND.NXT, TLP.is_retrans per the kind. The sender then
   * re-arms the RTO at now + RTO (7.3), not the PTO.
   */
  onProbeSent(kind: ProbeKind, sndNxtAfter: number): void {
    this.probeEndOffset = sndNxtAfter;
    this.probeIsRetransmission = kind === 'retransmit-last';
    this.rttSampledSinceProbe = false;
  }

  /**
   * RFC 8985 7.4.2, TLP_process_ack: whether this ACK ends the probe episode and whether the probe
   * repaired a loss. Call on every ACK (duplicate ones too) after the sender processed it.
   */
  onAck(input: ProbeAckInput): ProbeAckOutcome {
    const probeEnd = this.probeEndOffset;
    if (probeEnd === undefined) return 'no-episode';
    if (input.ackOffset < probeEnd) return 'pending';
    if (!this.probeIsRetransmission) {
      // The probe was new data and it was delivered: no loss to account for.
      this.reset();
      return 'new-data-delivered';
    }
    if (input.dsackEnd === probeEnd) {
      // 7.4.1 case 1: the receiver got the original and the probe: the retransmission was redundant.
      this.reset();
      return 'no-loss';
    }
    if (input.ackOffset > probeEnd) {
      // The ACK reaches past the probe without saying the probe was a duplicate: the probe
      // repaired a single loss, which congestion control must answer as any loss (7.4.1).
      this.reset();
      return 'loss-repaired';
    }
    if (input.duplicateWithoutSack) {
      // 7.4.1 case 2: a receiver without SACK answers a duplicate with a bare duplicate ACK.
      this.reset();
      return 'no-loss';
    }
    return 'pending';
  }
}

/**
 * RFC 8985 7.2, TLP_calc_PTO before the RTO bound: 2*SRTT (an ACK is overdue by then), plus
 * TLP.max_ack_delay when a single segment in flight may be waiting on a delayed ACK, else plus
 * Linux's 2 ms slack (TLP_PTO_SLACK_MS); 1 s without an RTT sample.
 */
function probeTimeout(input: ProbeTimeoutInput): number {
  if (!input.hasRttSample) return TLP_PTO_WITHOUT_RTT_MS;
  return 2 * input.smoothedRtt + (input.bytesInFlight <= input.smss ? TLP_MAX_ACK_DELAY_MS : TLP_PTO_SLACK_MS);
}
