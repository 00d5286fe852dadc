/**
 * The send buffer: bytes the application wrote that are not yet acknowledged (RFC 9293 3.8.6:
 * data stays retransmittable until SND.UNA passes it).
 *
 * Positions are stream offsets: byte 0 is the first byte the application ever wrote, so offsets
 * never wrap (doubles are exact to 2^53). A ring that grows on demand up to `capacity` holds
 * [startOffset, endOffset); segments get subarray views of it, so the hot path copies each byte
 * once on write and once into the packet.
 */

import { ByteRing } from './byte-ring.js';

const INITIAL_ALLOCATION = 16 * 1024;

export class SendBuffer {
  /** Relative position 0 is startOffset. */
  private readonly ring: ByteRing;
  private held = 0;
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad send buffer capacity ${capacity}`);
    this.ring = new ByteRing(capacity, INITIAL_ALLOCATION);
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
    this.ring.write(this.held, n === data.length ? data : data.subarray(0, n));
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
    return this.ring.view(rel, length);
  }

  /** Drop everything before `offset` (it was acknowledged). Returns the number of bytes freed. */
  releaseTo(offset: number): number {
    const n = Math.min(Math.max(0, offset - this.start), this.held);
    if (n === 0) return 0;
    this.ring.advance(n);
    this.held -= n;
    this.start += n;
    if (this.held === 0) this.ring.reset();
    return n;
  }
}
