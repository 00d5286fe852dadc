/**
 * The growable byte ring under SendBuffer and ReceiveBuffer.
 *
 * Callers address bytes by their distance from the ring's head (the oldest byte they still need),
 * so they keep stream offsets and the ring keeps ring indices. A ring holds no storage until the
 * first write, then starts at `initialAllocation` and doubles on demand up to `capacity`, each
 * growth past the first allocation asked of the stack's memory budget (the first one is granted
 * always, as Linux guarantees tcp_rmem[0] / tcp_wmem[0] to every socket). Once drained (the owner
 * calls drained()) storage of the first-allocation size goes back at once, so idle connections
 * cost no buffer memory; grown storage stays for the stream's next bytes, and the stack's memory
 * (tcp-memory.ts) takes it back when the ring stays empty for a while or, about once a second,
 * when the stream used little of it since the last look (releaseIfLittleUsed), so a connection
 * that was busy and went idle or quiet gives back what it grew. Copies are block copies
 * (Uint8Array.set); a contiguous view is a zero-copy subarray.
 */
import { setBytes } from '../bytes.js';

/** Where a ring's bytes are accounted: the stack-wide budget (tcp-memory.ts). */
export interface BufferMemory {
  /** Take `bytes` from the budget; false (and nothing taken) when that would exceed it, unless `force`. */
  reserve(bytes: number, force: boolean): boolean;
  /** Give back `bytes` taken before. */
  free(bytes: number): void;
  /** Bytes the budget can still grant. */
  available(): number;
  /** `ring` drained and kept its storage: release() it if it stays empty long enough. */
  watchIdle(ring: ByteRing): void;
  /** `ring` holds bytes again (or is released, or leaves the budget): no longer idle. */
  unwatchIdle(ring: ByteRing): void;
}

/** Accounts nothing and keeps idle storage: rings outside a stack (unit tests) grow up to their capacity. */
export const UNLIMITED_MEMORY: BufferMemory = {
  reserve: () => true,
  free: () => {},
  available: () => Number.POSITIVE_INFINITY,
  watchIdle: () => {},
  unwatchIdle: () => {},
};

const NO_STORAGE = new Uint8Array(0);

/**
 * Storage of the first-allocation size given back by drained rings, for the next ring to take:
 * a keep-alive connection drains its buffers after every request and response, and allocating a
 * zeroed 4 KiB ArrayBuffer each time (off the V8 heap, with its accounting and the GC pressure of
 * external memory) was a measurable part of a request. Bounded; taken storage is zeroed, so no
 * byte of one connection is ever visible to another.
 */
const spareStorage: Uint8Array[] = [];
const MAX_SPARE_STORAGE = 64;

function takeStorage(size: number, firstAllocation: number): Uint8Array {
  if (size === firstAllocation) {
    const spare = spareStorage.pop();
    if (spare !== undefined && spare.length === size) return spare.fill(0);
  }
  return new Uint8Array(size);
}

function giveBackStorage(bytes: Uint8Array, firstAllocation: number): void {
  if (bytes.length === firstAllocation && spareStorage.length < MAX_SPARE_STORAGE) spareStorage.push(bytes);
}

export class ByteRing {
  private bytes: Uint8Array = NO_STORAGE;
  /** Ring index of relative position 0. */
  private head = 0;
  /** Drained with its storage kept, and told to the memory (watchIdle) until bytes come again. */
  private idle = false;
  /** The most the owner held between two drains since the memory last looked (releaseIfLittleUsed). */
  private recentPeak = 0;

  constructor(
    readonly capacity: number,
    private readonly initialAllocation: number,
    private memory: BufferMemory = UNLIMITED_MEMORY,
  ) {}

  /** Bytes of storage held now. */
  get allocated(): number {
    return this.bytes.length;
  }

  /**
   * Grow so that relative positions [0, needed) fit, if the capacity and the memory budget allow.
   * False when they do not: the caller takes less (send) or drops the data (receive).
   */
  reserve(needed: number): boolean {
    const size = this.bytes.length;
    if (needed <= size) return true;
    if (needed > this.capacity) return false;
    let next = size === 0 ? Math.min(this.capacity, this.initialAllocation) : size;
    while (next < needed) next *= 2;
    next = Math.min(next, this.capacity);
    if (!this.memory.reserve(next - size, false)) {
      if (size > 0) return false;
      // The first allocation is granted over the budget too (Linux's tcp_rmem[0] / tcp_wmem[0]).
      next = Math.min(this.capacity, this.initialAllocation);
      this.memory.reserve(next, true);
      this.resize(next);
      return needed <= next;
    }
    this.resize(next);
    return true;
  }

  private resize(next: number): void {
    const size = this.bytes.length;
    const grown = takeStorage(next, this.initialAllocation);
    if (size > 0) {
      // Rotate the whole ring so the head lands at index 0: every byte keeps its relative
      // position, which ReceiveBuffer needs for out-of-order data past the in-order bytes. Copying
      // unused bytes too costs at most the old size, once per doubling.
      grown.set(this.bytes.subarray(this.head), 0);
      grown.set(this.bytes.subarray(0, this.head), size - this.head);
    }
    this.bytes = grown;
    this.head = 0;
  }

  /** Copy `data` to relative position `at`; [0, at + data.length) must fit (reserve first). */
  write(at: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.idle) this.endIdle();
    if (!this.reserve(at + data.length)) throw new RangeError(`ring write past its storage: ${at + data.length} > ${this.bytes.length}`);
    const size = this.bytes.length;
    const index = (this.head + at) % size;
    const first = Math.min(data.length, size - index);
    // Skip the subarray allocation in the common no-wrap case. setBytes: `data` is often a view
    // into the TUN device's shared receive ring.
    setBytes(this.bytes, index, first === data.length ? data : data.subarray(0, first));
    if (first < data.length) setBytes(this.bytes, 0, data.subarray(first));
  }

  /**
   * The bytes [at, at + length) as one Uint8Array: a view into the ring when contiguous, a copy when
   * the range wraps. The view is valid until the next write, advance, reset or release.
   */
  view(at: number, length: number): Uint8Array {
    const size = this.bytes.length;
    if (length === 0 || size === 0) return NO_STORAGE;
    const index = (this.head + at) % size;
    if (index + length <= size) return this.bytes.subarray(index, index + length);
    const copy = new Uint8Array(length);
    this.copyOut(at, length, copy);
    return copy;
  }

  /** Copy the bytes [at, at + length) into `into` from index 0. */
  copyOut(at: number, length: number, into: Uint8Array): void {
    const size = this.bytes.length;
    if (length === 0 || size === 0) return;
    const index = (this.head + at) % size;
    const first = Math.min(length, size - index);
    into.set(this.bytes.subarray(index, index + first), 0);
    if (first < length) into.set(this.bytes.subarray(0, length - first), first);
  }

  /** Drop `n` bytes from the front: relative position n becomes 0. */
  advance(n: number): void {
    const size = this.bytes.length;
    if (size > 0) this.head = (this.head + n) % size;
  }

  /**
   * Nothing is held any more (the owner's last byte was read or acknowledged); `peakHeld` is the
   * most the owner held since it last drained. Storage no larger than the first allocation (cheap
   * to take again) goes back at once. Grown storage stays, from index 0 so that later writes and
   * views start unwrapped, and the memory it is accounted in watches it (watchIdle): it goes back
   * after a while without a byte, or when the stream used little of it (releaseIfLittleUsed).
   *
   * One drain says little about the next: a reader that keeps up drains after every batch of
   * segments, holding a fraction of what a moment's lag (a GC pause) made the ring grow to. Given
   * back at such a drain, the ring regrew by doubling from the first allocation for the next batch:
   * with 64 KiB TSO super-segments, 44 MB of fresh zeroed storage and its copies per 64 MiB
   * received, and the external memory V8 then collected with a full mark-compact every ~10 MB.
   */
  drained(peakHeld: number): void {
    const size = this.bytes.length;
    if (size <= this.initialAllocation) {
      this.release();
      return;
    }
    if (peakHeld > this.recentPeak) this.recentPeak = peakHeld;
    this.head = 0;
    if (!this.idle) {
      this.idle = true;
      this.memory.watchIdle(this);
    }
  }

  /**
   * The connection is gone: its storage no longer counts against the budget. Bytes still held stay
   * readable (data that arrived before a reset) until the socket itself is dropped; storage that
   * holds nothing goes back at once.
   */
  detachFromBudget(): void {
    if (this.idle) this.release();
    this.memory.free(this.bytes.length);
    this.memory = UNLIMITED_MEMORY;
  }

  /**
   * For the memory's periodic look at a drained ring still in use: when the stream held at most a
   * quarter of the storage at any drain since the last look (the transfer that grew it is over),
   * release it (true); otherwise start a new period. Only while drained (nothing held).
   */
  releaseIfLittleUsed(): boolean {
    const littleUsed = this.recentPeak * 4 <= this.bytes.length;
    this.recentPeak = 0;
    if (littleUsed) this.release();
    return littleUsed;
  }

  /** Give the storage back (to the budget and the GC); only when nothing is held. */
  release(): void {
    if (this.idle) this.endIdle();
    this.memory.free(this.bytes.length);
    giveBackStorage(this.bytes, this.initialAllocation);
    this.bytes = NO_STORAGE;
    this.head = 0;
    this.recentPeak = 0;
  }

  private endIdle(): void {
    this.idle = false;
    this.memory.unwatchIdle(this);
  }
}
