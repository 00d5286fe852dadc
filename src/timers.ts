/**
 * The one timer facility of the stack: a min-heap of deadlines. Protocol objects register a
 * deadline and a callback; the driver (real or fake) calls `runExpired(now)` and asks
 * `nextDeadline()` to know when to wake up next. Cancelling is O(1) (the entry is marked dead
 * and discarded when it reaches the top), so re-arming a retransmission timer on every ACK is
 * cheap.
 *
 * Time arms itself: the queue tells its owner (`onEarlierDeadline`) whenever a new deadline is
 * earlier than everything queued, so a real-time driver that sleeps until the earliest deadline
 * can wake sooner, whoever scheduled it (an ACK handler, an API call, a timer callback).
 */
export interface TimerHandle {
  /** Cancel the timer; calling it after it fired or twice is harmless. */
  cancel(): void;
  readonly active: boolean;
}

interface Entry extends TimerHandle {
  deadline: number;
  seq: number;
  callback: (now: number) => void;
  alive: boolean;
}

/** The callback of a cancelled entry. */
function dropped(): void {}

export class DeadlineQueue {
  private heap: Entry[] = [];
  private insertionCounter = 0;
  private liveCount = 0;

  /**
   * @param onEarlierDeadline called with the new deadline when one is scheduled earlier than
   *   every entry in the heap, cancelled entries not yet discarded included. A driver armed for
   *   `nextDeadline()` is therefore never later than the earliest live deadline: an entry that
   *   does not trigger the call is no earlier than one the driver already wakes for (or wakes
   *   for after discarding a cancelled one).
   */
  constructor(private readonly onEarlierDeadline?: (deadline: number) => void) {}

  /** Number of timers still pending (cancelled ones excluded). */
  get size(): number {
    return this.liveCount;
  }

  /** Schedule `callback` to run once `now >= deadline`. */
  schedule(deadline: number, callback: (now: number) => void): TimerHandle {
    const entry: Entry = {
      deadline,
      seq: this.insertionCounter++,
      callback,
      alive: true,
      get active() {
        return this.alive;
      },
      cancel: () => {
        if (entry.alive) {
          entry.alive = false;
          this.liveCount--;
          // The entry stays in the heap until its deadline reaches the top (a FIN-WAIT-2 limit
          // 60 s on): it must not keep what the callback holds (a whole connection) alive.
          entry.callback = dropped;
        }
      },
    };
    this.liveCount++;
    this.push(entry);
    return entry;
  }

  /** The earliest live deadline, or undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    this.dropDead();
    return this.heap.length > 0 ? this.heap[0]!.deadline : undefined;
  }

  /**
   * Fire every timer whose deadline is <= now, earliest first (ties in scheduling order).
   * Timers scheduled by callbacks for a time <= now fire in the same call.
   * Returns the number of callbacks run.
   */
  runExpired(now: number): number {
    let fired = 0;
    for (;;) {
      this.dropDead();
      const top = this.heap[0];
      if (top === undefined || top.deadline > now) return fired;
      this.pop();
      top.alive = false;
      this.liveCount--;
      fired++;
      top.callback(now);
    }
  }

  private dropDead(): void {
    while (this.heap.length > 0 && !this.heap[0]!.alive) this.pop();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
    if (i === 0) this.onEarlierDeadline?.(entry.deadline);
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
