/**
 * The timers of one TCP connection. Each kind is a ConnectionTimer: one deadline on the stack's
 * shared DeadlineQueue, armed, moved and stopped by the part of the connection that owns it.
 *
 *   retransmission  RFC 6298 (and RFC 9293 3.8.1 for the SYN)      armed by the sender
 *   delayedAck      RFC 1122 4.2.3.2, RFC 9293 3.8.6.3              armed by the receiver
 *   persist         RFC 9293 3.8.6.1 zero-window probes             armed by the sender
 *   reorder         RFC 8985 6.3 RACK reordering timeout            armed by the sender
 *   lossProbe       RFC 8985 7.2 tail loss probe timeout (PTO)      armed by the sender
 *   keepAlive       RFC 1122 4.2.3.6                                armed by the connection
 *   close           TIME-WAIT's 2*MSL (RFC 9293 3.4.2), or the FIN-WAIT-2 limit of a closed connection
 *
 * The timers only say "your deadline passed"; what to do is the connection's decision, through
 * the ConnectionTimerHandlers it supplies.
 */
import type { DeadlineQueue, TimerHandle } from '../timers.js';

/**
 * One deadline of the connection on the shared DeadlineQueue. Moving the deadline later (the
 * retransmission timer on every ACK) does not touch the heap: the queued entry fires, sees the
 * deadline moved, and re-queues itself once.
 */
export class ConnectionTimer {
  private handle: TimerHandle | undefined;
  private scheduledFor = 0;
  private due = Number.POSITIVE_INFINITY;

  constructor(
    private readonly queue: DeadlineQueue,
    private readonly onExpire: (now: number) => void,
    /** The expiry handler threw: the queue tells this, so the connection can abort itself. */
    private readonly onFault?: (error: unknown) => void,
  ) {}

  get armed(): boolean {
    return this.due !== Number.POSITIVE_INFINITY;
  }

  get deadline(): number {
    return this.due;
  }

  set(deadline: number): void {
    this.due = deadline;
    if (this.handle !== undefined && this.handle.active && this.scheduledFor <= deadline) return;
    this.handle?.cancel();
    this.schedule(deadline);
  }

  stop(): void {
    this.due = Number.POSITIVE_INFINITY;
    this.handle?.cancel();
    this.handle = undefined;
  }

  private schedule(at: number): void {
    this.scheduledFor = at;
    this.handle = this.queue.schedule(at, this.fire, this.onFault);
  }

  private readonly fire = (now: number): void => {
    this.handle = undefined;
    if (this.due === Number.POSITIVE_INFINITY) return;
    if (now < this.due) {
      this.schedule(this.due);
      return;
    }
    this.due = Number.POSITIVE_INFINITY;
    this.onExpire(now);
  };
}

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

/** The timer kinds of one connection. */
export class ConnectionTimers {
  readonly retransmission: ConnectionTimer;
  readonly delayedAck: ConnectionTimer;
  readonly persist: ConnectionTimer;
  readonly reorder: ConnectionTimer;
  readonly lossProbe: ConnectionTimer;
  readonly keepAlive: ConnectionTimer;
  /** TIME-WAIT's 2*MSL, or the FIN-WAIT-2 limit of a closed connection. */
  readonly close: ConnectionTimer;

  constructor(queue: DeadlineQueue, handlers: ConnectionTimerHandlers) {
    const fault = (error: unknown): void => handlers.onFault?.(error);
    this.retransmission = new ConnectionTimer(queue, (now) => handlers.onRetransmissionTimeout(now), fault);
    this.delayedAck = new ConnectionTimer(queue, (now) => handlers.onDelayedAckTimeout(now), fault);
    this.persist = new ConnectionTimer(queue, (now) => handlers.onPersistTimeout(now), fault);
    this.reorder = new ConnectionTimer(queue, (now) => handlers.onReorderTimeout(now), fault);
    this.lossProbe = new ConnectionTimer(queue, (now) => handlers.onLossProbeTimeout(now), fault);
    this.keepAlive = new ConnectionTimer(queue, (now) => handlers.onKeepAliveTimeout(now), fault);
    this.close = new ConnectionTimer(queue, (now) => handlers.onCloseTimeout(now), fault);
  }

  /** The timers that watch data in flight: stopped once nothing more will be sent. */
  stopSendTimers(): void {
    this.retransmission.stop();
    this.persist.stop();
    this.reorder.stop();
    this.lossProbe.stop();
  }

  /** RFC 9293 3.3.2: deleting the TCB cancels every timer. */
  stopAll(): void {
    this.retransmission.stop();
    this.delayedAck.stop();
    this.persist.stop();
    this.reorder.stop();
    this.lossProbe.stop();
    this.keepAlive.stop();
    this.close.stop();
  }
}
