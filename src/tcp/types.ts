/**
 * The contract between the TCP connection state machine (src/tcp/connection.ts), the stack that
 * demultiplexes segments to it, and the socket API above it.
 */
import type { ChallengeAckBudget } from './ack-rate-limit.js';
import type { BufferMemory } from './byte-ring.js';
import type { CongestionControlName } from './congestion-control.js';
import type { Counters } from '../counters.js';
import type { NetErrorCode } from '../errors.js';
import type { IPAddress } from '../wire/address6.js';
import type { DeadlineQueue } from '../timers.js';
import type { TcpSegment } from '../wire/tcp.js';
import type { SeqNumber } from './seq.js';

/** RFC 9293 section 3.3.2. */
export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

export interface TcpFourTuple {
  localAddress: IPAddress;
  localPort: number;
  remoteAddress: IPAddress;
  remotePort: number;
}

/** TCP settings of a stack (`StackOptions.tcp`); `DEFAULT_TCP_CONFIG` has the defaults. */
export interface TcpConfig {
  /**
   * MSS we advertise over IPv4: link MTU - 40 (RFC 9293 3.7.1). Over IPv6 the TCP layer advertises
   * at most link MTU - 60 (RFC 8200 8.3; TcpLayer.configFor).
   */
  mss: number;
  /** Receive buffer (bytes): the largest window we offer. */
  receiveBufferSize: number;
  /** Send buffer (bytes): how much unacknowledged plus unsent data `write` accepts. */
  sendBufferSize: number;
  /** Maximum segment lifetime in ms; TIME-WAIT lasts 2*MSL (RFC 9293 3.4.2). */
  msl: number;
  /** RFC 6298: initial RTO (1 s), lower bound (we use 200 ms as Linux does), upper bound (60 s). */
  initialRto: number;
  /** Lower bound of the RTO (ms). */
  minRto: number;
  /** Upper bound of the RTO (ms). */
  maxRto: number;
  /** Retransmissions of one segment before the connection fails with ETIMEDOUT. */
  maxRetransmissions: number;
  /** SYN retransmissions before connect fails with ETIMEDOUT. */
  maxSynRetransmissions: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped (Linux tcp_synack_retries: 5, about 63 s). */
  maxSynAckRetransmissions: number;
  /** Answer SYNs with SYN cookies when a listener's half-open queue is full (RFC 4987 3.6). */
  synCookies: boolean;
  /** Delayed ACK timeout in ms (RFC 1122 4.2.3.2: at most 500, we use <= 200). */
  delayedAckTimeout: number;
  /** Bytes of out-of-order data held for reassembly at most. */
  outOfOrderLimit: number;
  /** Separate out-of-order ranges held at most; a segment that would open one more is dropped. */
  maxOutOfOrderRanges: number;
  /** Bytes of send and receive storage of all connections together (Linux's tcp_mem); beyond it buffers do not grow. */
  memoryBudget: number;
  /** Connections at most; beyond it SYNs are dropped and dial fails with ENOBUFS. */
  maxConnections: number;
  /** Offer / accept RFC 7323 window scaling, timestamps, and RFC 2018 SACK. */
  windowScaling: boolean;
  /** Offer / accept RFC 7323 timestamps. */
  timestamps: boolean;
  /** Offer / accept RFC 2018 SACK. */
  sack: boolean;
  /** The congestion controller of new connections (RFC 9438 CUBIC by default, or RFC 5681 NewReno). */
  congestionControl: CongestionControlName;
  /** Most connections held in TIME-WAIT at once (Linux tcp_max_tw_buckets); beyond, they close without it. */
  maxTimeWait: number;
}

/** The TCP settings a stack starts from; `StackOptions.tcp` overrides any of them. */
export const DEFAULT_TCP_CONFIG: TcpConfig = {
  mss: 1460,
  receiveBufferSize: 1 << 20,
  sendBufferSize: 1 << 20,
  msl: 30_000,
  initialRto: 1000,
  minRto: 200,
  maxRto: 60_000,
  maxRetransmissions: 12,
  maxSynRetransmissions: 6,
  maxSynAckRetransmissions: 5,
  synCookies: true,
  delayedAckTimeout: 40,
  outOfOrderLimit: 1 << 20,
  maxOutOfOrderRanges: 256,
  memoryBudget: 64 * 1024 * 1024,
  maxConnections: 65_536,
  windowScaling: true,
  timestamps: true,
  sack: true,
  congestionControl: 'cubic',
  maxTimeWait: 32_768,
};

/** What a connection needs from the stack. */
export interface TcpEnvironment {
  /** The stack's clock, in ms. */
  now(): number;
  /** The stack's timers; the connection schedules its retransmission, delayed-ACK, persist, keepalive and TIME-WAIT deadlines here. */
  timers: DeadlineQueue;
  /**
   * Encode the segment with the connection's four-tuple and put it on the wire. With
   * `segmentSize` (only when superSegmentPayload allows one) the segment is a super-segment the
   * link cuts into segments of `segmentSize` payload bytes (TSO).
   */
  transmit(segment: TcpSegment, segmentSize?: number): void;
  /**
   * The most payload bytes one transmitted data segment may carry as a super-segment (TCP
   * segmentation offload on the path to the peer), 0 when every segment must fit the MTU.
   */
  readonly superSegmentPayload?: number;
  /**
   * The link's transmit queue is well filled (IpLayer.transmitQueueFull): new data waits for the
   * next ACK instead of being dropped by our own link. Absent: never.
   */
  transmitQueueFull?(): boolean;
  /** Counters of the TCP layer (retransmissions, drops by reason, ...). */
  counters: Counters;
  /** The stack-wide challenge ACK budget (RFC 5961 7), shared by every connection. */
  challengeAcks: ChallengeAckBudget;
  /**
   * The TCB is gone: the stack removes it from its table. Called once. With `timeWait` the
   * connection reached TIME-WAIT and the stack keeps this record of it for 2*MSL instead.
   */
  release(timeWait?: TimeWaitState): void;
  /** Where the connection's buffer storage is accounted (the stack's TcpMemory); unlimited when absent. */
  memory?: BufferMemory;
  /**
   * Send this connection's owed ACK once the batch of received packets being processed is done
   * (sendBatchEndAck), instead of now. Absent (a connection driven segment by segment): the ACK
   * goes out at once.
   */
  deferAck?(): void;
}

/** What TIME-WAIT needs of a connection (RFC 9293 3.10.7.4), kept after its TCB is released. */
export interface TimeWaitState {
  /** RCV.NXT and SND.NXT, as sequence numbers. */
  readonly rcvNxt: SeqNumber;
  readonly sndNxt: SeqNumber;
  /** TS.Recent (RFC 7323 4.3) when timestamps are on, for PAWS and RFC 6191 reuse. */
  readonly tsRecent: number | undefined;
}

/** Events a connection raises to its socket. All optional; set by the API layer. */
export interface TcpConnectionEvents {
  /** Handshake completed (ESTABLISHED reached). */
  onEstablished?(): void;
  /**
   * A passive open's handshake is about to complete: false when the listener cannot take it now
   * (its accept queue is full); the completing ACK is then dropped and the SYN-ACK retransmission
   * lets the peer try again, as Linux does (tcp_abort_on_overflow off).
   */
  canEstablish?(): boolean;
  /** New in-order data, or the peer's FIN, can be read. */
  onReadable?(): void;
  /** Send buffer space was freed. */
  onWritable?(): void;
  /**
   * The connection is over. `error` is set when it ended abnormally: ECONNREFUSED (RST in
   * SYN-SENT), ECONNRESET (RST later), ETIMEDOUT (retransmissions or keepalive exhausted).
   */
  onClosed?(error: NetErrorCode | undefined): void;
}
