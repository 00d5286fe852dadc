/**
 * TCP demultiplexing: finds the connection (or the TIME-WAIT record) for each segment by its
 * four-tuple, hands SYNs to listeners (with a bounded half-open queue, RFC 4987 3.1, reclaimed
 * early under pressure, and SYN cookies once it is full, RFC 4987 3.6), answers segments for
 * nothing with a RST (RFC 9293 3.10.7.1), and owns the port table for listeners and active opens.
 */
import type { Counters } from '../counters.js';
import { NetError } from '../errors.js';
import { readUint32 } from '../bytes.js';
import type { IcmpSocketError } from '../ip/icmp-errors.js';
import type { IpLayer, ReceivedPacket, TransportProtocol, TransportQuote } from '../ip/transport-contract.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import { MAX_PORT } from '../wire/address.js';
import type { IPAddress } from '../wire/address6.js';
import { IPV4_MAX_DATAGRAM, PROTOCOL_TCP } from '../wire/ipv4.js';
import { IPV6_HEADER_LENGTH } from '../wire/ipv6.js';
import { errorDetail } from '../log.js';
import { formatIPAddress, ipHeaderLength } from '../wire/ip.js';
import { endpointAccepts, EXCLUSIVE_BINDING, PortTable, type EndpointBinding } from '../ports.js';
import {
  parseTcpSegment,
  segmentLength,
  TCP_ACK,
  TCP_MAX_HEADER,
  TCP_MIN_HEADER,
  TCP_RST,
  TCP_SYN,
  tcpSegmentLength,
  writeTcpSegment,
  type ChecksumFill,
  type TcpSegment,
} from '../wire/tcp.js';
import { ChallengeAckBudget } from './ack-rate-limit.js';
import { TcpConnection } from './connection.js';
import { IsnGenerator, ISN_SECRET_BYTES } from './isn.js';
import { NegotiatedOptions, synWindow, TCP_MIN_PATH_MTU } from './options.js';
import { seqAdd, type SeqNumber } from './seq.js';
import {
  COOKIE_MAX_AGE_PERIODS,
  COOKIE_PERIOD_MS,
  COOKIE_SECRET_BYTES,
  CookieSourceBudget,
  cookieSynOptions,
  cookieTimestamp,
  SynCookies,
} from './syn-cookies.js';
import { TimeWaitTable } from './time-wait.js';
import { TcpMemory } from './tcp-memory.js';
import type { TcpConfig, TcpConnectionEvents, TcpEnvironment, TcpFourTuple, TimeWaitState } from './types.js';
import type { BufferMemory } from './byte-ring.js';

/** A listening socket as the layer sees it; the API's Listener implements this. */
export interface TcpListenerEndpoint {
  /** Room left in the accept queue (established, not yet accepted). */
  readonly acceptQueueRoom: number;
  /** Most half-open (SYN-RECEIVED) connections held at once. */
  readonly maxHalfOpen: number;
  /** A connection completed its handshake: queue it for accept(). */
  enqueue(connection: TcpConnection): void;
  /**
   * The one local address it accepts connections on (a listener bound to 127.0.0.1 is reachable
   * only from inside the stack); undefined for any of ours.
   */
  readonly boundAddress?: IPAddress;
  /**
   * The one address family it accepts connections of (Go's "tcp4" / "tcp6"); undefined for both
   * (Go's "tcp"). A bound address implies its own family.
   */
  readonly family?: 4 | 6;
}

interface ListenerEntry {
  kind: 'listener';
  endpoint: TcpListenerEndpoint;
  /** The SYN-RECEIVED connections, oldest first (a Set keeps insertion order). */
  halfOpen: Set<TcpConnection>;
  /** When this listener last answered a SYN with a cookie. */
  lastCookieSent: number;
}

function listenerEntry(endpoint: TcpListenerEndpoint): ListenerEntry {
  return { kind: 'listener', endpoint, halfOpen: new Set(), lastCookieSent: Number.NEGATIVE_INFINITY };
}

/**
 * A passive open's events until its handshake completes: whether the listener can take it, and
 * the hand-over to its accept queue. One object whose methods live on the prototype, where two
 * closures and an object literal were made per SYN (and, run under tsx, a __name call for each
 * closure: 0.9% of the main thread of a new-connection profile).
 */
class HalfOpenEvents implements TcpConnectionEvents {
  constructor(
    private readonly layer: TcpLayer,
    private readonly listener: ListenerEntry,
    private readonly connection: TcpConnection,
  ) {}

  canEstablish(): boolean {
    return this.listener.endpoint.acceptQueueRoom > 0;
  }

  onEstablished(): void {
    this.listener.halfOpen.delete(this.connection);
    this.layer.handOver(this.listener, this.connection);
  }
}

/**
 * The largest packet a super-segment may be: an IPv4 datagram's 65535 bytes. IPv6's payload length
 * field would allow 40 more (RFC 8200 3), but the links take no packet larger than this (the TUN
 * ring's MAX_PACKET, IpLayer.packetBuffer's scratch), so an IPv6 super-segment carries 20 bytes
 * less payload than an IPv4 one: 65535 - 40 - 60 = 65435 (superSegmentPayload).
 */
const TCP_MAX_SUPER_SEGMENT_PACKET = IPV4_MAX_DATAGRAM;

/**
 * Under pressure (the half-open queue more than half full) a half-open connection whose SYN-ACK
 * went unanswered this many times gives its slot up early: Linux's reqsk_timer_handler lowers
 * the retry threshold the same way when the queue is more than half full, never below 2.
 */
const RECLAIM_AFTER_SYNACK_RETRANSMISSIONS = 2;

/**
 * The active opens from one ephemeral port. A port is shared by connections to different
 * destinations: what must be unique is the four-tuple (RFC 9293 3.4, RFC 6056 section 2.2).
 */
interface ActiveOpenEntry {
  kind: 'active';
  connections: number;
}

type PortOwner = ListenerEntry | ActiveOpenEntry;

/**
 * Listeners whose bindings do not overlap share a port (tcp4 and tcp6, two specific addresses);
 * an ephemeral port of active opens is theirs alone (connect skips listeners' ports).
 */
function portBinding(owner: PortOwner): EndpointBinding {
  return owner.kind === 'listener' ? owner.endpoint : EXCLUSIVE_BINDING;
}

/** What a connection holds until its TCB is released: its ephemeral port, or its half-open slot. */
type HeldSlot =
  { kind: 'active-open'; owner: ActiveOpenEntry; localPort: number } | { kind: 'half-open'; halfOpen: Set<TcpConnection> } | undefined;

/**
 * The TcpEnvironment of one connection, as methods on a small object rather than closures: idle
 * connections are many, and each closure costs a function, a context and (under tsx, which keeps
 * function names) a property store.
 */
class ConnectionEnvironment implements TcpEnvironment {
  /** Set right after the connection is built with this environment. */
  connection!: TcpConnection;
  private released = false;
  /** On the layer's list of ACKs to send at the end of the current batch. */
  ackDeferred = false;

  constructor(
    private readonly layer: TcpLayer,
    private readonly ip: IpLayer,
    readonly tuple: TcpFourTuple,
    readonly key: string,
    readonly slot: HeldSlot,
  ) {}

  now(): number {
    return this.ip.clock.now();
  }

  get timers(): DeadlineQueue {
    return this.ip.timers;
  }

  get counters(): Counters {
    return this.layer.counters;
  }

  get challengeAcks(): ChallengeAckBudget {
    return this.layer.challengeAcks;
  }

  get memory(): BufferMemory {
    return this.layer.memory;
  }

  transmit(segment: TcpSegment, segmentSize?: number): void {
    this.layer.transmit(this.tuple, segment, this.connection.pathMtu, segmentSize);
  }

  transmitQueueFull(): boolean {
    return this.ip.transmitQueueFull();
  }

  get superSegmentPayload(): number {
    return this.layer.superSegmentPayload(this.tuple.remoteAddress);
  }

  deferAck(): void {
    if (this.ackDeferred) return;
    this.ackDeferred = true;
    this.layer.deferAck(this);
  }

  release(timeWait?: TimeWaitState): void {
    if (this.released) return;
    this.released = true;
    this.layer.connectionReleased(this, timeWait);
  }
}

/**
 * The demultiplexing key of a four-tuple. IPv4: its 96 bits as six UTF-16 code units (a number
 * cannot hold them exactly; decimal text made every packet pay number-to-string conversions; code
 * units are exact, short and cheap to hash). IPv6: the addresses are 8-unit strings already
 * (address6.ts), so the key is their concatenation around the ports, 18 units, which can never
 * equal a 6-unit IPv4 key: one Map serves both families. The local address is part of it: with
 * the loopback address and transparent listeners (forwarding), one remote endpoint can talk to
 * several of ours.
 */
function connectionKey(localAddress: IPAddress, remoteAddress: IPAddress, remotePort: number, localPort: number): string {
  if (typeof remoteAddress === 'string' || typeof localAddress === 'string') {
    return `${remoteAddress as string}${String.fromCharCode(remotePort, localPort)}${localAddress as string}`;
  }
  return String.fromCharCode(
    remoteAddress >>> 16,
    remoteAddress & 0xffff,
    remotePort,
    localPort,
    localAddress >>> 16,
    localAddress & 0xffff,
  );
}

/**
 * A shutdown waiting for its connections: those not yet in TIME-WAIT or gone, and how to end
 * the wait.
 */
interface Drain {
  readonly pending: Set<TcpConnection>;
  readonly done: () => void;
}

export class TcpLayer implements TransportProtocol {
  readonly ports: PortTable<PortOwner>;
  readonly counters: Counters;
  private readonly connections = new Map<string, TcpConnection>();
  private readonly timeWait: TimeWaitTable;
  private readonly isn: IsnGenerator;
  private readonly cookies: SynCookies;
  private readonly cookieBudget = new CookieSourceBudget();
  readonly challengeAcks: ChallengeAckBudget;
  /**
   * The ISN of the connection a SYN opens on a four-tuple whose TIME-WAIT record it ended (RFC
   * 9293 3.10.7.4): above the old incarnation's SND.NXT. Set only while that SYN is with the
   * listener.
   */
  private reopeningIsn: SeqNumber | undefined;
  private lastQueueWarning = -Infinity;
  private drain: Drain | undefined;
  /** The transparent listener (listenTransparent), if one is open. */
  private transparentListener: ListenerEntry | undefined;
  /** What keeps the IP layer's transparent mode on (holdTransparent). */
  private transparentHolders = 0;
  /** Connections whose ACK waits for the end of the batch being received (TcpEnvironment.deferAck). */
  private readonly batchEndAcks: ConnectionEnvironment[] = [];
  /** The buffer budget and the connection cap (tcp.memoryBudget, tcp.maxConnections). */
  readonly memory: TcpMemory;
  /** `config` for connections over IPv6: configFor. */
  private readonly config6: TcpConfig;

  constructor(
    private readonly ip: IpLayer,
    readonly config: TcpConfig,
  ) {
    this.counters = ip.counters('tcp');
    this.ports = new PortTable<PortOwner>('tcp', ip.random, portBinding);
    this.isn = new IsnGenerator(() => ip.clock.now(), ip.random.bytes(ISN_SECRET_BYTES));
    this.cookies = new SynCookies(ip.random.bytes(COOKIE_SECRET_BYTES));
    this.challengeAcks = new ChallengeAckBudget(() => ip.random.float());
    this.timeWait = new TimeWaitTable(config, {
      now: () => ip.clock.now(),
      timers: ip.timers,
      counters: this.counters,
      logger: ip.logger,
      transmit: (tuple, segment) => this.transmit(tuple, segment),
    });
    this.memory = new TcpMemory(config.memoryBudget, config.maxConnections, this.counters, {
      now: () => ip.clock.now(),
      timers: ip.timers,
    });
    this.config6 = { ...config, mss: Math.min(config.mss, ip.mtu - IPV6_HEADER_LENGTH - TCP_MIN_HEADER) };
  }

  /**
   * The configuration of a connection to `remote`. Its MSS is the stack's (the link MTU less 40, or
   * the caller's tcp.mss) over IPv4, and at most the link MTU less 60 over IPv6, whose header is 20
   * bytes longer (RFC 8200 8.3): what our SYN offers and what caps our segments. Linux caps a
   * socket's TCP_MAXSEG to the route's advertised MSS the same way.
   */
  configFor(remote: IPAddress): TcpConfig {
    return typeof remote === 'number' ? this.config : this.config6;
  }

  /** Connections with a TCB (TIME-WAIT records are not counted: see timeWaitCount). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Four-tuples held in TIME-WAIT. */
  get timeWaitCount(): number {
    return this.timeWait.size;
  }

  listen(port: number, endpoint: TcpListenerEndpoint): number {
    return this.ports.bind(port, listenerEntry(endpoint));
  }

  unlisten(port: number, endpoint: TcpListenerEndpoint): void {
    const owner = this.ports.ownersOf(port).find((held) => held.kind === 'listener' && held.endpoint === endpoint);
    if (owner?.kind === 'listener') {
      this.ports.release(port, owner);
      this.closeListener(owner);
    }
  }

  /**
   * A listener stops: its handshakes in progress are reset now (as Linux drops a closed
   * listener's request queue), since no one would accept them. So no handshake of a closed
   * listener ever completes (a cookie's completes within the call that found the listener).
   */
  private closeListener(listener: ListenerEntry): void {
    for (const connection of [...listener.halfOpen]) connection.abort();
  }

  /**
   * A transparent listener (forwarding, like Linux's IP_TRANSPARENT with a TPROXY rule): it
   * accepts connections to every address that is not ours and every port, and each accepted
   * connection's local address and port are the destination the client asked for. One at a
   * time (EADDRINUSE otherwise); while it listens, the IP layer delivers TCP for any unicast
   * destination arriving from the link.
   */
  listenTransparent(endpoint: TcpListenerEndpoint): void {
    if (this.transparentListener !== undefined) throw new NetError('EADDRINUSE', 'a transparent TCP listener is already open');
    this.transparentListener = listenerEntry(endpoint);
    this.holdTransparent(1);
  }

  unlistenTransparent(endpoint: TcpListenerEndpoint): void {
    const listener = this.transparentListener;
    if (listener?.endpoint !== endpoint) return;
    this.transparentListener = undefined;
    this.closeListener(listener);
    this.holdTransparent(-1);
  }

  /**
   * The IP layer's transparent mode stays on while anything needs it: the transparent listener,
   * and every connection it accepted (which keep working after the listener closes, as sockets
   * with Linux's IP_TRANSPARENT do). Their TIME-WAIT records do not hold it.
   */
  private holdTransparent(change: 1 | -1): void {
    this.transparentHolders += change;
    this.ip.setTransparent(PROTOCOL_TCP, this.transparentHolders > 0);
  }

  /**
   * The listener a segment for `destination:port` goes to, if any: one of another family or bound
   * to another of our addresses is none (endpointAccepts), and of several sharing the port the
   * one whose binding accepts it (PortTable.lookup).
   */
  private listenerFor(destination: IPAddress, port: number): ListenerEntry | undefined {
    if (!this.ip.isLocalAddress(destination)) {
      const transparent = this.transparentListener;
      return transparent !== undefined && endpointAccepts(transparent.endpoint, destination) ? transparent : undefined;
    }
    const owner = this.ports.lookup(port, destination);
    return owner?.kind === 'listener' ? owner : undefined;
  }

  /** Active open (RFC 9293 3.10.1): a new connection in SYN-SENT from an ephemeral port. */
  connect(remoteAddress: IPAddress, remotePort: number): TcpConnection {
    if (remotePort < 1 || remotePort > MAX_PORT) throw new NetError('EINVAL', `TCP port ${remotePort} is out of range 1-${MAX_PORT}`);
    if (this.memory.atConnectionLimit) {
      this.counters.add('dials_over_connection_limit');
      throw new NetError('ENOBUFS', `cannot open a TCP connection: the stack holds tcp.maxConnections (${this.memory.maxConnections})`);
    }
    if (typeof remoteAddress === 'string' && this.ip.address6 === undefined) {
      throw new NetError('ENETUNREACH', 'cannot open a TCP connection to an IPv6 address: the stack has no IPv6 address');
    }
    const localAddress = this.ip.localAddressFor(remoteAddress);
    const localPort = this.ports.chooseEphemeral(
      (candidate) =>
        this.ports.get(candidate)?.kind !== 'listener' && !this.fourTupleInUse(localAddress, remoteAddress, remotePort, candidate),
      { localAddress, remoteAddress, remotePort },
    );
    const bound = this.ports.get(localPort);
    const owner: ActiveOpenEntry = bound?.kind === 'active' ? bound : { kind: 'active', connections: 0 };
    if (bound === undefined) this.ports.bind(localPort, owner);
    owner.connections++;
    const tuple: TcpFourTuple = { localAddress, localPort, remoteAddress, remotePort };
    const connection = this.createConnection(tuple, { kind: 'active-open', owner, localPort });
    connection.openActive();
    return connection;
  }

  /**
   * Whether a connection or a TIME-WAIT record holds this four-tuple. An active open may take any
   * local port no listener holds whose four-tuple is free (RFC 6056 section 2.2): the port of a
   * connection in TIME-WAIT serves other destinations.
   */
  fourTupleInUse(localAddress: IPAddress, remoteAddress: IPAddress, remotePort: number, localPort: number): boolean {
    const key = connectionKey(localAddress, remoteAddress, remotePort, localPort);
    return this.connections.has(key) || this.timeWait.get(key) !== undefined;
  }

  /**
   * `slot`: what the connection holds until it is released (an ephemeral port, a half-open slot).
   * `iss`: a SYN cookie's; else the ISN above a TIME-WAIT record the SYN ended; else RFC 6528's.
   */
  private createConnection(tuple: TcpFourTuple, slot: HeldSlot, iss?: SeqNumber): TcpConnection {
    const key = connectionKey(tuple.localAddress, tuple.remoteAddress, tuple.remotePort, tuple.localPort);
    const initialSeq = iss ?? this.reopeningIsn ?? this.isn.next(tuple);
    this.reopeningIsn = undefined;
    const env = new ConnectionEnvironment(this, this.ip, tuple, key, slot);
    const connection = new TcpConnection(tuple, initialSeq, this.configFor(tuple.remoteAddress), env);
    env.connection = connection;
    // RFC 1191 section 6.2: what is known of the path to this peer sizes the first segments too.
    const pathMtu = this.ip.pathMtu(tuple.remoteAddress);
    if (pathMtu < this.ip.mtu) connection.limitToKnownPathMtu(pathMtu);
    this.connections.set(key, connection);
    if (!this.ip.isLocalAddress(tuple.localAddress)) this.holdTransparent(1);
    this.memory.addConnection();
    this.drain?.pending.add(connection);
    this.counters.add('connections_created');
    return connection;
  }

  /** A connection's TCB is gone (`timeWait`: it reached TIME-WAIT and leaves this record). */
  connectionReleased(env: ConnectionEnvironment, timeWait: TimeWaitState | undefined): void {
    const connection = env.connection;
    this.memory.removeConnection();
    if (this.connections.get(env.key) === connection) this.connections.delete(env.key);
    if (!this.ip.isLocalAddress(env.tuple.localAddress)) this.holdTransparent(-1);
    if (timeWait !== undefined) this.timeWait.enter(env.key, env.tuple, timeWait);
    const slot = env.slot;
    if (slot?.kind === 'active-open') {
      if (--slot.owner.connections === 0) this.ports.release(slot.localPort, slot.owner);
    } else if (slot?.kind === 'half-open') {
      slot.halfOpen.delete(connection);
    }
    this.settled(connection);
  }

  /**
   * TcpEnvironment.superSegmentPayload of a connection to `remoteAddress`: what a packet of
   * TCP_MAX_SUPER_SEGMENT_PACKET bytes holds behind the family's IP header and the largest TCP header.
   */
  superSegmentPayload(remoteAddress: IPAddress): number {
    if (!this.ip.tcpSegmentationTo(remoteAddress)) return 0;
    return TCP_MAX_SUPER_SEGMENT_PACKET - ipHeaderLength(remoteAddress) - TCP_MAX_HEADER;
  }

  /**
   * Send a segment; `pathMtu` is what the sending connection knows of the path (RFC 1191).
   * With `segmentSize` and more payload than that, a super-segment (TSO): its checksum field
   * gets only the pseudo-header sum, which the link finishes per segment.
   */
  transmit(tuple: TcpFourTuple, segment: TcpSegment, pathMtu = Number.POSITIVE_INFINITY, segmentSize?: number): void {
    if (segmentSize !== undefined && segment.payload.length > segmentSize) {
      const superSegment = this.encode(tuple, segment, 'partial');
      // Counted as the segments the link makes of it, as Linux counts a GSO packet (tcp_skb_pcount).
      this.counters.add('segments_sent', Math.ceil(segment.payload.length / segmentSize));
      this.counters.add('super_segments_sent');
      this.ip.sendTransport(PROTOCOL_TCP, tuple.localAddress, tuple.remoteAddress, superSegment, true, segmentSize);
      return;
    }
    const packet = this.encode(tuple, segment, 'full');
    this.counters.add('segments_sent');
    if (segment.flags & TCP_RST) this.counters.add('resets_sent');
    // Segments are sized to the path MTU (RFC 1191), so they are sent with DF like Linux does, and
    // a router that cannot forward one says so. Only on a path below TCP_MIN_PATH_MTU, where
    // segments keep the 536-byte floor and cannot fit, they go without DF for IP (or the routers
    // on the way) to fragment.
    const dontFragment = pathMtu >= TCP_MIN_PATH_MTU || packet.length <= pathMtu;
    this.ip.sendTransport(PROTOCOL_TCP, tuple.localAddress, tuple.remoteAddress, packet, dontFragment);
  }

  /** The segment as an IP packet with the header left for the IP layer, in IpLayer.packetBuffer memory. */
  private encode(tuple: TcpFourTuple, segment: TcpSegment, checksum: ChecksumFill): Uint8Array {
    const headroom = ipHeaderLength(tuple.remoteAddress);
    const length = headroom + tcpSegmentLength(segment.options, segment.payload.length);
    const packet = this.ip.packetBuffer(tuple.remoteAddress, length);
    writeTcpSegment(packet, headroom, segment, tuple.localAddress, tuple.remoteAddress, checksum);
    return packet;
  }

  /** Called by a connection's environment: send its ACK in endOfBatch. */
  deferAck(env: ConnectionEnvironment): void {
    this.batchEndAcks.push(env);
  }

  /**
   * The IP layer handed over every packet of a batch: the ACKs deferred meanwhile go out, one per
   * connection, acknowledging all the batch brought (RFC 5681 4.2 allows acknowledging more than
   * two segments at once; the sender counts bytes, RFC 3465).
   */
  endOfBatch(): void {
    const pending = this.batchEndAcks;
    for (let i = 0; i < pending.length; i++) {
      const env = pending[i]!;
      env.ackDeferred = false;
      try {
        env.connection.sendBatchEndAck();
      } catch (error) {
        this.abortAfterFault(env.connection, error);
      }
    }
    pending.length = 0;
  }

  receive(received: ReceivedPacket): void {
    const { header, payload } = received;
    const parsed = parseTcpSegment(payload, header.source, header.destination, received.transportChecksum);
    if (!parsed.ok) {
      this.counters.drop(parsed.reason);
      return;
    }
    const segment = parsed.segment;
    this.counters.add('segments_received');
    const key = connectionKey(header.destination, header.source, segment.sourcePort, segment.destinationPort);
    const connection = this.connections.get(key);
    if (connection !== undefined) {
      try {
        connection.handleSegment(segment);
      } catch (error) {
        this.abortAfterFault(connection, error);
        return;
      }
      return;
    }
    const timeWait = this.timeWait.get(key);
    let reopeningIsn: SeqNumber | undefined;
    if (timeWait !== undefined) {
      // RFC 9293 3.10.7.4 TIME-WAIT; a SYN that may reopen the four-tuple (RFC 6191) goes on to
      // the listener like any SYN, with an ISN above the old SND.NXT.
      reopeningIsn = this.timeWait.handleSegment(key, timeWait, segment);
      if (reopeningIsn === undefined) return;
    }
    const listener = this.listenerFor(header.destination, segment.destinationPort);
    if (listener !== undefined) {
      this.reopeningIsn = reopeningIsn;
      try {
        this.receiveForListener(listener, header.destination, header.source, segment);
      } finally {
        this.reopeningIsn = undefined;
      }
      return;
    }
    this.counters.drop('no_connection');
    this.sendResetFor(header.destination, header.source, segment);
  }

  /** RFC 9293 3.10.7.2: a segment for a LISTEN socket, sent to `destination`. */
  private receiveForListener(listener: ListenerEntry, destination: IPAddress, source: IPAddress, segment: TcpSegment): void {
    if (segment.flags & TCP_RST) {
      this.counters.drop('rst_to_listener');
      return;
    }
    const tuple: TcpFourTuple = {
      localAddress: destination,
      localPort: segment.destinationPort,
      remoteAddress: source,
      remotePort: segment.sourcePort,
    };
    if (segment.flags & TCP_ACK) {
      if (!(segment.flags & TCP_SYN) && this.acceptCookieAck(listener, tuple, segment)) return;
      // An ACK for a connection we do not have (e.g. a stale handshake): reset it.
      this.counters.drop('ack_to_listener');
      this.sendResetFor(destination, source, segment);
      return;
    }
    if (!(segment.flags & TCP_SYN)) {
      this.counters.drop('no_syn_to_listener');
      return;
    }
    // At the stack's connection cap (tcp.maxConnections) no SYN is answered, not even by a cookie.
    if (this.memory.atConnectionLimit) {
      this.counters.drop('connection_limit');
      return;
    }
    const endpoint = listener.endpoint;
    this.reclaimHalfOpen(listener);
    // RFC 4987: bound both queues. A SYN beyond the half-open bound gets a SYN cookie (3.6); one
    // that could never be accepted is dropped (the peer retries), as Linux does when the accept
    // queue is full.
    if (listener.halfOpen.size >= endpoint.maxHalfOpen && endpoint.acceptQueueRoom > 0 && this.config.synCookies) {
      this.sendCookie(listener, tuple, segment);
      return;
    }
    if (listener.halfOpen.size >= endpoint.maxHalfOpen || endpoint.acceptQueueRoom <= 0) {
      this.counters.drop('listen_queue_full');
      this.warnQueueFull(listener, segment.destinationPort, 'dropping SYNs');
      return;
    }
    const halfOpen = listener.halfOpen;
    const connection = this.createConnection(tuple, { kind: 'half-open', halfOpen });
    halfOpen.add(connection);
    connection.events = new HalfOpenEvents(this, listener, connection);
    try {
      connection.acceptSyn(segment);
    } catch (error) {
      this.abortAfterFault(connection, error);
    }
  }

  /** A fault in one connection's code ends that connection, not the stack (nor the batch). */
  private abortAfterFault(connection: TcpConnection, error: unknown): void {
    const { remoteAddress, remotePort, localPort } = connection.tuple;
    this.ip.logger.error(
      `tcp ${formatIPAddress(remoteAddress)}:${remotePort} -> port ${localPort}: connection aborted after an exception: ${errorDetail(error)}`,
    );
    connection.abortAfterFault();
  }

  /** A passive open reached ESTABLISHED: queue it for accept(), if the listener has room (HalfOpenEvents calls it too). */
  handOver(listener: ListenerEntry, connection: TcpConnection): void {
    if (listener.endpoint.acceptQueueRoom <= 0) {
      this.counters.drop('accept_queue_full');
      connection.abort();
      return;
    }
    this.counters.add('connections_accepted');
    listener.endpoint.enqueue(connection);
  }

  /** Like Linux's "possible SYN flooding" message: once a second at most. */
  private warnQueueFull(listener: ListenerEntry, port: number, action: string): void {
    const now = this.ip.clock.now();
    if (now - this.lastQueueWarning < 1000) return;
    this.lastQueueWarning = now;
    this.ip.logger.warn(
      `tcp port ${port}: listen queue full (${listener.halfOpen.size} half-open of ${listener.endpoint.maxHalfOpen}, ` +
        `accept queue room ${listener.endpoint.acceptQueueRoom}); ${action}`,
    );
  }

  /**
   * Under pressure, the oldest half-open connections whose SYN-ACK went unanswered
   * RECLAIM_AFTER_SYNACK_RETRANSMISSIONS times give up their slots, silently (Linux prunes its
   * request queue the same way). Oldest first, stopping at the first that is still young: the
   * ones after it are younger, so each SYN costs O(1) plus what it reclaims.
   */
  private reclaimHalfOpen(listener: ListenerEntry): void {
    if (listener.halfOpen.size * 2 <= listener.endpoint.maxHalfOpen) return;
    for (const connection of listener.halfOpen) {
      if (connection.stats().retransmissions < RECLAIM_AFTER_SYNACK_RETRANSMISSIONS) return;
      connection.discardHalfOpen();
      listener.halfOpen.delete(connection);
      this.counters.add('halfopen_reclaimed');
    }
  }

  /**
   * RFC 4987 3.6: answer the SYN with a SYN-ACK whose ISN is a cookie and keep no state. It
   * offers what an ordinary SYN-ACK would (NegotiatedOptions), and with timestamps our TSval
   * carries the peer's window scale and SACK-permitted (src/tcp/syn-cookies.ts).
   */
  private sendCookie(listener: ListenerEntry, tuple: TcpFourTuple, syn: TcpSegment): void {
    const now = this.ip.clock.now();
    if (!this.cookieBudget.take(tuple.remoteAddress, now)) {
      this.counters.drop('syncookies_source_limited');
      return;
    }
    const negotiated = new NegotiatedOptions(this.configFor(tuple.remoteAddress), tuple.remoteAddress);
    // Without timestamps the cookie cannot carry window scale and SACK-permitted, so the SYN-ACK
    // must not agree to them either (Linux clears them the same way).
    const timestamps = this.config.timestamps && syn.options.timestamp !== undefined;
    negotiated.negotiate(timestamps ? syn.options : { mss: syn.options.mss }, now);
    const options = negotiated.synOptions(true, now);
    if (options.timestamp !== undefined) {
      options.timestamp.value = cookieTimestamp(now, negotiated.windowScaling ? negotiated.sndShift : undefined, negotiated.sackPermitted);
    }
    listener.lastCookieSent = now;
    this.counters.add('syncookies_sent');
    this.warnQueueFull(listener, tuple.localPort, 'sending SYN cookies');
    this.transmit(tuple, {
      sourcePort: tuple.localPort,
      destinationPort: tuple.remotePort,
      seq: this.cookies.issue(tuple, syn.seq, negotiated.peerMss, now),
      ack: seqAdd(syn.seq, 1),
      flags: TCP_SYN | TCP_ACK,
      window: synWindow(this.config),
      urgentPointer: 0,
      options,
      payload: new Uint8Array(0),
    });
  }

  /**
   * RFC 4987 3.6: an ACK to a listener that matches no connection may return a cookie (SEG.ACK -
   * 1; SEG.SEQ - 1 is the peer's ISN). Checked only while cookies this listener sent can still be
   * valid, as Linux does, so stray ACKs otherwise get their RST without a MAC computed. A valid
   * one becomes a connection in ESTABLISHED queued for accept; with a full accept queue the ACK
   * is dropped (the peer's retransmission may find room), as Linux does. False when it is no
   * cookie of ours.
   */
  private acceptCookieAck(listener: ListenerEntry, tuple: TcpFourTuple, ack: TcpSegment): boolean {
    const now = this.ip.clock.now();
    if (!this.config.synCookies || now - listener.lastCookieSent > (COOKIE_MAX_AGE_PERIODS + 1) * COOKIE_PERIOD_MS) return false;
    const mss = this.cookies.validate(tuple, seqAdd(ack.seq, -1), seqAdd(ack.ack, -1), now);
    if (mss === undefined) {
      this.counters.add('syncookies_rejected');
      return false;
    }
    if (listener.endpoint.acceptQueueRoom <= 0) {
      this.counters.drop('accept_queue_full');
      return true;
    }
    if (this.memory.atConnectionLimit) {
      this.counters.drop('connection_limit');
      return true;
    }
    this.counters.add('syncookies_accepted');
    const connection = this.createConnection(tuple, undefined, seqAdd(ack.ack, -1));
    connection.events = { onEstablished: () => this.handOver(listener, connection) };
    const timestamp = this.config.timestamps ? ack.options.timestamp : undefined;
    try {
      connection.acceptCookie(ack, cookieSynOptions(mss, timestamp));
    } catch (error) {
      this.abortAfterFault(connection, error);
    }
    return true;
  }

  /** RFC 9293 3.10.7.1: the reset for a segment to `localAddress` that belongs to no connection. */
  private sendResetFor(localAddress: IPAddress, remoteAddress: IPAddress, segment: TcpSegment): void {
    if (segment.flags & TCP_RST) return;
    const acking = (segment.flags & TCP_ACK) !== 0;
    this.transmit(
      {
        localAddress,
        localPort: segment.destinationPort,
        remoteAddress,
        remotePort: segment.sourcePort,
      },
      {
        sourcePort: segment.destinationPort,
        destinationPort: segment.sourcePort,
        seq: acking ? segment.ack : 0,
        ack: acking ? 0 : seqAdd(segment.seq, segmentLength(segment)),
        flags: acking ? TCP_RST : TCP_RST | TCP_ACK,
        window: 0,
        urgentPointer: 0,
        options: {},
        payload: new Uint8Array(0),
      },
    );
  }

  receiveIcmpError(error: IcmpSocketError, quote: TransportQuote): void {
    const connection = this.connections.get(connectionKey(quote.source, quote.destination, quote.destinationPort, quote.sourcePort));
    if (connection === undefined || quote.transport.length < 8) {
      this.counters.drop('icmp_no_connection');
      return;
    }
    connection.handleIcmpError(readUint32(quote.transport, 4), error.code, error.hard);
  }

  /**
   * ICMP fragmentation needed (RFC 1191) or ICMPv6 packet too big (RFC 8201) about one of our
   * segments: the connection it quotes checks the sequence number (RFC 5927 4.1) and resizes its
   * segments. True when it was in flight.
   */
  receivePathMtuReduced(quote: TransportQuote, pathMtu: number): boolean {
    const connection = this.connections.get(connectionKey(quote.source, quote.destination, quote.destinationPort, quote.sourcePort));
    if (connection === undefined || quote.transport.length < 8) {
      this.counters.drop('pmtu_no_connection');
      return false;
    }
    return connection.handlePathMtuReduced(readUint32(quote.transport, 4), pathMtu);
  }

  /**
   * Close every connection gracefully (RFC 9293 3.10.4; a handshake still in progress is
   * aborted), wait until each is in TIME-WAIT or gone, or until `graceMs` of stack time have
   * passed, then abort what is left. The wait needs the stack's timers to run: with manual
   * timers pass 0 (no wait), or the wait lasts until the test moves time.
   */
  async shutdown(graceMs: number): Promise<void> {
    for (const connection of [...this.connections.values()]) {
      if (connection.state === 'SYN-SENT' || connection.state === 'SYN-RECEIVED') connection.abort();
      else connection.close();
    }
    // A connection that reached TIME-WAIT has left the table for a TIME-WAIT record: settled.
    const pending = new Set(this.connections.values());
    if (pending.size > 0 && graceMs > 0) {
      let graceTimer: TimerHandle | undefined;
      await new Promise<void>((resolve) => {
        this.drain = { pending, done: resolve };
        graceTimer = this.ip.timers.schedule(this.ip.clock.now() + graceMs, () => resolve());
      });
      graceTimer?.cancel();
      this.drain = undefined;
    }
    for (const connection of [...this.connections.values()]) connection.abort();
  }

  /** During a shutdown: `connection` went away (perhaps into TIME-WAIT); end the wait after the last. */
  private settled(connection: TcpConnection): void {
    const drain = this.drain;
    if (drain === undefined || !drain.pending.delete(connection)) return;
    if (drain.pending.size === 0) drain.done();
  }

  tableStats(): {
    connections: number;
    boundPorts: number;
    states: Record<string, number>;
    listeners: Array<{ port: number; halfOpen: number; acceptQueueRoom: number }>;
  } {
    const states: Record<string, number> = {};
    for (const connection of this.connections.values()) states[connection.state] = (states[connection.state] ?? 0) + 1;
    if (this.timeWait.size > 0) states['TIME-WAIT'] = (states['TIME-WAIT'] ?? 0) + this.timeWait.size;
    const listeners = [];
    for (const [port, owner] of this.ports.entries()) {
      if (owner.kind === 'listener')
        listeners.push({ port, halfOpen: owner.halfOpen.size, acceptQueueRoom: owner.endpoint.acceptQueueRoom });
    }
    return { connections: this.connections.size, boundPorts: this.ports.size, states, listeners };
  }
}
