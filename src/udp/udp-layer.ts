/**
 * UDP demultiplexing and the port table (RFC 768, RFC 1122 4.1). A bound port has one endpoint,
 * or several whose bindings do not overlap (udp4 and udp6, two specific addresses: PortTable);
 * a datagram to an unbound port draws ICMP port unreachable (RFC 1122 4.1.3.1), rate
 * limited by the IP layer. An exception from a socket's delivery closes that socket only.
 */
import type { Counters } from '../counters.js';
import { NetError, type NetErrorCode } from '../errors.js';
import type { IcmpSocketError } from '../ip/icmp-errors.js';
import type { IpLayer, ReceivedPacket, TransportProtocol, TransportQuote } from '../ip/transport-contract.js';
import type { IPAddress } from '../wire/address6.js';
import { PROTOCOL_UDP } from '../wire/ipv4.js';
import { errorDetail } from '../log.js';
import { ipHeaderLength } from '../wire/ip.js';
import { endpointAccepts, PortTable } from '../ports.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../wire/udp.js';

/** A bound UDP port as the layer sees it; the API's sockets implement this. */
export interface UdpEndpoint {
  /** Connected peer, if any: datagrams from anyone else are not delivered (Go's DialUDP). */
  readonly remote: { address: IPAddress; port: number } | undefined;
  /** The one local address it receives on (bound to 127.0.0.1, say); undefined for any of ours. */
  readonly boundAddress?: IPAddress;
  /** The one address family it receives (Go's "udp4" / "udp6"); undefined for both. */
  readonly family?: 4 | 6;
  /**
   * A datagram arrived from `source`:`sourcePort`, sent to `destination`:`destinationPort` (ours,
   * or any address for the transparent endpoint). `payload` is a view valid only during the call.
   */
  deliver(source: IPAddress, sourcePort: number, payload: Uint8Array, destination: IPAddress, destinationPort: number): void;
  /** An ICMP or ICMPv6 error concerning a datagram this endpoint sent to `destination:port`. */
  deliverError(code: NetErrorCode, destination: IPAddress, destinationPort: number): void;
  /** The stack is shutting down. */
  shutdown(): void;
}

export class UdpLayer implements TransportProtocol {
  readonly ports: PortTable<UdpEndpoint>;
  readonly counters: Counters;
  /** The transparent endpoint (bindTransparent): datagrams to every address not ours. */
  private transparent: UdpEndpoint | undefined;

  constructor(private readonly ip: IpLayer) {
    this.counters = ip.counters('udp');
    this.ports = new PortTable<UdpEndpoint>('udp', ip.random, (endpoint) => endpoint);
  }

  bind(port: number, endpoint: UdpEndpoint): number {
    return this.ports.bind(port, endpoint);
  }

  unbind(port: number, endpoint: UdpEndpoint): void {
    this.ports.release(port, endpoint);
  }

  /**
   * Forwarding: `endpoint` receives every datagram from the link to an address that is not ours,
   * any port, and may send from any unicast address (the IP layer's transparent mode, on while it
   * is bound). One at a time: EADDRINUSE otherwise.
   */
  bindTransparent(endpoint: UdpEndpoint): void {
    if (this.transparent !== undefined) throw new NetError('EADDRINUSE', 'a transparent UDP socket is already open');
    this.transparent = endpoint;
    this.ip.setTransparent(PROTOCOL_UDP, true);
  }

  unbindTransparent(endpoint: UdpEndpoint): void {
    if (this.transparent !== endpoint) return;
    this.transparent = undefined;
    this.ip.setTransparent(PROTOCOL_UDP, false);
  }

  receive(received: ReceivedPacket): void {
    const { header, payload } = received;
    const parsed = parseUdpDatagram(payload, header.source, header.destination, received.transportChecksum);
    if (!parsed.ok) {
      this.counters.drop(parsed.reason);
      return;
    }
    const datagram = parsed.datagram;
    this.counters.add('received');
    // A socket of the other family, or bound to another of our addresses, is no socket for it.
    const endpoint = this.ip.isLocalAddress(header.destination)
      ? this.ports.lookup(datagram.destinationPort, header.destination)
      : this.transparentFor(header.destination);
    if (endpoint === undefined) {
      this.counters.drop('no_port');
      this.ip.sendPortUnreachable(received);
      return;
    }
    const remote = endpoint.remote;
    if (remote !== undefined && (remote.address !== header.source || remote.port !== datagram.sourcePort)) {
      this.counters.drop('not_from_connected_peer');
      return;
    }
    try {
      endpoint.deliver(header.source, datagram.sourcePort, datagram.payload, header.destination, datagram.destinationPort);
    } catch (error) {
      this.abortAfterFault(datagram.destinationPort, endpoint, error);
    }
  }

  /** The transparent endpoint, if bound and its family takes datagrams to `destination`. */
  private transparentFor(destination: IPAddress): UdpEndpoint | undefined {
    const transparent = this.transparent;
    return transparent !== undefined && endpointAccepts(transparent, destination) ? transparent : undefined;
  }

  /**
   * An exception from a socket's delivery (a bug): the socket's state can no longer be trusted,
   * so it is closed (its reader sees ECLOSED), counted `socket_faults` and logged; the stack and
   * every other socket go on.
   */
  private abortAfterFault(port: number, endpoint: UdpEndpoint, error: unknown): void {
    this.counters.add('socket_faults');
    this.ip.logger.error(`udp port ${port}: socket closed after an exception: ${errorDetail(error)}`);
    try {
      endpoint.shutdown();
    } catch {
      // Closing failed as well: at least take the port back.
    }
    this.ports.release(port, endpoint);
  }

  receiveIcmpError(error: IcmpSocketError, quote: TransportQuote): void {
    // The quote is of a datagram we sent from quote.source: only a socket that could have sent it.
    const endpoint = this.ports.lookup(quote.sourcePort, quote.source);
    if (endpoint === undefined) {
      this.counters.drop('icmp_no_socket');
      return;
    }
    // RFC 1122 4.1.3.3: pass ICMP errors up (port unreachable becomes ECONNREFUSED, as on Linux).
    const errorCode = error.code;
    this.counters.add('icmp_errors');
    endpoint.deliverError(errorCode, quote.destination, quote.destinationPort);
  }

  /**
   * IPv4 fragmentation needed about a DF datagram: UDP sends none (the IP layer fragments datagrams
   * larger than the path MTU, RFC 1191 section 6.5 leaves the rest to the application), so the
   * quote is not of ours and the IP layer ignores the report. ICMPv6 packet too big: IPv6 routers
   * never fragment (RFC 8200 5), so every datagram of ours larger than the path was dropped; the
   * report is taken when a socket that could have sent the quoted datagram holds its port (what
   * Linux's udpv6_err checks), and the IP layer then fragments what follows to the new path MTU
   * (RFC 8201 4).
   */
  receivePathMtuReduced(quote: TransportQuote): boolean {
    if (typeof quote.source === 'number') return false;
    return this.ports.lookup(quote.sourcePort, quote.source) !== undefined;
  }

  /**
   * Send one datagram from `sourcePort` (fragmented by IP if larger than the path MTU), from
   * `source` if given (a transparent socket answering for the address it was sent to), else
   * from our address toward `destination`.
   */
  send(sourcePort: number, destination: IPAddress, destinationPort: number, payload: Uint8Array, source?: IPAddress): void {
    source ??= this.ip.localAddressFor(destination);
    const packet = encodeUdpDatagram(sourcePort, destinationPort, payload, source, destination, ipHeaderLength(destination));
    this.counters.add('sent');
    this.ip.sendTransport(PROTOCOL_UDP, source, destination, packet);
  }

  shutdown(): void {
    for (const endpoint of this.ports.allOwners()) endpoint.shutdown();
  }

  tableStats(): { boundPorts: number } {
    return { boundPorts: this.ports.size };
  }
}
