/**
 * Keepalive (RFC 1122 4.2.3.6) of one connection: after the peer has been silent for the idle
 * time, probe it with a segment it must acknowledge; after KEEPALIVE_PROBES unanswered probes it
 * is taken to be gone. Off unless the application asks (the socket API turns it on with Go's
 * defaults, src/api/socket-options.ts).
 *
 * The connection tells it when the peer was last heard from and when the handshake completed;
 * the connection's `keepAlive` timer (connection-timer.ts) calls `onTimeout`, whose verdict the
 * connection acts on. Time is data: every call is handed the stack's time.
 */
import type { Counters } from '../counters.js';
import { TimerKind, type ConnectionTimerControl } from './connection-timer.js';
import type { TcpState } from './types.js';

/** RFC 1122 4.2.3.6: keepalive idle time defaults to no less than two hours. */
const DEFAULT_KEEPALIVE_IDLE_MS = 2 * 60 * 60 * 1000;
/** Interval between unanswered keepalive probes and how many are sent (Linux: 75 s, 9). */
const KEEPALIVE_INTERVAL_MS = 75_000;
const KEEPALIVE_PROBES = 9;

/** What keepalive asks of the sender. */
export interface KeepAliveSender {
  /** Data is in flight or waiting to be sent. */
  readonly busy: boolean;
  /** A segment the peer must acknowledge, carrying nothing new. */
  sendKeepAliveProbe(): void;
}

export class KeepAlive {
  private enabled = false;
  private idle = DEFAULT_KEEPALIVE_IDLE_MS;
  /** Probes sent since the peer was last heard from. */
  private probes = 0;
  private lastReceiveTime = 0;

  constructor(
    private readonly timers: ConnectionTimerControl,
    private readonly sender: KeepAliveSender,
    private readonly counters: Counters,
  ) {}

  /**
   * Turn keepalive on or off; `idleMs` (when positive) replaces the idle time. `synchronized`:
   * the connection is past its handshake and not released, so the idle time runs from the last
   * segment heard; otherwise the timer starts when the handshake completes (onEstablished).
   */
  configure(enable: boolean, idleMs: number | undefined, synchronized: boolean): void {
    this.enabled = enable;
    if (idleMs !== undefined && idleMs > 0) this.idle = idleMs;
    this.probes = 0;
    if (enable && synchronized) this.timers.set(TimerKind.keepAlive, this.lastReceiveTime + this.idle);
    else this.timers.stop(TimerKind.keepAlive);
  }

  /** The peer was heard from at `now` (an acceptable segment, or its SYN): the idle time restarts. */
  heard(now: number): void {
    this.lastReceiveTime = now;
    this.probes = 0;
  }

  /** The handshake completed: the idle time runs from the last segment heard. */
  onEstablished(): void {
    if (this.enabled) this.timers.set(TimerKind.keepAlive, this.lastReceiveTime + this.idle);
  }

  /** Nothing more will be sent (TIME-WAIT): no more probes. */
  stop(): void {
    this.timers.stop(TimerKind.keepAlive);
  }

  /**
   * The keepalive timer expired at `now` in `state`: wait on, send a probe, or give up. Returns
   * false when every probe went unanswered: the connection is to be reset and fail with ETIMEDOUT.
   */
  onTimeout(now: number, state: TcpState): boolean {
    if (!this.enabled) return true;
    // In the other synchronized states our FIN is in flight: the retransmission timer judges the peer.
    if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT' && state !== 'FIN-WAIT-2') return true;
    if (this.probes === 0 && now < this.lastReceiveTime + this.idle) {
      this.timers.set(TimerKind.keepAlive, this.lastReceiveTime + this.idle);
      return true;
    }
    if (this.sender.busy) {
      // Data is in flight or waiting: the retransmission and persist timers judge the peer.
      this.probes = 0;
      this.timers.set(TimerKind.keepAlive, now + this.idle);
      return true;
    }
    if (this.probes >= KEEPALIVE_PROBES) return false;
    this.probes++;
    this.counters.add('keepalive_probes');
    this.sender.sendKeepAliveProbe();
    this.timers.set(TimerKind.keepAlive, now + Math.min(KEEPALIVE_INTERVAL_MS, this.idle));
    return true;
  }
}
