/**
 * The growable byte ring under SendBuffer and ReceiveBuffer.
 *
 * Callers address bytes by their distance from the ring's head (the oldest byte they still need),
 * so they keep stream offsets and the ring keeps ring indices. The allocation starts small and
 * doubles on demand up to `capacity`, so idle connections stay cheap while busy ones reach their
 * full window. Copies are block copies (Uint8Array.set); a contiguous view is a zero-copy subarray.
 */
export class ByteRing {
  private bytes: Uint8Array;
  /** Ring index of relative position 0. */
  private head = 0;

  constructor(
    readonly capacity: number,
    initialAllocation: number,
  ) {
    this.bytes = new Uint8Array(Math.min(capacity, initialAllocation));
  }

  /** Copy `data` to relative position `at`, growing first so that [0, at + data.length) fits. */
  write(at: number, data: Uint8Array): void {
    this.ensureAllocation(at + data.length);
    const size = this.bytes.length;
    const index = (this.head + at) % size;
    const first = Math.min(data.length, size - index);
    // Skip the subarray allocation in the common no-wrap case.
    this.bytes.set(first === data.length ? data : data.subarray(0, first), index);
    if (first < data.length) this.bytes.set(data.subarray(first), 0);
  }

  /**
   * The bytes [at, at + length) as one Uint8Array: a view into the ring when contiguous, a copy when
   * the range wraps. The view is valid until the next write, advance or reset.
   */
  view(at: number, length: number): Uint8Array {
    const size = this.bytes.length;
    const index = (this.head + at) % size;
    if (index + length <= size) return this.bytes.subarray(index, index + length);
    const copy = new Uint8Array(length);
    this.copyOut(at, length, copy);
    return copy;
  }

  /** Copy the bytes [at, at + length) into `into` from index 0. */
  copyOut(at: number, length: number, into: Uint8Array): void {
    const size = this.bytes.length;
    const index = (this.head + at) % size;
    const first = Math.min(length, size - index);
    into.set(this.bytes.subarray(index, index + first), 0);
    if (first < length) into.set(this.bytes.subarray(0, length - first), first);
  }

  /** Drop `n` bytes from the front: relative position n becomes 0. */
  advance(n: number): void {
    this.head = (this.head + n) % this.bytes.length;
  }

  /** Move the head to index 0; only when nothing is held, so that later writes and views start unwrapped. */
  reset(): void {
    this.head = 0;
  }

  private ensureAllocation(needed: number): void {
    const size = this.bytes.length;
    if (needed <= size) return;
    let next = size;
    while (next < needed) next *= 2;
    next = Math.min(next, this.capacity);
    const grown = new Uint8Array(next);
    // Rotate the whole ring so the head lands at index 0: every byte keeps its relative position,
    // which ReceiveBuffer needs for out-of-order data past the in-order bytes. Copying unused bytes
    // too costs at most the old size, once per doubling.
    grown.set(this.bytes.subarray(this.head), 0);
    grown.set(this.bytes.subarray(0, this.head), size - this.head);
    this.bytes = grown;
    this.head = 0;
  }
}
