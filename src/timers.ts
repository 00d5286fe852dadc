/**
 * The one timer facility of the stack: a min-heap of deadlines. Protocol objects register a
 * deadline and a callback; the driver (real or fake) calls `runExpired(now)` and asks
 * `nextDeadline()` to know when to wake up next. Cancelling removes the entry from the heap at
 * once (each entry knows its index, O(log n)), so a stack that arms and cancels timers for many
 * connections holds only the timers still pending, not every deadline it ever cancelled.
 *
 * Time arms itself: the queue tells its owner (`onEarlierDeadline`) whenever a new deadline is
 * earlier than everything queued, so a real-time driver that sleeps until the earliest deadline
 * can wake sooner, whoever scheduled it (an ACK handler, an API call, a timer callback).
 *
 * Faults are contained: an exception from one callback never stops the others. It goes to the
 * entry's own `onFault` (a connection aborts itself) and to the owner's `onCallbackError` (which
 * counts and logs it); without an owner's handler, the first one is rethrown once every due timer
 * has run.
 */
export interface TimerHandle {
  /** Cancel the timer; calling it after it fired or twice is harmless. */
  cancel(): void;
  readonly active: boolean;
  /** The time it was scheduled for. */
  readonly deadline: number;
}

/**
 * One scheduled deadline. A class with its getter and method on the prototype, not an object
 * literal: a literal with a getter is a dictionary-mode object with a getter closure of its own,
 * and V8 then kept every such entry, and through its callback the whole connection, alive across
 * young-generation collections until the next full one (measured: 3000 sequential connections
 * promoted about 19 KiB per connection pair to the old generation, the growth of
 * time_wait_3000_mib; with this class, about 3 KiB).
 */
class Entry implements TimerHandle {
  /** Position in the heap, -1 once fired or cancelled. */
  index = -1;

  constructor(
    /** The owning queue's removal, shared by all its entries. */
    private readonly removeFromQueue: (entry: Entry) => void,
    readonly deadline: number,
    readonly seq: number,
    readonly callback: (now: number, arg: unknown) => void,
    readonly onFault: ((error: unknown) => void) | undefined,
    /** Passed to the callback: one function can serve many owners without a closure for each. */
    readonly arg: unknown,
  ) {}

  get active(): boolean {
    return this.index >= 0;
  }

  cancel(): void {
    if (this.index >= 0) this.removeFromQueue(this);
  }
}

export class DeadlineQueue {
  private heap: Entry[] = [];
  private insertionCounter = 0;

  /**
   * @param onEarlierDeadline called with the new deadline when one is scheduled earlier than
   *   every entry in the heap. A driver armed for `nextDeadline()` is therefore never later than
   *   the earliest deadline: an entry that does not trigger the call is no earlier than one the
   *   driver already wakes for.
   * @param onCallbackError a timer callback threw (after the entry's own onFault ran).
   */
  constructor(
    private readonly onEarlierDeadline?: (deadline: number) => void,
    private readonly onCallbackError?: (error: unknown) => void,
  ) {}

  /** Number of timers pending: the heap holds nothing else. */
  get size(): number {
    return this.heap.length;
  }

  /**
   * Schedule `callback` to run once `now >= deadline`, with `arg` when given. `onFault` is told if
   * the callback throws, so the owner of the timer can end what the callback left half done.
   */
  schedule(deadline: number, callback: (now: number) => void, onFault?: (error: unknown) => void): TimerHandle;
  schedule<A>(
    deadline: number,
    callback: (now: number, arg: A) => void,
    onFault: ((error: unknown) => void) | undefined,
    arg: A,
  ): TimerHandle;
  schedule(deadline: number, callback: (now: number, arg: never) => void, onFault?: (error: unknown) => void, arg?: unknown): TimerHandle {
    // The overloads pair each callback with its own argument's type.
    const call = callback as (now: number, arg: unknown) => void;
    const entry = new Entry(this.removeEntry, deadline, this.insertionCounter++, call, onFault, arg);
    this.push(entry);
    return entry;
  }

  /** TimerHandle.cancel of a pending entry. */
  private readonly removeEntry = (entry: Entry): void => this.removeAt(entry.index);

  /** The earliest pending deadline, or undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    return this.heap[0]?.deadline;
  }

  /**
   * Fire every timer whose deadline is <= now, earliest first (ties in scheduling order).
   * Timers scheduled by callbacks for a time <= now fire in the same call.
   * Returns the number of callbacks run.
   */
  runExpired(now: number): number {
    let fired = 0;
    let unhandled: { error: unknown } | undefined;
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.deadline > now) break;
      this.removeAt(0);
      fired++;
      try {
        top.callback(now, top.arg);
      } catch (error) {
        if (!this.reportFault(top, error)) unhandled ??= { error };
      }
    }
    if (unhandled !== undefined) throw unhandled.error;
    return fired;
  }

  /** Tell the entry's owner and the queue's owner of a callback's exception; false if nobody heard it. */
  private reportFault(entry: Entry, error: unknown): boolean {
    try {
      entry.onFault?.(error);
    } catch (faultError) {
      // The clean-up failed too: the owner hears of both, one after the other.
      this.reportToOwner(faultError);
    }
    return this.reportToOwner(error);
  }

  private reportToOwner(error: unknown): boolean {
    if (this.onCallbackError === undefined) return false;
    this.onCallbackError(error);
    return true;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private place(entry: Entry, index: number): void {
    this.heap[index] = entry;
    entry.index = index;
  }

  private push(entry: Entry): void {
    this.heap.push(entry);
    const index = this.siftUp(entry, this.heap.length - 1);
    if (index === 0) this.onEarlierDeadline?.(entry.deadline);
  }

  /** Take the entry at `index` out of the heap: the last entry fills the hole and moves to its place. */
  private removeAt(index: number): void {
    const heap = this.heap;
    const removed = heap[index]!;
    removed.index = -1;
    const last = heap.pop()!;
    if (last === removed) return;
    if (index > 0 && this.less(last, heap[(index - 1) >> 1]!)) this.siftUp(last, index);
    else this.siftDown(last, index);
  }

  /** Move `entry` from `index` towards the root until its parent is no later; returns its index. */
  private siftUp(entry: Entry, index: number): number {
    const heap = this.heap;
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent]!;
      if (!this.less(entry, above)) break;
      this.place(above, i);
      i = parent;
    }
    this.place(entry, i);
    return i;
  }

  /** Move `entry` from `index` towards the leaves until no child is earlier. */
  private siftDown(entry: Entry, index: number): void {
    const heap = this.heap;
    const length = heap.length;
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.less(heap[right]!, heap[left]!) ? right : left;
      if (!this.less(heap[child]!, entry)) break;
      this.place(heap[child]!, i);
      i = child;
    }
    this.place(entry, i);
  }
}
