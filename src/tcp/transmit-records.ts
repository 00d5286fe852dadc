/**
 * Per-segment transmit records of the send side: for every segment in flight, its send-offset
 * range, when it was last sent, and whether it was retransmitted, SACKed, or deemed lost and
 * awaiting retransmission. RFC 6675 recovery (pipe, IsLost, NextSeg) and RACK-TLP (RFC 8985)
 * decide from these; the sender changes them only through the methods below.
 *
 * The records cover [SND.UNA, SND.MAX) with disjoint ranges in offset order. Each record is in
 * exactly one of three conditions: SACKed (delivered out of order), awaiting retransmission
 * (deemed lost, not resent since), or in flight (its latest transmission is in the network). The
 * bytes in flight are RFC 6675's `pipe`, kept as a running sum so reading it costs nothing.
 *
 * They are kept as parallel typed arrays in a ring that doubles when full and reuses its slots, so
 * recording a segment allocates nothing on the hot path. The ring holds no storage while nothing is
 * in flight (an idle connection, the common case on a busy server): the first record allocates it,
 * and the last acknowledgment gives it back, unless the sender has more data waiting (a bulk
 * transfer whose flight an ACK emptied keeps its ring rather than regrowing it from 8 records).
 */

import type { RackRecords } from './rack.js';

const RETRANSMITTED = 1;
const SACKED = 2;
const LOST = 4;
/**
 * 8 records: 64 bytes per offset array, which V8 keeps inside its heap (typed arrays up to 64
 * bytes); from 16 on, each array's bytes live outside it, an ArrayBuffer allocated and freed with
 * every burst a connection sends (the ring is given back when the last record is acknowledged)
 * and held until the next young-generation collection: 5000 connections closing at once each
 * recorded their FIN that way.
 */
const INITIAL_CAPACITY = 8;
const NO_OFFSETS = new Float64Array(0);
const NO_FLAGS = new Uint8Array(0);

/**
 * Rings of INITIAL_CAPACITY records given back (a flight acknowledged, or a ring doubled), kept
 * for the next flight of any connection to take, as four parallel stacks of arrays. A connection
 * of a few requests sends flight after flight of a record or two (SYN-ACK, a response, the FIN),
 * each emptied by its ACK: allocating four typed arrays (~600 bytes of heap) for each was the
 * largest allocation of the stack in a new-connection profile (bench:conn). Bounded, so that
 * connections closing in a crowd leave at most SPARE_RINGS_MAX of them (~40 KB); an idle
 * connection still holds none. A taken ring's old contents are never read: a slot is written by
 * append before any read, and reads stop at the records' count.
 */
const SPARE_RINGS_MAX = 64;
const spareStarts: Float64Array<ArrayBuffer>[] = [];
const spareEnds: Float64Array<ArrayBuffer>[] = [];
const spareSendTimes: Float64Array<ArrayBuffer>[] = [];
const spareFlags: Uint8Array<ArrayBuffer>[] = [];

/** Who learns of each delivered record: its end, its last send time, and whether it was retransmitted. */
export interface DeliveryObserver {
  onDelivered(end: number, sendTime: number, retransmitted: boolean): void;
}

export class TransmitRecords implements RackRecords {
  private starts = NO_OFFSETS;
  private ends = NO_OFFSETS;
  private sendTimes = NO_OFFSETS;
  private flags = NO_FLAGS;
  /** Ring slot of the oldest record; the capacity is a power of two, or 0 with no storage (mask -1). */
  private head = 0;
  private size = 0;
  private mask = -1;
  private readonly initialCapacity: number;
  /**
   * The capacity the ring had when it was last given back: the next flight starts there, so a
   * transfer whose ACKs empty the flight over and over allocates its ring once per flight instead
   * of doubling it up from the initial capacity (seven copies for a 64 KiB window of segments).
   */
  private previousCapacity = 0;

  /** RFC 6675 pipe: bytes of records neither SACKed nor awaiting retransmission. */
  private inFlightBytes = 0;
  private sackedByteCount = 0;
  private sackedRecordCount = 0;
  private lostRecordCount = 0;

  /** Told of every record newly delivered (cumulatively ACKed or newly SACKed): RACK (RFC 8985 6.2). */
  deliveryObserver: DeliveryObserver | undefined;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.initialCapacity = capacity;
  }

  /** Records in flight. */
  get count(): number {
    return this.size;
  }

  /** Send offset where the records end (SND.MAX as far as they know), or -Infinity when empty. */
  get endOffset(): number {
    return this.size === 0 ? Number.NEGATIVE_INFINITY : this.ends[(this.head + this.size - 1) & this.mask]!;
  }

  /** RFC 6675 section 4 SetPipe: the bytes whose latest transmission is in the network. */
  get pipe(): number {
    return this.inFlightBytes;
  }

  get sackedBytes(): number {
    return this.sackedByteCount;
  }

  get sackedCount(): number {
    return this.sackedRecordCount;
  }

  /** Records deemed lost and not yet resent. */
  get lostCount(): number {
    return this.lostRecordCount;
  }

  // The i-th record in flight, 0 the oldest.
  start(i: number): number {
    return this.starts[this.slot(i)]!;
  }

  end(i: number): number {
    return this.ends[this.slot(i)]!;
  }

  /** When the record was last (re)transmitted. */
  sendTime(i: number): number {
    return this.sendTimes[this.slot(i)]!;
  }

  isRetransmitted(i: number): boolean {
    return (this.flags[this.slot(i)]! & RETRANSMITTED) !== 0;
  }

  isSacked(i: number): boolean {
    return (this.flags[this.slot(i)]! & SACKED) !== 0;
  }

  /** Deemed lost and not resent since. */
  isAwaitingRetransmission(i: number): boolean {
    return (this.flags[this.slot(i)]! & LOST) !== 0;
  }

  /** Neither SACKed nor awaiting retransmission: its latest transmission is in the network. */
  isInFlight(i: number): boolean {
    return (this.flags[this.slot(i)]! & (SACKED | LOST)) === 0;
  }

  /** A new segment [start, end) (end includes the FIN's offset) left at `now`. */
  append(start: number, end: number, now: number): void {
    if (end <= start) return;
    if (this.size > this.mask) this.grow();
    const slot = (this.head + this.size) & this.mask;
    this.starts[slot] = start;
    this.ends[slot] = end;
    this.sendTimes[slot] = now;
    this.flags[slot] = 0;
    this.size++;
    this.inFlightBytes += end - start;
  }

  /** Record i was sent again, whole, at `now`: it is in flight again, marked retransmitted. */
  retransmitted(i: number, now: number): void {
    const slot = this.slot(i);
    const flags = this.flags[slot]!;
    if ((flags & SACKED) !== 0) return;
    if ((flags & LOST) !== 0) {
      this.lostRecordCount--;
      this.inFlightBytes += this.ends[slot]! - this.starts[slot]!;
    }
    this.flags[slot] = (flags & ~LOST) | RETRANSMITTED;
    this.sendTimes[slot] = now;
  }

  /** Deem the latest transmission of record i lost: it awaits retransmission (RFC 6675, RFC 8985). */
  markLost(i: number): void {
    const slot = this.slot(i);
    const flags = this.flags[slot]!;
    if ((flags & (SACKED | LOST)) !== 0) return;
    this.flags[slot] = flags | LOST;
    this.lostRecordCount++;
    this.inFlightBytes -= this.ends[slot]! - this.starts[slot]!;
  }

  /** RFC 6675 section 5.1 / RFC 5681 3.1 after a timeout: every record not SACKed awaits retransmission. */
  markAllLost(): void {
    for (let i = 0; i < this.size; i++) this.markLost(i);
  }

  /** A timeout was spurious (RFC 3522): what it deemed lost and has not been resent yet is in flight again. */
  clearLost(): void {
    for (let i = 0; i < this.size; i++) {
      const slot = this.slot(i);
      const flags = this.flags[slot]!;
      if ((flags & LOST) === 0) continue;
      this.flags[slot] = flags & ~LOST;
      this.lostRecordCount--;
      this.inFlightBytes += this.ends[slot]! - this.starts[slot]!;
    }
  }

  /** The receiver reneged (RFC 2018 section 8): nothing counts as SACKed any more; those records await retransmission. */
  clearSacked(): void {
    const mask = this.mask;
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) & mask;
      if ((this.flags[slot]! & SACKED) === 0) continue;
      this.flags[slot] = (this.flags[slot]! & ~SACKED) | LOST;
      this.lostRecordCount++;
    }
    this.sackedByteCount = 0;
    this.sackedRecordCount = 0;
  }

  /**
   * Split record i at `at` (strictly inside it) into [start, at) and [at, end), both with its
   * flags and send time: a retransmission must fit a smaller segment (path MTU, option space).
   */
  split(i: number, at: number): void {
    const slot = this.slot(i);
    if (!(at > this.starts[slot]! && at < this.ends[slot]!)) throw new RangeError(`split at ${at} is not inside record ${i}`);
    if (this.size > this.mask) this.grow();
    const mask = this.mask;
    // Shift records i+1.. one slot toward the tail, then fill slot i+1 with the upper part.
    for (let k = this.size; k > i + 1; k--) this.copySlot((this.head + k) & mask, (this.head + k - 1) & mask);
    const lower = (this.head + i) & mask;
    const upper = (this.head + i + 1) & mask;
    this.copySlot(upper, lower);
    this.starts[upper] = at;
    this.ends[lower] = at;
    this.size++;
    const flags = this.flags[lower]!;
    if ((flags & SACKED) !== 0) this.sackedRecordCount++;
    if ((flags & LOST) !== 0) this.lostRecordCount++;
  }

  /**
   * Join record i and record i + 1, both awaiting retransmission and adjacent, into one: a
   * retransmission may then fill a whole segment (after a smaller path MTU split the records, or
   * when small writes made small segments).
   */
  mergeWithNext(i: number): void {
    const lower = this.slot(i);
    const upper = this.slot(i + 1);
    const lowerFlags = this.flags[lower]!;
    const upperFlags = this.flags[upper]!;
    if ((lowerFlags & upperFlags & LOST) === 0 || this.ends[lower] !== this.starts[upper]) {
      throw new RangeError(`records ${i} and ${i + 1} cannot be merged`);
    }
    this.ends[lower] = this.ends[upper]!;
    this.flags[lower] = lowerFlags | (upperFlags & RETRANSMITTED);
    this.sendTimes[lower] = Math.max(this.sendTimes[lower]!, this.sendTimes[upper]!);
    this.lostRecordCount--;
    const mask = this.mask;
    for (let k = i + 1; k < this.size - 1; k++) this.copySlot((this.head + k) & mask, (this.head + k + 1) & mask);
    this.size--;
  }

  /**
   * The cumulative ACK reached `una`: drop the records below it and trim the one it cuts. When
   * none is left the storage is given back, unless `keepStorage` (more data is about to go).
   */
  acknowledge(una: number, keepStorage = false): void {
    const mask = this.mask;
    while (this.size > 0 && this.ends[this.head]! <= una) {
      const slot = this.head;
      if ((this.flags[slot]! & SACKED) === 0) this.noteDelivered(slot, this.ends[slot]!);
      this.forget(slot, this.ends[slot]! - this.starts[slot]!);
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    if (this.size === 0) {
      if (!keepStorage) this.releaseStorage();
      return;
    }
    if (this.size > 0 && this.starts[this.head]! < una) {
      const slot = this.head;
      if ((this.flags[slot]! & SACKED) === 0) this.noteDelivered(slot, una);
      const cut = una - this.starts[slot]!;
      const flags = this.flags[slot]!;
      if ((flags & SACKED) !== 0) this.sackedByteCount -= cut;
      else if ((flags & LOST) === 0) this.inFlightBytes -= cut;
      this.starts[slot] = una;
    }
  }

  /** The scoreboard holds [start, end): mark the records entirely inside it as SACKed. */
  markSacked(start: number, end: number): void {
    const mask = this.mask;
    for (let i = this.indexAfter(start); i < this.size; i++) {
      const slot = (this.head + i) & mask;
      if (this.starts[slot]! >= end) break;
      const flags = this.flags[slot]!;
      if ((flags & SACKED) !== 0 || this.starts[slot]! < start || this.ends[slot]! > end) continue;
      const length = this.ends[slot]! - this.starts[slot]!;
      if ((flags & LOST) !== 0) this.lostRecordCount--;
      else this.inFlightBytes -= length;
      this.flags[slot] = (flags & ~LOST) | SACKED;
      this.sackedByteCount += length;
      this.sackedRecordCount++;
      this.noteDelivered(slot, this.ends[slot]!);
    }
  }

  /** Index (0 the oldest) of the first record whose end lies beyond `offset`: a binary search. */
  indexAfter(offset: number): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.ends[(this.head + middle) & this.mask]! <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Index of the first record at or after index `from` that awaits retransmission, or -1. */
  firstAwaitingRetransmission(from = 0): number {
    if (this.lostRecordCount === 0) return -1;
    const mask = this.mask;
    for (let i = Math.max(0, from); i < this.size; i++) {
      if ((this.flags[(this.head + i) & mask]! & LOST) !== 0) return i;
    }
    return -1;
  }

  private noteDelivered(slot: number, end: number): void {
    this.deliveryObserver?.onDelivered(end, this.sendTimes[slot]!, (this.flags[slot]! & RETRANSMITTED) !== 0);
  }

  /** Take `length` bytes of the record in `slot` out of the running sums (it is acknowledged). */
  private forget(slot: number, length: number): void {
    const flags = this.flags[slot]!;
    if ((flags & SACKED) !== 0) {
      this.sackedByteCount -= length;
      this.sackedRecordCount--;
    } else if ((flags & LOST) !== 0) {
      this.lostRecordCount--;
    } else {
      this.inFlightBytes -= length;
    }
  }

  /** Copy the record in slot `from` over the one in slot `to`. */
  private copySlot(to: number, from: number): void {
    this.starts[to] = this.starts[from]!;
    this.ends[to] = this.ends[from]!;
    this.sendTimes[to] = this.sendTimes[from]!;
    this.flags[to] = this.flags[from]!;
  }

  private slot(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`no transmit record ${i}`);
    return (this.head + i) & this.mask;
  }

  /** Nothing in flight: give the arrays back until the next record. */
  private releaseStorage(): void {
    this.previousCapacity = this.mask + 1;
    this.spareRing();
    this.starts = this.ends = this.sendTimes = NO_OFFSETS;
    this.flags = NO_FLAGS;
    this.head = 0;
    this.mask = -1;
  }

  /** Double the ring (or allocate the first one), copying the records in order to the start of the new arrays. */
  private grow(): void {
    const capacity = this.mask < 0 ? Math.max(this.initialCapacity, this.previousCapacity) : (this.mask + 1) * 2;
    if (capacity === INITIAL_CAPACITY && spareStarts.length > 0) {
      // Only an empty ring grows to the initial capacity: nothing to copy.
      this.starts = spareStarts.pop()!;
      this.ends = spareEnds.pop()!;
      this.sendTimes = spareSendTimes.pop()!;
      this.flags = spareFlags.pop()!;
      this.head = 0;
      this.mask = capacity - 1;
      return;
    }
    const starts = new Float64Array(capacity);
    const ends = new Float64Array(capacity);
    const sendTimes = new Float64Array(capacity);
    const flags = new Uint8Array(capacity);
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) & this.mask;
      starts[i] = this.starts[slot]!;
      ends[i] = this.ends[slot]!;
      sendTimes[i] = this.sendTimes[slot]!;
      flags[i] = this.flags[slot]!;
    }
    this.spareRing();
    this.starts = starts;
    this.ends = ends;
    this.sendTimes = sendTimes;
    this.flags = flags;
    this.head = 0;
    this.mask = capacity - 1;
  }

  /** The ring is being given up: keep it among the spares if it has the initial capacity and there is room. */
  private spareRing(): void {
    if (this.mask + 1 !== INITIAL_CAPACITY || spareStarts.length >= SPARE_RINGS_MAX) return;
    spareStarts.push(this.starts);
    spareEnds.push(this.ends);
    spareSendTimes.push(this.sendTimes);
    spareFlags.push(this.flags);
  }
}
