/**
 * TCP demultiplexing: finds the connection for each segment by its four-tuple, hands SYNs to
 * listeners (with a bounded half-open queue, RFC 4987 3.1), answers segments for nothing with a
 * RST (RFC 9293 3.10.7.1), and owns the port table for listeners and active opens.
 */
import type { Counters } from '../counters.js';
import { NetError } from '../errors.js';
import { readUint32 } from '../bytes.js';
import { socketErrorForIcmp } from '../ip/icmp-errors.js';
import type { IpLayer, ReceivedPacket, TransportProtocol } from '../ip/transport-contract.js';
import type { TimerHandle } from '../timers.js';
import type { IcmpErrorQuote } from '../wire/icmpv4.js';
import { formatIPv4, MAX_PORT, type IPv4Address } from '../wire/address.js';
import { IPV4_MIN_HEADER, PROTOCOL_TCP } from '../wire/ipv4.js';
import { errorDetail } from '../log.js';
import { PortTable } from '../ports.js';
import { encodeTcpSegment, parseTcpSegment, segmentLength, TCP_ACK, TCP_RST, TCP_SYN, type TcpSegment } from '../wire/tcp.js';
import { TcpConnection } from './connection.js';
import { IsnGenerator, ISN_SECRET_BYTES } from './isn.js';
import { TCP_MIN_PATH_MTU } from './options.js';
import { seqAdd } from './seq.js';
import type { TcpConfig, TcpFourTuple } from './types.js';

/** A listening socket as the layer sees it; the API's Listener implements this. */
export interface TcpListenerEndpoint {
  /** Room left in the accept queue (established, not yet accepted). */
  readonly acceptQueueRoom: number;
  /** Most half-open (SYN-RECEIVED) connections held at once. */
  readonly maxHalfOpen: number;
  /** A connection completed its handshake: queue it for accept(). */
  enqueue(connection: TcpConnection): void;
}

interface ListenerEntry {
  kind: 'listener';
  endpoint: TcpListenerEndpoint;
  halfOpen: number;
}

interface ActiveOpenEntry {
  kind: 'active';
}

type PortOwner = ListenerEntry | ActiveOpenEntry;

function connectionKey(remoteAddress: IPv4Address, remotePort: number, localPort: number): string {
  return `${remoteAddress}:${remotePort}:${localPort}`;
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
  private readonly isn: IsnGenerator;
  private lastQueueWarning = -Infinity;
  private drain: Drain | undefined;

  constructor(
    private readonly ip: IpLayer,
    readonly config: TcpConfig,
  ) {
    this.counters = ip.counters('tcp');
    this.ports = new PortTable<PortOwner>('tcp', ip.random);
    this.isn = new IsnGenerator(() => ip.clock.now(), ip.random.bytes(ISN_SECRET_BYTES));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(port: number, endpoint: TcpListenerEndpoint): number {
    return this.ports.bind(port, { kind: 'listener', endpoint, halfOpen: 0 });
  }

  unlisten(port: number, endpoint: TcpListenerEndpoint): void {
    const owner = this.ports.get(port);
    if (owner?.kind === 'listener' && owner.endpoint === endpoint) this.ports.release(port, owner);
  }

  /** Active open (RFC 9293 3.10.1): a new connection in SYN-SENT from an ephemeral port. */
  connect(remoteAddress: IPv4Address, remotePort: number): TcpConnection {
    if (remotePort < 1 || remotePort > MAX_PORT) throw new NetError('EINVAL', `TCP port ${remotePort} is out of range 1-${MAX_PORT}`);
    const owner: ActiveOpenEntry = { kind: 'active' };
    const localPort = this.ports.bind(
      0,
      owner,
      (candidate) => !this.ports.has(candidate) && !this.connections.has(connectionKey(remoteAddress, remotePort, candidate)),
    );
    const tuple: TcpFourTuple = { localAddress: this.ip.address, localPort, remoteAddress, remotePort };
    const connection = this.createConnection(tuple, () => this.ports.release(localPort, owner));
    connection.openActive();
    return connection;
  }

  private createConnection(tuple: TcpFourTuple, onRelease: () => void): TcpConnection {
    const key = connectionKey(tuple.remoteAddress, tuple.remotePort, tuple.localPort);
    let released = false;
    const connection = new TcpConnection(tuple, this.isn.next(tuple), this.config, {
      now: () => this.ip.clock.now(),
      timers: this.ip.timers,
      transmit: (segment) => this.transmit(tuple, segment, connection.pathMtu),
      counters: this.counters,
      release: () => {
        if (released) return;
        released = true;
        if (this.connections.get(key) === connection) this.connections.delete(key);
        onRelease();
        this.settled(connection);
      },
    });
    // RFC 1191 section 6.2: what is known of the path to this peer sizes the first segments too.
    const pathMtu = this.ip.pathMtu(tuple.remoteAddress);
    if (pathMtu < this.ip.mtu) connection.limitToKnownPathMtu(pathMtu);
    this.connections.set(key, connection);
    this.drain?.pending.add(connection);
    this.counters.add('connections_created');
    return connection;
  }

  /** Send a segment; `pathMtu` is what the sending connection knows of the path (RFC 1191). */
  private transmit(tuple: TcpFourTuple, segment: TcpSegment, pathMtu = Number.POSITIVE_INFINITY): void {
    const packet = encodeTcpSegment(segment, tuple.localAddress, tuple.remoteAddress, IPV4_MIN_HEADER);
    this.counters.add('segments_sent');
    if (segment.flags & TCP_RST) this.counters.add('resets_sent');
    // Segments are sized to the path MTU (RFC 1191), so they are sent with DF like Linux does, and
    // a router that cannot forward one says so. Only on a path below TCP_MIN_PATH_MTU, where
    // segments keep the 536-byte floor and cannot fit, they go without DF for IP (or the routers
    // on the way) to fragment.
    const dontFragment = pathMtu >= TCP_MIN_PATH_MTU || packet.length <= pathMtu;
    this.ip.sendTransport(PROTOCOL_TCP, tuple.remoteAddress, packet, dontFragment);
  }

  receive(received: ReceivedPacket): void {
    const { header, payload } = received;
    const parsed = parseTcpSegment(payload, header.source, header.destination);
    if (!parsed.ok) {
      this.counters.drop(parsed.reason);
      return;
    }
    const segment = parsed.segment;
    this.counters.add('segments_received');
    const connection = this.connections.get(connectionKey(header.source, segment.sourcePort, segment.destinationPort));
    if (connection !== undefined) {
      try {
        connection.handleSegment(segment);
      } catch (error) {
        this.abortAfterFault(connection, error);
        return;
      }
      // TIME-WAIT is only ever entered on a segment (RFC 9293 3.10.7.4), so this is where a
      // shutdown learns of it.
      if (this.drain !== undefined && connection.state === 'TIME-WAIT') this.settled(connection);
      return;
    }
    const owner = this.ports.get(segment.destinationPort);
    if (owner?.kind === 'listener') {
      this.receiveForListener(owner, header.source, segment);
      return;
    }
    this.counters.drop('no_connection');
    this.sendResetFor(header.source, segment);
  }

  /** RFC 9293 3.10.7.2: a segment for a LISTEN socket. */
  private receiveForListener(listener: ListenerEntry, source: IPv4Address, segment: TcpSegment): void {
    if (segment.flags & TCP_RST) {
      this.counters.drop('rst_to_listener');
      return;
    }
    if (segment.flags & TCP_ACK) {
      // An ACK for a connection we do not have (e.g. a stale handshake): reset it.
      this.counters.drop('ack_to_listener');
      this.sendResetFor(source, segment);
      return;
    }
    if (!(segment.flags & TCP_SYN)) {
      this.counters.drop('no_syn_to_listener');
      return;
    }
    // RFC 4987: bound both queues; a SYN that does not fit is dropped (the peer retries), as
    // Linux does when the accept queue is full.
    if (listener.halfOpen >= listener.endpoint.maxHalfOpen || listener.endpoint.acceptQueueRoom <= 0) {
      this.counters.drop('listen_queue_full');
      const now = this.ip.clock.now();
      if (now - this.lastQueueWarning >= 1000) {
        // Like Linux's "possible SYN flooding" message: once a second at most.
        this.lastQueueWarning = now;
        this.ip.logger.warn(
          `tcp port ${segment.destinationPort}: listen queue full (${listener.halfOpen} half-open of ${listener.endpoint.maxHalfOpen}, ` +
            `accept queue room ${listener.endpoint.acceptQueueRoom}); dropping SYNs`,
        );
      }
      return;
    }
    const tuple: TcpFourTuple = {
      localAddress: this.ip.address,
      localPort: segment.destinationPort,
      remoteAddress: source,
      remotePort: segment.sourcePort,
    };
    listener.halfOpen++;
    let halfOpen = true;
    const leaveHalfOpen = () => {
      if (halfOpen) {
        halfOpen = false;
        listener.halfOpen--;
      }
    };
    const connection = this.createConnection(tuple, leaveHalfOpen);
    connection.events = {
      onEstablished: () => {
        leaveHalfOpen();
        if (this.ports.get(tuple.localPort) !== listener) {
          // The listener went away during the handshake.
          connection.abort();
          return;
        }
        if (listener.endpoint.acceptQueueRoom <= 0) {
          this.counters.drop('accept_queue_full');
          connection.abort();
          return;
        }
        this.counters.add('connections_accepted');
        listener.endpoint.enqueue(connection);
      },
    };
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
      `tcp ${formatIPv4(remoteAddress)}:${remotePort} -> port ${localPort}: connection aborted after an exception: ${errorDetail(error)}`,
    );
    connection.abortAfterFault();
  }

  /** RFC 9293 3.10.7.1: the reset for a segment that belongs to no connection. */
  private sendResetFor(remoteAddress: IPv4Address, segment: TcpSegment): void {
    if (segment.flags & TCP_RST) return;
    const acking = (segment.flags & TCP_ACK) !== 0;
    this.transmit(
      { localAddress: this.ip.address, localPort: segment.destinationPort, remoteAddress, remotePort: segment.sourcePort },
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

  receiveIcmpError(type: number, code: number, quote: IcmpErrorQuote): void {
    const connection = this.connections.get(connectionKey(quote.destination, quote.destinationPort, quote.sourcePort));
    if (connection === undefined || quote.transport.length < 8) {
      this.counters.drop('icmp_no_connection');
      return;
    }
    const error = socketErrorForIcmp(type, code, PROTOCOL_TCP);
    connection.handleIcmpError(readUint32(quote.transport, 4), error.code, error.hard);
  }

  /**
   * ICMP fragmentation needed about one of our segments (RFC 1191): the connection it quotes checks
   * the sequence number (RFC 5927 4.1) and resizes its segments. True when it was in flight.
   */
  receivePathMtuReduced(quote: IcmpErrorQuote, pathMtu: number): boolean {
    const connection = this.connections.get(connectionKey(quote.destination, quote.destinationPort, quote.sourcePort));
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
    const pending = new Set([...this.connections.values()].filter((connection) => connection.state !== 'TIME-WAIT'));
    if (pending.size > 0 && graceMs > 0) {
      let graceTimer: TimerHandle | undefined;
      await new Promise<void>((resolve) => {
        this.drain = { pending, done: resolve };
        graceTimer = this.ip.timers.schedule(this.ip.clock.now() + graceMs, () => resolve());
      });
      graceTimer?.cancel();
      this.drain = undefined;
    }
    for (const connection of [...this.connections.values()]) {
      if (connection.state !== 'TIME-WAIT' && connection.state !== 'CLOSED') connection.abort();
    }
  }

  /** During a shutdown: `connection` reached TIME-WAIT or went away; end the wait after the last. */
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
    const listeners = [];
    for (const [port, owner] of this.ports.entries()) {
      if (owner.kind === 'listener') listeners.push({ port, halfOpen: owner.halfOpen, acceptQueueRoom: owner.endpoint.acceptQueueRoom });
    }
    return { connections: this.connections.size, boundPorts: this.ports.size, states, listeners };
  }
}
