/**
 * The stack-wide limits on what TCP may hold, like Linux's tcp_mem and a cap on sockets: the bytes
 * of every connection's send and receive storage (`tcp.memoryBudget`) and the number of
 * connections (`tcp.maxConnections`). Every ring asks here before it grows; what is refused is
 * counted, and the caller decides what refusal means (a send buffer takes less, a receive buffer
 * drops the data, a SYN is dropped, dial fails).
 *
 * Buffers also shrink when idle here (issue 9: memory earned by use is given back). A ring that
 * drains with storage kept for a busy stream (ByteRing.drained) is watched; if no byte comes for
 * IDLE_BUFFER_RELEASE_MS it is released, counted `buffers_released_idle`. The watched rings are
 * kept in the order they went idle, so, like the TIME-WAIT table, one deadline on the stack's
 * queue (for the oldest) serves them all and a connection needs no timer of its own.
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

/** The stack's time, for the idle release. */
export interface MemoryTime {
  now(): number;
  timers: DeadlineQueue;
}

export class TcpMemory implements BufferMemory {
  private reservedBytes = 0;
  private connectionCount = 0;
  /** Idle rings with the time each went idle, oldest first. */
  private readonly idleRings = new Map<ByteRing, number>();
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
    return this.idleRings.size;
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
    this.idleRings.set(ring, this.time.now());
    if (this.idleTimer?.active !== true) this.armIdleRelease();
  }

  unwatchIdle(ring: ByteRing): void {
    this.idleRings.delete(ring);
  }

  /** One deadline, for the ring idle longest; it re-arms itself for the next. */
  private armIdleRelease(): void {
    const oldest = this.idleRings.values().next();
    this.idleTimer = oldest.done === true ? undefined : this.time.timers.schedule(oldest.value + IDLE_BUFFER_RELEASE_MS, this.releaseIdle);
  }

  private readonly releaseIdle = (now: number): void => {
    for (const [ring, since] of this.idleRings) {
      if (since + IDLE_BUFFER_RELEASE_MS > now) break;
      // release() leaves the map through unwatchIdle.
      ring.release();
      this.counters.add('buffers_released_idle');
    }
    this.armIdleRelease();
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
