/**
 * Blocking API calls (read, accept, write under backpressure) park on a Wakeup until the
 * protocol side signals progress, a deadline passes, or an AbortSignal fires. The deadline timer
 * lives on the stack's DeadlineQueue so a fake clock drives it in tests. Callers loop: wake,
 * re-check their condition, re-check the deadline, wait again.
 */
import { abortError } from '../errors.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';

/** Settled once: onWake's callbacks run as its reactions. */
const RESOLVED = Promise.resolve();

export class Wakeup {
  private waiters: Array<() => void> = [];
  /** onWake's callbacks without a deadline, made on the first. */
  private callbacks: Array<() => void> | undefined;

  /** @param timers the stack's deadlines; scheduling one wakes the stack's driver by itself */
  constructor(private readonly timers: DeadlineQueue) {}

  get waiting(): number {
    return this.waiters.length + (this.callbacks?.length ?? 0);
  }

  /** Wake every parked caller; each re-checks its own condition. */
  wakeAll(): void {
    const callbacks = this.callbacks;
    if (callbacks !== undefined && callbacks.length > 0) {
      this.callbacks = undefined;
      // A reaction on a settled promise: queueMicrotask would make an AsyncResource and a bound
      // function per call.
      for (const callback of callbacks) void RESOLVED.then(callback);
    }
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Call `callback` once, from a microtask, when woken or when `deadline` (stack clock ms) passes:
   * wait() without a promise, for stream adapters that re-check in a callback. `callback` must
   * not throw. The microtask keeps it out of the protocol code that wakes (a segment being
   * handled), as a promise's continuation is.
   */
  onWake(callback: () => void, deadline: number | undefined): void {
    if (deadline === undefined) {
      // The callback itself is parked, no closure per wait; an own-sized array, as wait()'s.
      if (this.callbacks === undefined || this.callbacks.length === 0) this.callbacks = [callback];
      else this.callbacks.push(callback);
      return;
    }
    // With a deadline: wait()'s timed park (it never rejects without a signal), the callback as
    // the reaction of its promise.
    void this.wait(deadline, undefined).then(callback);
  }

  /**
   * Park until woken, until `deadline` (stack clock ms) passes, or until `signal` aborts
   * (rejects with an ABORT_ERR NetError).
   */
  wait(deadline: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // The common wait (a read or accept with no deadline and no signal) parks the promise's own
    // resolve: no closures of ours to keep per idle connection.
    // A first waiter gets an array of its own size: a push onto the empty array would reserve
    // room for 17, kept by every idle connection parked in a read.
    if (deadline === undefined && signal === undefined)
      return new Promise<void>((resolve) => (this.waiters.length === 0 ? (this.waiters = [resolve]) : this.waiters.push(resolve)));
    return new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const finish = () => {
        timer?.cancel();
        signal?.removeEventListener('abort', onAbort);
        const index = this.waiters.indexOf(finish);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve();
      };
      const onAbort = () => {
        timer?.cancel();
        const index = this.waiters.indexOf(finish);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(abortError(signal!));
      };
      this.waiters.push(finish);
      if (deadline !== undefined) {
        timer = this.timers.schedule(deadline, finish);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Convert a Go-style absolute deadline (a Date, or null/undefined for none) to stack clock ms. */
export function deadlineToClock(when: Date | null | undefined, clockNow: number): number | undefined {
  if (when === null || when === undefined) return undefined;
  const time = when.getTime();
  if (Number.isNaN(time)) return undefined;
  return clockNow + (time - Date.now());
}
