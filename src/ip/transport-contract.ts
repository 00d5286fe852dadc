/**
 * The contract between the IP layer and the transports above it, in both directions, so that
 * src/tcp and src/udp depend on this file and not on the stack that wires them together (the
 * shape of gVisor's stack/registration.go: what a transport may ask of the network layer, and
 * what the network layer hands to a transport).
 */
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { RandomSource } from '../random.js';
import type { DeadlineQueue } from '../timers.js';
import type { IPv4Address } from '../wire/address.js';
import type { IPAddress, IPv6Address } from '../wire/address6.js';
import type { ChecksumCheck } from '../wire/checksum.js';
import type { IPv4Header } from '../wire/ipv4.js';
import type { IPv6Header } from '../wire/ipv6.js';
import type { IcmpSocketError } from './icmp-errors.js';

/**
 * A datagram delivered to a transport: validated, for us, reassembled if it was fragmented. The
 * header is the family's own (`family` tells which); transports read only its source and
 * destination, whose type is the family (IPv4 numbers, IPv6 strings).
 */
export type ReceivedPacket = ReceivedIPv4Packet | ReceivedIPv6Packet;

export interface ReceivedIPv4Packet extends ReceivedPacketBody {
  family: 4;
  header: IPv4Header;
}

export interface ReceivedIPv6Packet extends ReceivedPacketBody {
  family: 6;
  /** The fixed header; nextHeader is the one of the last header of the chain (the transport's). */
  header: IPv6Header;
}

/**
 * The packet an ICMP or ICMPv6 error quotes, read far enough for a transport to find its socket:
 * the quoted datagram's addresses (ours first: the quote is of a datagram we sent), protocol and
 * ports, and the transport bytes (TCP reads the sequence number there).
 */
export interface TransportQuote {
  protocol: number;
  source: IPAddress;
  destination: IPAddress;
  sourcePort: number;
  destinationPort: number;
  transport: Uint8Array;
}

interface ReceivedPacketBody {
  payload: Uint8Array;
  /** The original packet (first fragment for reassembled datagrams), for ICMP quoting. */
  packet: Uint8Array;
  /**
   * Whether the transport verifies its checksum: 'trusted' when the link said the kernel verified
   * it or only put the pseudo-header sum in (a packet from the kernel's own stack, for example a
   * TCP super-segment larger than the MTU); 'verify' otherwise (absent means 'verify').
   */
  transportChecksum?: ChecksumCheck;
}

/** What transports need from below: the IP layer, and the stack's time, randomness and counters. */
export interface IpLayer {
  /** The stack's IPv4 address on the link. */
  readonly address: IPv4Address;
  /** The stack's IPv6 address on the link, when IPv6 is on. */
  readonly address6: IPv6Address | undefined;
  /**
   * Our address for talking to `remote` (source address selection, RFC 1122 3.3.4.3): the
   * loopback address to the loopback address, our link address to everyone else (ourselves
   * included). It is also the only local address a segment from `remote` can be for.
   */
  localAddressFor<A extends IPAddress>(remote: A): A;
  /** Whether `address` is one of ours: the link address or the loopback address. */
  isLocalAddress(address: IPAddress): boolean;
  /**
   * Transparent mode for one transport protocol (forwarding): while on, its datagrams from the
   * link are delivered whatever their unicast destination, and it may send from any unicast
   * source address (the destination its peer asked for).
   */
  setTransparent(protocol: number, on: boolean): void;
  /** The link's MTU (the first hop). */
  readonly mtu: number;
  /**
   * The path MTU estimate for `destination` (RFC 1191): the link MTU unless ICMP fragmentation
   * needed lowered it within the last ten minutes. Datagrams without DF larger than it are
   * fragmented to it; DF datagrams are the transport's to size.
   */
  pathMtu(destination: IPAddress): number;
  /** The stack's deadlines. Scheduling one re-arms the stack's driver; nothing wakes it by hand. */
  readonly timers: DeadlineQueue;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  counters(layer: string): Counters;
  /**
   * Send a transport payload that starts at ipHeaderLength(destination) in `packet` (the headroom
   * the IP header is written into; src/wire/ip.ts), from `source` (of the destination's family): localAddressFor(destination), or any unicast address
   * for a transport in transparent mode (the checksum the transport computed covers it). A
   * datagram over the MTU with `dontFragment`, from a source not allowed, or to a martian
   * destination, is counted and dropped: sending never throws. `segmentSize` (only where
   * tcpSegmentationTo allows it) marks a TCP super-segment the link cuts into segments of that
   * many payload bytes, each within the MTU: it is not too big for DF.
   */
  sendTransport(
    protocol: number,
    source: IPAddress,
    destination: IPAddress,
    packet: Uint8Array,
    dontFragment?: boolean,
    segmentSize?: number,
  ): void;
  /**
   * Memory for one packet of `length` bytes (headroom included) to `destination`, contents
   * unspecified: fill it and pass it to sendTransport before anything else is sent, since it may
   * be the same memory every time (see NetworkLayer.packetBuffer).
   */
  packetBuffer(destination: IPAddress, length: number): Uint8Array;
  /**
   * Whether TCP may send super-segments to `destination` (sendTransport with a segment size): the
   * link segments them (TSO), and the destination is not one of our own addresses, whose local
   * delivery checks every checksum.
   */
  tcpSegmentationTo(destination: IPAddress): boolean;
  /**
   * The link's transmit queue is more than half full (Link.queuedBytes): senders that can wait
   * (TCP new data, whose ACKs come back as the queue drains) hold back rather than overflow it.
   */
  transmitQueueFull(): boolean;
  /**
   * Answer a datagram for a port nobody listens on with the family's port unreachable (ICMP
   * type 3 code 3, RFC 1122 4.1.3.1; ICMPv6 type 1 code 4, RFC 4443 3.1), rate limited and only
   * where the family's rules allow an error (RFC 1122 3.2.2, RFC 4443 2.4 (e)).
   */
  sendPortUnreachable(offending: ReceivedPacket): void;
}

/** What the IP layer needs from a transport it demultiplexes to. */
export interface TransportProtocol {
  /** A datagram of this transport's protocol number, addressed to us. */
  receive(received: ReceivedPacket): void;
  /**
   * Every datagram of the batch the link handed over has been given to receive(): what the
   * transport deferred to the end of the batch (TCP's acknowledgments) is done now.
   */
  endOfBatch?(): void;
  /**
   * An ICMP destination unreachable or time exceeded (or their ICMPv6 counterparts, parameter
   * problem included) about a datagram this transport sent, as the socket error it means
   * (socketErrorForIcmp, the one mapping); the quote is checked to come from our address and to
   * carry this protocol. Never fragmentation needed or packet too big: those go to
   * receivePathMtuReduced.
   */
  receiveIcmpError(error: IcmpSocketError, quote: TransportQuote): void;
  /**
   * ICMP fragmentation needed and DF set (destination unreachable code 4, RFC 1191) about a DF
   * datagram from our address, or ICMPv6 packet too big (RFC 8201): the path to the quote's
   * destination takes at most `pathMtu` bytes (the IP layer checked the report: below its estimate
   * or equal to it, at least 68 for IPv4 and 1280 for IPv6). Information
   * for sizing, not an error (RFC 1122 4.2.3.9). Returns true when the quoted datagram is one the
   * transport has in flight (RFC 5927 4.1: TCP checks the sequence number); only then does the IP
   * layer lower its estimate for that destination.
   */
  receivePathMtuReduced(quote: TransportQuote, pathMtu: number): boolean;
}
