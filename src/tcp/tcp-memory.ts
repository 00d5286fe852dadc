/**
 * The stack-wide limits on what TCP may hold, like Linux's tcp_mem and a cap on sockets: the bytes
 * of every connection's send and receive storage (`tcp.memoryBudget`) and the number of
 * connections (`tcp.maxConnections`). Every ring asks here before it grows; what is refused is
 * counted, and the caller decides what refusal means (a send buffer takes less, a receive buffer
 * drops the data, a SYN is dropped, dial fails).
 *
 * Buffers also shrink when idle here (issue 9: memory earned by use is given back). A ring that
 * drains with storage kept for a busy stream (ByteRing.drained) is watched; if no byte comes for
 * IDLE_BUFFER_RELEASE_MS it is released, counted `buffers_released_idle`, and a ring the sweep
 * finds drained but in use is released when the stream held no more than a quarter of it at any
 * drain since the previous sweep, counted `buffers_released_little_used`. One deadline on the
 * stack's queue serves every watched ring, so a connection needs no timer of its own. A ring that
 * takes bytes again only has its entry marked (NOT_IDLE), not deleted: a busy stream drains and
 * refills between every read or ACK, and a Map delete and insert per drain (V8 compacts the
 * deleted slots away) cost 2.7% of the main thread in a 300 MB/s upload. The sweep, once per
 * IDLE_BUFFER_RELEASE_MS while any ring is watched, removes marked entries and releases the rings
 * idle long enough; entries are then no longer in idle order, so it reads them all.
 */
import type { Counters } from '../counters.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import type { BufferMemory, ByteRing } from './byte-ring.js';

/**
 * How long a drained ring keeps storage grown for a busy stream. Between the reads or ACKs of a
 * transfer a buffer drains for a round trip at most; a stream that sends nothing for a second has
 * paused, and taking the storage again costs one copy per doubling.
 */
export const IDLE_BUFFER_RELEASE_MS = 1000;

/** The idle-since time of a watched ring that holds bytes again (a value no clock gives). */
const NOT_IDLE = -1;

/** The stack's time, for the idle release. */
export interface MemoryTime {
  now(): number;
  timers: DeadlineQueue;
}

export class TcpMemory implements BufferMemory {
  private reservedBytes = 0;
  private connectionCount = 0;
  /** Watched rings with the time each went idle, or NOT_IDLE once it holds bytes again. */
  private readonly idleRings = new Map<ByteRing, number>();
  /** Entries of idleRings that are idle (not NOT_IDLE). */
  private idleCount = 0;
  private idleTimer: TimerHandle | undefined;

  constructor(
    readonly budgetBytes: number,
    readonly maxConnections: number,
    private readonly counters: Counters,
    private readonly time: MemoryTime,
  ) {}

  /** Buffer bytes taken by every connection now. */
  get reserved(): number {
    return this.reservedBytes;
  }

  get connections(): number {
    return this.connectionCount;
  }

  /** Drained rings that still hold storage, waiting for IDLE_BUFFER_RELEASE_MS. */
  get idleRingCount(): number {
    return this.idleCount;
  }

  /** Over the budget, a ring's growth is refused (counted) unless forced (its first, guaranteed allocation). */
  reserve(bytes: number, force: boolean): boolean {
    if (!force && this.reservedBytes + bytes > this.budgetBytes) {
      this.counters.add('memory_budget_refusals');
      return false;
    }
    this.reservedBytes += bytes;
    return true;
  }

  free(bytes: number): void {
    this.reservedBytes -= bytes;
  }

  available(): number {
    return Math.max(0, this.budgetBytes - this.reservedBytes);
  }

  watchIdle(ring: ByteRing): void {
    const now = this.time.now();
    const since = this.idleRings.get(ring);
    if (since === undefined || since === NOT_IDLE) this.idleCount++;
    this.idleRings.set(ring, now);
    if (this.idleTimer?.active !== true) this.idleTimer = this.time.timers.schedule(now + IDLE_BUFFER_RELEASE_MS, this.releaseIdle);
  }

  unwatchIdle(ring: ByteRing): void {
    const since = this.idleRings.get(ring);
    if (since === undefined || since === NOT_IDLE) return;
    this.idleCount--;
    this.idleRings.set(ring, NOT_IDLE);
  }

  /** Release what was idle long enough or little used, drop the marked entries, and re-arm for the next ring due. */
  private readonly releaseIdle = (now: number): void => {
    this.idleTimer = undefined;
    let nextDue = Number.POSITIVE_INFINITY;
    for (const [ring, since] of this.idleRings) {
      if (since === NOT_IDLE) {
        this.idleRings.delete(ring);
      } else if (since + IDLE_BUFFER_RELEASE_MS <= now) {
        // release() marks the entry through unwatchIdle; it is gone before the next sweep.
        ring.release();
        this.idleRings.delete(ring);
        this.counters.add('buffers_released_idle');
      } else if (ring.releaseIfLittleUsed()) {
        this.idleRings.delete(ring);
        this.counters.add('buffers_released_little_used');
      } else {
        nextDue = Math.min(nextDue, since + IDLE_BUFFER_RELEASE_MS);
      }
    }
    if (nextDue !== Number.POSITIVE_INFINITY) this.idleTimer = this.time.timers.schedule(nextDue, this.releaseIdle);
  };

  /** No room for one more connection: a SYN is dropped, dial fails (the caller counts which). */
  get atConnectionLimit(): boolean {
    return this.connectionCount >= this.maxConnections;
  }

  addConnection(): void {
    this.connectionCount++;
  }

  removeConnection(): void {
    this.connectionCount--;
  }
}
