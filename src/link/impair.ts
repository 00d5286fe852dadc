/**
 * A fault-injecting link for testing recovery (`--impair`, and the in-memory tests): it wraps
 * another link and drops, duplicates, reorders, delays and corrupts packets in both directions.
 * The kernel here has no netem, so this is where those faults come from.
 *
 * Decisions come from a seeded PRNG so that a failing run can be repeated exactly: with the
 * same seed and the same packets, the same packets are dropped, duplicated, and so on.
 * This is the edge of the stack, not protocol code, so it uses real timers (setTimeout).
 */
import type { Link } from './link.js';
import { copyBytes } from '../bytes.js';
import { mulberry32 } from '../random.js';

/** Faults `impairLink()` injects (`parseImpairSpec('loss=0.01,delay=20')`, the CLI's `--impair`). */
export interface ImpairSpec {
  /** Probability that a packet is dropped. */
  loss: number;
  /** Probability that a packet is delivered twice. */
  dup: number;
  /** Probability that a packet is held back and delivered after the next one. */
  reorder: number;
  /** Probability that one byte of a packet is changed. */
  corrupt: number;
  /** Extra latency for every packet, in milliseconds (0: none). */
  delayMs: number;
  /** PRNG seed; a random one when absent. */
  seed?: number;
}

/** Packets an impaired link has treated so far, by fault. */
export interface ImpairStats {
  /** Packets dropped. */
  dropped: number;
  /** Packets delivered twice. */
  duplicated: number;
  /** Packets delivered after their successor. */
  reordered: number;
  /** Packets delayed. */
  delayed: number;
  /** Packets with one byte changed. */
  corrupted: number;
}

/** A link with faults injected (`impairLink()`); `stats()` counts them. */
export type ImpairedLink = Link & {
  /** The faults injected so far. */
  stats(): ImpairStats;
};

/**
 * How long a packet picked for reordering waits for a successor before it is let go anyway, so
 * that the last packet of a burst is never held forever.
 */
export const REORDER_HOLD_MS = 10;

type ProbabilityKey = 'loss' | 'dup' | 'reorder' | 'corrupt';
const PROBABILITY_KEYS: readonly ProbabilityKey[] = ['loss', 'dup', 'reorder', 'corrupt'];
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
const DURATION = /^(\d+(?:\.\d*)?|\.\d+)(ms|s)$/;

/**
 * Parse `loss=0.05,dup=0.01,reorder=0.1,delay=20ms,corrupt=0.001,seed=42`. Every key is optional
 * (an empty spec impairs nothing); probabilities lie in [0, 1]; delay needs a unit (`ms` or `s`);
 * seed is an unsigned 32-bit integer. Throws an Error naming the offending part.
 */
export function parseImpairSpec(spec: string): ImpairSpec {
  const result: ImpairSpec = { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 };
  const text = spec.trim();
  if (text === '') return result;
  const seen = new Set<string>();
  for (const rawPart of text.split(',')) {
    const part = rawPart.trim();
    const bad = (why: string): Error => new Error(`bad impair spec part "${part}": ${why}`);
    const equals = part.indexOf('=');
    if (equals <= 0) throw bad('expected key=value');
    const key = part.slice(0, equals).trim();
    const value = part.slice(equals + 1).trim();
    if (seen.has(key)) throw bad(`"${key}" given twice`);
    seen.add(key);
    if ((PROBABILITY_KEYS as readonly string[]).includes(key)) {
      const probability = Number(value);
      if (!DECIMAL.test(value) || probability > 1) throw bad('probability must be a number in [0, 1]');
      result[key as ProbabilityKey] = probability;
    } else if (key === 'delay') {
      const match = DURATION.exec(value);
      if (!match) throw bad('delay needs a non-negative number with a unit, like 20ms or 0.5s');
      result.delayMs = Number(match[1]) * (match[2] === 's' ? 1000 : 1);
    } else if (key === 'seed') {
      const seed = Number(value);
      if (!/^\d+$/.test(value) || seed > 0xffffffff) throw bad('seed must be an integer in [0, 4294967295]');
      result.seed = seed;
    } else {
      throw bad(`unknown key "${key}" (known: loss, dup, reorder, delay, corrupt, seed)`);
    }
  }
  return result;
}

/**
 * Wrap `link` with faults in both directions: on packets the wrapped link receives, and on
 * packets sent through it. `options.random` replaces the seeded PRNG (for tests that script
 * exact decisions). `close()` cancels pending deliveries and closes the wrapped link.
 */
export function impairLink(link: Link, spec: ImpairSpec, options: { random?: () => number } = {}): ImpairedLink {
  const random = options.random ?? mulberry32(spec.seed ?? Math.floor(Math.random() * 0x100000000));
  return new FaultyLink(link, spec, random);
}

class FaultyLink implements Link {
  /** Live counters, updated by the two directions; stats() hands out a snapshot. */
  readonly counts: ImpairStats = { dropped: 0, duplicated: 0, reordered: 0, delayed: 0, corrupted: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private receiver: ((packets: readonly Uint8Array[]) => void) | undefined;
  private closed = false;
  private readonly inbound: Direction;
  private readonly outbound: Direction;

  constructor(
    private readonly inner: Link,
    spec: ImpairSpec,
    random: () => number,
  ) {
    // Received packets are views the wrapped link may reuse once its handler returns, so anything
    // kept past that (held for reordering, delayed) is copied. Sent packets already belong to us.
    this.inbound = new Direction(this, spec, random, true, (packets) => this.receiver?.(packets));
    this.outbound = new Direction(this, spec, random, false, (packets) => {
      for (const packet of packets) this.inner.send(packet);
    });
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get queuedBytes(): number | undefined {
    return this.inner.queuedBytes;
  }

  get queueCapacity(): number | undefined {
    return this.inner.queueCapacity;
  }

  setReceiver(receiver: (packets: readonly Uint8Array[]) => void): void {
    this.receiver = receiver;
    this.inner.setReceiver((packets) => {
      if (!this.closed) this.inbound.process(packets);
    });
  }

  send(packet: Uint8Array): void {
    if (!this.closed) this.outbound.process([packet]);
  }

  stats(): ImpairStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.inbound.discard();
    this.outbound.discard();
    await this.inner.close();
  }

  /** A timer that is forgotten when it fires and cancelled by close(). */
  later(ms: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) action();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }
}

/** The fault pipeline for one direction: loss, corruption, duplication, reordering, delay. */
class Direction {
  private held: Uint8Array | undefined;
  private heldTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: FaultyLink,
    private readonly spec: ImpairSpec,
    private readonly random: () => number,
    /** True when incoming packets are borrowed views that must be copied to be kept. */
    private readonly borrowed: boolean,
    private readonly deliver: (packets: Uint8Array[]) => void,
  ) {}

  process(packets: readonly Uint8Array[]): void {
    const ready: Uint8Array[] = [];
    for (const packet of packets) this.impair(packet, ready);
    this.forward(ready);
  }

  discard(): void {
    this.held = undefined;
    this.heldTimer = undefined;
  }

  private impair(original: Uint8Array, ready: Uint8Array[]): void {
    const { spec, random } = this;
    const stats = this.owner.counts;
    if (spec.loss > 0 && random() < spec.loss) {
      stats.dropped++;
      return;
    }
    let packet = original;
    if (spec.corrupt > 0 && packet.length > 0 && random() < spec.corrupt) {
      // A copy, so a buffer someone else may still read is never changed behind their back.
      packet = copyBytes(packet);
      const index = Math.floor(random() * packet.length);
      // XOR with 1..255 guarantees the byte really changes.
      packet[index] = packet[index]! ^ (1 + Math.floor(random() * 255));
      stats.corrupted++;
    }
    const duplicate = spec.dup > 0 && random() < spec.dup;
    this.reorder(packet, ready);
    if (duplicate) {
      stats.duplicated++;
      // A separate copy: the receiver of the first may modify it in place.
      this.reorder(copyBytes(packet), ready);
    }
  }

  private reorder(packet: Uint8Array, ready: Uint8Array[]): void {
    const held = this.held;
    if (held !== undefined) {
      // The held packet goes out right after its successor: that is the reordering.
      this.held = undefined;
      if (this.heldTimer !== undefined) this.owner.cancel(this.heldTimer);
      this.heldTimer = undefined;
      ready.push(packet, held);
      return;
    }
    if (this.spec.reorder > 0 && this.random() < this.spec.reorder) {
      this.owner.counts.reordered++;
      this.held = this.borrowed ? copyBytes(packet) : packet;
      this.heldTimer = this.owner.later(REORDER_HOLD_MS, () => {
        const stillHeld = this.held;
        this.held = undefined;
        this.heldTimer = undefined;
        if (stillHeld !== undefined) this.forward([stillHeld]);
      });
      return;
    }
    ready.push(packet);
  }

  private forward(packets: Uint8Array[]): void {
    if (packets.length === 0) return;
    const delayMs = this.spec.delayMs;
    if (delayMs <= 0) {
      this.deliver(packets);
      return;
    }
    this.owner.counts.delayed += packets.length;
    // Timers of equal duration fire in the order they were set, so a fixed delay keeps order.
    const kept = this.borrowed ? packets.map((packet) => copyBytes(packet)) : packets;
    this.owner.later(delayMs, () => this.deliver(kept));
  }
}
