import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../src/timers.js';
import { FakeClock } from '../../src/clock.js';

describe('DeadlineQueue', () => {
  it('fires in deadline order regardless of scheduling order, only when due', () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    queue.schedule(30, () => fired.push('c'));
    queue.schedule(10, () => fired.push('a'));
    queue.schedule(20, () => fired.push('b'));
    expect(queue.runExpired(9)).toBe(0);
    expect(fired).toEqual([]);
    expect(queue.runExpired(20)).toBe(2);
    expect(fired).toEqual(['a', 'b']);
    expect(queue.runExpired(100)).toBe(1);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it('breaks ties in scheduling order', () => {
    const queue = new DeadlineQueue();
    const fired: number[] = [];
    for (let i = 0; i < 20; i++) queue.schedule(5, () => fired.push(i));
    queue.runExpired(5);
    expect(fired).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('passes now to the callback', () => {
    const queue = new DeadlineQueue();
    let seen = -1;
    queue.schedule(10, (now) => (seen = now));
    queue.runExpired(12.5);
    expect(seen).toBe(12.5);
  });

  it('passes the argument it was scheduled with, and tells the handle its deadline', () => {
    const q = new DeadlineQueue();
    const seen: Array<[number, string]> = [];
    const record = (now: number, owner: { name: string }): void => void seen.push([now, owner.name]);
    const handle = q.schedule(7, record, undefined, { name: 'a' });
    q.schedule(8, record, undefined, { name: 'b' });
    expect(handle.deadline).toBe(7);
    q.runExpired(10);
    expect(seen).toEqual([
      [10, 'a'],
      [10, 'b'],
    ]);
  });

  it('cancels: a cancelled timer never fires, cancelling twice or after firing is harmless', () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    const a = queue.schedule(10, () => fired.push('a'));
    const b = queue.schedule(20, () => fired.push('b'));
    expect(a.active).toBe(true);
    a.cancel();
    a.cancel();
    expect(a.active).toBe(false);
    expect(queue.size).toBe(1);
    expect(queue.nextDeadline()).toBe(20);
    expect(queue.runExpired(100)).toBe(1);
    expect(fired).toEqual(['b']);
    expect(b.active).toBe(false);
    b.cancel();
    expect(queue.size).toBe(0);
  });

  it('reports nextDeadline and size, skipping cancelled entries', () => {
    const queue = new DeadlineQueue();
    expect(queue.nextDeadline()).toBeUndefined();
    const early = queue.schedule(5, () => {});
    queue.schedule(15, () => {});
    queue.schedule(10, () => {});
    expect(queue.size).toBe(3);
    expect(queue.nextDeadline()).toBe(5);
    early.cancel();
    expect(queue.size).toBe(2);
    expect(queue.nextDeadline()).toBe(10);
    queue.runExpired(10);
    expect(queue.nextDeadline()).toBe(15);
    expect(queue.size).toBe(1);
  });

  it('runs timers scheduled by callbacks in the same call when due, later ones afterwards', () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    queue.schedule(10, (now) => {
      fired.push('first');
      queue.schedule(now, () => fired.push('same-time'));
      queue.schedule(now + 5, () => fired.push('later'));
    });
    expect(queue.runExpired(10)).toBe(2);
    expect(fired).toEqual(['first', 'same-time']);
    expect(queue.nextDeadline()).toBe(15);
    queue.runExpired(15);
    expect(fired).toEqual(['first', 'same-time', 'later']);
  });

  it('lets a callback cancel a timer that is also due', () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    const victim = queue.schedule(10, () => fired.push('victim'));
    queue.schedule(5, () => {
      fired.push('killer');
      victim.cancel();
    });
    queue.runExpired(10);
    expect(fired).toEqual(['killer']);
    expect(queue.size).toBe(0);
  });

  it('keeps heap order across many random deadlines and cancellations', () => {
    const queue = new DeadlineQueue();
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const fired: number[] = [];
    const expected: number[] = [];
    for (let i = 0; i < 500; i++) {
      const deadline = Math.floor(random() * 1000);
      const handle = queue.schedule(deadline, () => fired.push(deadline));
      if (random() < 0.3) handle.cancel();
      else expected.push(deadline);
    }
    expect(queue.size).toBe(expected.length);
    queue.runExpired(1000);
    expect(fired).toEqual(expected.sort((a, b) => a - b));
  });

  it('drives from a FakeClock', () => {
    const clock = new FakeClock(100);
    const queue = new DeadlineQueue();
    let count = 0;
    const tick = (now: number): void => {
      count++;
      if (count < 3) queue.schedule(now + 50, tick);
    };
    queue.schedule(clock.now() + 50, tick);
    for (let i = 0; i < 10; i++) {
      clock.advance(25);
      queue.runExpired(clock.now());
    }
    expect(count).toBe(3);
    expect(queue.size).toBe(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('tells its owner when a new deadline is earlier than everything queued, and only then', () => {
    const earlier: number[] = [];
    const queue = new DeadlineQueue((deadline) => earlier.push(deadline));
    queue.schedule(100, () => {});
    queue.schedule(150, () => {});
    queue.schedule(100, () => {}); // a tie is not earlier
    queue.schedule(50, () => {});
    expect(earlier).toEqual([100, 50]);
    queue.runExpired(200);
    queue.schedule(300, () => {}); // the queue is empty again: any deadline is the earliest
    expect(earlier).toEqual([100, 50, 300]);
  });

  it('keeps a driver armed for nextDeadline() early enough when a cancelled entry holds the top', () => {
    let armedFor = Infinity;
    const queue = new DeadlineQueue((deadline) => (armedFor = Math.min(armedFor, deadline)));
    const cancelled = queue.schedule(10, () => {});
    queue.schedule(40, () => {});
    armedFor = queue.nextDeadline()!; // the driver arms for 10
    cancelled.cancel();
    queue.schedule(20, () => {}); // reported (10 left the heap), and the driver stays armed for 10
    expect(armedFor).toBe(10);
    expect(queue.nextDeadline()).toBe(20); // the driver wakes at 10, discards, re-arms for 20
    queue.schedule(15, () => {});
    expect(armedFor).toBe(10);
    expect(queue.nextDeadline()).toBe(15);
  });

  it('removes cancelled entries from the heap at once: its size returns to zero', () => {
    const earlier: number[] = [];
    const queue = new DeadlineQueue((deadline) => earlier.push(deadline));
    const handles = Array.from({ length: 1000 }, (_, i) => queue.schedule(1000 + ((i * 7919) % 1000), () => {}));
    expect(queue.size).toBe(1000);
    for (let i = 0; i < handles.length; i += 2) handles[i]!.cancel();
    expect(queue.size).toBe(500);
    for (const handle of handles) handle.cancel();
    expect(queue.size).toBe(0);
    expect(queue.nextDeadline()).toBeUndefined();
    // Nothing cancelled lingers at the top: a later deadline is the earliest again at once.
    const early = queue.schedule(10, () => {});
    early.cancel();
    earlier.length = 0;
    queue.schedule(20, () => {});
    expect(earlier).toEqual([20]);
  });

  it('keeps heap order when entries are removed from the middle', () => {
    const queue = new DeadlineQueue();
    const fired: number[] = [];
    const handles = new Map<number, { cancel(): void }>();
    for (let i = 0; i < 200; i++) {
      const deadline = (i * 37) % 200;
      handles.set(
        deadline,
        queue.schedule(deadline, () => fired.push(deadline)),
      );
    }
    for (let d = 0; d < 200; d += 3) handles.get(d)!.cancel();
    queue.runExpired(1000);
    expect(fired).toEqual(Array.from({ length: 200 }, (_, d) => d).filter((d) => d % 3 !== 0));
  });

  it('never lets one callback stop the others: the entry and the owner hear of the exception', () => {
    const faults: unknown[] = [];
    const entryFaults: unknown[] = [];
    const queue = new DeadlineQueue(undefined, (error) => faults.push(error));
    const fired: string[] = [];
    queue.schedule(
      10,
      () => {
        throw new Error('boom');
      },
      (error) => entryFaults.push(error),
    );
    queue.schedule(10, () => fired.push('after'));
    queue.schedule(20, () => fired.push('later'));
    expect(queue.runExpired(20)).toBe(3);
    expect(fired).toEqual(['after', 'later']);
    expect(faults.map((error) => (error as Error).message)).toEqual(['boom']);
    expect(entryFaults).toEqual(faults);
  });

  it('without an owner to tell, runs every due callback and then rethrows the first exception', () => {
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    queue.schedule(10, () => {
      throw new Error('first');
    });
    queue.schedule(11, () => {
      throw new Error('second');
    });
    queue.schedule(12, () => fired.push('ran'));
    expect(() => queue.runExpired(20)).toThrow('first');
    expect(fired).toEqual(['ran']);
    expect(queue.size).toBe(0);
  });
});
