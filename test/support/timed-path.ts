/**
 * A path in stack time for two stacks on one FakeClock: each direction has a propagation delay, a
 * bottleneck rate (packets queue behind each other) and seeded random loss, like the bench's lossy
 * path (nftables numgen drops in both directions, sub-millisecond RTT) but deterministic: the
 * driver moves the clock to the next packet arrival or timer deadline, so a run costs CPU time
 * only and repeats exactly for the same seed.
 */
import type { Link, LinkReceiver } from '../../src/link/link.js';
import { FakeClock } from '../../src/clock.js';
import { mulberry32 } from '../../src/random.js';
import { Stack } from '../../src/stack.js';
import type { TcpConfig } from '../../src/tcp/types.js';

export interface TimedPathSpec {
  /** Probability that a packet is dropped, each direction. */
  loss: number;
  /** One-way propagation delay in ms (RTT = twice this plus the time on the bottleneck). */
  oneWayMs: number;
  /** Bottleneck rate in bytes per ms each direction (125_000 = 1 Gbit/s). */
  bytesPerMs: number;
  /** Packets queued at the bottleneck at most, each direction; beyond it tail drop. */
  queueLimit: number;
  seed: number;
  mtu?: number;
  /** Sees every packet sent, with its fate (for tracing a run). */
  tap?: (direction: 'a>b' | 'b>a', now: number, packet: Uint8Array, lost: boolean) => void;
  tcp?: Partial<TcpConfig>;
}

interface InFlight {
  at: number;
  packet: Uint8Array;
}

/** One direction: a FIFO of packets with their arrival times. */
class Direction {
  readonly queue: InFlight[] = [];
  private head = 0;
  /** When the bottleneck is free to start the next packet. */
  private freeAt = 0;
  sent = 0;
  dropped = 0;
  receiver: LinkReceiver | undefined;

  constructor(
    readonly name: 'a>b' | 'b>a',
    private readonly clock: FakeClock,
    private readonly spec: TimedPathSpec,
    private readonly random: () => number,
  ) {}

  send(packet: Uint8Array): void {
    this.sent++;
    const lost = this.random() < this.spec.loss;
    this.spec.tap?.(this.name, this.clock.now(), packet, lost);
    if (lost) {
      this.dropped++;
      return;
    }
    const now = this.clock.now();
    if (this.queue.length - this.head >= this.spec.queueLimit && this.freeAt > now) {
      this.dropped++;
      return;
    }
    const start = Math.max(now, this.freeAt);
    this.freeAt = start + packet.length / this.spec.bytesPerMs;
    // The sender may reuse nothing it handed over, but copy anyway: the receiver may modify in place.
    this.queue.push({ at: this.freeAt + this.spec.oneWayMs, packet: packet.slice() });
  }

  nextArrival(): number | undefined {
    return this.head < this.queue.length ? this.queue[this.head]!.at : undefined;
  }

  /** Deliver every packet due by now, in one batch. Returns how many. */
  deliverDue(now: number): number {
    const batch: Uint8Array[] = [];
    while (this.head < this.queue.length && this.queue[this.head]!.at <= now) batch.push(this.queue[this.head++]!.packet);
    if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (batch.length > 0) this.receiver?.(batch);
    return batch.length;
  }
}

class TimedLink implements Link {
  constructor(
    readonly mtu: number,
    private readonly outbound: Direction,
    private readonly inbound: Direction,
  ) {}
  setReceiver(receiver: LinkReceiver): void {
    this.inbound.receiver = receiver;
  }
  send(packet: Uint8Array): void {
    this.outbound.send(packet);
  }
  close(): Promise<void> {
    this.inbound.receiver = undefined;
    return Promise.resolve();
  }
}

export interface TimedPair {
  a: Stack;
  b: Stack;
  clock: FakeClock;
  /** Change the loss probability of both directions from now on. */
  setLoss(loss: number): void;
  /** Packets sent and dropped each way (a to b, b to a). */
  stats(): { aToB: { sent: number; dropped: number }; bToA: { sent: number; dropped: number } };
  /**
   * Run until `work` settles: let the stacks and the application run (event-loop turns) until
   * nothing moves, then move the clock to the next arrival or timer deadline and deliver.
   */
  drive(work: Promise<unknown>, progress: () => number, limits?: { maxMs?: number; maxSteps?: number }): Promise<void>;
}

/** Stack A at 10.0.0.1 and stack B at 10.0.0.2 joined by a timed lossy path. */
export function timedPair(specIn: TimedPathSpec): TimedPair {
  const spec = { ...specIn };
  const clock = new FakeClock(0);
  const random = mulberry32(spec.seed);
  const aToB = new Direction('a>b', clock, spec, random);
  const bToA = new Direction('b>a', clock, spec, random);
  const mtu = spec.mtu ?? 1500;
  const common = { clock, manualTimers: true, tcp: spec.tcp };
  const a = new Stack({ link: new TimedLink(mtu, aToB, bToA), address: '10.0.0.1', ...common });
  const b = new Stack({ link: new TimedLink(mtu, bToA, aToB), address: '10.0.0.2', ...common });
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    a,
    b,
    clock,
    setLoss: (loss) => {
      spec.loss = loss;
    },
    stats: () => ({ aToB: { sent: aToB.sent, dropped: aToB.dropped }, bToA: { sent: bToA.sent, dropped: bToA.dropped } }),
    async drive(work, progress, limits = {}) {
      let settled = false;
      const settle = () => (settled = true);
      work.then(settle, settle);
      const maxMs = limits.maxMs ?? 600_000;
      const maxSteps = limits.maxSteps ?? 20_000_000;
      const activity = () => aToB.sent + bToA.sent + progress();
      let last = activity();
      let quiet = 0;
      for (let step = 0; !settled; step++) {
        if (step > maxSteps) throw new Error(`not done after ${maxSteps} steps`);
        if (clock.now() > maxMs) throw new Error(`not done within ${maxMs} ms of stack time`);
        await nextTurn();
        const now = activity();
        if (now !== last) {
          last = now;
          quiet = 0;
          continue;
        }
        if (++quiet < 2) continue;
        quiet = 0;
        const candidates = [aToB.nextArrival(), bToA.nextArrival(), a.timers.nextDeadline(), b.timers.nextDeadline()].filter(
          (t): t is number => t !== undefined,
        );
        if (candidates.length === 0) throw new Error('stalled: nothing in flight and no timer pending');
        const next = Math.max(clock.now(), Math.min(...candidates));
        clock.set(next);
        a.timers.runExpired(next);
        b.timers.runExpired(next);
        aToB.deliverDue(next);
        bToA.deliverDue(next);
        last = activity();
      }
      await work;
    },
  };
}
