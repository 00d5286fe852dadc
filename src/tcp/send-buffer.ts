/**
 * The send buffer: bytes the application wrote that are not yet acknowledged (RFC 9293 3.8.6:
 * data stays retransmittable until SND.UNA passes it).
 *
 * Positions are stream offsets: byte 0 is the first byte the application ever wrote, so offsets
 * never wrap (doubles are exact to 2^53). A ring that grows on demand up to `capacity` holds
 * [startOffset, endOffset); segments get subarray views of it, so the hot path copies each byte
 * once on write and once into the packet. It holds no storage until the first write, grows only as
 * far as the stack's memory budget allows (write then takes less: backpressure), and gives its
 * storage back when everything was acknowledged (ByteRing.drained: at once when the data was
 * small, after a while without new data when it was a busy stream's).
 */

import { ByteRing, UNLIMITED_MEMORY, type BufferMemory } from './byte-ring.js';
import { INITIAL_BUFFER_ALLOCATION } from './receive-buffer.js';

export class SendBuffer {
  /** Relative position 0 is startOffset. */
  private readonly ring: ByteRing;
  private held = 0;
  private start = 0;
  /** Most bytes held since the buffer last drained. */
  private peakHeld = 0;

  constructor(
    readonly capacity: number,
    memory: BufferMemory = UNLIMITED_MEMORY,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad send buffer capacity ${capacity}`);
    this.ring = new ByteRing(capacity, INITIAL_BUFFER_ALLOCATION, memory);
  }

  /** Bytes of storage held now (0 when drained and idle). */
  get allocated(): number {
    return this.ring.allocated;
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

  /**
   * Copy as much of `data` as fits; returns the number of bytes taken. Over the memory budget the
   * storage does not grow and only what fits in it is taken (the first allocation is always granted,
   * so a full buffer has data in flight whose ACK frees room).
   */
  write(data: Uint8Array): number {
    let n = Math.min(data.length, this.capacity - this.held);
    if (n > 0 && !this.ring.reserve(this.held + n)) n = Math.max(0, this.ring.allocated - this.held);
    if (n === 0) return 0;
    this.ring.write(this.held, n === data.length ? data : data.subarray(0, n));
    this.held += n;
    if (this.held > this.peakHeld) this.peakHeld = this.held;
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
    return this.ring.view(rel, length);
  }

  /** Drop everything before `offset` (it was acknowledged). Returns the number of bytes freed. */
  releaseTo(offset: number): number {
    const n = Math.min(Math.max(0, offset - this.start), this.held);
    if (n === 0) return 0;
    this.ring.advance(n);
    this.held -= n;
    this.start += n;
    if (this.held === 0) {
      this.ring.drained(this.peakHeld);
      this.peakHeld = 0;
    }
    return n;
  }

  /** The connection is gone: its storage no longer counts against the budget. */
  detachFromBudget(): void {
    this.ring.detachFromBudget();
  }
}
