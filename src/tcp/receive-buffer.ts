/**
 * The receive buffer and reassembly queue (RFC 9293 3.10.7.4 step 7, RFC 9293 3.8.6.2).
 *
 * Positions are stream offsets: byte 0 is the peer's first data byte, so they never wrap. One ring
 * (grown on demand up to `capacity`) holds the unread in-order bytes [readOffset, inOrderEnd) and
 * also the out-of-order bytes the window admitted beyond them, written straight to their final
 * place; a short sorted list of ranges says which bytes past inOrderEnd are present. When a hole
 * fills, inOrderEnd jumps over the ranges that became contiguous: no data moves.
 *
 * Each insert() also notes the first run of its bytes that the buffer already had (below
 * inOrderEnd, or inside a held range): the duplicate a D-SACK reports (RFC 2883 section 4).
 *
 * What a peer can make us hold is bounded three ways: out-of-order bytes (outOfOrderLimit), the
 * number of out-of-order ranges (maxRanges: a segment that would open one more is dropped, as
 * Linux prunes its out-of-order queue), and the stack's memory budget (storage that cannot grow
 * drops the data as out of memory, as Linux's tcp_prune_queue). Finding a segment's place is a
 * binary search and the SACK blocks come from a short most-recent list, so the cost of a segment
 * or an ACK does not grow with the number of ranges.
 */

import { ByteRing, UNLIMITED_MEMORY, type BufferMemory } from './byte-ring.js';
import { TCP_MAX_SACK_BLOCKS } from '../wire/tcp.js';

export interface ByteRange {
  /** First stream offset in the range. */
  start: number;
  /** Stream offset just past the range. */
  end: number;
}

type HeldRange = ByteRange;

export type ReceiveInsertStatus =
  /** The data started at inOrderEnd: it (and any ranges it joined) became readable. */
  | 'in-order'
  /** Held beyond a hole (may have been entirely a duplicate of held data). */
  | 'out-of-order'
  /** Nothing new: every byte was already readable or read. */
  | 'duplicate'
  /** Dropped: holding it would exceed the out-of-order byte limit. */
  | 'over-limit'
  /** Dropped: it would open one out-of-order range more than maxRanges. */
  | 'range-limit'
  /** Dropped: the storage could not grow within the stack's memory budget. */
  | 'out-of-memory';

/** First allocation of a ring that is written to: a request or two; bulk transfers double it quickly. */
export const INITIAL_BUFFER_ALLOCATION = 4 * 1024;
/** Out-of-order ranges held at most by default (Linux bounds its ofo queue by memory only; 10^5 one-byte ranges fit that). */
const DEFAULT_MAX_OUT_OF_ORDER_RANGES = 256;

export class ReceiveBuffer {
  /** Relative position 0 is readOffset. */
  private readonly ring: ByteRing;
  private readPosition = 0;
  private inOrder = 0;
  /** Out-of-order ranges past inOrderEnd, sorted, disjoint and non-adjacent. */
  private ranges: HeldRange[] = [];
  /** The most recently touched ranges, newest first, at most TCP_MAX_SACK_BLOCKS (RFC 2018 section 4 order). */
  private recent: HeldRange[] = [];
  /** Most bytes held (readable plus out of order) since the buffer last drained. */
  private peakHeld = 0;
  private heldOutOfOrder = 0;
  /** The first duplicated run of the last insert(), [duplicateFrom, duplicateTo); empty when equal. */
  private duplicateFrom = 0;
  private duplicateTo = 0;

  constructor(
    readonly capacity: number,
    readonly outOfOrderLimit: number,
    readonly maxRanges = DEFAULT_MAX_OUT_OF_ORDER_RANGES,
    memory: BufferMemory = UNLIMITED_MEMORY,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad receive buffer capacity ${capacity}`);
    this.ring = new ByteRing(capacity, INITIAL_BUFFER_ALLOCATION, memory);
  }

  /** Bytes of storage held now (0 when drained and idle). */
  get allocated(): number {
    return this.ring.allocated;
  }

  /** Stream offset of the next byte read() returns. */
  get readOffset(): number {
    return this.readPosition;
  }

  /** Stream offset just past the in-order data (RCV.NXT for data). */
  get inOrderEnd(): number {
    return this.inOrder;
  }

  /** In-order bytes waiting for read(). */
  get readableLength(): number {
    return this.inOrder - this.readPosition;
  }

  /** Space not taken by unread in-order data: the most window we may offer (RFC 9293 3.8.6.2.2). */
  get freeSpace(): number {
    return this.capacity - (this.inOrder - this.readPosition);
  }

  /** Highest stream offset the buffer can hold at the moment. */
  get limitOffset(): number {
    return this.readPosition + this.capacity;
  }

  get outOfOrderBytes(): number {
    return this.heldOutOfOrder;
  }

  get hasOutOfOrder(): boolean {
    return this.ranges.length > 0;
  }

  /** Number of separate out-of-order ranges (holes after them). */
  get outOfOrderRangeCount(): number {
    return this.ranges.length;
  }

  /**
   * RFC 2883 section 4: the first contiguous run of bytes that the last insert() already had (read,
   * readable or held out of order), as [duplicateStart, duplicateEnd); empty (equal) when the
   * insert brought only new bytes or was refused (over-limit). A segment can duplicate several
   * separate runs; a D-SACK block reports one contiguous run (RFC 2883 section 4 rules 1 and 3),
   * and this buffer keeps the lowest.
   */
  get duplicateStart(): number {
    return this.duplicateFrom;
  }

  get duplicateEnd(): number {
    return this.duplicateTo;
  }

  /** The out-of-order ranges in sequence order (copies). */
  outOfOrderRanges(): ByteRange[] {
    return this.ranges.map((r) => ({ start: r.start, end: r.end }));
  }

  /**
   * RFC 2018 section 4: up to `max` ranges, the one holding the most recently received data first,
   * then the others by how recently they changed. When a held range contains `leadOffset`, that
   * range comes first whatever its age: after a D-SACK block for a duplicate of held data, the
   * next block is the (possibly larger) block containing it (RFC 2883 section 4 rule 4).
   */
  sackRanges(max: number, leadOffset = -1): ByteRange[] {
    const ranges = this.ranges;
    if (ranges.length === 0 || max <= 0) return [];
    const chosen: HeldRange[] = [];
    const candidate = leadOffset < 0 ? undefined : ranges[this.firstRangeEndingAtOrAfter(leadOffset + 1)];
    const lead = candidate !== undefined && candidate.start <= leadOffset ? candidate : undefined;
    if (lead !== undefined) chosen.push(lead);
    for (const r of this.recent) {
      if (chosen.length >= max) break;
      if (r !== lead) chosen.push(r);
    }
    // Fewer recent ranges than blocks (they were absorbed or merged): the others in sequence order.
    for (let i = 0; i < ranges.length && chosen.length < max; i++) {
      if (!chosen.includes(ranges[i]!)) chosen.push(ranges[i]!);
    }
    return chosen.map((r) => ({ start: r.start, end: r.end }));
  }

  /**
   * Store `data` at stream offset `offset`. Bytes before inOrderEnd or past limitOffset are
   * ignored (the connection trims to the window before calling); the bytes already held are noted
   * as duplicateStart/duplicateEnd.
   */
  insert(offset: number, data: Uint8Array): ReceiveInsertStatus {
    let start = offset;
    let end = offset + data.length;
    if (end > this.limitOffset) end = this.limitOffset;
    this.duplicateFrom = this.duplicateTo = 0;
    if (start < this.inOrder) {
      // Already readable or read: the duplicate run lies below inOrderEnd (RFC 2883 section 4).
      this.noteDuplicate(start, Math.min(end, this.inOrder));
      start = this.inOrder;
    }
    if (end <= start) return 'duplicate';
    const bytes = start === offset && end - start === data.length ? data : data.subarray(start - offset, end - offset);

    if (!this.ring.reserve(end - this.readPosition)) {
      this.duplicateFrom = this.duplicateTo = 0;
      return 'out-of-memory';
    }

    if (start === this.inOrder) {
      // The lowest held range may overlap the new in-order bytes: that part is a duplicate of held
      // data, absorbed below the cumulative ACK with the rest (RFC 2883 section 4 rule 1).
      const lowest = this.ranges[0];
      if (lowest !== undefined && lowest.start < end) this.noteDuplicate(lowest.start, Math.min(lowest.end, end));
      this.ring.write(start - this.readPosition, bytes);
      this.inOrder = end;
      this.absorbRanges();
      this.notePeak();
      return 'in-order';
    }

    // Out of order: find the ranges it touches (overlapping or adjacent) and count new bytes.
    const ranges = this.ranges;
    const first = this.firstRangeEndingAtOrAfter(start);
    let last = first;
    let overlap = 0;
    while (last < ranges.length && ranges[last]!.start <= end) {
      const r = ranges[last]!;
      const overlapStart = Math.max(r.start, start);
      const overlapEnd = Math.min(r.end, end);
      if (overlapEnd > overlapStart) {
        overlap += overlapEnd - overlapStart;
        this.noteDuplicate(overlapStart, overlapEnd);
      }
      last++;
    }
    const added = end - start - overlap;
    if (added > 0 && this.heldOutOfOrder + added > this.outOfOrderLimit) {
      // Refused: nothing of it was taken, so nothing is reported as received twice.
      this.duplicateFrom = this.duplicateTo = 0;
      return 'over-limit';
    }
    if (last === first && ranges.length >= this.maxRanges) {
      this.duplicateFrom = this.duplicateTo = 0;
      return 'range-limit';
    }
    this.ring.write(start - this.readPosition, bytes);
    this.heldOutOfOrder += added;
    let mergedStart = start;
    let mergedEnd = end;
    if (last > first) {
      mergedStart = Math.min(mergedStart, ranges[first]!.start);
      mergedEnd = Math.max(mergedEnd, ranges[last - 1]!.end);
    }
    const merged: HeldRange = { start: mergedStart, end: mergedEnd };
    ranges.splice(first, last - first, merged);
    // Ranges are disjoint: a recent one inside the merged range was one of those it replaced.
    const recent = this.recent.filter((r) => r.start < mergedStart || r.end > mergedEnd);
    recent.unshift(merged);
    if (recent.length > TCP_MAX_SACK_BLOCKS) recent.length = TCP_MAX_SACK_BLOCKS;
    this.recent = recent;
    this.notePeak();
    return 'out-of-order';
  }

  /** Copy in-order bytes into `into`; returns the count. */
  read(into: Uint8Array): number {
    const n = Math.min(into.length, this.inOrder - this.readPosition);
    if (n === 0) return 0;
    this.ring.copyOut(0, n, into);
    this.ring.advance(n);
    this.readPosition += n;
    if (this.readPosition === this.inOrder && this.ranges.length === 0) this.drained();
    return n;
  }

  /** Forget the unread and out-of-order data (after an abort). */
  clear(): void {
    this.readPosition = this.inOrder;
    this.ranges = [];
    this.recent = [];
    this.heldOutOfOrder = 0;
    this.ring.release();
    this.peakHeld = 0;
  }

  /** The connection is gone: its storage no longer counts against the budget (unread bytes stay readable). */
  detachFromBudget(): void {
    this.ring.detachFromBudget();
  }

  /** Nothing is held: the ring keeps its storage for a busy stream for a while, gives it back otherwise (ByteRing.drained). */
  private drained(): void {
    this.ring.drained(this.peakHeld);
    this.peakHeld = 0;
  }

  private notePeak(): void {
    const last = this.ranges.length > 0 ? this.ranges[this.ranges.length - 1]!.end : this.inOrder;
    if (last - this.readPosition > this.peakHeld) this.peakHeld = last - this.readPosition;
  }

  /** Keep the first (lowest) duplicated run of this insert. */
  private noteDuplicate(from: number, to: number): void {
    if (to <= from || this.duplicateTo > this.duplicateFrom) return;
    this.duplicateFrom = from;
    this.duplicateTo = to;
  }

  private absorbRanges(): void {
    const ranges = this.ranges;
    let i = 0;
    while (i < ranges.length && ranges[i]!.start <= this.inOrder) {
      const r = ranges[i]!;
      this.heldOutOfOrder -= r.end - r.start;
      if (r.end > this.inOrder) this.inOrder = r.end;
      i++;
    }
    if (i > 0) {
      ranges.splice(0, i);
      const inOrder = this.inOrder;
      if (this.recent.some((r) => r.end <= inOrder)) this.recent = this.recent.filter((r) => r.end > inOrder);
    }
  }

  /** Index of the first range whose end is >= offset (binary search). */
  private firstRangeEndingAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.end < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
