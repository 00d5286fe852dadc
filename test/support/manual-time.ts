/**
 * Manual time for tests: a FakeClock and the DeadlineQueue it drives. `advance` moves the clock
 * to each pending deadline in turn and fires it there, so a timer scheduled by another timer's
 * callback runs at its own deadline, as it would in real time, never late at the end of the
 * step. Use it over a bare DeadlineQueue (a TCP connection under test) or over a Stack built
 * with `manualTimers: true` (`ManualTime.of(stack)`).
 */
import { FakeClock } from '../../src/clock.js';
import { DeadlineQueue } from '../../src/timers.js';

export class ManualTime {
  constructor(
    readonly clock = new FakeClock(),
    readonly timers = new DeadlineQueue(),
  ) {}

  /** The time of a stack (or anything with a FakeClock and a DeadlineQueue). */
  static of(owner: { readonly clock: unknown; readonly timers: DeadlineQueue }): ManualTime {
    if (!(owner.clock instanceof FakeClock)) throw new TypeError('ManualTime.of: the clock is not a FakeClock');
    return new ManualTime(owner.clock, owner.timers);
  }

  now(): number {
    return this.clock.now();
  }

  /** Move time forward by `ms`, firing every timer due on the way at its own deadline. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('ManualTime cannot go backwards');
    this.advanceTo(this.clock.now() + ms);
  }

  /** Move time forward to `target`, firing every timer due on the way at its own deadline. */
  advanceTo(target: number): void {
    for (;;) {
      const next = this.timers.nextDeadline();
      if (next === undefined || next > target) break;
      this.clock.set(Math.max(next, this.clock.now()));
      this.timers.runExpired(this.clock.now());
    }
    this.clock.set(target);
    this.timers.runExpired(target);
  }

  /** Fire what is due now without moving the clock. */
  runDue(): number {
    return this.timers.runExpired(this.clock.now());
  }
}
