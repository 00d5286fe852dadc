/**
 * The send side of a TCP connection: the send sequence variables (RFC 9293 3.3.1) as send
 * offsets, the send buffer, segmentation and output (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4),
 * acknowledgment processing with the send window (RFC 9293 3.10.7.4 fifth check, RFC 5961 5.2),
 * retransmission (RFC 6298, RFC 6582 NewReno, RFC 6675 SACK holes), congestion control (RFC 5681),
 * RTT measurement (RFC 6298, RFC 7323 4.1), zero-window probes (RFC 9293 3.8.6.1), and the
 * per-segment transmit records.
 *
 * Send offsets: offset(seq) = seq - (ISS + 1), so our SYN is offset -1 and data byte 0 is offset 0;
 * seqAdd/seqDiff convert at the edge (sendSeq, ackOffset).
 *
 * Every segment of the connection leaves from here: data, pure ACKs and probes through
 * transmitWithAck, which takes the acknowledgment, window and SACK blocks from the receiver; SYNs
 * through sendSyn; RSTs through sendReset and sendResetForAck. A transmitted payload is a view into
 * the send buffer that is valid only during the transmit call: the codec copies it into the packet.
 */
import type { Counters } from '../counters.js';
import { TCP_ACK, TCP_DEFAULT_MSS, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { NewRenoCongestionControl } from './congestion.js';
import type { ConnectionTimers } from './connection-timer.js';
import { type NegotiatedOptions, timestampAt } from './options.js';
import { EMPTY_PAYLOAD, type TcpReceiver } from './receiver.js';
import { RttEstimator } from './rtt.js';
import { SackScoreboard } from './sack-scoreboard.js';
import type { SegmentOutcome } from './segment-outcome.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff, type SeqNumber } from './seq.js';
import { TransmitRecords } from './transmit-records.js';
import type { TcpConfig, TcpEnvironment, TcpFourTuple, TcpState } from './types.js';

/** States in which data (and our FIN) may be sent. */
function sendsData(state: TcpState): boolean {
  return state === 'ESTABLISHED' || state === 'CLOSE-WAIT' || state === 'FIN-WAIT-1' || state === 'CLOSING' || state === 'LAST-ACK';
}

export class TcpSender {
  readonly buffer: SendBuffer;
  readonly rtt: RttEstimator;
  congestion: NewRenoCongestionControl;
  readonly scoreboard = new SackScoreboard();
  /** One record per segment in flight (bookkeeping for time-based loss detection; no decision reads it yet). */
  readonly records = new TransmitRecords();

  // --- Send sequence variables (RFC 9293 3.3.1), as send offsets. Written only by this class.
  sndUna = -1;
  sndNxt = -1;
  /** Highest offset ever sent: ACKs up to here are for data we did send (SND.NXT before go-back). */
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

  // --- Retransmission and RTT measurement.
  /** Send offset whose acknowledgment completes the RTT measurement in progress, or null. */
  private rttTimedEnd: number | null = null;
  private rttTimedStart = 0;
  private synRetransmissions = 0;
  private synLost = false;
  private consecutiveTimeouts = 0;
  private unansweredProbes = 0;
  private persistBackoff = 0;
  private firstPartialAckSeen = false;

  /** RFC 1122 4.2.3.4: Nagle is off. */
  noDelay = false;
  retransmissionCount = 0;
  bytesSentTotal = 0;

  constructor(
    private readonly tuple: TcpFourTuple,
    private readonly iss: SeqNumber,
    private readonly config: TcpConfig,
    private readonly env: TcpEnvironment,
    private readonly counters: Counters,
    private readonly options: NegotiatedOptions,
    private readonly receiver: TcpReceiver,
    private readonly timers: ConnectionTimers,
    private readonly outcome: SegmentOutcome,
  ) {
    this.buffer = new SendBuffer(config.sendBufferSize);
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    this.congestion = new NewRenoCongestionControl(TCP_DEFAULT_MSS);
  }

  /** Sequence number of send offset `off`. */
  sendSeq(off: number): SeqNumber {
    return seqAdd(this.iss, off + 1);
  }

  /** Send offset of an acknowledgment number, relative to SND.UNA. */
  ackOffset(ack: SeqNumber): number {
    return this.sndUna + seqDiff(ack, this.sendSeq(this.sndUna));
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
    this.startRttTiming(0);
    this.timers.retransmission.set(this.env.now() + this.rtt.rto);
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
    this.startRttTiming(0);
    this.timers.retransmission.set(this.env.now() + this.rtt.rto);
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
    this.takeRttSample(seg, ackOff, now);
    this.sndUna = ackOff;
    // RFC 6298 5.2: the SYN is acknowledged and nothing else is outstanding.
    this.timers.retransmission.stop();
  }

  /** ... or it did not: simultaneous open (RFC 9293 3.5 figure 7): answer SYN-ACK with our ISS. */
  onSimultaneousOpen(now: number): void {
    this.sndWl2 = -1;
    this.sendSyn(true);
    this.timers.retransmission.set(now + this.rtt.rto);
  }

  /** ESTABLISHED: congestion control starts with the negotiated SMSS (RFC 5681 3.1, RFC 6928). */
  onEstablished(): void {
    this.congestion = new NewRenoCongestionControl(this.options.smss, this.synLost);
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
    const previousWindow = this.sndWnd;
    const previousUna = this.sndUna;
    let acked = 0;
    if (ackOff > this.sndUna) {
      acked = ackOff - this.sndUna;
      this.takeRttSample(seg, ackOff, now);
      const freed = this.buffer.releaseTo(Math.min(Math.max(ackOff, 0), this.buffer.endOffset));
      if (freed > 0) outcome.writable = true;
      this.sndUna = ackOff;
      if (this.sndNxt < ackOff) this.sndNxt = ackOff;
      if (this.sndMax < ackOff) this.sndMax = ackOff;
      this.consecutiveTimeouts = 0;
      this.scoreboard.dropBelow(ackOff);
      this.records.acknowledge(ackOff);
    }
    // An answer from the peer: the persist machinery (RFC 9293 3.8.6.1) keeps the connection open
    // while probes are acknowledged, and a closed window proves the peer alive too.
    this.unansweredProbes = 0;
    if (window === 0) this.consecutiveTimeouts = 0;

    const blocks = this.options.sackPermitted ? seg.options.sackBlocks : undefined;
    let newlySacked = 0;
    if (blocks !== undefined) {
      for (const block of blocks) {
        const left = this.ackOffset(block.left);
        const right = this.ackOffset(block.right);
        const added = this.scoreboard.addBlock(left, right, this.sndUna, this.sndMax);
        if (added > 0) this.records.markSacked(this.scoreboard.lastMergedStart, this.scoreboard.lastMergedEnd);
        newlySacked += added;
      }
    }

    // RFC 9293 3.10.7.4: update the send window if the segment is newer (SND.WL1/SND.WL2).
    if (this.sndWl1 < segOff || (this.sndWl1 === segOff && this.sndWl2 <= ackOff)) {
      this.sndWnd = window;
      this.sndWl1 = segOff;
      this.sndWl2 = ackOff;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
    }
    if (this.sndWnd > 0 && this.timers.persist.armed) {
      this.timers.persist.stop();
      this.persistBackoff = 0;
    }

    // Congestion control (RFC 5681 3.2, RFC 6582 3.2). The connection is synchronized here: the
    // fifth check runs after SYN-RECEIVED became ESTABLISHED.
    if (acked > 0) {
      const dataAcked = ackOff - Math.max(previousUna, 0);
      if (previousUna >= 0 && dataAcked > 0) {
        const ackOutcome = this.congestion.onNewAck(dataAcked, ackOff, this.sndMax - previousUna, this.sndMax - ackOff);
        if (ackOutcome === 'partial') {
          // RFC 6582 3.2 step 5: retransmit the first unacknowledged segment, unless a SACK-driven
          // retransmission already resent it in this recovery.
          if (this.sndUna >= this.scoreboard.highRetransmitted) this.retransmitHead();
          if (!this.firstPartialAckSeen) {
            // RFC 6582 3.2 step 5: reset the retransmit timer on the first partial ACK only.
            this.firstPartialAckSeen = true;
            this.timers.retransmission.set(now + this.rtt.rto);
          }
        } else {
          this.firstPartialAckSeen = false;
        }
      }
      if (this.sndUna >= this.sndMax) {
        // RFC 6298 5.2: everything acknowledged: stop the timer.
        this.timers.retransmission.stop();
      } else if (!this.congestion.inFastRecovery || !this.firstPartialAckSeen) {
        // RFC 6298 5.3: new data acknowledged: restart the timer.
        this.timers.retransmission.set(now + this.rtt.rto);
      }
    } else if (
      ackOff === this.sndUna &&
      this.sndMax > this.sndUna &&
      // RFC 5681 section 2 duplicate ACK: no data, no SYN/FIN, same window; or RFC 6675
      // section 2: it SACKs octets not SACKed before.
      ((!carriesText && window === previousWindow) || newlySacked > 0)
    ) {
      const dupOutcome = this.congestion.onDuplicateAck(this.sndUna, this.sndMax, this.sndMax - this.sndUna);
      if (dupOutcome === 'fast-retransmit') {
        this.counters.add('fast_retransmits');
        this.firstPartialAckSeen = false;
        this.scoreboard.highRetransmitted = this.sndUna;
        this.retransmitHead();
      } else if (dupOutcome === 'inflate' && !this.scoreboard.isEmpty) {
        const sent = this.retransmitNextLostHole();
        if (sent > 0) this.congestion.spendInflation(sent);
      }
    }
    return true;
  }

  // ====================================================================================
  // Output
  // ====================================================================================

  /**
   * Send what the windows and the sender-side rules allow (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4,
   * RFC 5681). Also resends from SND.NXT after a timeout pulled it back, skipping SACKed ranges.
   */
  output(state: TcpState): void {
    if (!sendsData(state)) return;
    const buffer = this.buffer;
    const scoreboard = this.scoreboard;
    const maxPayload = Math.max(1, this.options.smss - this.receiver.outgoingSackOptionBytes());
    for (;;) {
      let off = this.sndNxt;
      if (this.finRequested && off > this.finOffset) break;
      let retransmission = off < this.sndMax;
      if (retransmission && !scoreboard.isEmpty) {
        off = scoreboard.skipSacked(off);
        if (off !== this.sndNxt) {
          this.sndNxt = off;
          if (this.finRequested && off > this.finOffset) break;
          retransmission = off < this.sndMax;
        }
      }
      const dataEnd = buffer.endOffset;
      let len = Math.min(dataEnd - off, maxPayload);
      if (retransmission) len = Math.min(len, scoreboard.nextSackedStart(off) - off);
      const cwnd = this.congestion.cwnd + (retransmission ? 0 : this.congestion.limitedTransmitAllowance);
      const room = this.sndUna + Math.min(this.sndWnd, cwnd) - off;
      if (len > room) len = Math.max(0, room);
      // The FIN goes once every data byte is out (it does not need window space: RFC 9293 3.10.4).
      const fin = this.finRequested && off + len === this.finOffset;
      if (len <= 0 && !fin) break;
      if (len > 0 && len < maxPayload && !fin && !retransmission) {
        // Sender SWS avoidance and Nagle (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4): a short segment
        // only when it carries all queued data and nothing is outstanding (or Nagle is off), or
        // when it is at least half the largest window the peer offered.
        const sendsEverything = off + len === dataEnd;
        const nothingOutstanding = this.sndUna === this.sndMax;
        const halfWindow = this.maxSndWnd > 0 && len >= this.maxSndWnd / 2;
        if (!(sendsEverything && (this.noDelay || nothingOutstanding)) && !halfWindow) break;
      }
      this.sendData(off, len, fin, retransmission);
      const end = off + len + (fin ? 1 : 0);
      this.sndNxt = end;
      if (end > this.sndMax) {
        this.startRttTiming(end);
        this.sndMax = end;
      }
      if (fin) break;
    }
    this.armPersistIfBlocked();
  }

  /** RFC 9293 3.8.6.1: data is waiting, nothing is in flight, and the window forbids sending. */
  private armPersistIfBlocked(): void {
    if (this.timers.persist.armed || this.timers.retransmission.armed) return;
    if (this.sndUna !== this.sndMax) return;
    if (this.buffer.endOffset <= this.sndNxt) return;
    this.timers.persist.set(this.env.now() + this.persistInterval());
  }

  private persistInterval(): number {
    return Math.min(this.rtt.rto * 2 ** this.persistBackoff, this.config.maxRto);
  }

  /** Send one data (and/or FIN) segment at send offset `off`. */
  private sendData(off: number, len: number, fin: boolean, retransmission: boolean): void {
    const payload = len > 0 ? this.buffer.view(off, len) : EMPTY_PAYLOAD;
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    if (len > 0 && off + len === this.buffer.endOffset) flags |= TCP_PSH;
    this.transmitWithAck(off, flags, payload);
    const now = this.env.now();
    this.records.onSend(off, off + len + (fin ? 1 : 0), now, this.sndMax);
    if (retransmission) {
      this.retransmissionCount++;
      this.counters.add('retransmissions');
      // Karn's rule (RFC 6298 section 3): a measurement spanning a retransmission is ambiguous.
      if (this.rttTimedEnd !== null && off < this.rttTimedEnd) this.rttTimedEnd = null;
    }
    // Bytes beyond SND.MAX go out for the first time (a resend after a timeout may run past it).
    if (off + len > this.sndMax) this.bytesSentTotal += off + len - Math.max(off, this.sndMax, 0);
    // RFC 6298 5.1: start the timer when sending data if it is not running.
    if (!this.timers.retransmission.armed) this.timers.retransmission.set(now + this.rtt.rto);
  }

  /** Retransmit the segment starting at SND.UNA (fast retransmit, NewReno partial ACK). */
  private retransmitHead(): void {
    const off = this.sndUna;
    if (off < 0) return;
    const dataEnd = Math.min(this.buffer.endOffset, this.sndMax);
    let len = Math.min(
      dataEnd - off,
      this.options.smss - this.receiver.outgoingSackOptionBytes(),
      this.scoreboard.nextSackedStart(off) - off,
    );
    if (len < 0) len = 0;
    const fin = this.finRequested && this.sndMax > this.finOffset && off + len === this.finOffset;
    if (len === 0 && !fin) return;
    this.sendData(off, len, fin, true);
    this.scoreboard.highRetransmitted = Math.max(this.scoreboard.highRetransmitted, off + len);
  }

  /** During recovery, retransmit the next hole the scoreboard deems lost. Returns the payload bytes sent. */
  private retransmitNextLostHole(): number {
    const off = this.scoreboard.nextLostHole(this.sndUna, this.options.smss);
    if (off < 0) return 0;
    const len = Math.min(
      this.options.smss - this.receiver.outgoingSackOptionBytes(),
      this.scoreboard.nextSackedStart(off) - off,
      Math.min(this.buffer.endOffset, this.sndMax) - off,
    );
    if (len <= 0) return 0;
    this.sendData(off, len, false, true);
    this.scoreboard.highRetransmitted = off + len;
    return len;
  }

  /**
   * A pure ACK carries SND.MAX, not SND.NXT: after a timeout pulled SND.NXT back, the peer may
   * already hold those bytes, and an ACK with an old sequence number would be unacceptable to it
   * (RFC 9293 3.10.7.4), leaving both sides unable to hear each other (BSD does the same).
   */
  sendAck(): void {
    this.transmitWithAck(Math.max(this.sndMax, 0), TCP_ACK, EMPTY_PAYLOAD);
  }

  /** Build and send a segment carrying ACK: options, window, SACK; clears the owed ACK. */
  private transmitWithAck(off: number, flags: number, payload: Uint8Array): void {
    const receiver = this.receiver;
    const options: TcpOptions = {};
    if (this.options.timestamps) options.timestamp = this.options.timestampOption(this.env.now());
    if (receiver.hasSackBlocksToSend) options.sackBlocks = receiver.outgoingSackBlocks();
    const window = receiver.windowField();
    this.env.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.sendSeq(off),
      ack: receiver.receiveSeq(receiver.rcvNxt),
      flags,
      window,
      urgentPointer: 0,
      options,
      payload,
    });
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
    this.rttTimedEnd = null;
    this.retransmissionCount++;
    this.counters.add('retransmissions');
    this.sendSyn(withAck);
    this.timers.retransmission.set(now + this.rtt.rto);
    return true;
  }

  /** RFC 6298 5.4-5.7: the retransmission timer expired. Returns false once retransmissions are exhausted. */
  onRetransmissionTimeout(now: number, state: TcpState): boolean {
    if (this.sndUna >= this.sndMax) return true;
    this.counters.add('timeouts');
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts > this.config.maxRetransmissions) return false;
    // RFC 5681 3.1 / RFC 6582 3.2 step 4: collapse cwnd, remember "recover".
    this.congestion.onRetransmissionTimeout(this.sndMax - this.sndUna, this.sndMax);
    this.firstPartialAckSeen = false;
    // RFC 6298 5.5: back off.
    this.rtt.backoff();
    this.rttTimedEnd = null;
    // RFC 2018 section 8: after a timeout the receiver may have reneged: forget the SACKed bits
    // (and HighRxt: a new recovery starts).
    this.scoreboard.reset();
    this.records.onRetransmissionTimeout();
    // RFC 6298 5.4: retransmit the earliest unacknowledged segment; go back to SND.UNA so the rest
    // follows as the window reopens.
    this.sndNxt = this.sndUna;
    if (this.sndWnd === 0 && this.buffer.endOffset > this.sndUna && this.sndUna >= 0) {
      // RFC 9293 3.8.6.1: the peer's window is closed: retransmit a single byte as a probe.
      this.sendData(this.sndUna, 1, false, true);
    } else {
      const before = this.retransmissionCount;
      this.output(state);
      if (this.retransmissionCount === before) this.retransmitHead();
    }
    // RFC 6298 5.6: restart the timer with the backed-off RTO.
    this.timers.retransmission.set(now + this.rtt.rto);
    return true;
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
      this.sendData(off, len, false, false);
      this.sndNxt = off + len;
      if (this.sndNxt > this.sndMax) this.sndMax = this.sndNxt;
      this.persistBackoff = 0;
      return true;
    }
    this.persistBackoff++;
    this.timers.persist.set(now + this.persistInterval());
    return true;
  }

  // ====================================================================================
  // RTT measurement
  // ====================================================================================

  private startRttTiming(endOffset: number): void {
    if (this.options.timestamps || this.rttTimedEnd !== null) return;
    this.rttTimedEnd = endOffset;
    this.rttTimedStart = this.env.now();
  }

  /** One RTT measurement from an ACK that advances SND.UNA to `ackOff`. */
  private takeRttSample(seg: TcpSegment, ackOff: number, now: number): void {
    const ts = seg.options.timestamp;
    // A zero TSecr is treated as "no echo" (as Linux does): some stacks send it in SYN-ACKs.
    if (this.options.timestamps && ts !== undefined && ts.echo !== 0) {
      // RFC 7323 4.1: RTT = now - TSecr; timestamps tell retransmissions apart, so Karn's rule
      // is not needed.
      const rtt = (timestampAt(this.env.now()) - ts.echo) >>> 0;
      if (rtt < 0x7fffffff) this.rtt.sample(rtt);
      this.rttTimedEnd = null;
      return;
    }
    if (this.rttTimedEnd !== null && ackOff >= this.rttTimedEnd) {
      this.rtt.sample(now - this.rttTimedStart);
      this.rttTimedEnd = null;
    }
  }

  // ====================================================================================
  // Path MTU (RFC 1191)
  // ====================================================================================

  /** RFC 1191 / RFC 1122 4.2.3.9: the path MTU fell: new SMSS; resend what no longer fits at once. */
  onPathMtuReduced(newSmss: number, now: number, state: TcpState): void {
    // TODO(lead): tell the congestion controller the new SMSS (CongestionControl.setMss(newSmss));
    // NewRenoCongestionControl keeps its smss private, so today's controller keeps the old one.
    if (!sendsData(state) || this.sndUna < 0 || this.sndUna >= this.sndMax) return;
    // The router that sent the ICMP dropped every segment in flight that was larger than the new
    // size. Resend the flight now, from SND.UNA, in segments of the new SMSS (output() reads it
    // from the options), as Linux's tcp_simple_retransmit does. RFC 1191 section 6.4: this loss
    // says nothing about congestion, so unlike a timeout there is no cwnd or ssthresh change, no
    // backoff, and the SACK scoreboard is kept (output() skips what the peer SACKed).
    this.sndNxt = this.sndUna;
    // Karn's rule (RFC 6298 section 3): the segment being timed is being resent.
    this.rttTimedEnd = null;
    this.output(state);
    // RFC 6298 5.3: data was (re)sent; restart the timer from now.
    this.timers.retransmission.set(now + this.rtt.rto);
  }
}
