/**
 * The send side of a TCP connection: the send sequence variables (RFC 9293 3.3.1) as send
 * offsets, the send buffer, segmentation and output (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4),
 * acknowledgment processing with the send window (RFC 9293 3.10.7.4 fifth check, RFC 5961 5.2),
 * SACK and D-SACK processing (RFC 2018, RFC 2883), retransmission (RFC 6298, and what
 * LossRecovery deems lost: RFC 6675, RFC 6582, RFC 6937), congestion control behind one interface
 * (CUBIC RFC 9438 or NewReno RFC 5681), RTT measurement (which ACKs measure: rtt-sampler.ts), zero-window
 * probes (RFC 9293 3.8.6.1), and the per-segment transmit records.
 *
 * Send offsets: offset(seq) = seq - (ISS + 1), so our SYN is offset -1 and data byte 0 is offset 0;
 * seqAdd/seqDiff convert at the edge (sendSeq, ackOffset).
 *
 * New data always leaves at SND.NXT = SND.MAX; a retransmission resends one transmit record (split
 * first when it no longer fits one segment), so every byte in flight has exactly one record.
 *
 * Every segment of the connection leaves from here: data, pure ACKs and probes through
 * transmitWithAck, which takes the acknowledgment, window and SACK blocks from the receiver; SYNs
 * through sendSyn; RSTs through sendReset and sendResetForAck. A transmitted payload is a view into
 * the send buffer that is valid only during the transmit call: the codec copies it into the packet.
 */
import type { Counters } from '../counters.js';
import { TCP_ACK, TCP_DEFAULT_MSS, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { createCongestionControl, type CongestionControl } from './congestion-control.js';
import { TimerKind, type ConnectionTimers } from './connection-timer.js';
import type { NegotiatedOptions } from './options.js';
import { EMPTY_PAYLOAD, type TcpReceiver } from './receiver.js';
import { RttEstimator } from './rtt.js';
import { RttSampler } from './rtt-sampler.js';
import { SACK_BLOCK_OVER_RANGE_LIMIT } from './sack-scoreboard.js';
import type { SegmentOutcome } from './segment-outcome.js';
import { SendBuffer } from './send-buffer.js';
import { SenderLossState } from './sender-loss-state.js';
import { seqAdd, seqDiff, type SeqNumber } from './seq.js';
import { TailLossProbe } from './tail-loss-probe.js';
import type { TcpConfig, TcpEnvironment, TcpFourTuple, TcpState } from './types.js';

/** States in which data (and our FIN) may be sent. */
function sendsData(state: TcpState): boolean {
  return state === 'ESTABLISHED' || state === 'CLOSE-WAIT' || state === 'FIN-WAIT-1' || state === 'CLOSING' || state === 'LAST-ACK';
}

export class TcpSender extends SenderLossState {
  readonly buffer: SendBuffer;
  readonly rtt: RttEstimator;
  /** Which ACKs measure a round trip (RFC 6298 section 3, RFC 7323 4.1). */
  private readonly rttSampler: RttSampler;
  congestion: CongestionControl;

  // --- Send sequence variables (RFC 9293 3.3.1), as send offsets. Written only by this class.
  sndUna = -1;
  /** SND.NXT: where new data leaves; equal to sndMax once the SYN is out. */
  sndNxt = -1;
  /** Highest offset ever sent: ACKs up to here are for data we did send. */
  sndMax = -1;
  /** End of the last zero-window probe byte beyond sndMax (RFC 9293 3.8.6.1), if any. */
  private probeEnd = -1;
  sndWnd = 0;
  /** RFC 5961 5.2 MAX.SND.WND, also the "maximum window" of sender SWS avoidance. */
  private maxSndWnd = 0;
  /** SND.WL1 (receive offset) and SND.WL2 (send offset). */
  private sndWl1 = -1;
  private sndWl2 = -1;
  finRequested = false;
  /** Send offset the FIN occupies (= data length) once requested. */
  private finOffset = -1;

  // --- Retransmission.
  private synRetransmissions = 0;
  private synLost = false;
  private consecutiveTimeouts = 0;
  private unansweredProbes = 0;
  private persistBackoff = 0;
  /** When data was last sent (RFC 5681 4.1 restart after idle). */
  private lastDataSendTime = Number.NEGATIVE_INFINITY;
  /**
   * New data output() has recorded (one transmit record per segment) but not transmitted yet:
   * [superStart, superEnd) with our FIN at its end when superFin, to leave as one super-segment
   * when the link segments (TSO). Empty when superStart === superEnd.
   */
  private superStart = 0;
  private superEnd = 0;
  private superFin = false;

  /** RFC 1122 4.2.3.4: Nagle is off. */
  noDelay = false;
  retransmissionCount = 0;
  bytesSentTotal = 0;

  constructor(
    private readonly tuple: TcpFourTuple,
    private readonly iss: SeqNumber,
    private readonly config: TcpConfig,
    private readonly env: TcpEnvironment,
    counters: Counters,
    private readonly options: NegotiatedOptions,
    private readonly receiver: TcpReceiver,
    private readonly timers: ConnectionTimers,
    private readonly outcome: SegmentOutcome,
  ) {
    super(counters);
    this.buffer = new SendBuffer(config.sendBufferSize, env.memory);
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    this.rttSampler = new RttSampler(this.records, this.rtt, options);
    this.congestion = createCongestionControl(config.congestionControl, TCP_DEFAULT_MSS, false);
  }

  /** Sequence number of send offset `off`. */
  sendSeq(off: number): SeqNumber {
    return seqAdd(this.iss, off + 1);
  }

  /** Send offset of an acknowledgment number, relative to SND.UNA. */
  ackOffset(ack: SeqNumber): number {
    return this.sndUna + seqDiff(ack, this.sendSeq(this.sndUna));
  }

  /** The most data one segment may carry: SMSS less the SACK blocks we send with it. */
  private maxPayload(smss = this.options.smss): number {
    return Math.max(1, smss - this.receiver.outgoingSackOptionBytes());
  }

  /** Data is in flight or waiting to be sent. */
  get busy(): boolean {
    return this.sndUna < this.sndMax || this.buffer.endOffset > this.sndNxt;
  }

  /** Our FIN was sent and acknowledged. */
  get finAcked(): boolean {
    return this.finRequested && this.sndUna > this.finOffset;
  }

  // ====================================================================================
  // Opening
  // ====================================================================================

  /** RFC 9293 3.10.1 active OPEN: the SYN at ISS, timed, under the retransmission timer. */
  openActive(): void {
    this.sendSyn(false);
    this.sndUna = -1;
    this.sndNxt = 0;
    this.sndMax = 0;
    this.rttSampler.startTiming(0, this.env.now());
    this.timers.set(TimerKind.retransmission, this.env.now() + this.rtt.rto);
  }

  /**
   * RFC 4987 3.6: our SYN-ACK went out as a SYN cookie and the peer's ACK returned it: SND.NXT is
   * ISS + 1 and the receive window is what that SYN-ACK offered. The ACK itself sets the window.
   */
  openedByCookie(): void {
    this.sndWl1 = -1;
    this.sndWl2 = -1;
    this.sndNxt = 0;
    this.sndMax = 0;
    this.receiver.onSynAckSent();
  }

  /** RFC 9293 3.10.7.2: the peer's SYN, whose window is never scaled (RFC 7323 2.2); answer SYN-ACK. */
  openPassive(synWindow: number): void {
    this.sndWnd = synWindow;
    this.maxSndWnd = synWindow;
    this.sndWl1 = -1;
    this.sndWl2 = -1;
    this.sendSyn(true);
    this.sndNxt = 0;
    this.sndMax = 0;
    this.rttSampler.startTiming(0, this.env.now());
    this.timers.set(TimerKind.retransmission, this.env.now() + this.rtt.rto);
  }

  /** RFC 9293 3.10.7.3: the peer's SYN arrived in SYN-SENT with this (unscaled) window. */
  onPeerSyn(synWindow: number): void {
    this.sndWnd = synWindow;
    this.maxSndWnd = Math.max(this.maxSndWnd, synWindow);
    this.sndWl1 = -1;
  }

  /** ... and it acknowledged our SYN (SEG.ACK at send offset `ackOff`). */
  onSynAcknowledged(seg: TcpSegment, ackOff: number, now: number): void {
    this.sndWl2 = ackOff;
    this.rttSampler.take(seg, ackOff, now);
    this.sndUna = ackOff;
    // RFC 6298 5.2: the SYN is acknowledged and nothing else is outstanding.
    this.timers.stop(TimerKind.retransmission);
  }

  /** ... or it did not: simultaneous open (RFC 9293 3.5 figure 7): answer SYN-ACK with our ISS. */
  onSimultaneousOpen(now: number): void {
    this.sndWl2 = -1;
    this.sendSyn(true);
    this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
  }

  /** ESTABLISHED: congestion control starts with the negotiated SMSS (RFC 5681 3.1, RFC 6928). */
  onEstablished(): void {
    this.congestion = createCongestionControl(this.config.congestionControl, this.options.smss, this.synLost);
    if (this.synLost) this.rtt.resetAfterSynTimeout();
  }

  requestFin(): void {
    this.finRequested = true;
    this.finOffset = this.buffer.endOffset;
  }

  // ====================================================================================
  // Acknowledgments (RFC 9293 3.10.7.4 fifth check)
  // ====================================================================================

  /**
   * The ACK field of a segment at receive offset `segOff`, in a synchronized state, with RFC 5961
   * 5.2. Returns false when the segment is to be dropped.
   */
  onAck(seg: TcpSegment, segOff: number, carriesText: boolean, now: number, outcome: SegmentOutcome): boolean {
    const ackOff = this.ackOffset(seg.ack);
    if (ackOff > Math.max(this.sndMax, this.probeEnd)) {
      // RFC 9293: an ACK for something not yet sent: send an ACK, drop the segment.
      this.counters.drop('ack_unsent');
      outcome.ackNow = true;
      return false;
    }
    if (ackOff < this.sndUna - this.maxSndWnd) {
      // RFC 5961 5.2: older than anything the peer could legitimately still acknowledge.
      this.counters.drop('ack_too_old');
      outcome.ackNow = true;
      return false;
    }

    const window = seg.window * 2 ** this.options.sndShift;
    if (ackOff === this.sndUna && this.sndUna === this.sndMax && this.sndUna >= 0 && seg.options.sackBlocks === undefined) {
      // Nothing of ours is outstanding and the ACK acknowledges nothing new: the common segment
      // of a connection that only receives (the "header prediction" of RFC 9293 3.10.7.4's
      // implementers). No RTT sample, no loss recovery, no congestion control: only the send
      // window, and the persist machinery, which any answer from the peer resets.
      this.unansweredProbes = 0;
      if (window === 0) this.consecutiveTimeouts = 0;
      this.updateSendWindow(window, segOff, ackOff);
      return true;
    }
    const records = this.records;
    const previousWindow = this.sndWnd;
    const previousUna = this.sndUna;
    const flightBefore = this.pipe;
    let acked = 0;
    let delivered = 0;
    let rttSample: number | undefined;
    const sack = this.options.sackPermitted;
    if (ackOff > this.sndUna) {
      rttSample = this.rttSampler.take(seg, ackOff, now);
      // RFC 8985 6.2 step 1 (min_RTT) and 7.2 (a new sample allows another probe).
      if (rttSample !== undefined) this.onRttSample(rttSample, now);
    }
    const echo = seg.options.timestamp?.echo;
    // Only records in flight are delivered (to RACK, RFC 8985 6.2 steps 2-3); without any, and
    // without RACK yet, there is nothing for beginAck to prepare.
    if (this.rackState !== undefined || records.count > 0) {
      this.rack.beginAck(now, this.options.timestamps && echo !== undefined && echo !== 0 ? echo : undefined);
    }
    if (ackOff > this.sndUna) {
      acked = ackOff - this.sndUna;
      const freed = this.buffer.releaseTo(Math.min(Math.max(ackOff, 0), this.buffer.endOffset));
      if (freed > 0) outcome.writable = true;
      this.sndUna = ackOff;
      if (this.sndNxt < ackOff) this.sndNxt = ackOff;
      if (this.sndMax < ackOff) this.sndMax = ackOff;
      this.consecutiveTimeouts = 0;
      this.sackScoreboard?.dropBelow(ackOff);
      // RFC 6937 DeliveredData: the newly acknowledged bytes that were not SACKed before.
      const sackedBefore = records.sackedBytes;
      // Data still waiting to be sent keeps the records' storage: the flight refills at once,
      // and giving it back would regrow it from 8 records at every ACK that empties the flight.
      records.acknowledge(ackOff, this.buffer.endOffset > this.sndNxt);
      delivered += acked - (sackedBefore - records.sackedBytes);
      // RFC 3522: a timeout whose retransmission this ACK does not echo was spurious (the ACKs
      // were lost, not the data): its congestion response is undone and its backoff ends.
      if (
        this.options.timestamps &&
        echo !== undefined &&
        echo !== 0 &&
        this.lossRecovery?.onFirstAckAfterTimeout(echo, this.congestion) === true
      ) {
        this.rtt.endBackoff();
      }
    }
    // An answer from the peer: the persist machinery (RFC 9293 3.8.6.1) keeps the connection open
    // while probes are acknowledged, and a closed window proves the peer alive too.
    this.unansweredProbes = 0;
    if (window === 0) this.consecutiveTimeouts = 0;

    const blocks = sack ? seg.options.sackBlocks : undefined;
    let newlySacked = 0;
    let dsackEnd: number | undefined;
    if (blocks !== undefined) {
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[i]!;
        const left = this.ackOffset(block.left);
        const right = this.ackOffset(block.right);
        if (i === 0 && this.isDuplicateSack(left, right, ackOff, blocks.length > 1 ? blocks[1] : undefined)) {
          this.onDuplicateSack(right);
          dsackEnd = right;
          continue;
        }
        const added = this.scoreboard.addBlock(left, right, this.sndUna, this.sndMax);
        if (added === SACK_BLOCK_OVER_RANGE_LIMIT) {
          this.counters.drop('sack_range_limit');
          continue;
        }
        if (added > 0) {
          const sackedBefore = records.sackedBytes;
          records.markSacked(this.scoreboard.lastMergedStart, this.scoreboard.lastMergedEnd);
          delivered += records.sackedBytes - sackedBefore;
        }
        newlySacked += added;
      }
    }

    this.updateSendWindow(window, segOff, ackOff);

    // Loss recovery and congestion control concern data only: the SYN's acknowledgment (offset -1
    // to 0) is neither.
    if (previousUna >= 0 || ackOff > 0) {
      const recovery = this.recovery;
      const dataAcked = acked > 0 ? ackOff - Math.max(previousUna, 0) : 0;
      // RFC 5681 section 2 duplicate ACK: no data, no SYN/FIN, same window; or RFC 6675 section 2:
      // it SACKs octets not SACKed before.
      const duplicate =
        acked === 0 &&
        ackOff === this.sndUna &&
        this.sndMax > this.sndUna &&
        ((!carriesText && window === previousWindow) || newlySacked > 0);
      if (sack) {
        // RFC 8985 7.4.2: did a tail loss probe repair a loss?
        const probeOutcome = this.lossProbeState?.onAck({ ackOffset: this.sndUna, dsackEnd, duplicateWithoutSack: false }) ?? 'no-episode';
        if (probeOutcome === 'loss-repaired') {
          this.counters.add('tlp_loss_repaired');
          recovery.onLossRepairedByProbe(now, this.sndUna, this.sndMax - previousUna, this.congestion);
        }
        // RFC 8985 6.2 steps 4-5: the reordering window, then the records it deems lost.
        const recoveryEnds = recovery.inRecovery && this.sndUna >= recovery.recoveryPoint && dataAcked > 0;
        this.rack.updateReorderWindow({
          sndUna: this.sndUna,
          sndNxt: this.sndMax,
          dsackReceived: dsackEnd !== undefined,
          recoveryEnded: recoveryEnds,
          inRecovery: recovery.inRecovery && !recoveryEnds,
          sackedSegments: records.sackedCount,
          smoothedRtt: this.rtt.srtt,
        });
        const rackResult = this.rack.detectLoss(records, now);
        if (rackResult.markedLost > 0) this.counters.add('rack_marked_lost', rackResult.markedLost);
        this.armReorderTimer(now, rackResult.reorderTimeout);
      }
      const wasOpen = !recovery.inRecovery;
      const mayGrow = recovery.onAck(
        {
          now,
          sndUna: this.sndUna,
          ackedBytes: dataAcked,
          deliveredBytes: delivered,
          duplicate,
          sndMax: this.sndMax,
          smss: this.options.smss,
          sackPermitted: sack,
        },
        this.congestion,
      );
      if (wasOpen && recovery.inRecovery) this.lossProbeState?.reset();
      if (mayGrow && dataAcked > 0) {
        this.congestion.onAck({
          now,
          ackedBytes: delivered,
          flightBefore,
          rttSample,
          // One minimum RTT per connection: RACK's windowed min_RTT (RFC 8985 6.2 step 1).
          minRtt: this.rack.minRtt,
          smoothedRtt: this.rtt.srtt,
          sndUna: this.sndUna,
          sndNxt: this.sndMax,
        });
      }
    }

    if (acked > 0) {
      if (this.sndUna >= this.sndMax) {
        // RFC 6298 5.2: everything acknowledged: stop the timer (and RACK's and TLP's).
        this.timers.stop(TimerKind.retransmission);
        this.timers.stop(TimerKind.reorder);
        this.timers.stop(TimerKind.lossProbe);
      } else {
        // RFC 6298 5.3: new data acknowledged: restart the timer; RFC 8985 7.2: and the PTO.
        this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
        this.armLossProbe(now);
      }
    } else if (records.sackedCount > 0 && this.timers.armed(TimerKind.lossProbe)) {
      // RFC 8985 7.2: once segments are SACKed, RACK (and its reorder timer) finds the losses.
      this.timers.stop(TimerKind.lossProbe);
    }
    return true;
  }

  /** RFC 9293 3.10.7.4: update the send window if the segment is newer (SND.WL1/SND.WL2). */
  private updateSendWindow(window: number, segOff: number, ackOff: number): void {
    if (this.sndWl1 < segOff || (this.sndWl1 === segOff && this.sndWl2 <= ackOff)) {
      this.sndWnd = window;
      this.sndWl1 = segOff;
      this.sndWl2 = ackOff;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
    }
    if (this.sndWnd > 0 && this.timers.armed(TimerKind.persist)) {
      this.timers.stop(TimerKind.persist);
      this.persistBackoff = 0;
    }
  }

  /** RFC 8985 6.3: arm the reorder timer `timeout` ms from now, or stop it (0). */
  private armReorderTimer(now: number, timeout: number): void {
    if (timeout > 0) this.timers.set(TimerKind.reorder, now + timeout);
    else this.timers.stop(TimerKind.reorder);
  }

  /** RFC 8985 7.2: arm the probe timeout when a probe is due, else leave the tail to the RTO. */
  private armLossProbe(now: number): void {
    if (!this.options.sackPermitted) return;
    const deadline = this.lossProbe.probeDeadline({
      now,
      sackEnabled: true,
      inRecovery: this.lossRecovery?.inRecovery === true,
      sackedSegments: this.records.sackedCount,
      bytesInFlight: this.pipe,
      smss: this.options.smss,
      smoothedRtt: this.rtt.srtt,
      hasRttSample: this.rtt.hasSample,
      retransmissionDeadline: this.timers.armed(TimerKind.retransmission)
        ? this.timers.deadline(TimerKind.retransmission)
        : now + this.rtt.rto,
    });
    if (deadline === undefined) this.timers.stop(TimerKind.lossProbe);
    else this.timers.set(TimerKind.lossProbe, deadline);
  }

  /**
   * RFC 2883 section 4 / RFC 3708 section 2: the first SACK block is a D-SACK when it lies below
   * the cumulative ACK, or inside the second block.
   */
  private isDuplicateSack(left: number, right: number, ackOff: number, second: { left: SeqNumber; right: SeqNumber } | undefined): boolean {
    if (!(right > left)) return false;
    if (right <= ackOff) return true;
    if (second === undefined) return false;
    return left >= this.ackOffset(second.left) && right <= this.ackOffset(second.right);
  }

  /** A D-SACK: the peer received a range twice; if we had retransmitted it, that retransmission was spurious. */
  private onDuplicateSack(duplicateEnd: number): void {
    this.counters.add('dsacks_received');
    this.recovery.onDuplicateDelivered(duplicateEnd, this.congestion);
  }

  // ====================================================================================
  // Output
  // ====================================================================================

  /**
   * Send what the windows and the sender-side rules allow: first the records deemed lost (RFC 6675
   * NextSeg rule 1), then new data (rule 2) under cwnd, the peer's window, SWS avoidance and Nagle
   * (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4, RFC 5681).
   */
  output(state: TcpState): void {
    if (!sendsData(state)) return;
    const buffer = this.buffer;
    const records = this.records;
    const maxPayload = this.maxPayload();
    // One instant for the whole call (its records' send times, the timers it arms): a
    // super-segment's 45 records used to read the clock 45 times.
    const now = this.env.now();
    // With TSO, consecutive new-data segments leave as one super-segment of at most this many
    // (each still its own transmit record, so recovery, SACK and RACK see segments as before).
    const segmentsPerSuperSegment = Math.floor((this.env.superSegmentPayload ?? 0) / maxPayload);
    let lostFrom = 0;
    let sentNewData = false;
    for (;;) {
      const budget = this.congestion.cwnd - this.pipe;
      // NextSeg rule 1: the lowest record deemed lost, within the peer's window, when cwnd has
      // room for it.
      const lost = records.firstAwaitingRetransmission(lostFrom);
      if (lost >= 0 && records.start(lost) < this.sndUna + Math.max(this.sndWnd, 1)) {
        if (budget < Math.min(records.end(lost) - records.start(lost), maxPayload)) break;
        this.flushSuperSegment(maxPayload);
        this.retransmitRecord(lost, maxPayload);
        lostFrom = lost;
        continue;
      }
      // NextSeg rule 2: new data at SND.NXT.
      const off = this.sndNxt;
      if (this.finRequested && off > this.finOffset) break;
      if (this.superStart === this.superEnd && this.sndMax > this.sndUna && this.env.transmitQueueFull?.() === true) {
        // Our own link's queue is more than half full (Linux's TCP small queues keep a sender
        // from filling its device queue for the same reason): a segment it dropped would be a
        // loss the congestion control answers. Data is in flight, so its ACKs call output again
        // as the queue drains. Retransmissions above do not wait.
        this.counters.add('transmit_queue_waits');
        break;
      }
      if (this.sndUna === this.sndMax && now - this.lastDataSendTime > this.rtt.rto && records.count === 0) {
        // RFC 5681 4.1: after an idle period longer than an RTO, restart from the restart window.
        if (this.lastDataSendTime !== Number.NEGATIVE_INFINITY) this.congestion.onIdleRestart(now);
      }
      const dataEnd = buffer.endOffset;
      let len = Math.min(dataEnd - off, maxPayload);
      const room = Math.min(
        this.sndUna + this.sndWnd - off,
        budget + (this.lossRecovery?.limitedTransmitAllowance(this.options.smss) ?? 0),
      );
      if (len > room) len = Math.max(0, room);
      // The FIN goes once every data byte is out (it does not need window space: RFC 9293 3.10.4).
      const fin = this.finRequested && off + len === this.finOffset;
      if (len <= 0 && !fin) break;
      if (len > 0 && len < maxPayload && !fin) {
        // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4): a short segment
        // only when it carries all queued data and nothing is outstanding (or Nagle is off), or
        // when it is at least half the largest window the peer offered.
        const sendsEverything = off + len === dataEnd;
        const nothingOutstanding = this.sndUna === this.sndMax;
        const halfWindow = this.maxSndWnd > 0 && len >= this.maxSndWnd / 2;
        if (!(sendsEverything && (this.noDelay || nothingOutstanding)) && !halfWindow) break;
      }
      if (segmentsPerSuperSegment < 2) {
        this.sendNewData(off, len, fin, now);
      } else {
        this.recordNewData(off, len, fin, now);
        if (this.superStart === this.superEnd) this.superStart = off;
        this.superEnd = off + len;
        this.superFin = fin;
        // Only the last segment of a super-segment may be short or carry the FIN (the link
        // gives every segment but the last gso_size bytes, and FIN and PSH to the last only).
        if (len < maxPayload || fin || this.superEnd - this.superStart + maxPayload > segmentsPerSuperSegment * maxPayload) {
          this.flushSuperSegment(maxPayload);
        }
      }
      sentNewData = true;
      if (fin) break;
    }
    this.flushSuperSegment(maxPayload);
    // RFC 8985 7.2: (re)arm the probe timeout once after new data went out, not per segment.
    if (sentNewData) this.armLossProbe(now);
    if (this.lossRecovery?.phase === 'fast-recovery' && !this.lossRecovery.rescueSent) this.sendRescueRetransmission(maxPayload);
    this.armPersistIfBlocked();
  }

  /**
   * RFC 6675 section 5 NextSeg rule 4, once per recovery: when nothing deemed lost and no new data
   * can go but cwnd has room, resend the highest outstanding segment not SACKed, so that a lost
   * tail draws the ACK that repairs it.
   */
  private sendRescueRetransmission(maxPayload: number): void {
    const records = this.records;
    if (records.lostCount > 0 || this.congestion.cwnd - this.pipe < maxPayload) return;
    for (let i = records.count - 1; i >= 0; i--) {
      if (records.isSacked(i)) continue;
      if (!records.isInFlight(i)) return;
      this.recovery.rescueSent = true;
      this.counters.add('rescue_retransmissions');
      this.retransmitRecord(i, maxPayload);
      return;
    }
  }

  /** RFC 9293 3.8.6.1: data is waiting, nothing is in flight, and the window forbids sending. */
  private armPersistIfBlocked(): void {
    if (this.timers.armed(TimerKind.persist) || this.timers.armed(TimerKind.retransmission)) return;
    if (this.sndUna !== this.sndMax) return;
    if (this.buffer.endOffset <= this.sndNxt) return;
    this.timers.set(TimerKind.persist, this.env.now() + this.persistInterval());
  }

  private persistInterval(): number {
    return Math.min(this.rtt.rto * 2 ** this.persistBackoff, this.config.maxRto);
  }

  /** Send new data (and/or the FIN) at SND.NXT and record it. */
  private sendNewData(off: number, len: number, fin: boolean, now: number): void {
    const payload = len > 0 ? this.buffer.view(off, len) : EMPTY_PAYLOAD;
    this.transmitWithAck(off, this.dataFlags(off, len, fin), payload);
    this.recordNewData(off, len, fin, now);
  }

  /** ACK always; FIN when asked; PSH on the segment that empties the send buffer (RFC 9293 3.9.1.2). */
  private dataFlags(off: number, len: number, fin: boolean): number {
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    if (len > 0 && off + len === this.buffer.endOffset) flags |= TCP_PSH;
    return flags;
  }

  /**
   * Transmit the new data recorded since the last flush as one super-segment, cut by the link
   * into segments of `segmentSize` payload bytes (as recorded, the last one may be short), or as
   * a plain segment when it is only one.
   */
  private flushSuperSegment(segmentSize: number): void {
    const start = this.superStart;
    const len = this.superEnd - start;
    if (len === 0 && !this.superFin) return;
    const fin = this.superFin;
    this.superStart = this.superEnd;
    this.superFin = false;
    const payload = len > 0 ? this.buffer.view(start, len) : EMPTY_PAYLOAD;
    this.transmitWithAck(start, this.dataFlags(start, len, fin), payload, len > segmentSize ? segmentSize : undefined);
  }

  /** Record new data (and/or the FIN) at SND.NXT as sent at `now`: its transmit record, SND.NXT, the timers. */
  private recordNewData(off: number, len: number, fin: boolean, now: number): void {
    const end = off + len + (fin ? 1 : 0);
    this.records.append(off, end, now);
    this.bytesSentTotal += len;
    this.lastDataSendTime = now;
    this.lossRecovery?.onNewDataSent(len);
    this.sndNxt = end;
    if (end > this.sndMax) {
      this.rttSampler.startTiming(end, now);
      this.sndMax = end;
    }
    // RFC 6298 5.1: start the timer when sending data if it is not running.
    if (!this.timers.armed(TimerKind.retransmission)) this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
  }

  /**
   * Resend transmit record i whole; a record larger than one segment now (a smaller path MTU, or
   * SACK blocks of ours taking option space) is split first and its first part resent.
   */
  private retransmitRecord(i: number, maxPayload: number): void {
    const records = this.records;
    const start = records.start(i);
    let end = records.end(i);
    const dataLimit = this.finRequested ? this.finOffset : this.buffer.endOffset;
    // Fill the segment with the adjacent records that await retransmission too.
    while (end - start < maxPayload && i + 1 < records.count && records.isAwaitingRetransmission(i + 1) && records.start(i + 1) === end) {
      if (records.end(i + 1) > dataLimit) break;
      if (records.end(i + 1) - start > maxPayload) records.split(i + 1, start + maxPayload);
      records.mergeWithNext(i);
      end = records.end(i);
    }
    if (Math.min(end, dataLimit) - start > maxPayload) {
      records.split(i, start + maxPayload);
      end = start + maxPayload;
    }
    const dataEnd = Math.min(end, dataLimit, this.buffer.endOffset);
    const len = Math.max(0, dataEnd - start);
    const fin = this.finRequested && end > this.finOffset;
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    if (len > 0 && start + len === this.buffer.endOffset) flags |= TCP_PSH;
    this.transmitWithAck(start, flags, len > 0 ? this.buffer.view(start, len) : EMPTY_PAYLOAD);
    const now = this.env.now();
    records.retransmitted(i, now);
    this.lastDataSendTime = now;
    this.retransmissionCount++;
    this.counters.add('retransmissions');
    this.recovery.onRetransmitted(len);
    // Karn's rule (RFC 6298 section 3): a measurement spanning a retransmission is ambiguous.
    this.rttSampler.onRetransmitted(start);
    if (!this.timers.armed(TimerKind.retransmission)) this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
  }

  /**
   * A pure ACK carries SND.MAX, not SND.NXT: after a timeout pulled SND.NXT back, the peer may
   * already hold those bytes, and an ACK with an old sequence number would be unacceptable to it
   * (RFC 9293 3.10.7.4), leaving both sides unable to hear each other (BSD does the same). But
   * never beyond the right edge of the peer's window, SND.UNA + SND.WND (Linux's
   * tcp_acceptable_seq; an excess below one unit of its window scale is rounding): a peer with a
   * zero window accepts only SEG.SEQ = RCV.NXT (RFC 9293 3.10.7.4), so with a segment of ours
   * lost it would drop every ACK we send, and its sender time out again and again.
   */
  sendAck(): void {
    const windowEnd = this.sndUna + this.sndWnd;
    const seqOffset = this.sndMax - windowEnd < 2 ** this.options.sndShift ? this.sndMax : windowEnd;
    this.transmitWithAck(Math.max(seqOffset, 0), TCP_ACK, EMPTY_PAYLOAD);
  }

  /**
   * Build and send a segment carrying ACK: options, window, SACK; clears the owed ACK.
   * `segmentSize`: a super-segment (see TcpEnvironment.transmit).
   */
  private transmitWithAck(off: number, flags: number, payload: Uint8Array, segmentSize?: number): void {
    const receiver = this.receiver;
    const options: TcpOptions = {};
    if (this.options.timestamps) options.timestamp = this.options.timestampOption(this.env.now());
    if (receiver.hasSackBlocksToSend) options.sackBlocks = receiver.outgoingSackBlocks();
    const window = receiver.windowField();
    this.env.transmit(
      {
        sourcePort: this.tuple.localPort,
        destinationPort: this.tuple.remotePort,
        seq: this.sendSeq(off),
        ack: receiver.receiveSeq(receiver.rcvNxt),
        flags,
        window,
        urgentPointer: 0,
        options,
        payload,
      },
      segmentSize,
    );
    receiver.onAckSent();
    this.outcome.ackNow = false;
  }

  /** SYN (active open) or SYN-ACK (passive or simultaneous open), always at ISS. */
  sendSyn(withAck: boolean): void {
    const receiver = this.receiver;
    this.env.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.iss,
      ack: withAck ? receiver.receiveSeq(receiver.rcvNxt) : 0,
      flags: withAck ? TCP_SYN | TCP_ACK : TCP_SYN,
      // RFC 7323 2.2: the window field of a SYN is not scaled.
      window: receiver.synWindow(),
      urgentPointer: 0,
      options: this.options.synOptions(withAck, this.env.now()),
      payload: EMPTY_PAYLOAD,
    });
    if (withAck) receiver.onSynAckSent();
  }

  /** RST for an abort or protocol failure: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>. */
  sendReset(): void {
    this.env.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.sendSeq(Math.max(this.sndMax, 0)),
      ack: this.receiver.receiveSeq(this.receiver.rcvNxt),
      flags: TCP_RST | TCP_ACK,
      window: 0,
      urgentPointer: 0,
      options: {},
      payload: EMPTY_PAYLOAD,
    });
  }

  /** RST answering an unacceptable ACK: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.3, 3.10.7.4). */
  sendResetForAck(ack: SeqNumber): void {
    this.env.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: ack,
      ack: 0,
      flags: TCP_RST,
      window: 0,
      urgentPointer: 0,
      options: {},
      payload: EMPTY_PAYLOAD,
    });
  }

  /** RFC 1122 4.2.3.6: a keepalive probe, SEG.SEQ = SND.NXT - 1 with no data: the peer must answer with an ACK. */
  sendKeepAliveProbe(): void {
    this.transmitWithAck(this.sndUna - 1, TCP_ACK, EMPTY_PAYLOAD);
  }

  // ====================================================================================
  // Timers
  // ====================================================================================

  /** RFC 6298 5.4-5.7 for the SYN (RFC 9293 3.8.1). Returns false once the SYN retransmissions are exhausted. */
  onSynTimeout(withAck: boolean, now: number): boolean {
    this.counters.add('timeouts');
    this.synRetransmissions++;
    if (this.synRetransmissions > this.config.maxSynRetransmissions) return false;
    this.synLost = true;
    this.rtt.backoff();
    this.rttSampler.cancelTiming();
    this.retransmissionCount++;
    this.counters.add('retransmissions');
    this.sendSyn(withAck);
    this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
    return true;
  }

  /** RFC 6298 5.4-5.7: the retransmission timer expired. Returns false once retransmissions are exhausted. */
  onRetransmissionTimeout(now: number, state: TcpState): boolean {
    if (this.sndUna >= this.sndMax) return true;
    this.counters.add('timeouts');
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts > this.config.maxRetransmissions) return false;
    // RFC 5681 3.1 / RFC 6675 5.1: collapse cwnd, deem everything not SACKed lost (the scoreboard
    // is kept unless the peer reneged).
    if (this.recovery.onRetransmissionTimeout(now, this.sndUna, this.sndMax, this.options.smss, this.congestion))
      this.sackScoreboard?.reset();
    this.lossProbeState?.reset();
    this.timers.stop(TimerKind.reorder);
    this.timers.stop(TimerKind.lossProbe);
    // RFC 6298 5.5: back off.
    this.rtt.backoff();
    this.rttSampler.cancelTiming();
    if (this.sndWnd === 0 && this.buffer.endOffset > this.sndUna && this.sndUna >= 0) {
      // RFC 9293 3.8.6.1: the peer's window is closed: retransmit a single byte as a probe.
      this.transmitWithAck(this.sndUna, TCP_ACK, this.buffer.view(this.sndUna, 1));
      this.retransmissionCount++;
      this.counters.add('retransmissions');
    } else {
      // RFC 6298 5.4: retransmit the earliest unacknowledged segment (the loss window allows one).
      this.output(state);
    }
    // RFC 6298 5.6: restart the timer with the backed-off RTO.
    this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
    return true;
  }

  /** RFC 8985 6.3: the reorder timer expired: what RACK now deems lost is resent. */
  onReorderTimeout(now: number, state: TcpState): void {
    if (this.sndUna >= this.sndMax) return;
    const result = this.rack.onReorderTimerExpired(this.records, now);
    if (result.markedLost > 0) {
      if (this.recovery.onLossDetectedByTimer(now, this.sndUna, this.sndMax, this.options.smss, this.congestion))
        this.lossProbeState?.reset();
      this.output(state);
    }
    this.armReorderTimer(now, result.reorderTimeout);
  }

  /**
   * RFC 8985 7.3: the probe timeout expired: send one segment of new data if there is some and
   * the peer's window allows it, else resend the last segment in flight, so that the tail of a
   * flight draws an ACK (and SACK) instead of waiting for the RTO.
   */
  onLossProbeTimeout(now: number, state: TcpState): void {
    if (!sendsData(state) || this.sndUna >= this.sndMax) return;
    const off = this.sndNxt;
    const hasUnsentData = this.buffer.endOffset > off || (this.finRequested && off <= this.finOffset);
    const kind = this.lossProbe.chooseProbe({
      hasUnsentData,
      windowAllowsNewData: this.sndUna + this.sndWnd > off,
    });
    if (kind === 'new-data') {
      const len = Math.max(0, Math.min(this.buffer.endOffset - off, this.maxPayload(), this.sndUna + this.sndWnd - off));
      const fin = this.finRequested && off + len === this.finOffset;
      if (len === 0 && !fin) return;
      this.sendNewData(off, len, fin, this.env.now());
    } else if (kind === 'retransmit-last') {
      const last = this.records.count - 1;
      if (last < 0 || this.records.isSacked(last)) return;
      this.retransmitRecord(last, this.maxPayload());
    } else {
      return;
    }
    this.counters.add('tail_loss_probes');
    (this.lossProbeState ??= new TailLossProbe()).onProbeSent(kind, this.sndMax);
    // RFC 8985 7.3: after the probe, the RTO guards the tail again.
    this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
  }

  /**
   * RFC 9293 3.8.6.1: zero-window probe (or, for a small window, the SWS override). Returns false
   * once too many probes went unanswered.
   */
  onPersistTimeout(now: number, state: TcpState): boolean {
    if (!sendsData(state)) return true;
    if (this.sndUna !== this.sndMax || this.buffer.endOffset <= this.sndNxt) return true;
    this.unansweredProbes++;
    if (this.unansweredProbes > this.config.maxRetransmissions) return false;
    const off = this.sndNxt;
    if (this.sndWnd === 0) {
      // One byte of new data beyond the window; SND.NXT stays, so the byte is sent again normally
      // once the window opens, and an ACK covering it is accepted through probeEnd.
      this.counters.add('window_probes');
      this.transmitWithAck(off, TCP_ACK, this.buffer.view(off, 1));
      this.probeEnd = Math.max(this.probeEnd, off + 1);
    } else {
      // RFC 1122 4.2.3.4: the override timeout: send what the small window allows.
      const len = Math.min(this.buffer.endOffset - off, this.options.smss, Math.max(1, this.sndWnd - (off - this.sndUna)));
      this.sendNewData(off, len, false, this.env.now());
      this.armLossProbe(now);
      this.persistBackoff = 0;
      return true;
    }
    this.persistBackoff++;
    this.timers.set(TimerKind.persist, now + this.persistInterval());
    return true;
  }

  // ====================================================================================
  // Path MTU (RFC 1191)
  // ====================================================================================

  /** RFC 1191 / RFC 1122 4.2.3.9: the path MTU fell: new SMSS; resend what no longer fits at once. */
  onPathMtuReduced(newSmss: number, now: number, state: TcpState): void {
    this.congestion.setMss(newSmss);
    if (!sendsData(state) || this.sndUna < 0 || this.sndUna >= this.sndMax) return;
    // The router that sent the ICMP dropped every segment in flight larger than the new size:
    // deem those records lost so output() resends them now, split to the new SMSS, as Linux's
    // tcp_simple_retransmit does. RFC 1191 section 6.4: this loss says nothing about congestion,
    // so unlike a timeout there is no cwnd or ssthresh change and no backoff; SACKed records stay.
    const records = this.records;
    const maxPayload = this.maxPayload(newSmss);
    for (let i = 0; i < records.count; i++) {
      if (records.end(i) - records.start(i) > maxPayload) records.markLost(i);
    }
    // Karn's rule (RFC 6298 section 3): the segment being timed is being resent.
    this.rttSampler.cancelTiming();
    this.output(state);
    // RFC 6298 5.3: data was (re)sent; restart the timer from now.
    this.timers.set(TimerKind.retransmission, now + this.rtt.rto);
  }
}
