/**
 * The stack-wide limits on what TCP may hold, like Linux's tcp_mem and a cap on sockets: the bytes
 * of every connection's send and receive storage (`tcp.memoryBudget`) and the number of
 * connections (`tcp.maxConnections`). Every ring asks here before it grows; what is refused is
 * counted, and the caller decides what refusal means (a send buffer takes less, a receive buffer
 * drops the data, a SYN is dropped, dial fails).
 */
import type { Counters } from '../counters.js';
import type { BufferMemory } from './byte-ring.js';

export class TcpMemory implements BufferMemory {
  private reservedBytes = 0;
  private connectionCount = 0;

  constructor(
    readonly budgetBytes: number,
    readonly maxConnections: number,
    private readonly counters: Counters,
  ) {}

  /** Buffer bytes taken by every connection now. */
  get reserved(): number {
    return this.reservedBytes;
  }

  get connections(): number {
    return this.connectionCount;
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
