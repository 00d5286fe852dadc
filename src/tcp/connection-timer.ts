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
 *   close           the FIN-WAIT-2 limit of a closed connection (TIME-WAIT's 2*MSL is the TCP
 *                   layer's, src/tcp/time-wait.ts)
 *
 * The timers only say "your deadline passed"; what to do is the connection's decision, through
 * the ConnectionTimerHandlers it supplies.
 */
import type { DeadlineQueue, TimerHandle } from '../timers.js';

/**
 * One deadline of the connection on the shared DeadlineQueue. Moving the deadline later (the
 * retransmission timer on every ACK) does not touch the heap: the queued entry fires, sees the
 * deadline moved, and re-queues itself once.
 *
 * Memory: a connection has seven of these, and most never run (an idle connection arms none), so
 * a timer holds no closure of its own until it is first scheduled, and expiry calls a function
 * shared by every connection with the timer's `owner` (the connection) rather than a closure per
 * connection.
 */
export class ConnectionTimer<Owner = void> {
  private handle: TimerHandle | undefined;
  private scheduledFor = 0;
  private due = Number.POSITIVE_INFINITY;
  /** The queue's callback, made on the first schedule. */
  private fire: ((now: number) => void) | undefined;

  constructor(
    private readonly queue: DeadlineQueue,
    private readonly onExpire: (now: number, owner: Owner) => void,
    private readonly owner: Owner,
    /** The expiry handler threw: told before the exception goes on to the stack's dispatch. */
    private readonly onFault?: (error: unknown, owner: Owner) => void,
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
    this.fire ??= (now) => this.onFire(now);
    this.handle = this.queue.schedule(at, this.fire);
  }

  private onFire(now: number): void {
    this.handle = undefined;
    if (this.due === Number.POSITIVE_INFINITY) return;
    if (now < this.due) {
      this.schedule(this.due);
      return;
    }
    this.due = Number.POSITIVE_INFINITY;
    if (this.onFault === undefined) {
      this.onExpire(now, this.owner);
      return;
    }
    try {
      this.onExpire(now, this.owner);
    } catch (error) {
      // The owner (the connection) ends what the exception broke; the stack's timer dispatch
      // then counts and logs it, and goes on with the other timers.
      this.onFault(error, this.owner);
      throw error;
    }
  }
}

/** What a part of the connection may do with one of its timers. */
export type ConnectionTimerControl = Pick<ConnectionTimer, 'armed' | 'deadline' | 'set' | 'stop'>;

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

type HandlerTimer = ConnectionTimer<ConnectionTimerHandlers>;

// One function per kind, shared by every connection.
const expireRetransmission = (now: number, h: ConnectionTimerHandlers): void => h.onRetransmissionTimeout(now);
const expireDelayedAck = (now: number, h: ConnectionTimerHandlers): void => h.onDelayedAckTimeout(now);
const expirePersist = (now: number, h: ConnectionTimerHandlers): void => h.onPersistTimeout(now);
const expireReorder = (now: number, h: ConnectionTimerHandlers): void => h.onReorderTimeout(now);
const expireLossProbe = (now: number, h: ConnectionTimerHandlers): void => h.onLossProbeTimeout(now);
const expireKeepAlive = (now: number, h: ConnectionTimerHandlers): void => h.onKeepAliveTimeout(now);
const expireClose = (now: number, h: ConnectionTimerHandlers): void => h.onCloseTimeout(now);
const faultOf = (error: unknown, h: ConnectionTimerHandlers): void => h.onFault?.(error);

/** The timer kinds of one connection. */
export class ConnectionTimers {
  readonly retransmission: HandlerTimer;
  readonly delayedAck: HandlerTimer;
  readonly persist: HandlerTimer;
  readonly reorder: HandlerTimer;
  readonly lossProbe: HandlerTimer;
  readonly keepAlive: HandlerTimer;
  /** The FIN-WAIT-2 limit of a closed connection. */
  readonly close: HandlerTimer;

  constructor(queue: DeadlineQueue, handlers: ConnectionTimerHandlers) {
    this.retransmission = new ConnectionTimer(queue, expireRetransmission, handlers, faultOf);
    this.delayedAck = new ConnectionTimer(queue, expireDelayedAck, handlers, faultOf);
    this.persist = new ConnectionTimer(queue, expirePersist, handlers, faultOf);
    this.reorder = new ConnectionTimer(queue, expireReorder, handlers, faultOf);
    this.lossProbe = new ConnectionTimer(queue, expireLossProbe, handlers, faultOf);
    this.keepAlive = new ConnectionTimer(queue, expireKeepAlive, handlers, faultOf);
    this.close = new ConnectionTimer(queue, expireClose, handlers, faultOf);
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
