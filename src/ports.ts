/**
 * Port allocation for one transport protocol. Ephemeral ports come from 49152-65535 (RFC 6335
 * 6, the IANA dynamic range) starting at a random point, so that successive runs don't reuse the
 * same ports (RFC 6056 spirit).
 */
import { NetError } from './errors.js';
import type { RandomSource } from './random.js';
import { MAX_PORT } from './wire/address.js';

export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_LAST = MAX_PORT;

export class PortTable<T> {
  private readonly owners = new Map<number, T>();
  private nextEphemeral: number;

  /** @param random where the first ephemeral port is drawn from (the stack's RandomSource) */
  constructor(
    readonly protocol: string,
    random: RandomSource,
  ) {
    this.nextEphemeral = EPHEMERAL_FIRST + Math.floor(random.float() * (EPHEMERAL_LAST - EPHEMERAL_FIRST + 1));
  }

  get size(): number {
    return this.owners.size;
  }

  get(port: number): T | undefined {
    return this.owners.get(port);
  }

  has(port: number): boolean {
    return this.owners.has(port);
  }

  /**
   * Bind `owner` to `port`, or to a free ephemeral port when `port` is 0. Throws EADDRINUSE when
   * the port is taken (or every ephemeral port is), EINVAL for a port outside 0..65535.
   */
  bind(port: number, owner: T, isFree: (port: number) => boolean = (p) => !this.owners.has(p)): number {
    if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
      throw new NetError('EINVAL', `${this.protocol} port ${port} is out of range 0-${MAX_PORT}`);
    }
    if (port !== 0) {
      if (!isFree(port)) throw new NetError('EADDRINUSE', `${this.protocol} port ${port} is already in use`);
      this.owners.set(port, owner);
      return port;
    }
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const candidate = this.nextEphemeral;
      this.nextEphemeral = candidate === EPHEMERAL_LAST ? EPHEMERAL_FIRST : candidate + 1;
      if (isFree(candidate)) {
        this.owners.set(candidate, owner);
        return candidate;
      }
    }
    throw new NetError('EADDRINUSE', `no free ephemeral ${this.protocol} port`);
  }

  /** Every (port, owner) pair (a snapshot). */
  entries(): Array<[number, T]> {
    return [...this.owners.entries()];
  }

  /** Every current owner (a snapshot, safe to mutate the table while iterating). */
  allOwners(): T[] {
    return [...this.owners.values()];
  }

  release(port: number, owner: T): void {
    if (this.owners.get(port) === owner) this.owners.delete(port);
  }
}
