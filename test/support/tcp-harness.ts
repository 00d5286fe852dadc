/**
 * A TCP connection under test, driven by crafted segments and manual time. The harness plays the
 * peer: it records every segment the connection transmits (with the time it left), counts the
 * events, and builds the peer's segments with sequence numbers named by stream offset on each side:
 * ourSeq(offset) for the connection's send space (its SYN is offset -1), peerSeq(offset) for the
 * peer's (its SYN is offset -1).
 */
import { Counters } from '../../src/counters.js';
import type { NetErrorCode } from '../../src/errors.js';
import { ChallengeAckBudget } from '../../src/tcp/ack-rate-limit.js';
import { TcpConnection } from '../../src/tcp/connection.js';
import { seqAdd } from '../../src/tcp/seq.js';
import { TcpMemory } from '../../src/tcp/tcp-memory.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig, type TcpFourTuple, type TimeWaitState } from '../../src/tcp/types.js';
import { TCP_ACK, TCP_SYN, type TcpOptions, type TcpSegment } from '../../src/wire/tcp.js';
import { ManualTime } from './manual-time.js';

/** The connection's side is 10.0.0.2:80, the peer 10.0.0.1:40000. */
export const HARNESS_TUPLE: TcpFourTuple = { localAddress: 0x0a000002, localPort: 80, remoteAddress: 0x0a000001, remotePort: 40000 };

/** A transmitted segment, copied when it left (payloads are views valid only during transmit), and when. */
export interface SentSegment extends TcpSegment {
  at: number;
  /** The segment size of a super-segment (TSO); absent for a plain segment. */
  segmentSize?: number;
}

function copySegment(s: TcpSegment, at: number, segmentSize?: number): SentSegment {
  return {
    ...s,
    options: {
      ...s.options,
      ...(s.options.sackBlocks ? { sackBlocks: s.options.sackBlocks.map((b) => ({ ...b })) } : {}),
      ...(s.options.timestamp ? { timestamp: { ...s.options.timestamp } } : {}),
    },
    payload: s.payload.slice(),
    at,
    ...(segmentSize !== undefined ? { segmentSize } : {}),
  };
}

/** `n` bytes of a recognisable pattern: the byte at stream offset k is k mod 251 (`start` is the first offset). */
export function patternBytes(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 251;
  return out;
}

/** Payload bytes carried by `segments`. */
export function payloadTotal(segments: readonly TcpSegment[]): number {
  return segments.reduce((n, s) => n + s.payload.length, 0);
}

export class TcpHarness {
  readonly time = new ManualTime();
  readonly counters = new Counters('tcp');
  readonly sent: SentSegment[] = [];
  readonly closed: Array<NetErrorCode | undefined> = [];
  releases = 0;
  /** What the connection handed over when it released its TCB in TIME-WAIT. */
  timeWait: TimeWaitState | undefined;
  established = 0;
  readable = 0;
  writable = 0;
  readonly conn: TcpConnection;
  readonly config: TcpConfig;
  /** The buffer budget, as a stack's TCP layer gives it, with the harness's time. */
  readonly memory: TcpMemory;

  constructor(
    /** The connection's initial send sequence number. */
    readonly iss = 1_000_000,
    /** The peer's initial sequence number. */
    readonly peerIss = 5_000_000,
    config: Partial<TcpConfig> = {},
    /** TcpEnvironment.superSegmentPayload: as if the link segmented (TSO). */
    superSegmentPayload = 0,
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
    this.memory = new TcpMemory(this.config.memoryBudget, this.config.maxConnections, this.counters, this.time);
    this.conn = new TcpConnection(HARNESS_TUPLE, iss, this.config, {
      memory: this.memory,
      now: () => this.time.now(),
      timers: this.time.timers,
      transmit: (s, segmentSize) => this.sent.push(copySegment(s, this.time.now(), segmentSize)),
      superSegmentPayload,
      counters: this.counters,
      challengeAcks: new ChallengeAckBudget(() => 0.5),
      release: (timeWait) => {
        this.releases++;
        this.timeWait = timeWait;
      },
    });
    this.conn.events = {
      onEstablished: () => this.established++,
      onReadable: () => this.readable++,
      onWritable: () => this.writable++,
      onClosed: (e) => this.closed.push(e),
    };
  }

  get clock(): ManualTime['clock'] {
    return this.time.clock;
  }

  get timers(): ManualTime['timers'] {
    return this.time.timers;
  }

  /** Our sequence number for send offset `offset` (our SYN at -1). */
  ourSeq(offset: number): number {
    return seqAdd(this.iss, offset + 1);
  }

  /** The peer's sequence number for its offset `offset` (its SYN at -1). */
  peerSeq(offset: number): number {
    return seqAdd(this.peerIss, offset + 1);
  }

  /** Move time forward, firing each timer at its own deadline. */
  advance(ms: number): void {
    this.time.advance(ms);
  }

  /** The segments sent since the last take(), removed from the record. */
  take(): SentSegment[] {
    return this.sent.splice(0);
  }

  /** A segment from the peer: ACK set, window 65535, no options or payload unless given. */
  seg(fields: Partial<TcpSegment> & { seq: number }): TcpSegment {
    return {
      sourcePort: HARNESS_TUPLE.remotePort,
      destinationPort: HARNESS_TUPLE.localPort,
      ack: 0,
      flags: TCP_ACK,
      window: 65535,
      urgentPointer: 0,
      options: {},
      payload: new Uint8Array(0),
      ...fields,
    };
  }

  /** The peer acknowledges our send offset `off` with its next sequence at offset `peerOff`. */
  ack(off: number, extra: Partial<TcpSegment> = {}, peerOff = 0): void {
    this.conn.handleSegment(this.seg({ seq: this.peerSeq(peerOff), ack: this.ourSeq(off), ...extra }));
  }

  /** The peer sends data at its offset `peerOff`, acknowledging our offset `ackOff`. */
  data(peerOff: number, payload: Uint8Array, extra: Partial<TcpSegment> = {}, ackOff = 0): void {
    this.conn.handleSegment(this.seg({ seq: this.peerSeq(peerOff), ack: this.ourSeq(ackOff), payload, ...extra }));
  }

  /** Active open completed by a SYN-ACK carrying `options` after `rttMs`; returns the SYN we sent. */
  openActive(options: TcpOptions = { mss: 1460 }, window = 65535, rttMs = 0): SentSegment {
    this.conn.openActive();
    const [syn] = this.take();
    if (rttMs > 0) this.advance(rttMs);
    this.conn.handleSegment(this.seg({ seq: this.peerIss, ack: this.ourSeq(0), flags: TCP_SYN | TCP_ACK, window, options }));
    this.take();
    return syn!;
  }

  /** Passive open completed by the third ACK; returns the SYN-ACK we sent. */
  openPassive(options: TcpOptions = { mss: 1460 }, window = 65535): SentSegment {
    this.conn.acceptSyn(this.seg({ seq: this.peerIss, flags: TCP_SYN, window, options }));
    const [synAck] = this.take();
    this.conn.handleSegment(this.seg({ seq: this.peerSeq(0), ack: this.ourSeq(0), window }));
    this.take();
    return synAck!;
  }

  /** Read everything readable. */
  readAll(): Uint8Array {
    const out = new Uint8Array(this.conn.readableLength);
    this.conn.read(out);
    return out;
  }
}
