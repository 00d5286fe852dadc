/**
 * The TIME-WAIT table (RFC 9293 3.10.7.4, 3.4.2). A connection that reaches TIME-WAIT hands the
 * TCP layer a compact record (its four-tuple, RCV.NXT and SND.NXT as sequence numbers, TS.Recent
 * when timestamps are on) and its TCB is released: its buffers, transmit records, scoreboard and
 * timers go with it, so 2*MSL of TIME-WAIT costs a few dozen bytes per connection, as Linux's
 * tcp_timewait_sock does.
 *
 * Every record lives the same 2*MSL, so the records kept in a Map in insertion order are also in
 * expiry order: a record whose 2*MSL restarts is deleted and inserted again at the back, and one
 * deadline on the stack's DeadlineQueue, for the oldest record, expires them all.
 */
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import { segmentLength, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../wire/tcp.js';
import { invalidAnswerAllowed } from './ack-rate-limit.js';
import { timestampAt } from './options.js';
import { seqAdd, seqLt, type SeqNumber } from './seq.js';
import type { TcpConfig, TcpFourTuple, TimeWaitState } from './types.js';

/** Linux (tcp_timewait_state_process): a new incarnation starts this far above the old SND.NXT. */
const REUSE_ISN_GAP = 65535 + 2;
/** How often at most the table says it is full (Linux: "TCP: time wait bucket table overflow"). */
const OVERFLOW_WARNING_INTERVAL_MS = 1000;

/** One connection in TIME-WAIT. */
export interface TimeWaitRecord extends TimeWaitState {
  readonly tuple: TcpFourTuple;
  /** When 2*MSL ends (stack time, ms). */
  expiresAt: number;
  /** When the record last sent an ACK (stack time, ms), for the rate limit of RFC 5961 section 7. */
  lastAckAt: number;
}

/** What the table needs from the TCP layer. */
export interface TimeWaitEnvironment {
  now(): number;
  timers: DeadlineQueue;
  counters: Counters;
  logger: Logger;
  /** Send a segment on the record's four-tuple. */
  transmit(tuple: TcpFourTuple, segment: TcpSegment): void;
}

export class TimeWaitTable {
  /** The records by connection key, oldest (first to expire) first. */
  private readonly records = new Map<string, TimeWaitRecord>();
  private expiryTimer: TimerHandle | undefined;
  private lastOverflowWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly config: Pick<TcpConfig, 'msl' | 'maxTimeWait' | 'timestamps'>,
    private readonly env: TimeWaitEnvironment,
  ) {}

  get size(): number {
    return this.records.size;
  }

  get(key: string): TimeWaitRecord | undefined {
    return this.records.get(key);
  }

  /**
   * A connection entered TIME-WAIT: keep its record for 2*MSL. Beyond `tcp.maxTimeWait` records
   * the connection closes without TIME-WAIT (as Linux beyond tcp_max_tw_buckets), counted and,
   * once a second at most, logged.
   */
  enter(key: string, tuple: TcpFourTuple, state: TimeWaitState): void {
    const now = this.env.now();
    if (this.records.size >= this.config.maxTimeWait) {
      this.env.counters.add('time_wait_overflow');
      if (now - this.lastOverflowWarning >= OVERFLOW_WARNING_INTERVAL_MS) {
        this.lastOverflowWarning = now;
        this.env.logger.warn(`tcp: TIME-WAIT table full (${this.records.size} records); closing without TIME-WAIT`);
      }
      return;
    }
    this.env.counters.add('time_wait_entered');
    this.records.delete(key);
    // Every field named, not `...state`: V8 gives an object made by a spread and then extended a
    // hidden class and descriptor array of its own, about 250 of the ~450 bytes a record took.
    const { rcvNxt, sndNxt, tsRecent } = state;
    this.records.set(key, { rcvNxt, sndNxt, tsRecent, tuple, expiresAt: now + 2 * this.config.msl, lastAckAt: Number.NEGATIVE_INFINITY });
    this.armExpiry();
  }

  /**
   * A segment for a record's four-tuple (RFC 9293 3.10.7.4, TIME-WAIT). Returns the initial
   * sequence number for a new incarnation when the segment is a SYN that may reopen the
   * connection (the record is gone then, and the caller hands the SYN to the listener), else
   * undefined (the segment was answered or dropped here).
   */
  handleSegment(key: string, record: TimeWaitRecord, segment: TcpSegment): SeqNumber | undefined {
    const counters = this.env.counters;
    const flags = segment.flags;
    const isRst = (flags & TCP_RST) !== 0;
    const timestamp = record.tsRecent !== undefined ? segment.options.timestamp : undefined;
    // RFC 7323 5.3 R1: PAWS holds in TIME-WAIT too, for everything but a RST.
    const pawsReject = timestamp !== undefined && !isRst && seqLt(timestamp.value, record.tsRecent!);

    if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN && !pawsReject && this.mayReopen(record, segment)) {
      this.records.delete(key);
      counters.add('time_wait_reused');
      // RFC 9293 3.10.7.4 / RFC 1122 4.2.2.13: the new incarnation's ISN must lie above every
      // sequence number the old one used.
      const isn = seqAdd(record.sndNxt, REUSE_ISN_GAP);
      return isn === 0 ? 1 : isn;
    }
    if (isRst) {
      if (segment.seq === record.rcvNxt) {
        // RFC 9293 3.10.7.4 second check: a RST in sequence ends TIME-WAIT. RFC 1337 section 3
        // would ignore it to prevent TIME-WAIT assassination; Linux does not by default
        // (tcp_rfc1337=0), nor do we.
        this.records.delete(key);
        counters.add('time_wait_reset');
      } else {
        counters.drop('time_wait_rst_out_of_window');
      }
      return undefined;
    }
    if (pawsReject) {
      counters.drop('paws');
      this.sendAck(record);
      return undefined;
    }
    // The peer's FIN ended its data, so the receive window is zero: only an empty segment at
    // RCV.NXT is acceptable (RFC 9293 3.10.7.4 table), and in TIME-WAIT it asks for nothing.
    // Every other segment draws an ACK (first check); a retransmitted FIN, the one thing that
    // should arrive, also restarts the 2*MSL timeout (eighth check).
    const length = segmentLength(segment);
    if (length === 0 && segment.seq === record.rcvNxt) return undefined;
    if ((flags & TCP_FIN) !== 0 && seqAdd(segment.seq, length) === record.rcvNxt) {
      counters.add('time_wait_fin_reacked');
      this.restart(key, record);
    } else {
      counters.drop(flags & TCP_SYN ? 'time_wait_old_syn' : 'time_wait_segment');
    }
    this.sendAck(record);
    return undefined;
  }

  /**
   * RFC 6191 section 2: a SYN may reopen a four-tuple in TIME-WAIT when its timestamp is newer
   * than TS.Recent (both incarnations use timestamps; an equal timestamp defers to the sequence
   * number), or, without timestamps, when its sequence number lies above RCV.NXT.
   */
  private mayReopen(record: TimeWaitRecord, syn: TcpSegment): boolean {
    const timestamp = syn.options.timestamp;
    if (record.tsRecent !== undefined && this.config.timestamps && timestamp !== undefined) {
      if (timestamp.value !== record.tsRecent) return seqLt(record.tsRecent, timestamp.value);
    }
    return seqLt(record.rcvNxt, syn.seq);
  }

  /**
   * The ACK of TIME-WAIT: SND.NXT, RCV.NXT, a zero window (nothing more is received). Every ACK
   * here answers a segment TIME-WAIT drops or a retransmitted FIN, so at most one goes out per
   * INVALID_SEGMENT_ANSWER_INTERVAL_MS per record (RFC 5961 section 7; Linux rate-limits them the
   * same way, TCPACKSKIPPEDTIMEWAIT): a record must not answer a flood segment for segment, nor
   * keep an ACK loop going with a peer that disagrees about the sequence space.
   */
  private sendAck(record: TimeWaitRecord): void {
    const now = this.env.now();
    if (!invalidAnswerAllowed(record.lastAckAt, now)) {
      this.env.counters.add('ack_ratelimited');
      return;
    }
    record.lastAckAt = now;
    this.env.transmit(record.tuple, {
      sourcePort: record.tuple.localPort,
      destinationPort: record.tuple.remotePort,
      seq: record.sndNxt,
      ack: record.rcvNxt,
      flags: TCP_ACK,
      window: 0,
      urgentPointer: 0,
      options: record.tsRecent !== undefined ? { timestamp: { value: timestampAt(now), echo: record.tsRecent } } : {},
      payload: new Uint8Array(0),
    });
  }

  /** 2*MSL starts again: the record moves to the back of the expiry order. */
  private restart(key: string, record: TimeWaitRecord): void {
    record.expiresAt = this.env.now() + 2 * this.config.msl;
    this.records.delete(key);
    this.records.set(key, record);
  }

  /** One deadline for the oldest record, if none is armed; it re-arms itself for the next. */
  private armExpiry(): void {
    if (this.expiryTimer?.active === true) return;
    const oldest = this.records.values().next();
    if (oldest.done === true) return;
    this.expiryTimer = this.env.timers.schedule(oldest.value.expiresAt, this.expire);
  }

  private readonly expire = (now: number): void => {
    this.expiryTimer = undefined;
    for (const [key, record] of this.records) {
      if (record.expiresAt > now) break;
      this.records.delete(key);
      this.env.counters.add('time_wait_expired');
    }
    this.armExpiry();
  };
}
