/**
 * The send buffer: bytes the application wrote that are not yet acknowledged (RFC 9293 3.8.6:
 * data stays retransmittable until SND.UNA passes it).
 *
 * Positions are stream offsets: byte 0 is the first byte the application ever wrote, so offsets
 * never wrap (doubles are exact to 2^53). A ring that grows on demand up to `capacity` holds
 * [startOffset, endOffset); segments get subarray views of it, so the hot path copies each byte
 * once on write and once into the packet.
 */

const INITIAL_ALLOCATION = 16 * 1024;

export class SendBuffer {
  private ring: Uint8Array;
  /** Ring index of startOffset. */
  private head = 0;
  private held = 0;
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad send buffer capacity ${capacity}`);
    this.ring = new Uint8Array(Math.min(capacity, INITIAL_ALLOCATION));
  }

  /** Bytes held: unacknowledged plus unsent. */
  get length(): number {
    return this.held;
  }

  get freeSpace(): number {
    return this.capacity - this.held;
  }

  /** Stream offset of the first byte still held (everything before it was acknowledged). */
  get startOffset(): number {
    return this.start;
  }

  /** Stream offset just past the last byte written. */
  get endOffset(): number {
    return this.start + this.held;
  }

  /** Copy as much of `data` as fits; returns the number of bytes taken. */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.capacity - this.held);
    if (n === 0) return 0;
    this.ensureAllocation(this.held + n);
    const size = this.ring.length;
    const tail = (this.head + this.held) % size;
    const first = Math.min(n, size - tail);
    this.ring.set(first === data.length ? data : data.subarray(0, first), tail);
    if (first < n) this.ring.set(data.subarray(first, n), 0);
    this.held += n;
    return n;
  }

  /**
   * The bytes [offset, offset + length) as one Uint8Array: a view into the ring when contiguous,
   * a copy when the range wraps. Valid until the next write or release.
   */
  view(offset: number, length: number): Uint8Array {
    const rel = offset - this.start;
    if (rel < 0 || length < 0 || rel + length > this.held) {
      throw new RangeError(`send buffer range [${offset}, ${offset + length}) outside [${this.start}, ${this.endOffset})`);
    }
    const size = this.ring.length;
    const from = (this.head + rel) % size;
    if (from + length <= size) return this.ring.subarray(from, from + length);
    const copy = new Uint8Array(length);
    const first = size - from;
    copy.set(this.ring.subarray(from, size), 0);
    copy.set(this.ring.subarray(0, length - first), first);
    return copy;
  }

  /** Drop everything before `offset` (it was acknowledged). Returns the number of bytes freed. */
  releaseTo(offset: number): number {
    const n = Math.min(Math.max(0, offset - this.start), this.held);
    if (n === 0) return 0;
    this.head = (this.head + n) % this.ring.length;
    this.held -= n;
    this.start += n;
    if (this.held === 0) this.head = 0;
    return n;
  }

  private ensureAllocation(needed: number): void {
    const size = this.ring.length;
    if (needed <= size) return;
    let next = size;
    while (next < needed) next *= 2;
    next = Math.min(next, this.capacity);
    const grown = new Uint8Array(next);
    // Linearize: the held bytes move to index 0 of the new ring.
    const first = Math.min(this.held, size - this.head);
    grown.set(this.ring.subarray(this.head, this.head + first), 0);
    if (first < this.held) grown.set(this.ring.subarray(0, this.held - first), first);
    this.ring = grown;
    this.head = 0;
  }
}
