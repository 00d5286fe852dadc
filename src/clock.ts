/**
 * The stack's single notion of time. Protocol code never reads a clock itself: it is handed
 * `now` (milliseconds, monotonic, fractional allowed) by whoever drives it. This module gives
 * the two clocks: the real monotonic one and a fake one for deterministic tests. The driver is
 * elsewhere: the stack fires its DeadlineQueue on its clock, from one setTimeout that re-arms
 * itself whenever an earlier deadline is scheduled (src/stack.ts); with a FakeClock and
 * `manualTimers`, the test is the driver (test/support/manual-time.ts).
 */
export interface Clock {
  /** Monotonic milliseconds. Only differences are meaningful. */
  now(): number;
}

/** The real clock: `performance.now()`. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
};

/** A clock that only moves when a test moves it. */
export class FakeClock implements Clock {
  constructor(private current = 0) {}
  now(): number {
    return this.current;
  }
  /** Move time forward by `ms`. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError('FakeClock cannot go backwards');
    this.current += ms;
  }
  /** Move time forward to `ms`. */
  set(ms: number): void {
    if (ms < this.current) throw new RangeError('FakeClock cannot go backwards');
    this.current = ms;
  }
}
