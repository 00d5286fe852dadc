/**
 * The TCP connection state machine (RFC 9293 section 3.10), with the extensions a modern peer
 * expects: window scaling and timestamps (RFC 7323), SACK (RFC 2018, RFC 6675 duplicate-ACK
 * definition), retransmission timer (RFC 6298), congestion control (RFC 5681, RFC 6582, RFC 6928),
 * and the blind-attack defences of RFC 5961.
 *
 * Numbering. Sequence numbers are converted at the edge into 64-bit-safe stream offsets, so all
 * internal bookkeeping is plain arithmetic and never wraps:
 *   send side:    offset(seq) = seq - (ISS + 1)   (our SYN is offset -1, data byte 0 is offset 0)
 *   receive side: offset(seq) = seq - (IRS + 1)   (their SYN is offset -1)
 * A wire value is turned into an offset relative to a known point with seqDiff (src/tcp/seq.ts),
 * which is where the modulo-2^32 comparison happens; offsets back to wire values use seqAdd.
 *
 * The class is pure: time comes from env.now(), timers are deadlines on env.timers, segments leave
 * through env.transmit. A transmitted segment's payload is a view into the send buffer that is
 * valid only during the transmit call: the codec copies it into the packet.
 */
import type { Counters } from '../counters.js';
import { NetError, type NetErrorCode } from '../errors.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import { NewRenoCongestionControl } from './congestion.js';
import { ReceiveBuffer, type ByteRange } from './receive-buffer.js';
import { RttEstimator } from './rtt.js';
import {
  TCP_ACK,
  TCP_DEFAULT_MSS,
  TCP_FIN,
  TCP_MAX_SACK_BLOCKS,
  TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS,
  TCP_MAX_WINDOW_FIELD,
  TCP_MAX_WINDOW_SHIFT,
  TCP_PSH,
  TCP_RST,
  TCP_SACK_BLOCK_BYTES,
  TCP_SACK_OPTION_OVERHEAD,
  TCP_SYN,
  TCP_TIMESTAMP_OPTION_BYTES,
  type SackBlock,
  type TcpOptions,
  type TcpSegment,
} from '../wire/tcp.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqDiff, seqGe, seqLt, type SeqNumber } from './seq.js';
import type { TcpConfig, TcpConnectionEvents, TcpEnvironment, TcpFourTuple, TcpState } from './types.js';

/** Smallest peer MSS we honour, so a hostile option cannot make us send 1-byte segments. */
const MIN_PEER_MSS = 64;
/** RFC 5961 section 7 asks for a rate limit on challenge ACKs; this many per second per connection. */
const CHALLENGE_ACK_LIMIT_PER_SECOND = 10;
/** RFC 7323 5.5: TS.Recent older than 24 days is no longer a valid PAWS reference. */
const PAWS_IDLE_LIMIT_MS = 24 * 24 * 60 * 60 * 1000;
/** RFC 1122 4.2.3.6: keepalive idle time defaults to no less than two hours. */
const DEFAULT_KEEPALIVE_IDLE_MS = 2 * 60 * 60 * 1000;
/** Interval between unanswered keepalive probes and how many are sent (Linux: 75 s, 9). */
const KEEPALIVE_INTERVAL_MS = 75_000;
const KEEPALIVE_PROBES = 9;
const EMPTY = new Uint8Array(0);

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

/**
 * One deadline of the connection on the shared DeadlineQueue. Moving the deadline later (the
 * retransmission timer on every ACK) does not touch the heap: the queued entry fires, sees the
 * deadline moved, and re-queues itself once.
 */
class ConnectionTimer {
  private handle: TimerHandle | undefined;
  private scheduledFor = 0;
  private due = Number.POSITIVE_INFINITY;

  constructor(
    private readonly queue: DeadlineQueue,
    private readonly onExpire: (now: number) => void,
  ) {}

  get armed(): boolean {
    return this.due !== Number.POSITIVE_INFINITY;
  }

  get deadline(): number {
    return this.due;
  }

  set(deadline: number): void {
    this.due = deadline;
    if (this.handle !== undefined && this.handle.active && this.scheduledFor <= deadline) return;
    this.handle?.cancel();
    this.schedule(deadline);
  }

  stop(): void {
    this.due = Number.POSITIVE_INFINITY;
    this.handle?.cancel();
    this.handle = undefined;
  }

  private schedule(at: number): void {
    this.scheduledFor = at;
    this.handle = this.queue.schedule(at, this.fire);
  }

  private readonly fire = (now: number): void => {
    this.handle = undefined;
    if (this.due === Number.POSITIVE_INFINITY) return;
    if (now < this.due) {
      this.schedule(this.due);
      return;
    }
    this.due = Number.POSITIVE_INFINITY;
    this.onExpire(now);
  };
}

/** RFC 7323 2.3: the smallest shift that lets the 16-bit field describe the whole buffer. */
function chooseWindowShift(bufferSize: number): number {
  let shift = 0;
  while (shift < TCP_MAX_WINDOW_SHIFT && bufferSize > TCP_MAX_WINDOW_FIELD * 2 ** shift) shift++;
  return shift;
}

export class TcpConnection {
  /** Assigned by the socket layer. */
  events: TcpConnectionEvents = {};

  private currentState: TcpState = 'CLOSED';
  private readonly counters: Counters;
  private readonly sendBuffer: SendBuffer;
  private readonly receiveBuffer: ReceiveBuffer;
  private readonly rtt: RttEstimator;
  private congestion: NewRenoCongestionControl;

  private opened = false;
  private released = false;
  /** The last soft ICMP error (RFC 1122 4.2.3.9), reported if the connection times out. */
  private softError: NetErrorCode | undefined;
  /** The peer's SYN was seen and options were negotiated. */
  private synNegotiated = false;
  private passiveOpen = false;

  // --- Send sequence variables (RFC 9293 3.3.1), as send offsets.
  private sndUna = -1;
  private sndNxt = -1;
  /** Highest offset ever sent: ACKs up to here are for data we did send (SND.NXT before go-back). */
  private sndMax = -1;
  /** End of the last zero-window probe byte beyond sndMax (RFC 9293 3.8.6.1), if any. */
  private probeEnd = -1;
  private sndWnd = 0;
  /** RFC 5961 5.2 MAX.SND.WND, also the "maximum window" of sender SWS avoidance. */
  private maxSndWnd = 0;
  /** SND.WL1 (receive offset) and SND.WL2 (send offset). */
  private sndWl1 = -1;
  private sndWl2 = -1;
  private finRequested = false;
  /** Send offset the FIN occupies (= data length) once requested. */
  private finOffset = -1;

  // --- Receive sequence variables, as receive offsets.
  private irs: SeqNumber = 0;
  private rcvNxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then); never moves left. */
  private rcvAdvRight = 0;
  private finReceived = false;
  /** Receive offset of a FIN seen beyond a hole, processed once the hole fills. */
  private peerFinOffset = -1;
  /** close() was called: the application will not read again. */
  private readClosed = false;

  // --- Negotiated options.
  private peerMss = TCP_DEFAULT_MSS;
  /** min(peer MSS, our MSS): the segment size before options (RFC 9293 3.7.1). */
  private mssBase = TCP_DEFAULT_MSS;
  /** SMSS: payload bytes per full segment after the fixed options (timestamps). */
  private smss = TCP_DEFAULT_MSS;
  private windowScaling = false;
  private sndShift = 0;
  private rcvShift = 0;
  private timestamps = false;
  private sackPermitted = false;
  private tsRecent = 0;
  private tsRecentTime = 0;
  private tsRecentValid = false;
  /** Last.ACK.sent of RFC 7323 4.3, a receive offset. */
  private lastAckSent = 0;

  // --- Acknowledgment policy.
  private ackNow = false;
  private ackOwed = false;
  private bytesSinceAck = 0;
  /** Largest segment payload received: what counts as "full-sized" (RFC 1122 4.2.3.2). */
  private receiveMss = TCP_DEFAULT_MSS;
  private challengeWindowStart = Number.NEGATIVE_INFINITY;
  private challengeAcksInWindow = 0;

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
  /** RFC 6675 HighRxt: end of the highest segment retransmitted in the current recovery. */
  private highRetransmitted = -1;
  /** SACK scoreboard (RFC 6675 section 3): send-offset ranges above SND.UNA the peer holds. */
  private sacked: ByteRange[] = [];

  // --- Misc.
  private noDelay = false;
  private keepAliveEnabled = false;
  private keepAliveIdle = DEFAULT_KEEPALIVE_IDLE_MS;
  private keepAliveProbes = 0;
  private lastReceiveTime = 0;

  private retransmissionCount = 0;
  private bytesSentTotal = 0;
  private bytesReceivedTotal = 0;

  private pendingEstablished = false;
  private pendingReadable = false;
  private pendingWritable = false;

  private readonly rtoTimer: ConnectionTimer;
  private readonly delayedAckTimer: ConnectionTimer;
  private readonly persistTimer: ConnectionTimer;
  private readonly keepAliveTimer: ConnectionTimer;
  /** TIME-WAIT's 2*MSL, or the FIN-WAIT-2 limit of a closed connection. */
  private readonly closeTimer: ConnectionTimer;

  constructor(
    readonly tuple: TcpFourTuple,
    private readonly iss: number,
    private readonly config: TcpConfig,
    private readonly env: TcpEnvironment,
  ) {
    if (!Number.isInteger(iss) || iss < 0 || iss > 0xffffffff) throw new NetError('EINVAL', `bad initial sequence number ${iss}`);
    this.counters = env.counters;
    this.sendBuffer = new SendBuffer(config.sendBufferSize);
    this.receiveBuffer = new ReceiveBuffer(config.receiveBufferSize, config.outOfOrderLimit);
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    this.congestion = new NewRenoCongestionControl(TCP_DEFAULT_MSS);
    this.receiveMss = Math.min(config.mss, TCP_DEFAULT_MSS);
    const timers = env.timers;
    this.rtoTimer = new ConnectionTimer(timers, (now) => this.onRetransmissionTimeout(now));
    this.delayedAckTimer = new ConnectionTimer(timers, () => this.onDelayedAckTimeout());
    this.persistTimer = new ConnectionTimer(timers, (now) => this.onPersistTimeout(now));
    this.keepAliveTimer = new ConnectionTimer(timers, (now) => this.onKeepAliveTimeout(now));
    this.closeTimer = new ConnectionTimer(timers, () => this.deleteTcb(undefined));
  }

  // ====================================================================================
  // Public interface
  // ====================================================================================

  get state(): TcpState {
    return this.currentState;
  }

  get readableLength(): number {
    return this.receiveBuffer.readableLength;
  }

  get receivedFin(): boolean {
    return this.finReceived;
  }

  get writableLength(): number {
    return this.sendBuffer.length;
  }

  /** Free space in the send buffer: how much write() would accept now. */
  get writableSpace(): number {
    return this.sendBuffer.freeSpace;
  }

  /** The peer's MSS option (536 when absent) and the payload size of a full segment we send. */
  get maxSegmentSize(): { peer: number; send: number } {
    return { peer: this.peerMss, send: this.smss };
  }

  /** RFC 9293 3.10.1 OPEN, active: CLOSED -> SYN-SENT. */
  openActive(): void {
    if (this.opened) throw new NetError('EINVAL', 'connection already opened');
    this.opened = true;
    this.rcvShift = this.config.windowScaling ? chooseWindowShift(this.config.receiveBufferSize) : 0;
    this.setState('SYN-SENT');
    this.lastReceiveTime = this.env.now();
    this.sendSyn(false);
    this.sndUna = -1;
    this.sndNxt = 0;
    this.sndMax = 0;
    this.startRttTiming(0);
    this.rtoTimer.set(this.env.now() + this.rtt.rto);
  }

  /** RFC 9293 3.10.7.2 (LISTEN state, SYN arrives): the stack matched a listener; answer SYN-ACK. */
  acceptSyn(syn: TcpSegment): void {
    if (this.opened) throw new NetError('EINVAL', 'connection already opened');
    if ((syn.flags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) throw new NetError('EINVAL', 'acceptSyn needs a SYN without ACK or RST');
    this.opened = true;
    this.passiveOpen = true;
    this.lastReceiveTime = this.env.now();
    this.irs = syn.seq;
    this.rcvNxt = 0;
    this.negotiate(syn);
    // RFC 7323 2.2: the window in a SYN is never scaled.
    this.sndWnd = syn.window;
    this.maxSndWnd = syn.window;
    this.sndWl1 = -1;
    this.sndWl2 = -1;
    this.setState('SYN-RECEIVED');
    this.sendSyn(true);
    this.sndNxt = 0;
    this.sndMax = 0;
    this.startRttTiming(0);
    this.rtoTimer.set(this.env.now() + this.rtt.rto);
  }

  /** RFC 9293 3.10.7 SEGMENT ARRIVES, for every state after the first SYN. */
  handleSegment(segment: TcpSegment): void {
    switch (this.currentState) {
      case 'CLOSED':
      case 'LISTEN':
        // The stack answers segments for unknown connections; a released TCB ignores stragglers.
        this.counters.drop('closed');
        return;
      case 'SYN-SENT':
        this.segmentInSynSent(segment);
        break;
      default:
        this.segmentInSynchronized(segment);
    }
    if (this.released) return;
    this.flushAfterInput();
    this.emitEvents();
  }

  /** RFC 9293 3.10.2 SEND. Returns the number of bytes taken into the send buffer. */
  write(data: Uint8Array): number {
    if (!this.opened) throw new NetError('ENOTCONN', 'connection not opened');
    if (this.currentState === 'CLOSED') throw new NetError('EPIPE', 'connection is closed');
    if (this.finRequested) throw new NetError('EPIPE', 'connection was shut down for writing');
    const n = this.sendBuffer.write(data);
    if (n > 0) this.output();
    return n;
  }

  /** RFC 9293 3.10.3 RECEIVE. Copies in-order bytes out; may send a window update. */
  read(into: Uint8Array): number {
    const n = this.receiveBuffer.read(into);
    if (n > 0) this.maybeSendWindowUpdate();
    return n;
  }

  /** Half-close (RFC 9293 3.10.4 CLOSE for the sending direction): FIN after the queued data. */
  shutdownWrite(): void {
    if (!this.opened || this.finRequested) return;
    switch (this.currentState) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
        // RFC 9293 3.10.4: queue the FIN until ESTABLISHED is reached.
        this.requestFin();
        return;
      case 'ESTABLISHED':
        this.requestFin();
        this.setState('FIN-WAIT-1');
        this.output();
        return;
      case 'CLOSE-WAIT':
        this.requestFin();
        this.setState('LAST-ACK');
        this.output();
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
    if (!this.opened || this.currentState === 'CLOSED') return;
    this.readClosed = true;
    if (this.currentState === 'SYN-SENT') {
      // RFC 9293 3.10.4, SYN-SENT: delete the TCB; nothing was synchronized, nothing to reset.
      this.deleteTcb(undefined);
      return;
    }
    if (this.receiveBuffer.readableLength > 0) {
      this.counters.add('reset_unread_data');
      this.sendReset();
      this.receiveBuffer.clear();
      this.deleteTcb(undefined);
      return;
    }
    this.shutdownWrite();
    if (this.currentState === 'FIN-WAIT-2') this.armFinWait2Limit();
  }

  /** RFC 9293 3.10.5 ABORT. */
  abort(): void {
    if (!this.opened || this.currentState === 'CLOSED') return;
    switch (this.currentState) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSE-WAIT':
        this.sendReset();
        break;
      default:
        // SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT: delete the TCB without a RST.
        break;
    }
    this.receiveBuffer.clear();
    this.deleteTcb(undefined);
  }

  /** RFC 1122 4.2.3.4: disable (true) or enable (false) the Nagle algorithm. */
  setNoDelay(noDelay: boolean): void {
    this.noDelay = noDelay;
    if (noDelay) this.output();
  }

  /** RFC 1122 4.2.3.6 keepalives: off by default, idle time at least two hours unless given. */
  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.keepAliveEnabled = enable;
    if (idleMs !== undefined && idleMs > 0) this.keepAliveIdle = idleMs;
    this.keepAliveProbes = 0;
    if (enable && this.isSynchronized()) this.keepAliveTimer.set(this.lastReceiveTime + this.keepAliveIdle);
    else this.keepAliveTimer.stop();
  }

  stats(): TcpConnectionStats {
    return {
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      cwnd: this.congestion.cwnd,
      ssthresh: this.congestion.ssthresh,
      retransmissions: this.retransmissionCount,
      bytesSent: this.bytesSentTotal,
      bytesReceived: this.bytesReceivedTotal,
      state: this.currentState,
    };
  }

  // ====================================================================================
  // Segment arrival
  // ====================================================================================

  /** RFC 9293 3.10.7.3: SYN-SENT. */
  private segmentInSynSent(seg: TcpSegment): void {
    const flags = seg.flags;
    let ackAcceptable = false;
    if (flags & TCP_ACK) {
      // First: the ACK must acknowledge our SYN: ISS < SEG.ACK <= SND.NXT.
      const ackOff = this.ackOffset(seg.ack);
      if (ackOff <= -1 || ackOff > this.sndMax) {
        this.counters.drop('bad_ack');
        if (!(flags & TCP_RST)) this.sendResetForAck(seg.ack);
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
    this.lastReceiveTime = now;
    this.irs = seg.seq;
    this.rcvNxt = 0;
    this.negotiate(seg);
    // Our SYN offered an unscaled window starting at the peer's ISS + 1 (RFC 7323 2.2).
    this.rcvAdvRight = this.synWindow();
    this.sndWnd = seg.window;
    this.maxSndWnd = Math.max(this.maxSndWnd, seg.window);
    this.sndWl1 = -1;
    if (ackAcceptable) {
      const ackOff = this.ackOffset(seg.ack);
      this.sndWl2 = ackOff;
      this.takeRttSample(seg, ackOff, now);
      this.sndUna = ackOff;
      // RFC 6298 5.2: the SYN is acknowledged and nothing else is outstanding.
      this.rtoTimer.stop();
      this.setState('ESTABLISHED');
      this.onEstablishedReached();
      // RFC 9293 3.10.7.3: "continue processing at the sixth step" for data or FIN in the SYN-ACK.
      const payload = seg.payload;
      const fin = (flags & TCP_FIN) !== 0;
      if (payload.length > 0 || fin) {
        const rightEdge = Math.min(this.rcvAdvRight, this.receiveBuffer.limitOffset);
        const fits = Math.min(payload.length, rightEdge);
        this.processText(0, fits === payload.length ? payload : payload.subarray(0, fits), fin && fits === payload.length);
      }
      this.ackNow = true;
    } else {
      // Simultaneous open (RFC 9293 3.5 figure 7): SYN-RECEIVED, answer SYN-ACK with our ISS.
      this.sndWl2 = -1;
      this.setState('SYN-RECEIVED');
      this.sendSyn(true);
      this.rtoTimer.set(now + this.rtt.rto);
    }
  }

  /** RFC 9293 3.10.7.4: SYN-RECEIVED and every synchronized state. */
  private segmentInSynchronized(seg: TcpSegment): void {
    const now = this.env.now();
    const flags = seg.flags;
    const isRst = (flags & TCP_RST) !== 0;
    const ts = this.timestamps ? seg.options.timestamp : undefined;

    // RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than TS.Recent is an old duplicate.
    if (ts !== undefined && !isRst && this.tsRecentValid && seqLt(ts.value, this.tsRecent)) {
      if (now - this.tsRecentTime > PAWS_IDLE_LIMIT_MS) {
        // RFC 7323 5.5: after 24 idle days TS.Recent is stale; forget it rather than drop.
        this.tsRecentValid = false;
      } else {
        this.counters.drop('paws');
        this.ackNow = true;
        return;
      }
    }

    const originalOffset = this.receiveOffset(seg.seq);
    let segOff = originalOffset;
    let syn = (flags & TCP_SYN) !== 0;
    let fin = (flags & TCP_FIN) !== 0;
    let payload = seg.payload;

    if (syn && segOff === -1 && this.currentState === 'SYN-RECEIVED' && !isRst) {
      if (!(flags & TCP_ACK)) {
        // The peer retransmitted its SYN: our SYN-ACK was lost (RFC 9293 3.10.7.4 first check
        // would ACK it; in SYN-RECEIVED that acknowledgment is our SYN-ACK).
        this.counters.add('syn_retransmitted_by_peer');
        this.sendSyn(true);
        return;
      }
      // Simultaneous open: the peer's SYN-ACK repeats a SYN we already took; its ACK is new.
      syn = false;
      segOff = 0;
    }

    const segLen = payload.length + (syn ? 1 : 0) + (fin ? 1 : 0);
    const rcvWnd = Math.max(0, this.rcvAdvRight - this.rcvNxt);

    if (isRst) {
      this.processReset(segOff, rcvWnd);
      return;
    }

    // First: sequence number check (RFC 9293 3.10.7.4 table).
    let acceptable: boolean;
    const windowEnd = this.rcvNxt + rcvWnd;
    if (segLen === 0) {
      acceptable = rcvWnd === 0 ? segOff === this.rcvNxt : segOff >= this.rcvNxt && segOff < windowEnd;
    } else if (rcvWnd === 0) {
      acceptable = false;
    } else {
      const last = segOff + segLen - 1;
      acceptable = (segOff >= this.rcvNxt && segOff < windowEnd) || (last >= this.rcvNxt && last < windowEnd);
    }
    if (!acceptable) {
      if (rcvWnd === 0 && segOff === this.rcvNxt && !syn) {
        // RFC 9293 3.10.7.4: with a zero window, still process valid ACKs; the text is dropped
        // (this is the answer to a zero-window probe).
        this.counters.drop('zero_window');
        payload = EMPTY;
        fin = false;
        this.ackNow = true;
      } else if (this.currentState === 'TIME-WAIT' && fin && segOff + segLen === this.rcvNxt) {
        // RFC 9293 3.10.7.4 eighth, TIME-WAIT: a retransmitted FIN: acknowledge it, restart 2 MSL.
        this.counters.add('time_wait_fin_reacked');
        this.ackNow = true;
        this.closeTimer.set(now + 2 * this.config.msl);
        return;
      } else {
        this.counters.drop('out_of_window');
        this.ackNow = true;
        return;
      }
    }

    this.lastReceiveTime = now;
    this.keepAliveProbes = 0;

    // RFC 7323 4.3 (R3): TS.Recent takes the TSval of a segment covering Last.ACK.sent.
    if (ts !== undefined && (!this.tsRecentValid || seqGe(ts.value, this.tsRecent)) && originalOffset <= this.lastAckSent) {
      this.tsRecent = ts.value;
      this.tsRecentTime = now;
      this.tsRecentValid = true;
    }

    // Trim what lies before RCV.NXT (duplicate) and beyond the window (RFC 9293 3.10.7.4 first).
    if (segOff < this.rcvNxt) {
      let cut = this.rcvNxt - segOff;
      if (syn) {
        syn = false;
        cut--;
      }
      payload = payload.subarray(Math.min(cut, payload.length));
      segOff = this.rcvNxt;
      this.ackNow = true;
    }
    const rightEdge = Math.min(windowEnd, this.receiveBuffer.limitOffset);
    if (segOff + payload.length > rightEdge) {
      payload = payload.subarray(0, Math.max(0, rightEdge - segOff));
      fin = false;
      this.ackNow = true;
      this.counters.add('trimmed_beyond_window');
    } else if (fin && segOff + payload.length >= windowEnd) {
      fin = false;
      this.ackNow = true;
    }

    // Fourth: RFC 5961 4.2: a SYN in a synchronized state draws a challenge ACK, whatever its seq.
    if (syn) {
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
      const ackOff = this.ackOffset(seg.ack);
      if (ackOff > this.sndUna && ackOff <= this.sndMax) {
        this.setState('ESTABLISHED');
        this.onEstablishedReached();
      } else {
        this.counters.drop('bad_ack');
        this.sendResetForAck(seg.ack);
        return;
      }
    }
    if (!this.processAck(seg, originalOffset, payload.length > 0 || fin, now)) return;
    if (this.currentState === 'CLOSED') return;

    // Sixth: URG is not supported (RFC 6093 recommends against its use); the data is delivered inline.
    // Seventh and eighth: text and FIN.
    if (payload.length > 0 || fin) this.processText(segOff, payload, fin);
  }

  /** RFC 9293 3.10.7.4 second check with RFC 5961 section 3.2. */
  private processReset(segOff: number, rcvWnd: number): void {
    if (segOff === this.rcvNxt) {
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
    if (rcvWnd > 0 && segOff > this.rcvNxt && segOff < this.rcvNxt + rcvWnd) {
      // RFC 5961 3.2: in the window but not exact: it may be blind; a challenge ACK lets a
      // genuine peer answer with an exact RST.
      this.counters.drop('rst_in_window');
      this.challengeAck(this.env.now());
      return;
    }
    this.counters.drop('rst_out_of_window');
  }

  /**
   * RFC 9293 3.10.7.4 fifth check for synchronized states, with RFC 5961 5.2. Returns false when
   * the segment is to be dropped.
   */
  private processAck(seg: TcpSegment, segOff: number, carriesText: boolean, now: number): boolean {
    const ackOff = this.ackOffset(seg.ack);
    if (ackOff > Math.max(this.sndMax, this.probeEnd)) {
      // RFC 9293: an ACK for something not yet sent: send an ACK, drop the segment.
      this.counters.drop('ack_unsent');
      this.ackNow = true;
      return false;
    }
    if (ackOff < this.sndUna - this.maxSndWnd) {
      // RFC 5961 5.2: older than anything the peer could legitimately still acknowledge.
      this.counters.drop('ack_too_old');
      this.ackNow = true;
      return false;
    }

    const window = seg.window * 2 ** this.sndShift;
    const previousWindow = this.sndWnd;
    const previousUna = this.sndUna;
    let acked = 0;
    if (ackOff > this.sndUna) {
      acked = ackOff - this.sndUna;
      this.takeRttSample(seg, ackOff, now);
      const freed = this.sendBuffer.releaseTo(Math.min(Math.max(ackOff, 0), this.sendBuffer.endOffset));
      if (freed > 0) this.pendingWritable = true;
      this.sndUna = ackOff;
      if (this.sndNxt < ackOff) this.sndNxt = ackOff;
      if (this.sndMax < ackOff) this.sndMax = ackOff;
      this.consecutiveTimeouts = 0;
      this.dropScoreboardBelow(ackOff);
    }
    // An answer from the peer: the persist machinery (RFC 9293 3.8.6.1) keeps the connection open
    // while probes are acknowledged, and a closed window proves the peer alive too.
    this.unansweredProbes = 0;
    if (window === 0) this.consecutiveTimeouts = 0;

    const newlySacked = this.sackPermitted && seg.options.sackBlocks ? this.updateScoreboard(seg.options.sackBlocks) : 0;

    // RFC 9293 3.10.7.4: update the send window if the segment is newer (SND.WL1/SND.WL2).
    if (this.sndWl1 < segOff || (this.sndWl1 === segOff && this.sndWl2 <= ackOff)) {
      this.sndWnd = window;
      this.sndWl1 = segOff;
      this.sndWl2 = ackOff;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
    }
    if (this.sndWnd > 0 && this.persistTimer.armed) {
      this.persistTimer.stop();
      this.persistBackoff = 0;
    }

    // Congestion control (RFC 5681 3.2, RFC 6582 3.2).
    if (acked > 0) {
      const dataAcked = ackOff - Math.max(previousUna, 0);
      if (previousUna >= 0 && dataAcked > 0 && this.isSynchronized()) {
        const outcome = this.congestion.onNewAck(dataAcked, ackOff, this.sndMax - previousUna, this.sndMax - ackOff);
        if (outcome === 'partial') {
          // RFC 6582 3.2 step 5: retransmit the first unacknowledged segment, unless a SACK-driven
          // retransmission already resent it in this recovery.
          if (this.sndUna >= this.highRetransmitted) this.retransmitHead();
          if (!this.firstPartialAckSeen) {
            // RFC 6582 3.2 step 5: reset the retransmit timer on the first partial ACK only.
            this.firstPartialAckSeen = true;
            this.rtoTimer.set(now + this.rtt.rto);
          }
        } else {
          this.firstPartialAckSeen = false;
        }
      }
      if (this.sndUna >= this.sndMax) {
        // RFC 6298 5.2: everything acknowledged: stop the timer.
        this.rtoTimer.stop();
      } else if (!this.congestion.inFastRecovery || !this.firstPartialAckSeen) {
        // RFC 6298 5.3: new data acknowledged: restart the timer.
        this.rtoTimer.set(now + this.rtt.rto);
      }
    } else if (
      ackOff === this.sndUna &&
      this.sndMax > this.sndUna &&
      this.isSynchronized() &&
      // RFC 5681 section 2 duplicate ACK: no data, no SYN/FIN, same window; or RFC 6675
      // section 2: it SACKs octets not SACKed before.
      ((!carriesText && window === previousWindow) || newlySacked > 0)
    ) {
      const outcome = this.congestion.onDuplicateAck(this.sndUna, this.sndMax, this.sndMax - this.sndUna);
      if (outcome === 'fast-retransmit') {
        this.counters.add('fast_retransmits');
        this.firstPartialAckSeen = false;
        this.highRetransmitted = this.sndUna;
        this.retransmitHead();
      } else if (outcome === 'inflate' && this.sacked.length > 0) {
        const sent = this.retransmitNextLostHole();
        if (sent > 0) this.congestion.spendInflation(sent);
      }
    }

    // State-specific parts of the fifth check.
    const finAcked = this.finRequested && this.sndUna > this.finOffset;
    switch (this.currentState) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.setState('FIN-WAIT-2');
          this.stopSendTimers();
          if (this.readClosed) this.armFinWait2Limit();
        }
        break;
      case 'CLOSING':
        if (finAcked) {
          this.enterTimeWait(now);
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
    if (payload.length > 0) {
      const state = this.currentState;
      if (state === 'ESTABLISHED' || state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2') {
        if (this.readClosed) {
          // RFC 9293 3.10.4 / RFC 2525 2.17: the application closed and will not read: reset.
          this.counters.add('reset_data_after_close');
          this.sendReset();
          this.deleteTcb(undefined);
          return;
        }
        this.deliver(segOff, payload);
      } else {
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN; ignore the text.
        this.counters.drop('data_after_fin');
      }
    }
    if (fin && this.peerFinOffset < 0) this.peerFinOffset = segOff + payload.length;
    if (this.peerFinOffset >= 0 && !this.finReceived && this.rcvNxt === this.peerFinOffset) this.processFin();
  }

  private deliver(segOff: number, payload: Uint8Array): void {
    const buffer = this.receiveBuffer;
    const hadHoles = buffer.hasOutOfOrder;
    const before = buffer.inOrderEnd;
    if (payload.length > this.receiveMss) this.receiveMss = Math.min(payload.length, this.config.mss);
    const status = buffer.insert(segOff, payload);
    switch (status) {
      case 'in-order': {
        const advanced = buffer.inOrderEnd - before;
        this.rcvNxt = buffer.inOrderEnd;
        this.bytesReceivedTotal += advanced;
        this.pendingReadable = true;
        if (hadHoles) {
          // RFC 5681 4.2: a segment that fills (part of) a hole is acknowledged at once.
          this.ackNow = true;
        } else {
          // RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK at least every second full-sized segment.
          this.bytesSinceAck += payload.length;
          if (this.bytesSinceAck >= 2 * this.receiveMss) this.ackNow = true;
          else this.ackOwed = true;
        }
        break;
      }
      case 'out-of-order':
        // RFC 5681 4.2: an out-of-order segment draws an immediate duplicate ACK (with SACK blocks).
        this.counters.add('out_of_order_segments');
        this.ackNow = true;
        break;
      case 'duplicate':
        this.ackNow = true;
        break;
      case 'over-limit':
        this.counters.drop('ooo_limit');
        this.ackNow = true;
        break;
    }
  }

  /** RFC 9293 3.10.7.4 eighth: the peer's FIN, now in sequence. */
  private processFin(): void {
    this.finReceived = true;
    this.rcvNxt += 1;
    this.ackNow = true;
    this.pendingReadable = true;
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
        this.enterTimeWait(this.env.now());
        break;
      default:
        break;
    }
  }

  // ====================================================================================
  // Output
  // ====================================================================================

  /**
   * Send what the windows and the sender-side rules allow (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4,
   * RFC 5681). Also resends from SND.NXT after a timeout pulled it back, skipping SACKed ranges.
   */
  private output(): void {
    const state = this.currentState;
    if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT' && state !== 'FIN-WAIT-1' && state !== 'CLOSING' && state !== 'LAST-ACK') return;
    const buffer = this.sendBuffer;
    const sackBytes = this.outgoingSackOptionBytes();
    const maxPayload = Math.max(1, this.smss - sackBytes);
    for (;;) {
      let off = this.sndNxt;
      if (this.finRequested && off > this.finOffset) break;
      let retransmission = off < this.sndMax;
      if (retransmission && this.sacked.length > 0) {
        off = this.skipSacked(off);
        if (off !== this.sndNxt) {
          this.sndNxt = off;
          if (this.finRequested && off > this.finOffset) break;
          retransmission = off < this.sndMax;
        }
      }
      const dataEnd = buffer.endOffset;
      let len = Math.min(dataEnd - off, maxPayload);
      if (retransmission) len = Math.min(len, this.nextSackedStart(off) - off);
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
    if (this.persistTimer.armed || this.rtoTimer.armed) return;
    if (this.sndUna !== this.sndMax) return;
    if (this.sendBuffer.endOffset <= this.sndNxt) return;
    this.persistTimer.set(this.env.now() + this.persistInterval());
  }

  private persistInterval(): number {
    return Math.min(this.rtt.rto * 2 ** this.persistBackoff, this.config.maxRto);
  }

  /** Send one data (and/or FIN) segment at send offset `off`. */
  private sendData(off: number, len: number, fin: boolean, retransmission: boolean): void {
    const payload = len > 0 ? this.sendBuffer.view(off, len) : EMPTY;
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    if (len > 0 && off + len === this.sendBuffer.endOffset) flags |= TCP_PSH;
    this.transmitWithAck(off, flags, payload);
    if (retransmission) {
      this.retransmissionCount++;
      this.counters.add('retransmissions');
      // Karn's rule (RFC 6298 section 3): a measurement spanning a retransmission is ambiguous.
      if (this.rttTimedEnd !== null && off < this.rttTimedEnd) this.rttTimedEnd = null;
    }
    // Bytes beyond SND.MAX go out for the first time (a resend after a timeout may run past it).
    if (off + len > this.sndMax) this.bytesSentTotal += off + len - Math.max(off, this.sndMax, 0);
    // RFC 6298 5.1: start the timer when sending data if it is not running.
    if (!this.rtoTimer.armed) this.rtoTimer.set(this.env.now() + this.rtt.rto);
  }

  /** Retransmit the segment starting at SND.UNA (fast retransmit, NewReno partial ACK). */
  private retransmitHead(): void {
    const off = this.sndUna;
    if (off < 0) return;
    const dataEnd = Math.min(this.sendBuffer.endOffset, this.sndMax);
    let len = Math.min(dataEnd - off, this.smss - this.outgoingSackOptionBytes(), this.nextSackedStart(off) - off);
    if (len < 0) len = 0;
    const fin = this.finRequested && this.sndMax > this.finOffset && off + len === this.finOffset;
    if (len === 0 && !fin) return;
    this.sendData(off, len, fin, true);
    this.highRetransmitted = Math.max(this.highRetransmitted, off + len);
  }

  /**
   * RFC 6675 section 5 NextSeg rule 1, simplified: during recovery, retransmit the first hole above
   * HighRxt that the scoreboard deems lost (IsLost: more than (DupThresh - 1) * SMSS SACKed above
   * it). Returns the payload bytes sent.
   */
  private retransmitNextLostHole(): number {
    const ranges = this.sacked;
    if (ranges.length === 0) return 0;
    const off = this.skipSacked(Math.max(this.sndUna, this.highRetransmitted));
    const highestSacked = ranges[ranges.length - 1]!.end;
    if (off >= highestSacked) return 0;
    let sackedAbove = 0;
    for (const r of ranges) if (r.end > off) sackedAbove += r.end - Math.max(r.start, off);
    if (sackedAbove <= 2 * this.smss) return 0;
    const len = Math.min(
      this.smss - this.outgoingSackOptionBytes(),
      this.nextSackedStart(off) - off,
      Math.min(this.sendBuffer.endOffset, this.sndMax) - off,
    );
    if (len <= 0) return 0;
    this.sendData(off, len, false, true);
    this.highRetransmitted = off + len;
    return len;
  }

  /**
   * A pure ACK carries SND.MAX, not SND.NXT: after a timeout pulled SND.NXT back, the peer may
   * already hold those bytes, and an ACK with an old sequence number would be unacceptable to it
   * (RFC 9293 3.10.7.4), leaving both sides unable to hear each other (BSD does the same).
   */
  private sendAck(): void {
    this.transmitWithAck(Math.max(this.sndMax, 0), TCP_ACK, EMPTY);
  }

  /** Build and send a segment carrying ACK: options, window, SACK; clears the owed ACK. */
  private transmitWithAck(off: number, flags: number, payload: Uint8Array): void {
    const options: TcpOptions = {};
    if (this.timestamps) options.timestamp = { value: this.timestampNow(), echo: this.tsRecent };
    if (this.sackPermitted && this.receiveBuffer.hasOutOfOrder) options.sackBlocks = this.outgoingSackBlocks();
    const window = this.windowField();
    this.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.sendSeq(off),
      ack: this.receiveSeq(this.rcvNxt),
      flags,
      window,
      urgentPointer: 0,
      options,
      payload,
    });
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.ackOwed = false;
    this.bytesSinceAck = 0;
    if (this.delayedAckTimer.armed) this.delayedAckTimer.stop();
  }

  /** SYN (active open) or SYN-ACK (passive or simultaneous open), always at ISS. */
  private sendSyn(withAck: boolean): void {
    const options: TcpOptions = { mss: this.config.mss };
    // The first SYN offers what the configuration allows; a SYN-ACK only what the peer offered
    // too (RFC 7323 2.2 and 3.2, RFC 2018 section 2).
    const offering = !withAck && this.currentState === 'SYN-SENT' && !this.synNegotiated;
    if (offering ? this.config.windowScaling : this.windowScaling) options.windowScale = this.rcvShift;
    if (offering ? this.config.sack : this.sackPermitted) options.sackPermitted = true;
    if (offering ? this.config.timestamps : this.timestamps) {
      options.timestamp = { value: this.timestampNow(), echo: withAck ? this.tsRecent : 0 };
    }
    const flags = withAck ? TCP_SYN | TCP_ACK : TCP_SYN;
    this.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.iss,
      ack: withAck ? this.receiveSeq(this.rcvNxt) : 0,
      flags,
      // RFC 7323 2.2: the window field of a SYN is not scaled.
      window: this.synWindow(),
      urgentPointer: 0,
      options,
      payload: EMPTY,
    });
    if (withAck) {
      this.lastAckSent = this.rcvNxt;
      this.rcvAdvRight = Math.max(this.rcvAdvRight, this.rcvNxt + this.synWindow());
    }
  }

  /** RST for an abort or protocol failure: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>. */
  private sendReset(): void {
    this.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: this.sendSeq(Math.max(this.sndMax, 0)),
      ack: this.receiveSeq(this.rcvNxt),
      flags: TCP_RST | TCP_ACK,
      window: 0,
      urgentPointer: 0,
      options: {},
      payload: EMPTY,
    });
  }

  /** RST answering an unacceptable ACK: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 3.10.7.3, 3.10.7.4). */
  private sendResetForAck(ack: SeqNumber): void {
    this.transmit({
      sourcePort: this.tuple.localPort,
      destinationPort: this.tuple.remotePort,
      seq: ack,
      ack: 0,
      flags: TCP_RST,
      window: 0,
      urgentPointer: 0,
      options: {},
      payload: EMPTY,
    });
  }

  private transmit(segment: TcpSegment): void {
    this.env.transmit(segment);
  }

  /** RFC 5961 section 7: rate-limited challenge ACK. */
  private challengeAck(now: number): void {
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeAcksInWindow = 0;
    }
    if (this.challengeAcksInWindow >= CHALLENGE_ACK_LIMIT_PER_SECOND) {
      this.counters.add('challenge_acks_suppressed');
      return;
    }
    this.challengeAcksInWindow++;
    this.counters.add('challenge_acks');
    this.sendAck();
  }

  /** After a segment was processed: send data (piggybacking the ACK), else the ACK, else delay it. */
  private flushAfterInput(): void {
    this.output();
    if (this.currentState === 'CLOSED') return;
    if (this.ackNow) {
      this.sendAck();
    } else if (this.ackOwed && !this.delayedAckTimer.armed) {
      // RFC 1122 4.2.3.2 / RFC 9293 3.8.6.3: delay the ACK, but not beyond delayedAckTimeout.
      this.delayedAckTimer.set(this.env.now() + this.config.delayedAckTimeout);
    }
  }

  private emitEvents(): void {
    if (this.pendingEstablished) {
      this.pendingEstablished = false;
      this.events.onEstablished?.();
      if (this.currentState === 'CLOSED') return;
    }
    if (this.pendingWritable) {
      this.pendingWritable = false;
      this.events.onWritable?.();
      if (this.currentState === 'CLOSED') return;
    }
    if (this.pendingReadable) {
      this.pendingReadable = false;
      this.events.onReadable?.();
    }
  }

  // ====================================================================================
  // Receive window
  // ====================================================================================

  /** Window offered in our SYN or SYN-ACK (unscaled, RFC 7323 2.2). */
  private synWindow(): number {
    return Math.min(this.config.receiveBufferSize, TCP_MAX_WINDOW_FIELD);
  }

  /**
   * The window field of an outgoing non-SYN segment. The offer is the free buffer space (RFC 9293
   * 3.8.6.2.2), but it only grows by at least min(buffer/2, MSS) at a time (receiver SWS avoidance,
   * RFC 1122 4.2.3.3), and its right edge never moves left (RFC 9293 3.8.6.2.2, RFC 1122 4.2.2.16).
   */
  private windowField(): number {
    const granule = 2 ** this.rcvShift;
    const remaining = Math.max(0, this.rcvAdvRight - this.rcvNxt);
    const free = this.receiveBuffer.freeSpace;
    let offer = remaining;
    if (free >= remaining + this.windowUpdateThreshold()) offer = Math.floor(free / granule) * granule;
    if (offer < remaining) offer = remaining;
    const field = Math.min(Math.ceil(offer / granule), TCP_MAX_WINDOW_FIELD);
    this.rcvAdvRight = Math.max(this.rcvAdvRight, this.rcvNxt + field * granule);
    return field;
  }

  private windowUpdateThreshold(): number {
    return Math.min(Math.floor(this.config.receiveBufferSize / 2), this.mssBase);
  }

  /**
   * After read(): RFC 1122 4.2.3.3: tell the peer once the window can grow by min(buffer/2, MSS),
   * but (like Linux's cleanup_rbuf) only when the window it knows is below half the buffer: a
   * sender with a large window is not waiting for us and will get the update on the next ACK.
   */
  private maybeSendWindowUpdate(): void {
    const state = this.currentState;
    if (state !== 'ESTABLISHED' && state !== 'FIN-WAIT-1' && state !== 'FIN-WAIT-2') return;
    if (this.finReceived) return;
    const remaining = Math.max(0, this.rcvAdvRight - this.rcvNxt);
    if (remaining >= this.config.receiveBufferSize / 2) return;
    if (this.receiveBuffer.freeSpace < remaining + this.windowUpdateThreshold()) return;
    this.counters.add('window_updates');
    this.sendAck();
  }

  // ====================================================================================
  // SACK
  // ====================================================================================

  private outgoingSackBlocks(): SackBlock[] {
    const max = this.timestamps ? TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS : TCP_MAX_SACK_BLOCKS;
    return this.receiveBuffer.sackRanges(max).map((r) => ({ left: this.receiveSeq(r.start), right: this.receiveSeq(r.end) }));
  }

  private outgoingSackOptionBytes(): number {
    if (!this.sackPermitted || !this.receiveBuffer.hasOutOfOrder) return 0;
    const max = this.timestamps ? TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS : TCP_MAX_SACK_BLOCKS;
    const blocks = Math.min(max, this.receiveBuffer.outOfOrderRangeCount);
    return TCP_SACK_OPTION_OVERHEAD + TCP_SACK_BLOCK_BYTES * blocks;
  }

  /** Merge the peer's SACK blocks into the scoreboard; returns bytes SACKed for the first time. */
  private updateScoreboard(blocks: SackBlock[]): number {
    let added = 0;
    for (const block of blocks) {
      const left = this.ackOffset(block.left);
      const right = this.ackOffset(block.right);
      // RFC 2018 section 4 / RFC 6675: only blocks above SND.UNA and within what was sent count
      // (D-SACK blocks below SND.UNA, RFC 2883, are ignored).
      if (!(left > this.sndUna && right > left && right <= this.sndMax)) continue;
      added += this.addSacked(left, right);
    }
    return added;
  }

  private addSacked(start: number, end: number): number {
    const ranges = this.sacked;
    let i = 0;
    while (i < ranges.length && ranges[i]!.end < start) i++;
    let j = i;
    let overlap = 0;
    let mergedStart = start;
    let mergedEnd = end;
    while (j < ranges.length && ranges[j]!.start <= end) {
      const r = ranges[j]!;
      overlap += Math.max(0, Math.min(r.end, end) - Math.max(r.start, start));
      if (r.start < mergedStart) mergedStart = r.start;
      if (r.end > mergedEnd) mergedEnd = r.end;
      j++;
    }
    ranges.splice(i, j - i, { start: mergedStart, end: mergedEnd });
    return end - start - overlap;
  }

  private dropScoreboardBelow(una: number): void {
    const ranges = this.sacked;
    if (ranges.length === 0) return;
    let i = 0;
    while (i < ranges.length && ranges[i]!.end <= una) i++;
    if (i > 0) ranges.splice(0, i);
    if (ranges.length > 0 && ranges[0]!.start < una) ranges[0]!.start = una;
  }

  private skipSacked(off: number): number {
    for (const r of this.sacked) {
      if (r.end <= off) continue;
      if (r.start <= off) return r.end;
      break;
    }
    return off;
  }

  private nextSackedStart(off: number): number {
    for (const r of this.sacked) {
      if (r.start > off) return r.start;
    }
    return Number.POSITIVE_INFINITY;
  }

  // ====================================================================================
  // Timers
  // ====================================================================================

  /** RFC 6298 5.4-5.7 (and RFC 9293 3.8.1 for SYN): the retransmission timer expired. */
  private onRetransmissionTimeout(now: number): void {
    const state = this.currentState;
    if (state === 'SYN-SENT' || state === 'SYN-RECEIVED') {
      this.counters.add('timeouts');
      this.synRetransmissions++;
      if (this.synRetransmissions > this.config.maxSynRetransmissions) {
        this.deleteTcb(this.softError ?? 'ETIMEDOUT');
        return;
      }
      this.synLost = true;
      this.rtt.backoff();
      this.rttTimedEnd = null;
      this.retransmissionCount++;
      this.counters.add('retransmissions');
      this.sendSyn(state === 'SYN-RECEIVED');
      this.rtoTimer.set(now + this.rtt.rto);
      return;
    }
    if (this.sndUna >= this.sndMax) return;
    this.counters.add('timeouts');
    this.consecutiveTimeouts++;
    if (this.consecutiveTimeouts > this.config.maxRetransmissions) {
      this.sendReset();
      this.deleteTcb(this.softError ?? 'ETIMEDOUT');
      return;
    }
    // RFC 5681 3.1 / RFC 6582 3.2 step 4: collapse cwnd, remember "recover".
    this.congestion.onRetransmissionTimeout(this.sndMax - this.sndUna, this.sndMax);
    this.firstPartialAckSeen = false;
    this.highRetransmitted = -1;
    // RFC 6298 5.5: back off.
    this.rtt.backoff();
    this.rttTimedEnd = null;
    // RFC 2018 section 8: after a timeout the receiver may have reneged: forget the SACKed bits.
    this.sacked = [];
    // RFC 6298 5.4: retransmit the earliest unacknowledged segment; go back to SND.UNA so the rest
    // follows as the window reopens.
    this.sndNxt = this.sndUna;
    if (this.sndWnd === 0 && this.sendBuffer.endOffset > this.sndUna && this.sndUna >= 0) {
      // RFC 9293 3.8.6.1: the peer's window is closed: retransmit a single byte as a probe.
      this.sendData(this.sndUna, 1, false, true);
    } else {
      const before = this.retransmissionCount;
      this.output();
      if (this.retransmissionCount === before) this.retransmitHead();
    }
    // RFC 6298 5.6: restart the timer with the backed-off RTO.
    this.rtoTimer.set(now + this.rtt.rto);
  }

  private onDelayedAckTimeout(): void {
    if (this.ackOwed || this.ackNow) this.sendAck();
  }

  /** RFC 9293 3.8.6.1: zero-window probe (or, for a small window, the SWS override). */
  private onPersistTimeout(now: number): void {
    const state = this.currentState;
    if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT' && state !== 'FIN-WAIT-1' && state !== 'CLOSING' && state !== 'LAST-ACK') return;
    if (this.sndUna !== this.sndMax || this.sendBuffer.endOffset <= this.sndNxt) return;
    this.unansweredProbes++;
    if (this.unansweredProbes > this.config.maxRetransmissions) {
      this.sendReset();
      this.deleteTcb('ETIMEDOUT');
      return;
    }
    const off = this.sndNxt;
    if (this.sndWnd === 0) {
      // One byte of new data beyond the window; SND.NXT stays, so the byte is sent again normally
      // once the window opens, and an ACK covering it is accepted through probeEnd.
      this.counters.add('window_probes');
      this.transmitWithAck(off, TCP_ACK, this.sendBuffer.view(off, 1));
      this.probeEnd = Math.max(this.probeEnd, off + 1);
    } else {
      // RFC 1122 4.2.3.4: the override timeout: send what the small window allows.
      const len = Math.min(this.sendBuffer.endOffset - off, this.smss, Math.max(1, this.sndWnd - (off - this.sndUna)));
      this.sendData(off, len, false, false);
      this.sndNxt = off + len;
      if (this.sndNxt > this.sndMax) this.sndMax = this.sndNxt;
      this.persistBackoff = 0;
      return;
    }
    this.persistBackoff++;
    this.persistTimer.set(now + this.persistInterval());
  }

  /** RFC 1122 4.2.3.6: keepalive. */
  private onKeepAliveTimeout(now: number): void {
    if (!this.keepAliveEnabled) return;
    const state = this.currentState;
    if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT' && state !== 'FIN-WAIT-2') return;
    if (this.keepAliveProbes === 0 && now < this.lastReceiveTime + this.keepAliveIdle) {
      this.keepAliveTimer.set(this.lastReceiveTime + this.keepAliveIdle);
      return;
    }
    if (this.sndUna < this.sndMax || this.sendBuffer.endOffset > this.sndNxt) {
      // Data is in flight or waiting: the retransmission and persist timers judge the peer.
      this.keepAliveProbes = 0;
      this.keepAliveTimer.set(now + this.keepAliveIdle);
      return;
    }
    if (this.keepAliveProbes >= KEEPALIVE_PROBES) {
      this.sendReset();
      this.deleteTcb('ETIMEDOUT');
      return;
    }
    // RFC 1122 4.2.3.6: SEG.SEQ = SND.NXT - 1 with no data: the peer must answer with an ACK.
    this.keepAliveProbes++;
    this.counters.add('keepalive_probes');
    this.transmitWithAck(this.sndUna - 1, TCP_ACK, EMPTY);
    this.keepAliveTimer.set(now + Math.min(KEEPALIVE_INTERVAL_MS, this.keepAliveIdle));
  }

  private enterTimeWait(now: number): void {
    this.setState('TIME-WAIT');
    this.stopSendTimers();
    this.keepAliveTimer.stop();
    // RFC 9293 3.10.7.4: TIME-WAIT lasts 2 MSL (3.4.2).
    this.closeTimer.set(now + 2 * this.config.msl);
  }

  /** A closed connection must not sit in FIN-WAIT-2 forever waiting for a silent peer (Linux tcp_fin_timeout). */
  private armFinWait2Limit(): void {
    this.closeTimer.set(this.env.now() + 2 * this.config.msl);
  }

  private stopSendTimers(): void {
    this.rtoTimer.stop();
    this.persistTimer.stop();
  }

  // ====================================================================================
  // Helpers
  // ====================================================================================

  /** Options from the peer's SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2-3, RFC 2018 2). */
  private negotiate(syn: TcpSegment): void {
    const o = syn.options;
    this.synNegotiated = true;
    this.peerMss = o.mss !== undefined ? Math.max(o.mss, MIN_PEER_MSS) : TCP_DEFAULT_MSS;
    this.windowScaling = this.config.windowScaling && o.windowScale !== undefined;
    if (this.windowScaling) {
      // RFC 7323 2.3: shifts above 14 are treated as 14.
      this.sndShift = Math.min(o.windowScale!, TCP_MAX_WINDOW_SHIFT);
      this.rcvShift = chooseWindowShift(this.config.receiveBufferSize);
    } else {
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.timestamps = this.config.timestamps && o.timestamp !== undefined;
    if (this.timestamps) {
      this.tsRecent = o.timestamp!.value;
      this.tsRecentTime = this.env.now();
      this.tsRecentValid = true;
    }
    this.sackPermitted = this.config.sack && o.sackPermitted === true;
    this.mssBase = Math.min(this.peerMss, this.config.mss);
    // Linux-like: the timestamp option comes out of every segment's payload.
    this.smss = Math.max(1, this.mssBase - (this.timestamps ? TCP_TIMESTAMP_OPTION_BYTES : 0));
  }

  private onEstablishedReached(): void {
    this.congestion = new NewRenoCongestionControl(this.smss, this.synLost);
    if (this.synLost) this.rtt.resetAfterSynTimeout();
    this.pendingEstablished = true;
    if (this.keepAliveEnabled) this.keepAliveTimer.set(this.lastReceiveTime + this.keepAliveIdle);
    if (this.finRequested) {
      // A shutdown queued in SYN-SENT / SYN-RECEIVED takes effect now (RFC 9293 3.10.4).
      this.setState('FIN-WAIT-1');
    }
  }

  private requestFin(): void {
    this.finRequested = true;
    this.finOffset = this.sendBuffer.endOffset;
  }

  private startRttTiming(endOffset: number): void {
    if (this.timestamps || this.rttTimedEnd !== null) return;
    this.rttTimedEnd = endOffset;
    this.rttTimedStart = this.env.now();
  }

  /** One RTT measurement from an ACK that advances SND.UNA to `ackOff`. */
  private takeRttSample(seg: TcpSegment, ackOff: number, now: number): void {
    const ts = seg.options.timestamp;
    // A zero TSecr is treated as "no echo" (as Linux does): some stacks send it in SYN-ACKs.
    if (this.timestamps && ts !== undefined && ts.echo !== 0) {
      // RFC 7323 4.1: RTT = now - TSecr; timestamps tell retransmissions apart, so Karn's rule
      // is not needed.
      const rtt = (this.timestampNow() - ts.echo) >>> 0;
      if (rtt < 0x7fffffff) this.rtt.sample(rtt);
      this.rttTimedEnd = null;
      return;
    }
    if (this.rttTimedEnd !== null && ackOff >= this.rttTimedEnd) {
      this.rtt.sample(now - this.rttTimedStart);
      this.rttTimedEnd = null;
    }
  }

  /** RFC 7323 4.1: TSval from a millisecond clock, modulo 2^32. */
  private timestampNow(): number {
    return Math.floor(this.env.now()) >>> 0;
  }

  private sendSeq(off: number): SeqNumber {
    return seqAdd(this.iss, off + 1);
  }

  private receiveSeq(off: number): SeqNumber {
    return seqAdd(this.irs, off + 1);
  }

  /** Send offset of an acknowledgment number, relative to SND.UNA. */
  private ackOffset(ack: SeqNumber): number {
    return this.sndUna + seqDiff(ack, this.sendSeq(this.sndUna));
  }

  /** Receive offset of a sequence number, relative to RCV.NXT. */
  private receiveOffset(seq: SeqNumber): number {
    return this.rcvNxt + seqDiff(seq, this.receiveSeq(this.rcvNxt));
  }

  private isSynchronized(): boolean {
    const s = this.currentState;
    return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECEIVED';
  }

  /**
   * An ICMP error about a segment this connection sent (RFC 1122 4.2.3.9, RFC 5927). The quoted
   * sequence number must lie in [SND.UNA, SND.MAX], which makes forging one as hard as forging
   * an in-window RST (RFC 5927 4.1). Hard errors (protocol or port unreachable) abort a
   * connection that is still opening, as Linux does for connect(); everything else, and every
   * error once synchronized, is soft (RFC 5461): remembered, and reported instead of ETIMEDOUT
   * if the connection later times out.
   */
  handleIcmpError(quotedSeq: SeqNumber, error: NetErrorCode, hard: boolean): void {
    if (this.released || !this.opened) return;
    const offset = this.ackOffset(quotedSeq);
    if (offset < this.sndUna || offset > this.sndMax) {
      this.counters.drop('icmp_out_of_window');
      return;
    }
    this.counters.add('icmp_errors');
    const opening = this.currentState === 'SYN-SENT' || this.currentState === 'SYN-RECEIVED';
    if (hard && opening) {
      this.deleteTcb(error);
      return;
    }
    this.softError = error;
  }

  private setState(state: TcpState): void {
    this.currentState = state;
  }

  /** RFC 9293 3.3.2: delete the TCB: cancel every timer, tell the socket and the stack once. */
  private deleteTcb(error: NetErrorCode | undefined): void {
    if (this.released) return;
    this.released = true;
    this.currentState = 'CLOSED';
    this.rtoTimer.stop();
    this.delayedAckTimer.stop();
    this.persistTimer.stop();
    this.keepAliveTimer.stop();
    this.closeTimer.stop();
    this.env.release();
    this.events.onClosed?.(error);
  }
}
