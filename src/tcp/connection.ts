/**
 * The TCP connection state machine (RFC 9293 section 3.10), with the extensions a modern peer
 * expects: window scaling and timestamps (RFC 7323), SACK (RFC 2018, RFC 6675 duplicate-ACK
 * definition), retransmission timer (RFC 6298), congestion control (RFC 5681, RFC 6582, RFC 6928),
 * and the blind-attack defences of RFC 5961.
 *
 * This file holds the states and their transitions: OPEN, SEGMENT ARRIVES by state, CLOSE, ABORT,
 * TIME-WAIT, the timers' verdicts, ICMP errors and the deletion of the TCB. The parts that own
 * state of their own are separate classes:
 *   TcpSender        (sender.ts)           send buffer, SND.*, output, retransmission, congestion, persist;
 *                                          every segment leaves through it
 *   TcpReceiver      (receiver.ts)         RCV.*, acceptability and trimming, reassembly, window, ACK policy
 *   SackScoreboard   (sack-scoreboard.ts)  what the peer SACKed of our data
 *   NegotiatedOptions (options.ts)         MSS, window scaling, timestamps/PAWS, SACK-permitted
 *   ConnectionTimers (connection-timer.ts) retransmission, delayed ACK, persist, keepalive, close
 *   KeepAlive        (keepalive.ts)        RFC 1122 4.2.3.6 idle time, probes, when to give up
 * What an ICMP error or fragmentation needed means for the connection is judged in icmp-feedback.ts.
 * Whether a dropped segment, or a challenge ACK, may be answered is InvalidSegmentAnswers' (ack-rate-limit.ts).
 * What one arriving segment asks for (an immediate ACK, events) is a SegmentOutcome record.
 *
 * Numbering. Sequence numbers are converted at the edge into 64-bit-safe stream offsets, so all
 * internal bookkeeping is plain arithmetic and never wraps:
 *   send side:    offset(seq) = seq - (ISS + 1)   (our SYN is offset -1, data byte 0 is offset 0)
 *   receive side: offset(seq) = seq - (IRS + 1)   (their SYN is offset -1)
 * A wire value is turned into an offset relative to a known point with seqDiff (src/tcp/seq.ts),
 * which is where the modulo-2^32 comparison happens; offsets back to wire values use seqAdd.
 *
 * The class is pure: time comes from env.now(), timers are deadlines on env.timers, segments leave
 * (through the sender) by env.transmit.
 */
import type { Counters } from '../counters.js';
import { NetError, type NetErrorCode } from '../errors.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOptions, type TcpSegment } from '../wire/tcp.js';
import { InvalidSegmentAnswers } from './ack-rate-limit.js';
import { ConnectionTimers, TimerKind } from './connection-timer.js';
import { icmpErrorVerdict, pathMtuVerdict } from './icmp-feedback.js';
import { KeepAlive } from './keepalive.js';
import { NegotiatedOptions } from './options.js';
import { ArrivingText, EMPTY_PAYLOAD, TcpReceiver } from './receiver.js';
import { SegmentOutcome } from './segment-outcome.js';
import { TcpSender } from './sender.js';
import { seqAdd, type SeqNumber } from './seq.js';
import type { TcpConfig, TcpConnectionEvents, TcpEnvironment, TcpFourTuple, TcpState, TimeWaitState } from './types.js';

/** What stats() reports. */
export interface TcpConnectionStats {
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  retransmissions: number;
  bytesSent: number;
  bytesReceived: number;
  state: TcpState;
}

export class TcpConnection {
  /** Assigned by the socket layer. */
  events: TcpConnectionEvents = {};

  private currentState: TcpState = 'CLOSED';
  private readonly counters: Counters;
  private readonly options: NegotiatedOptions;
  private readonly timers: ConnectionTimers;
  private readonly receiver: TcpReceiver;
  private readonly sender: TcpSender;
  private readonly keepAlive: KeepAlive;
  /** What the segment being processed asks for; reset at the start of each handleSegment call. */
  private readonly outcome = new SegmentOutcome();
  /** The sequence space an arriving segment occupies, trimmed to the window; reused for every segment. */
  private readonly text = new ArrivingText();

  private opened = false;
  private released = false;
  /** The last soft ICMP error (RFC 1122 4.2.3.9), reported if the connection times out. */
  private softError: NetErrorCode | undefined;
  private passiveOpen = false;
  /** close() was called: the application will not read again. */
  private readClosed = false;

  /**
   * RFC 5961 section 7: answers to segments we drop, at most one per 500 ms. Made for the first
   * such segment: most connections never see one (~50 B per connection end).
   */
  private invalidSegmentAnswers: InvalidSegmentAnswers | undefined;

  constructor(
    readonly tuple: TcpFourTuple,
    iss: number,
    private readonly config: TcpConfig,
    private readonly env: TcpEnvironment,
  ) {
    if (!Number.isInteger(iss) || iss < 0 || iss > 0xffffffff) throw new NetError('EINVAL', `bad initial sequence number ${iss}`);
    this.counters = env.counters;
    this.options = new NegotiatedOptions(config, tuple.remoteAddress);
    // The connection is its timers' handler: no closure per timer (idle connections are many).
    this.timers = new ConnectionTimers(env.timers, this);
    this.receiver = new TcpReceiver(config, this.options, this.counters, this.timers, env.memory);
    this.sender = new TcpSender(tuple, iss, config, env, this.counters, this.options, this.receiver, this.timers, this.outcome);
    this.keepAlive = new KeepAlive(this.timers, this.sender, this.counters);
  }

  private invalidAnswers(): InvalidSegmentAnswers {
    return (this.invalidSegmentAnswers ??= new InvalidSegmentAnswers());
  }

  // ====================================================================================
  // Public interface
  // ====================================================================================

  get state(): TcpState {
    return this.currentState;
  }

  get readableLength(): number {
    return this.receiver.buffer.readableLength;
  }

  get receivedFin(): boolean {
    return this.receiver.finReceived;
  }

  get writableLength(): number {
    return this.sender.buffer.length;
  }

  /** Free space in the send buffer: how much write() would accept now. */
  get writableSpace(): number {
    return this.sender.buffer.freeSpace;
  }

  /** The peer's MSS option (536 when absent) and the payload size of a full segment we send. */
  get maxSegmentSize(): { peer: number; send: number } {
    return { peer: this.options.peerMss, send: this.options.smss };
  }

  /** RFC 9293 3.10.1 OPEN, active: CLOSED -> SYN-SENT. */
  openActive(): void {
    if (this.opened) throw new NetError('EINVAL', 'connection already opened');
    this.opened = true;
    this.options.offerWindowScale();
    this.setState('SYN-SENT');
    this.keepAlive.heard(this.env.now());
    this.sender.openActive();
  }

  /** RFC 9293 3.10.7.2 (LISTEN state, SYN arrives): the stack matched a listener; answer SYN-ACK. */
  acceptSyn(syn: TcpSegment): void {
    if (this.opened) throw new NetError('EINVAL', 'connection already opened');
    if ((syn.flags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) throw new NetError('EINVAL', 'acceptSyn needs a SYN without ACK or RST');
    this.opened = true;
    this.passiveOpen = true;
    this.keepAlive.heard(this.env.now());
    this.receiver.synchronize(syn.seq);
    this.options.negotiate(syn.options, this.env.now());
    this.setState('SYN-RECEIVED');
    // RFC 7323 2.2: the window in a SYN is never scaled.
    this.sender.openPassive(syn.window);
  }

  /**
   * RFC 4987 3.6: the stack validated a SYN cookie in `ack` (SEG.ACK - 1 is our ISS, SEG.SEQ - 1
   * the peer's) and rebuilt the options of the peer's SYN from it (`synOptions`). The handshake
   * is as if we had sent the SYN-ACK from SYN-RECEIVED: the ACK, and any data with it, is
   * processed there and completes it.
   */
  acceptCookie(ack: TcpSegment, synOptions: TcpOptions): void {
    if (this.opened) throw new NetError('EINVAL', 'connection already opened');
    if ((ack.flags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_ACK)
      throw new NetError('EINVAL', 'acceptCookie needs an ACK without SYN or RST');
    this.opened = true;
    this.passiveOpen = true;
    this.keepAlive.heard(this.env.now());
    this.receiver.synchronize(seqAdd(ack.seq, -1));
    this.options.negotiate(synOptions, this.env.now());
    this.setState('SYN-RECEIVED');
    this.sender.openedByCookie();
    this.handleSegment(ack);
  }

  /**
   * Drop a half-open passive open without a segment, as Linux drops an expired request: the TCP
   * layer reclaims the slot of a peer that has not answered our SYN-ACK (RFC 4987 3.4).
   */
  discardHalfOpen(): void {
    if (this.currentState === 'SYN-RECEIVED' && this.passiveOpen) this.deleteTcb('ETIMEDOUT');
  }

  /** RFC 9293 3.10.7 SEGMENT ARRIVES, for every state after the first SYN. */
  handleSegment(segment: TcpSegment): void {
    if (this.released) {
      // The stack answers segments for unknown connections (and TIME-WAIT's); a released TCB
      // ignores stragglers.
      this.counters.drop('closed');
      return;
    }
    switch (this.currentState) {
      case 'CLOSED':
      case 'LISTEN':
        // The stack answers segments for unknown connections; a released TCB ignores stragglers.
        this.counters.drop('closed');
        return;
      case 'SYN-SENT':
        this.outcome.reset();
        this.segmentInSynSent(segment);
        break;
      default:
        this.outcome.reset();
        this.segmentInSynchronized(segment);
    }
    if (this.released) return;
    this.flushAfterInput();
    this.emitEvents();
    // The ACK of the peer's FIN is out: the TCB gives way to the layer's TIME-WAIT record.
    if (this.currentState === 'TIME-WAIT' && !this.released) this.releaseToTimeWait();
  }

  /** RFC 9293 3.10.2 SEND. Returns the number of bytes taken into the send buffer. */
  write(data: Uint8Array): number {
    this.checkSend();
    const n = this.sender.buffer.write(data);
    if (n > 0) this.sender.output(this.currentState);
    return n;
  }

  /**
   * SEND of several chunks in order (a stream's writev): into the send buffer up to the first
   * it cannot take whole, then one output call, so they leave as the segments one write of
   * their concatenation would make, without the copy that concatenating costs.
   */
  writev(chunks: readonly Uint8Array[]): number {
    this.checkSend();
    const buffer = this.sender.buffer;
    let n = 0;
    for (const chunk of chunks) {
      const taken = buffer.write(chunk);
      n += taken;
      if (taken < chunk.length) break;
    }
    if (n > 0) this.sender.output(this.currentState);
    return n;
  }

  private checkSend(): void {
    if (!this.opened) throw new NetError('ENOTCONN', 'connection not opened');
    if (this.currentState === 'CLOSED') throw new NetError('EPIPE', 'connection is closed');
    if (this.sender.finRequested) throw new NetError('EPIPE', 'connection was shut down for writing');
  }

  /** RFC 9293 3.10.3 RECEIVE. Copies in-order bytes out; may send a window update. */
  read(into: Uint8Array): number {
    // The smoothed RTT paces receive-window auto-tuning; before any sample, the initial RTO bounds it.
    const rtt = this.sender.rtt.hasSample ? this.sender.rtt.srtt : this.config.initialRto;
    const n = this.receiver.read(into, this.env.now(), rtt);
    if (n > 0) this.maybeSendWindowUpdate();
    return n;
  }

  /** Half-close (RFC 9293 3.10.4 CLOSE for the sending direction): FIN after the queued data. */
  shutdownWrite(): void {
    if (!this.opened || this.sender.finRequested) return;
    switch (this.currentState) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
        // RFC 9293 3.10.4: queue the FIN until ESTABLISHED is reached.
        this.sender.requestFin();
        return;
      case 'ESTABLISHED':
        this.sender.requestFin();
        this.setState('FIN-WAIT-1');
        this.sender.output(this.currentState);
        return;
      case 'CLOSE-WAIT':
        this.sender.requestFin();
        this.setState('LAST-ACK');
        this.sender.output(this.currentState);
        return;
      default:
        return;
    }
  }

  /**
   * RFC 9293 3.10.4 CLOSE: FIN after the queued data, and the application reads no more. Unread
   * data, or data arriving later, is answered with RST (RFC 9293 3.10.4, RFC 2525 2.17), as Linux does.
   */
  close(): void {
    if (!this.opened || this.released) return;
    this.readClosed = true;
    if (this.currentState === 'SYN-SENT') {
      // RFC 9293 3.10.4, SYN-SENT: delete the TCB; nothing was synchronized, nothing to reset.
      this.deleteTcb(undefined);
      return;
    }
    if (this.receiver.buffer.readableLength > 0) {
      this.counters.add('reset_unread_data');
      this.sender.sendReset();
      this.receiver.buffer.clear();
      this.deleteTcb(undefined);
      return;
    }
    this.shutdownWrite();
    if (this.currentState === 'FIN-WAIT-2') this.armFinWait2Limit();
  }

  /** RFC 9293 3.10.5 ABORT. */
  abort(): void {
    if (!this.opened || this.released) return;
    this.sendResetOnAbort();
    this.receiver.buffer.clear();
    this.deleteTcb(undefined);
  }

  private sendResetOnAbort(): void {
    switch (this.currentState) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSE-WAIT':
        this.sender.sendReset();
        break;
      default:
        // SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT: delete the TCB without a RST.
        break;
    }
  }

  /**
   * An exception escaped this connection's code (a bug, or a state nothing foresaw): its state can
   * no longer be trusted, so it ends as an ABORT would (RFC 9293 3.10.5: a RST if it can still be
   * sent, the TCB deleted), the socket sees ECONNABORTED and the rest of the stack goes on.
   * Counted `connection_faults`; the caller logs the exception.
   */
  abortAfterFault(): void {
    if (this.released) return;
    this.counters.add('connection_faults');
    try {
      this.sendResetOnAbort();
    } catch {
      // The fault may be in sending itself; the TCB goes anyway.
    }
    this.receiver.buffer.clear();
    this.deleteTcb('ECONNABORTED');
  }

  /** ConnectionTimerHandlers: a timer callback of this connection threw. */
  onFault(): void {
    this.abortAfterFault();
  }

  /** RFC 1122 4.2.3.4: disable (true) or enable (false) the Nagle algorithm. */
  setNoDelay(noDelay: boolean): void {
    this.sender.noDelay = noDelay;
    if (noDelay) this.sender.output(this.currentState);
  }

  /** RFC 1122 4.2.3.6 keepalives: off by default, idle time at least two hours unless given. */
  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.keepAlive.configure(enable, idleMs, !this.released && this.isSynchronized());
  }

  stats(): TcpConnectionStats {
    const sender = this.sender;
    return {
      srtt: sender.rtt.srtt,
      rttvar: sender.rtt.rttvar,
      rto: sender.rtt.rto,
      cwnd: sender.congestion.cwnd,
      ssthresh: sender.congestion.ssthresh,
      retransmissions: sender.retransmissionCount,
      bytesSent: sender.bytesSentTotal,
      bytesReceived: this.receiver.bytesReceivedTotal,
      state: this.currentState,
    };
  }

  // ====================================================================================
  // Segment arrival
  // ====================================================================================

  /** RFC 9293 3.10.7.3: SYN-SENT. */
  private segmentInSynSent(seg: TcpSegment): void {
    const sender = this.sender;
    const flags = seg.flags;
    let ackAcceptable = false;
    if (flags & TCP_ACK) {
      // First: the ACK must acknowledge our SYN: ISS < SEG.ACK <= SND.NXT.
      const ackOff = sender.ackOffset(seg.ack);
      if (ackOff <= -1 || ackOff > sender.sndMax) {
        this.counters.drop('bad_ack');
        if (!(flags & TCP_RST)) this.sender.sendResetForAck(seg.ack);
        return;
      }
      ackAcceptable = true;
    }
    if (flags & TCP_RST) {
      // Second: RFC 5961 3.2 / RFC 9293: a RST counts only if it acknowledges our SYN.
      if (ackAcceptable) {
        this.deleteTcb('ECONNREFUSED');
      } else {
        this.counters.drop('rst_without_ack');
      }
      return;
    }
    if (!(flags & TCP_SYN)) {
      // Fifth: neither SYN nor RST.
      this.counters.drop('no_syn');
      return;
    }
    // Fourth: the peer's SYN.
    const now = this.env.now();
    this.keepAlive.heard(now);
    this.receiver.synchronize(seg.seq);
    this.options.negotiate(seg.options, now);
    // Our SYN offered an unscaled window starting at the peer's ISS + 1 (RFC 7323 2.2).
    this.receiver.advertiseSynWindow();
    sender.onPeerSyn(seg.window);
    if (ackAcceptable) {
      sender.onSynAcknowledged(seg, sender.ackOffset(seg.ack), now);
      this.setState('ESTABLISHED');
      this.onEstablishedReached();
      // RFC 9293 3.10.7.3: "continue processing at the sixth step" for data or FIN in the SYN-ACK.
      const payload = seg.payload;
      const fin = (flags & TCP_FIN) !== 0;
      if (payload.length > 0 || fin) {
        const fits = this.receiver.synAckDataThatFits(payload.length);
        this.processText(0, fits === payload.length ? payload : payload.subarray(0, fits), fin && fits === payload.length);
      }
      this.outcome.ackNow = true;
    } else {
      // Simultaneous open (RFC 9293 3.5 figure 7): SYN-RECEIVED, answer SYN-ACK with our ISS.
      this.setState('SYN-RECEIVED');
      sender.onSimultaneousOpen(now);
    }
  }

  /** RFC 9293 3.10.7.4: SYN-RECEIVED and every synchronized state. */
  private segmentInSynchronized(seg: TcpSegment): void {
    const now = this.env.now();
    const receiver = this.receiver;
    const outcome = this.outcome;
    const flags = seg.flags;
    const isRst = (flags & TCP_RST) !== 0;
    const ts = this.options.timestamps ? seg.options.timestamp : undefined;

    // RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than TS.Recent is an old duplicate
    // (after 24 idle days TS.Recent is stale and forgotten rather than used to drop, RFC 7323 5.5).
    if (ts !== undefined && !isRst && this.options.isOldDuplicate(ts.value, now)) {
      this.counters.drop('paws');
      this.answerInvalidSegment(seg, now);
      return;
    }

    const originalOffset = receiver.receiveOffset(seg.seq);
    const text = this.text;
    text.set(originalOffset, seg.payload, (flags & TCP_SYN) !== 0, (flags & TCP_FIN) !== 0);

    if (text.syn && text.offset === -1 && this.currentState === 'SYN-RECEIVED' && !isRst) {
      if (!(flags & TCP_ACK)) {
        // The peer retransmitted its SYN: our SYN-ACK was lost (RFC 9293 3.10.7.4 first check
        // would ACK it; in SYN-RECEIVED that acknowledgment is our SYN-ACK).
        this.counters.add('syn_retransmitted_by_peer');
        if (this.invalidAnswers().allowAnswer(seg, now, this.counters)) this.sender.sendSyn(true);
        return;
      }
      // Simultaneous open: the peer's SYN-ACK repeats a SYN we already took; its ACK is new.
      text.syn = false;
      text.offset = 0;
    }

    const segLen = text.length;
    const rcvWnd = receiver.window;

    if (isRst) {
      this.processReset(text.offset, rcvWnd);
      return;
    }

    // First: sequence number check (RFC 9293 3.10.7.4 table).
    if (!receiver.isAcceptable(text.offset, segLen, rcvWnd)) {
      if (rcvWnd === 0 && text.offset === receiver.rcvNxt && !text.syn) {
        // RFC 9293 3.10.7.4: with a zero window, still process valid ACKs; the text is dropped
        // (this is the answer to a zero-window probe).
        this.counters.drop('zero_window');
        text.payload = EMPTY_PAYLOAD;
        text.fin = false;
        outcome.ackNow = true;
      } else {
        receiver.reportDuplicateText(text);
        this.counters.drop('out_of_window');
        this.answerInvalidSegment(seg, now);
        return;
      }
    }

    this.keepAlive.heard(now);

    receiver.trim(text, rcvWnd, outcome);

    // Fourth: RFC 5961 4.2: a SYN in a synchronized state draws a challenge ACK, whatever its seq.
    if (text.syn) {
      this.counters.drop('syn_in_window');
      this.challengeAck(now);
      return;
    }

    // Fifth: the ACK field.
    if (!(flags & TCP_ACK)) {
      this.counters.drop('no_ack');
      return;
    }
    if (this.currentState === 'SYN-RECEIVED') {
      const ackOff = this.sender.ackOffset(seg.ack);
      if (ackOff > this.sender.sndUna && ackOff <= this.sender.sndMax) {
        if (this.events.canEstablish?.() === false) {
          this.counters.drop('accept_queue_full');
          return;
        }
        this.setState('ESTABLISHED');
        this.onEstablishedReached();
      } else {
        this.counters.drop('bad_ack');
        this.sender.sendResetForAck(seg.ack);
        return;
      }
    }
    const carriesText = text.payload.length > 0 || text.fin;
    if (!this.sender.onAck(seg, originalOffset, carriesText, now, outcome)) {
      // An unacceptable ACK (RFC 9293 3.10.7.4, RFC 5961 5.2): its answer is rate limited too.
      if (outcome.ackNow) {
        outcome.ackNow = false;
        this.answerInvalidSegment(seg, now);
      }
      return;
    }
    // RFC 7323 4.3 (R3) and 5.3: TS.Recent takes the TSval of a segment covering Last.ACK.sent,
    // only once the segment passed every check (PAWS, acceptability, RST, SYN and ACK, where Linux
    // records it too): a segment that is dropped must not move it.
    if (ts !== undefined) this.options.updateRecent(ts.value, originalOffset <= receiver.lastAckSent, now);
    if (!this.afterAck()) return;
    if (this.currentState === 'CLOSED') return;

    // Sixth: URG is not supported (RFC 6093 recommends against its use); the data is delivered inline.
    // Seventh and eighth: text and FIN.
    if (carriesText) this.processText(text.offset, text.payload, text.fin);
  }

  /** RFC 9293 3.10.7.4 second check with RFC 5961 section 3.2. */
  private processReset(segOff: number, rcvWnd: number): void {
    const rcvNxt = this.receiver.rcvNxt;
    if (segOff === rcvNxt) {
      switch (this.currentState) {
        case 'SYN-RECEIVED':
          // A passive open returns to LISTEN: the stack never handed it out, so release quietly.
          // An active (simultaneous) open was refused.
          this.deleteTcb(this.passiveOpen ? 'ECONNRESET' : 'ECONNREFUSED');
          return;
        case 'ESTABLISHED':
        case 'FIN-WAIT-1':
        case 'FIN-WAIT-2':
        case 'CLOSE-WAIT':
          this.deleteTcb('ECONNRESET');
          return;
        default:
          // CLOSING, LAST-ACK, TIME-WAIT: the connection was ending anyway.
          this.deleteTcb(undefined);
          return;
      }
    }
    if (rcvWnd > 0 && segOff > rcvNxt && segOff < rcvNxt + rcvWnd) {
      // RFC 5961 3.2: in the window but not exact: it may be blind; a challenge ACK lets a
      // genuine peer answer with an exact RST.
      this.counters.drop('rst_in_window');
      this.challengeAck(this.env.now());
      return;
    }
    this.counters.drop('rst_out_of_window');
  }

  /** The state-specific parts of the fifth check (RFC 9293 3.10.7.4). Returns false when processing ends. */
  private afterAck(): boolean {
    const finAcked = this.sender.finAcked;
    switch (this.currentState) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.setState('FIN-WAIT-2');
          this.timers.stopSendTimers();
          if (this.readClosed) this.armFinWait2Limit();
        }
        break;
      case 'CLOSING':
        if (finAcked) {
          this.enterTimeWait();
          return false;
        }
        break;
      case 'LAST-ACK':
        if (finAcked) {
          this.deleteTcb(undefined);
          return false;
        }
        break;
      default:
        break;
    }
    return true;
  }

  /** RFC 9293 3.10.7.4 seventh (segment text) and eighth (FIN) steps. */
  private processText(segOff: number, payload: Uint8Array, fin: boolean): void {
    const receiver = this.receiver;
    if (payload.length > 0) {
      const state = this.currentState;
      if (state === 'ESTABLISHED' || state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2') {
        if (this.readClosed) {
          // RFC 9293 3.10.4 / RFC 2525 2.17: the application closed and will not read: reset.
          this.counters.add('reset_data_after_close');
          this.sender.sendReset();
          this.deleteTcb(undefined);
          return;
        }
        receiver.deliver(segOff, payload, this.outcome);
      } else {
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN; ignore the text.
        this.counters.drop('data_after_fin');
      }
    }
    if (fin) receiver.notePeerFin(segOff + payload.length);
    if (receiver.finInSequence) this.processFin();
  }

  /** RFC 9293 3.10.7.4 eighth: the peer's FIN, now in sequence. */
  private processFin(): void {
    this.receiver.acceptFin(this.outcome);
    switch (this.currentState) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.setState('CLOSE-WAIT');
        break;
      case 'FIN-WAIT-1':
        // Our FIN is not acknowledged yet (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState('CLOSING');
        break;
      case 'FIN-WAIT-2':
        this.enterTimeWait();
        break;
      default:
        break;
    }
  }

  private onEstablishedReached(): void {
    this.sender.onEstablished();
    this.outcome.established = true;
    this.keepAlive.onEstablished();
    if (this.sender.finRequested) {
      // A shutdown queued in SYN-SENT / SYN-RECEIVED takes effect now (RFC 9293 3.10.4).
      this.setState('FIN-WAIT-1');
    }
  }

  // ====================================================================================
  // Challenge ACKs, the ACK after input, events
  // ====================================================================================

  /** RFC 5961 section 7: a challenge ACK, within the connection's and the stack's limits. */
  private challengeAck(now: number): void {
    if (this.invalidAnswers().allowChallenge(now, this.env.challengeAcks, this.counters)) this.sender.sendAck();
  }

  /** The ACK answering a segment we drop (RFC 9293 3.10.7.4), rate limited (RFC 5961 section 7). */
  private answerInvalidSegment(seg: TcpSegment, now: number): void {
    if (this.invalidAnswers().allowAnswer(seg, now, this.counters)) this.outcome.ackNow = true;
  }

  /** After a segment was processed: send data (piggybacking the ACK), else the ACK, else delay it. */
  private flushAfterInput(): void {
    this.sender.output(this.currentState);
    if (this.currentState === 'CLOSED') return;
    if (this.outcome.ackNow) this.sender.sendAck();
    else if (this.outcome.ackAtBatchEnd && this.receiver.ackOwed) {
      // A segment sent meanwhile would have carried the ACK (ackOwed would be false).
      if (this.env.deferAck !== undefined) this.env.deferAck();
      else this.sender.sendAck();
    } else this.receiver.delayOwedAck(this.env.now());
  }

  /**
   * The batch of packets in which this connection deferred its ACK (TcpEnvironment.deferAck) is
   * processed: send the ACK unless a segment sent meanwhile carried it.
   */
  sendBatchEndAck(): void {
    if (this.released || this.currentState === 'CLOSED') return;
    if (this.receiver.ackOwed) this.sender.sendAck();
  }

  private emitEvents(): void {
    const outcome = this.outcome;
    if (outcome.established) {
      outcome.established = false;
      this.events.onEstablished?.();
      if (this.currentState === 'CLOSED') return;
    }
    if (outcome.writable) {
      outcome.writable = false;
      this.events.onWritable?.();
      if (this.currentState === 'CLOSED') return;
    }
    if (outcome.readable) {
      outcome.readable = false;
      this.events.onReadable?.();
    }
  }

  /**
   * After read(): a window update once the window can grow enough (RFC 1122 4.2.3.3), in the
   * states where the peer may still send.
   */
  private maybeSendWindowUpdate(): void {
    const state = this.currentState;
    if (state !== 'ESTABLISHED' && state !== 'FIN-WAIT-1' && state !== 'FIN-WAIT-2') return;
    if (!this.receiver.windowUpdateDue()) return;
    this.counters.add('window_updates');
    this.sender.sendAck();
  }

  // ====================================================================================
  // Timers
  // ====================================================================================

  // The ConnectionTimerHandlers: called only by this connection's timers.

  /** RFC 6298 5.4-5.7 (and RFC 9293 3.8.1 for SYN): the retransmission timer expired. */
  onRetransmissionTimeout(now: number): void {
    const state = this.currentState;
    if (state === 'SYN-SENT' || state === 'SYN-RECEIVED') {
      // Linux tcp_synack_retries: a half-open connection gives up sooner than a connect().
      const synAckGivesUp = state === 'SYN-RECEIVED' && this.sender.retransmissionCount >= this.config.maxSynAckRetransmissions;
      if (synAckGivesUp || !this.sender.onSynTimeout(state === 'SYN-RECEIVED', now)) this.deleteTcb(this.softError ?? 'ETIMEDOUT');
      return;
    }
    if (!this.sender.onRetransmissionTimeout(now, state)) {
      this.sender.sendReset();
      this.deleteTcb(this.softError ?? 'ETIMEDOUT');
    }
  }

  onDelayedAckTimeout(): void {
    if (this.receiver.ackOwed || this.outcome.ackNow) this.sender.sendAck();
  }

  /** RFC 8985 6.3: the RACK reordering window passed. */
  onReorderTimeout(now: number): void {
    this.sender.onReorderTimeout(now, this.currentState);
  }

  /** RFC 8985 7.3: the tail loss probe timeout. */
  onLossProbeTimeout(now: number): void {
    this.sender.onLossProbeTimeout(now, this.currentState);
  }

  /** TIME-WAIT's 2*MSL, or the FIN-WAIT-2 limit of a closed connection, passed. */
  onCloseTimeout(): void {
    this.deleteTcb(undefined);
  }

  /** RFC 9293 3.8.6.1: zero-window probe (or, for a small window, the SWS override). */
  onPersistTimeout(now: number): void {
    if (!this.sender.onPersistTimeout(now, this.currentState)) {
      this.sender.sendReset();
      this.deleteTcb('ETIMEDOUT');
    }
  }

  /** RFC 1122 4.2.3.6: keepalive. */
  onKeepAliveTimeout(now: number): void {
    if (!this.keepAlive.onTimeout(now, this.currentState)) {
      this.sender.sendReset();
      this.deleteTcb('ETIMEDOUT');
    }
  }

  /**
   * RFC 9293 3.10.7.4: TIME-WAIT. Once the segment that led here is answered (handleSegment), the
   * TCB is released and the TCP layer keeps the 2 MSL (3.4.2) in a compact record (time-wait.ts).
   */
  private enterTimeWait(): void {
    this.setState('TIME-WAIT');
    this.timers.stopSendTimers();
    this.keepAlive.stop();
  }

  /** Hand TIME-WAIT to the TCP layer: the record it needs, then the TCB is gone like deleteTcb's. */
  private releaseToTimeWait(): void {
    const rcvNxt = this.receiver.receiveSeq(this.receiver.rcvNxt);
    this.releaseTcb({ rcvNxt, sndNxt: this.sender.sendSeq(this.sender.sndMax), tsRecent: this.options.recentTimestamp }, undefined);
  }

  /** A closed connection must not sit in FIN-WAIT-2 forever waiting for a silent peer (Linux tcp_fin_timeout). */
  private armFinWait2Limit(): void {
    this.timers.set(TimerKind.close, this.env.now() + 2 * this.config.msl);
  }

  // ====================================================================================
  // Helpers
  // ====================================================================================

  private isSynchronized(): boolean {
    const s = this.currentState;
    return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECEIVED';
  }

  /** An ICMP error about a segment this connection sent (RFC 1122 4.2.3.9), judged by icmp-feedback.ts. */
  handleIcmpError(quotedSeq: SeqNumber, error: NetErrorCode, hard: boolean): void {
    if (this.released || !this.opened) return;
    const opening = this.currentState === 'SYN-SENT' || this.currentState === 'SYN-RECEIVED';
    const verdict = icmpErrorVerdict(this.sender, quotedSeq, hard, opening, this.counters);
    if (verdict === 'abort') this.deleteTcb(error);
    else if (verdict === 'soft') this.softError = error;
  }

  /**
   * ICMP fragmentation needed about a segment this connection sent (RFC 1191), judged by
   * icmp-feedback.ts. Returns whether the quoted segment was in flight.
   */
  handlePathMtuReduced(quotedSeq: SeqNumber, pathMtu: number): boolean {
    if (this.released || !this.opened) return false;
    const verdict = pathMtuVerdict(this.sender, quotedSeq, pathMtu, this.options, this.counters);
    if (verdict === 'reduced') this.sender.onPathMtuReduced(this.options.smss, this.env.now(), this.currentState);
    return verdict !== 'ignore';
  }

  /**
   * Before the connection opens: the IP layer's path MTU estimate to the peer (RFC 1191 section
   * 6.2: the estimate belongs to the destination, so a new connection starts from what an earlier
   * one learned). The send MSS becomes min(our MSS and the peer's, path MTU - 40).
   */
  limitToKnownPathMtu(pathMtu: number): void {
    this.options.limitToPathMtu(pathMtu);
  }

  /** The path MTU to the peer as this connection knows it (RFC 1191); Infinity while none is known. */
  get pathMtu(): number {
    return this.options.pathMtu;
  }

  private setState(state: TcpState): void {
    this.currentState = state;
  }

  /** RFC 9293 3.3.2: delete the TCB. */
  private deleteTcb(error: NetErrorCode | undefined): void {
    if (this.released) return;
    this.currentState = 'CLOSED';
    this.releaseTcb(undefined, error);
  }

  /**
   * The TCB goes, once (deleted, or handed to TIME-WAIT): every timer is cancelled, the buffers
   * leave the stack's budget (a send buffer kept for a busy stream stayed counted in it for good
   * before) and storage that holds nothing goes back; the stack and the socket are told.
   */
  private releaseTcb(timeWait: TimeWaitState | undefined, error: NetErrorCode | undefined): void {
    this.released = true;
    this.timers.stopAll();
    this.sender.buffer.detachFromBudget();
    this.receiver.buffer.detachFromBudget();
    this.env.release(timeWait);
    this.events.onClosed?.(error);
  }
}
