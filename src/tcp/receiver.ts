/**
 * The receive side of a TCP connection: the receive sequence variables (RFC 9293 3.3.1) as
 * receive offsets, segment acceptability and trimming (RFC 9293 3.10.7.4 first check), the
 * reassembly buffer, the window we advertise (RFC 9293 3.8.6.2.2, RFC 1122 4.2.3.3), the
 * acknowledgment policy (RFC 1122 4.2.3.2, RFC 5681 4.2) and the SACK blocks we send (RFC 2018),
 * led by a D-SACK block when the segment just received duplicated data (RFC 2883).
 *
 * Receive offsets: offset(seq) = seq - (IRS + 1), so the peer's SYN is offset -1 and its first
 * data byte offset 0; seqAdd/seqDiff convert at the edge (receiveSeq, receiveOffset).
 */
import type { Counters } from '../counters.js';
import {
  TCP_MAX_SACK_BLOCKS,
  TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS,
  TCP_MAX_WINDOW_FIELD,
  TCP_SACK_BLOCK_BYTES,
  TCP_SACK_OPTION_OVERHEAD,
  TCP_DEFAULT_MSS,
  type SackBlock,
} from '../wire/tcp.js';
import type { BufferMemory } from './byte-ring.js';
import { TimerKind, type ConnectionTimerControl } from './connection-timer.js';
import type { NegotiatedOptions } from './options.js';
import { INITIAL_BUFFER_ALLOCATION, ReceiveBuffer } from './receive-buffer.js';
import type { SegmentOutcome } from './segment-outcome.js';
import { seqAdd, seqDiff, type SeqNumber } from './seq.js';
import type { TcpConfig } from './types.js';

export const EMPTY_PAYLOAD = new Uint8Array(0);

/**
 * The part of an arriving segment that occupies receive sequence space, as a receive offset, and
 * trimmed in place to what the window accepts. The connection reuses one record for every segment.
 */
export class ArrivingText {
  offset = 0;
  payload: Uint8Array = EMPTY_PAYLOAD;
  syn = false;
  fin = false;

  set(offset: number, payload: Uint8Array, syn: boolean, fin: boolean): void {
    this.offset = offset;
    this.payload = payload;
    this.syn = syn;
    this.fin = fin;
  }

  /** SEG.LEN: payload plus one for each of SYN and FIN. */
  get length(): number {
    return this.payload.length + (this.syn ? 1 : 0) + (this.fin ? 1 : 0);
  }
}

/**
 * The receive window a connection starts with, before auto-tuning has seen the application read:
 * what Linux offers first (64 KiB, its initial rcv_wnd bound), or the buffer when smaller.
 */
export const INITIAL_RECEIVE_WINDOW = 64 * 1024;

/** See TcpReceiver.receiveRtt: a window turn this many times longer than the estimate was a pause. */
const RECEIVE_RTT_OUTLIER = 8;

/** In-order segments ACKed at once after a sign of loss (a hole, a duplicate), as Linux's quick-ACK mode. */
const QUICK_ACKS_AFTER_LOSS = 16;

export class TcpReceiver {
  /** Segments still to be ACKed at once after the last sign of loss. */
  private quickAcksLeft = 0;
  readonly buffer: ReceiveBuffer;
  private readonly memory: BufferMemory | undefined;
  /** The fields below are written only by this class. */
  private irs: SeqNumber = 0;
  /** RCV.NXT. */
  rcvNxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then); never moves left. */
  rcvAdvRight = 0;
  /** The peer's FIN was taken in sequence. */
  finReceived = false;
  /** Receive offset of a FIN seen beyond a hole, processed once the hole fills. */
  private peerFinOffset = -1;
  /** Last.ACK.sent of RFC 7323 4.3. */
  lastAckSent = 0;
  /** An ACK is due, but may wait for the delayed-ACK timer. */
  ackOwed = false;
  private bytesSinceAck = 0;
  /** Largest segment payload received: what counts as "full-sized" (RFC 1122 4.2.3.2). */
  private receiveMss: number;
  bytesReceivedTotal = 0;
  /**
   * RFC 2883 section 4: the duplicated run of the latest duplicate segment, as receive offsets
   * [dsackStart, dsackEnd), to lead the SACK option of the next ACK; empty (equal) when none.
   */
  private dsackStart = 0;
  private dsackEnd = 0;
  /**
   * Receive-window auto-tuning (Dynamic Right-Sizing, Linux's tcp_rcv_space_adjust, gVisor's
   * receive buffer moderation): the buffer the window may use now, at most receiveBufferSize. Once
   * per RTT it becomes twice the bytes the application read in that RTT if that is more, so the
   * window keeps ahead of a sender in slow start while an idle or slow reader keeps a small one.
   */
  private windowSpace: number;
  /** Start of the current auto-tuning measurement: time, and the read offset then (-1: none yet). */
  private spaceMeasureTime = 0;
  private spaceMeasureOffset = -1;
  /**
   * The receiver's round trip (Linux's rcv_rtt_est, tcp_rcv_rtt_measure): from a read, when the
   * right edge we last advertised is noted, until the data up to that edge has arrived: one turn of
   * the window, in which the peer learned of it and filled it. It paces auto-tuning when the
   * connection's smoothed RTT says less: a receiver that sends no data has only the handshake's
   * sample, a fraction of a millisecond on a fast path (the timestamp clock's 1 ms tick with
   * timestamps), while a turn of the window takes longer once the peer's data queues behind our
   * own processing (2-3 ms in a 256 MiB upload here). Paced by a shorter time, auto-tuning sees
   * part of a turn's reads and holds the window below what the sender needs (at an SRTT of 0,
   * at twice one read). Smoothed with gain 1/8 as Linux smooths
   * its timestamp-based samples (tcp_rcv_rtt_update): the smallest sample, which Linux keeps for
   * window-based ones, would be a turn of the first, small window, and twice what is read in it
   * keeps the window below what a sender that fills it needs once its round trip lengthens under
   * load (measured here: 97-100% of a 256 MiB upload's time limited by our window). A sample over
   * RECEIVE_RTT_OUTLIER times the estimate spans a pause of the peer (an idle keep-alive
   * connection), not a round trip, and is left out. 0 until measured.
   */
  private receiveRtt = 0;
  /** The measurement in progress: the right edge it waits for (-1: none) and when it started. */
  private receiveRttEdge = -1;
  private receiveRttStart = 0;

  constructor(
    private readonly config: TcpConfig,
    private readonly options: NegotiatedOptions,
    private readonly counters: Counters,
    private readonly timers: ConnectionTimerControl,
    memory?: BufferMemory,
  ) {
    this.buffer = new ReceiveBuffer(config.receiveBufferSize, config.outOfOrderLimit, config.maxOutOfOrderRanges, memory);
    this.memory = memory;
    this.windowSpace = Math.min(config.receiveBufferSize, INITIAL_RECEIVE_WINDOW);
    this.receiveMss = Math.min(config.mss, TCP_DEFAULT_MSS);
  }

  /** The peer's SYN arrived with sequence number `irs`: its first data byte is offset 0. */
  synchronize(irs: SeqNumber): void {
    this.irs = irs;
    this.rcvNxt = 0;
  }

  /** Sequence number of receive offset `off`. */
  receiveSeq(off: number): SeqNumber {
    return seqAdd(this.irs, off + 1);
  }

  /** Receive offset of a sequence number, relative to RCV.NXT. */
  receiveOffset(seq: SeqNumber): number {
    return this.rcvNxt + seqDiff(seq, this.receiveSeq(this.rcvNxt));
  }

  // ====================================================================================
  // Acceptability and trimming (RFC 9293 3.10.7.4 first check)
  // ====================================================================================

  /** RCV.WND as the peer knows it: up to the right edge we last advertised. */
  get window(): number {
    return Math.max(0, this.rcvAdvRight - this.rcvNxt);
  }

  /** The acceptability table of RFC 9293 3.10.7.4 for a segment at `segOff` of SEG.LEN `segLen`. */
  isAcceptable(segOff: number, segLen: number, rcvWnd: number): boolean {
    const windowEnd = this.rcvNxt + rcvWnd;
    // An empty segment exactly at the right edge is accepted too (the table says below it): it is
    // the ACK of a peer that filled the window we offered, and RFC 9293 3.10.7.4 asks for
    // "special allowance" for valid ACKs. Refusing it (as Linux's tcp_sequence does not) would
    // leave every later ACK of that peer unprocessed until it retransmits.
    if (segLen === 0) return rcvWnd === 0 ? segOff === this.rcvNxt : segOff >= this.rcvNxt && segOff <= windowEnd;
    if (rcvWnd === 0) return false;
    const last = segOff + segLen - 1;
    return (segOff >= this.rcvNxt && segOff < windowEnd) || (last >= this.rcvNxt && last < windowEnd);
  }

  /**
   * A segment arrived (before trimming): the D-SACK, if any, is now about this segment alone (RFC
   * 2883 section 4 rule 1: only the most recent packet is reported). Its data below RCV.NXT was
   * received before: that run (only it, when the rest is new) becomes a D-SACK block below the
   * cumulative ACK. trim() calls this for every acceptable segment; the connection calls it for a
   * segment it rejects as unacceptable, which is how one entirely below RCV.NXT arrives (answered
   * by an ACK at once, RFC 9293 3.10.7.4). Data only: a SYN or FIN below RCV.NXT is not reported.
   */
  reportDuplicateText(text: ArrivingText): void {
    this.dsackStart = this.dsackEnd = 0;
    const dataStart = text.syn ? text.offset + 1 : text.offset;
    if (dataStart < this.rcvNxt) this.setDsack(dataStart, Math.min(dataStart + text.payload.length, this.rcvNxt));
  }

  /** Trim what lies before RCV.NXT (duplicate) and beyond the window (RFC 9293 3.10.7.4 first). */
  trim(text: ArrivingText, rcvWnd: number, outcome: SegmentOutcome): void {
    const windowEnd = this.rcvNxt + rcvWnd;
    this.reportDuplicateText(text);
    if (text.offset < this.rcvNxt) {
      let cut = this.rcvNxt - text.offset;
      if (text.syn) {
        text.syn = false;
        cut--;
      }
      text.payload = text.payload.subarray(Math.min(cut, text.payload.length));
      text.offset = this.rcvNxt;
      outcome.ackNow = true;
    }
    const rightEdge = Math.min(windowEnd, this.buffer.limitOffset);
    if (text.offset + text.payload.length > rightEdge) {
      text.payload = text.payload.subarray(0, Math.max(0, rightEdge - text.offset));
      text.fin = false;
      outcome.ackNow = true;
      this.counters.add('trimmed_beyond_window');
    } else if (text.fin && text.offset + text.payload.length >= windowEnd) {
      text.fin = false;
      outcome.ackNow = true;
    }
  }

  /** Bytes of a SYN-ACK's data that fit what our SYN offered (RFC 7323 2.2: an unscaled window). */
  synAckDataThatFits(payloadLength: number): number {
    const rightEdge = Math.min(this.rcvAdvRight, this.buffer.limitOffset);
    return Math.min(payloadLength, rightEdge);
  }

  // ====================================================================================
  // Text and FIN (RFC 9293 3.10.7.4 seventh and eighth)
  // ====================================================================================

  /** Segment text at `segOff`, already trimmed to the window, into the reassembly buffer. */
  deliver(segOff: number, payload: Uint8Array, outcome: SegmentOutcome): void {
    const buffer = this.buffer;
    const hadHoles = buffer.hasOutOfOrder;
    const before = buffer.inOrderEnd;
    if (payload.length > this.receiveMss) this.receiveMss = Math.min(payload.length, this.config.mss);
    const status = buffer.insert(segOff, payload);
    // RFC 2883 section 4: data that duplicates held out-of-order data leads the next ACK's SACK
    // option (every status that can carry a duplicate ACKs at once, below). A run below RCV.NXT
    // that trim() cut from this segment is lower and stays: one block reports one run.
    if (buffer.duplicateEnd > buffer.duplicateStart && !this.hasDsack) this.setDsack(buffer.duplicateStart, buffer.duplicateEnd);
    switch (status) {
      case 'in-order': {
        const advanced = buffer.inOrderEnd - before;
        this.rcvNxt = buffer.inOrderEnd;
        this.bytesReceivedTotal += advanced;
        outcome.readable = true;
        if (hadHoles) {
          // RFC 5681 4.2: a segment that fills (part of) a hole is acknowledged at once.
          outcome.ackNow = true;
          this.quickAcksLeft = QUICK_ACKS_AFTER_LOSS;
        } else if (this.quickAcksLeft > 0) {
          // Just after a loss the peer recovers with a small window: delaying its ACKs would
          // stall it (Linux's quick-ACK mode; RFC 5681 4.2 allows an ACK for every segment).
          this.quickAcksLeft--;
          outcome.ackNow = true;
        } else {
          // RFC 1122 4.2.3.2 / RFC 5681 4.2: ACK at least every second full-sized segment; the ACK
          // may wait until the rest of the batch that carried this segment is processed.
          this.bytesSinceAck += payload.length;
          this.ackOwed = true;
          if (this.bytesSinceAck >= 2 * this.receiveMss) outcome.ackAtBatchEnd = true;
        }
        break;
      }
      case 'out-of-order':
        // RFC 5681 4.2: an out-of-order segment draws an immediate duplicate ACK (with SACK blocks,
        // led by a D-SACK block when it duplicated held data).
        this.counters.add('out_of_order_segments');
        outcome.ackNow = true;
        this.quickAcksLeft = QUICK_ACKS_AFTER_LOSS;
        break;
      case 'duplicate':
        outcome.ackNow = true;
        this.quickAcksLeft = QUICK_ACKS_AFTER_LOSS;
        break;
      case 'over-limit':
        this.counters.drop('ooo_limit');
        outcome.ackNow = true;
        break;
      case 'range-limit':
        // As Linux prunes its out-of-order queue: the peer resends it once the holes fill.
        this.counters.drop('ooo_range_limit');
        outcome.ackNow = true;
        break;
      case 'out-of-memory':
        // Over the stack's memory budget (Linux's tcp_prune_queue / TCPRcvQDrop): resent later.
        this.counters.drop('out_of_memory');
        outcome.ackNow = true;
        break;
    }
  }

  /** The segment ending at `offset` carries the peer's FIN; remembered until it is in sequence. */
  notePeerFin(offset: number): void {
    if (this.peerFinOffset < 0) this.peerFinOffset = offset;
  }

  /** The peer's FIN is next in sequence and not yet taken. */
  get finInSequence(): boolean {
    return this.peerFinOffset >= 0 && !this.finReceived && this.rcvNxt === this.peerFinOffset;
  }

  /** RFC 9293 3.10.7.4 eighth: take the FIN: it occupies one offset, is acknowledged at once and reads as end of stream. */
  acceptFin(outcome: SegmentOutcome): void {
    this.finReceived = true;
    this.rcvNxt += 1;
    outcome.ackNow = true;
    outcome.readable = true;
  }

  // ====================================================================================
  // Acknowledgment policy
  // ====================================================================================

  /**
   * A segment carrying our ACK of RCV.NXT (and the SACK option of outgoingSackBlocks() when
   * hasSackBlocksToSend) left: nothing is owed any more, and a D-SACK it carried is not repeated
   * (RFC 2883 section 4 rule 2: each duplicate is reported in at most one D-SACK block).
   */
  onAckSent(): void {
    if (this.hasDsack) {
      this.counters.add('dsacks_sent');
      this.dsackStart = this.dsackEnd = 0;
    }
    this.lastAckSent = this.rcvNxt;
    this.ackOwed = false;
    this.bytesSinceAck = 0;
    if (this.timers.armed(TimerKind.delayedAck)) this.timers.stop(TimerKind.delayedAck);
  }

  /** Our SYN-ACK left: it acknowledged RCV.NXT and offered the SYN window. */
  onSynAckSent(): void {
    this.lastAckSent = this.rcvNxt;
    this.rcvAdvRight = Math.max(this.rcvAdvRight, this.rcvNxt + this.synWindow());
  }

  /** Our SYN offered an unscaled window starting at the peer's ISS + 1 (RFC 7323 2.2). */
  advertiseSynWindow(): void {
    this.rcvAdvRight = this.synWindow();
  }

  /** RFC 1122 4.2.3.2 / RFC 9293 3.8.6.3: delay an owed ACK, but not beyond delayedAckTimeout. */
  delayOwedAck(now: number): void {
    if (this.ackOwed && !this.timers.armed(TimerKind.delayedAck))
      this.timers.set(TimerKind.delayedAck, now + this.config.delayedAckTimeout);
  }

  // ====================================================================================
  // Receive window
  // ====================================================================================

  /** Window offered in our SYN or SYN-ACK (unscaled, RFC 7323 2.2). */
  synWindow(): number {
    return Math.min(this.windowSpace, TCP_MAX_WINDOW_FIELD);
  }

  /** The buffer the window may use now (auto-tuned, at most receiveBufferSize). */
  get windowBuffer(): number {
    return this.windowSpace;
  }

  /**
   * Free space within the auto-tuned buffer: what the window may offer beyond unread data. With the
   * stack's memory budget spent, new offers stay within the storage the buffer has (or is granted
   * in any case), so the peer is not invited to send what would be dropped.
   */
  private get freeWindowSpace(): number {
    let space = this.windowSpace;
    if (this.memory !== undefined && this.memory.available() === 0) {
      space = Math.min(space, Math.max(this.buffer.allocated, INITIAL_BUFFER_ALLOCATION));
    }
    return Math.max(0, Math.min(this.buffer.freeSpace, space - this.buffer.readableLength));
  }

  /**
   * The application read `n` bytes (n > 0) into `into`: Dynamic Right-Sizing, measured per `rtt` ms
   * (the connection's smoothed RTT; the handshake gives the first). Once an RTT has passed since the
   * measurement started, twice what was read in it becomes the window's buffer if that is larger
   * (Linux's tcp_rcv_space_adjust), within receiveBufferSize and while the stack's memory budget has
   * room: over it, windows stop growing and what does not fit is dropped (receive-buffer.ts).
   */
  read(into: Uint8Array, now: number, rtt: number): number {
    const n = this.buffer.read(into);
    if (n === 0) return 0;
    this.measureReceiveRtt(now);
    const readOffset = this.buffer.readOffset;
    if (this.spaceMeasureOffset < 0) {
      this.spaceMeasureTime = now;
      this.spaceMeasureOffset = readOffset - n;
    }
    if (now - this.spaceMeasureTime < Math.max(rtt, this.receiveRtt)) return n;
    const target = Math.min(this.config.receiveBufferSize, 2 * (readOffset - this.spaceMeasureOffset));
    if (target > this.windowSpace && (this.memory === undefined || this.memory.available() >= target - this.windowSpace)) {
      this.windowSpace = target;
      this.counters.add('receive_window_grown');
    }
    this.spaceMeasureTime = now;
    this.spaceMeasureOffset = readOffset;
    return n;
  }

  /** See receiveRtt: complete the measurement in progress if its edge has arrived, and start the next. */
  private measureReceiveRtt(now: number): void {
    if (this.receiveRttEdge >= 0) {
      if (this.rcvNxt < this.receiveRttEdge) return;
      const sample = now - this.receiveRttStart;
      if (this.receiveRtt === 0) this.receiveRtt = sample;
      else if (sample > 0 && sample <= RECEIVE_RTT_OUTLIER * this.receiveRtt) this.receiveRtt += (sample - this.receiveRtt) / 8;
    }
    // Only an open window can be filled; with none offered the next read starts over.
    this.receiveRttEdge = this.rcvAdvRight > this.rcvNxt ? this.rcvAdvRight : -1;
    this.receiveRttStart = now;
  }

  /**
   * The window field of an outgoing non-SYN segment. The offer is the free buffer space (RFC 9293
   * 3.8.6.2.2), but it only grows by at least min(buffer/2, MSS) at a time (receiver SWS avoidance,
   * RFC 1122 4.2.3.3), and its right edge never moves left (RFC 9293 3.8.6.2.2, RFC 1122 4.2.2.16).
   */
  windowField(): number {
    const granule = 2 ** this.options.rcvShift;
    const remaining = Math.max(0, this.rcvAdvRight - this.rcvNxt);
    const free = this.freeWindowSpace;
    let offer = remaining;
    if (free >= remaining + this.windowUpdateThreshold()) offer = Math.floor(free / granule) * granule;
    if (offer < remaining) offer = remaining;
    // Rounding the offer up to the scale granule must not promise bytes the buffer cannot hold:
    // the peer would send them, they would be trimmed, and its SND.NXT would sit past our RCV.NXT
    // until it retransmits. Rounded down instead, the field may show the window retracted by
    // less than one granule, which RFC 7323 2.4 allows; data up to the right edge already
    // offered is still accepted, as that section requires, since that edge is within the buffer.
    const fits = Math.floor((this.buffer.limitOffset - this.rcvNxt) / granule);
    const field = Math.min(Math.ceil(offer / granule), fits, TCP_MAX_WINDOW_FIELD);
    this.rcvAdvRight = Math.max(this.rcvAdvRight, this.rcvNxt + field * granule);
    return field;
  }

  private windowUpdateThreshold(): number {
    return Math.min(Math.floor(this.windowSpace / 2), this.options.mssBase);
  }

  /**
   * After read(): RFC 1122 4.2.3.3: tell the peer once the window can grow by min(buffer/2, MSS),
   * but (like Linux's cleanup_rbuf) only when the window it knows is below half the buffer: a
   * sender with a large window is not waiting for us and will get the update on the next ACK.
   */
  windowUpdateDue(): boolean {
    if (this.finReceived) return false;
    const remaining = Math.max(0, this.rcvAdvRight - this.rcvNxt);
    if (remaining >= this.windowSpace / 2) return false;
    return this.freeWindowSpace >= remaining + this.windowUpdateThreshold();
  }

  // ====================================================================================
  // SACK blocks we send (RFC 2018)
  // ====================================================================================

  /** The peer takes SACK blocks and there is a D-SACK to report or out-of-order data held. */
  get hasSackBlocksToSend(): boolean {
    return this.options.sackPermitted && (this.hasDsack || this.buffer.hasOutOfOrder);
  }

  /**
   * The SACK option's blocks: a pending D-SACK block first (RFC 2883 section 4), then the held
   * ranges, most recent first (RFC 2018 section 4), the one containing the D-SACK's run leading them
   * (RFC 2883 section 4 rule 4), up to what fits beside the other options: 4 blocks, 3 with
   * timestamps (RFC 2018 section 3).
   */
  outgoingSackBlocks(): SackBlock[] {
    const max = this.maxSackBlocks();
    const blocks: SackBlock[] = [];
    let leadOffset = -1;
    if (this.hasDsack) {
      blocks.push({ left: this.receiveSeq(this.dsackStart), right: this.receiveSeq(this.dsackEnd) });
      leadOffset = this.dsackStart;
    }
    for (const r of this.buffer.sackRanges(max - blocks.length, leadOffset)) {
      blocks.push({ left: this.receiveSeq(r.start), right: this.receiveSeq(r.end) });
    }
    return blocks;
  }

  /** Option bytes the SACK blocks take from the next segment (its payload is that much shorter). */
  outgoingSackOptionBytes(): number {
    if (!this.hasSackBlocksToSend) return 0;
    const blocks = Math.min(this.maxSackBlocks(), (this.hasDsack ? 1 : 0) + this.buffer.outOfOrderRangeCount);
    return TCP_SACK_OPTION_OVERHEAD + TCP_SACK_BLOCK_BYTES * blocks;
  }

  private maxSackBlocks(): number {
    return this.options.timestamps ? TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS : TCP_MAX_SACK_BLOCKS;
  }

  private get hasDsack(): boolean {
    return this.dsackEnd > this.dsackStart;
  }

  /**
   * Note a duplicated run for the next ACK, replacing one not yet sent: one D-SACK block per ACK,
   * for the latest duplicate (RFC 2883 section 4 rule 1). Only when SACK was negotiated: D-SACK
   * needs no negotiation of its own but uses the SACK option (RFC 2883 section 2).
   */
  private setDsack(start: number, end: number): void {
    if (!this.options.sackPermitted || end <= start) return;
    this.dsackStart = start;
    this.dsackEnd = end;
  }
}
