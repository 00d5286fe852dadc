/**
 * The timers of one TCP connection: one deadline per kind on the stack's shared DeadlineQueue,
 * armed, moved and stopped by the part of the connection that owns it.
 *
 *   retransmission  RFC 6298 (and RFC 9293 3.8.1 for the SYN)      armed by the sender
 *   delayedAck      RFC 1122 4.2.3.2, RFC 9293 3.8.6.3              armed by the receiver
 *   persist         RFC 9293 3.8.6.1 zero-window probes             armed by the sender
 *   reorder         RFC 8985 6.3 RACK reordering timeout            armed by the sender
 *   lossProbe       RFC 8985 7.2 tail loss probe timeout (PTO)      armed by the sender
 *   keepAlive       RFC 1122 4.2.3.6                                armed by the connection
 *   close           the FIN-WAIT-2 limit of a closed connection (TIME-WAIT's 2*MSL is the TCP
 *                   layer's, src/tcp/time-wait.ts)
 *
 * The timers only say "your deadline passed"; what to do is the connection's decision, through
 * the ConnectionTimerHandlers it supplies.
 *
 * Moving a deadline later (the retransmission timer on every ACK) does not touch the heap: the
 * queued entry fires, sees the deadline moved, and re-queues itself once.
 *
 * Memory: a stack holds thousands of idle connections, which arm few of these timers or none.
 * The seven kinds are therefore one object with two arrays indexed by kind (the deadlines in
 * one array of unboxed doubles, the queue entries in the other), not an object per kind with
 * its own boxed deadline fields (measured per connection end: about 920 B before, about 260 B now). A queue
 * entry calls a function shared by every connection with the connection's timers as its argument:
 * no closure per connection either.
 */
import type { DeadlineQueue, TimerHandle } from '../timers.js';

/** The timer kinds of a connection: the index of each in ConnectionTimers. */
export const TimerKind = {
  retransmission: 0,
  delayedAck: 1,
  persist: 2,
  reorder: 3,
  lossProbe: 4,
  keepAlive: 5,
  close: 6,
} as const;
export type TimerKind = (typeof TimerKind)[keyof typeof TimerKind];

const KINDS = 7;
/** The deadline of a timer that is not armed. */
const UNARMED = Number.POSITIVE_INFINITY;

/** What the connection does when each of its timers expires. */
export interface ConnectionTimerHandlers {
  onRetransmissionTimeout(now: number): void;
  onDelayedAckTimeout(now: number): void;
  onPersistTimeout(now: number): void;
  onReorderTimeout(now: number): void;
  onLossProbeTimeout(now: number): void;
  onKeepAliveTimeout(now: number): void;
  onCloseTimeout(now: number): void;
  /** One of the handlers threw (a bug): the connection cannot be trusted to go on. */
  onFault?(error: unknown): void;
}

/** What a part of the connection may do with the timers (each part uses only its own kinds). */
export type ConnectionTimerControl = Pick<ConnectionTimers, 'armed' | 'deadline' | 'set' | 'stop'>;

/** The timer kinds of one connection. */
export class ConnectionTimers {
  /** The deadline of each kind, UNARMED when stopped or fired (a packed array of doubles). */
  private readonly due: number[] = [UNARMED, UNARMED, UNARMED, UNARMED, UNARMED, UNARMED, UNARMED];
  /** The queue entry of each kind, queued at or before its deadline while it is armed. */
  private readonly queued: Array<TimerHandle | undefined> = [undefined, undefined, undefined, undefined, undefined, undefined, undefined];

  constructor(
    private readonly queue: DeadlineQueue,
    private readonly handlers: ConnectionTimerHandlers,
  ) {}

  armed(kind: TimerKind): boolean {
    return this.due[kind] !== UNARMED;
  }

  /** The timer's deadline; Infinity when it is not armed. */
  deadline(kind: TimerKind): number {
    return this.due[kind]!;
  }

  set(kind: TimerKind, deadline: number): void {
    this.due[kind] = deadline;
    const handle = this.queued[kind];
    if (handle !== undefined && handle.active && handle.deadline <= deadline) return;
    handle?.cancel();
    this.schedule(kind, deadline);
  }

  stop(kind: TimerKind): void {
    this.due[kind] = UNARMED;
    const handle = this.queued[kind];
    if (handle === undefined) return;
    handle.cancel();
    this.queued[kind] = undefined;
  }

  /** The timers that watch data in flight: stopped once nothing more will be sent. */
  stopSendTimers(): void {
    this.stop(TimerKind.retransmission);
    this.stop(TimerKind.persist);
    this.stop(TimerKind.reorder);
    this.stop(TimerKind.lossProbe);
  }

  /** RFC 9293 3.3.2: deleting the TCB cancels every timer. */
  stopAll(): void {
    for (let kind = 0; kind < KINDS; kind++) this.stop(kind as TimerKind);
  }

  private schedule(kind: TimerKind, at: number): void {
    this.queued[kind] = this.queue.schedule(at, ConnectionTimers.fire[kind]!, undefined, this);
  }

  /** The queue's callback for each kind, shared by every connection. */
  private static readonly fire: ReadonlyArray<(now: number, timers: ConnectionTimers) => void> = Array.from(
    { length: KINDS },
    (_, kind) => (now: number, timers: ConnectionTimers) => timers.onFire(kind as TimerKind, now),
  );

  private onFire(kind: TimerKind, now: number): void {
    this.queued[kind] = undefined;
    const due = this.due[kind]!;
    if (due === UNARMED) return;
    if (now < due) {
      this.schedule(kind, due);
      return;
    }
    this.due[kind] = UNARMED;
    try {
      this.expire(kind, now);
    } catch (error) {
      // The owner (the connection) ends what the exception broke; the stack's timer dispatch
      // then counts and logs it, and goes on with the other timers.
      this.handlers.onFault?.(error);
      throw error;
    }
  }

  private expire(kind: TimerKind, now: number): void {
    const h = this.handlers;
    switch (kind) {
      case TimerKind.retransmission:
        return h.onRetransmissionTimeout(now);
      case TimerKind.delayedAck:
        return h.onDelayedAckTimeout(now);
      case TimerKind.persist:
        return h.onPersistTimeout(now);
      case TimerKind.reorder:
        return h.onReorderTimeout(now);
      case TimerKind.lossProbe:
        return h.onLossProbeTimeout(now);
      case TimerKind.keepAlive:
        return h.onKeepAliveTimeout(now);
      case TimerKind.close:
        return h.onCloseTimeout(now);
    }
  }
}
