/**
 * ICMPv6 for the IPv6 layer (RFC 4443): answers echo requests, sends errors about packets we
 * received (screened by RFC 4443 2.4 (e), shouldSendIcmpv6Error, and rate limited by a token
 * bucket, 2.4 (f)), and passes the errors we receive to the transport whose datagram they quote
 * (the socket error from socketErrorForIcmpv6, the one mapping). Packet Too Big (RFC 8201) lowers
 * the path MTU estimate and reaches the transport as a new path MTU, not as an error, as IPv4's
 * fragmentation needed does (icmp.ts).
 *
 * Neighbour discovery (RFC 4861) and MLD (RFC 2710, RFC 3810) have no use on a TUN device, which
 * carries no link layer: the kernel sends router solicitations and MLD reports when an IPv6
 * address is configured, and a neighbour solicitation needs no answer since no link-layer address
 * is to be resolved. They are counted (`ignored_ndp`, `ignored_mld`) and not answered.
 */
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import { ipv6FromGroups, isIPv6Multicast, readIPv6, type IPv6Address } from '../wire/address6.js';
import {
  encodeIcmpv6EchoReply,
  encodeIcmpv6Error,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  parseIcmpv6ErrorQuote,
  parseIcmpv6Message,
  shouldSendIcmpv6Error,
  type Icmpv6ErrorQuote,
} from '../wire/icmpv6.js';
import { IPV6_HEADER_LENGTH, PROTOCOL_ICMPV6 } from '../wire/ipv6.js';
import { socketErrorForIcmpv6, TokenBucket } from './icmp-errors.js';
import type { PathMtuCache } from './path-mtu.js';
import type { ReceivedIPv6Packet, TransportProtocol } from './transport-contract.js';

/** RFC 4291 2.7.1: the link-local all-nodes group, ff02::1. */
const IPV6_ALL_NODES = ipv6FromGroups([0xff02, 0, 0, 0, 0, 0, 0, 1]);

/** RFC 4861 4: router solicitation and advertisement, neighbour solicitation and advertisement, redirect. */
const NDP_TYPES = new Set([133, 134, 135, 136, 137]);
/** RFC 2710 3 and RFC 3810 5: MLD query, report, done, and the MLDv2 report. */
const MLD_TYPES = new Set([130, 131, 132, 143]);

/** What ICMPv6 needs from the IP layer it belongs to. */
export interface Icmpv6Host {
  /** Our address toward `remote` (IpLayer.localAddressFor). */
  localAddressFor(remote: IPv6Address): IPv6Address;
  sendTransport(protocol: number, source: IPv6Address, destination: IPv6Address, packet: Uint8Array): void;
  /** The transport registered for an IP protocol number, if any. */
  transportFor(protocol: number): TransportProtocol | undefined;
}

export interface Icmpv6Options {
  clock: Clock;
  counters: Counters;
  /** ICMPv6 errors per second (token bucket, burst of the same size). */
  errorsPerSecond: number;
  /** The IP layer's path MTU estimates, which Packet Too Big lowers (RFC 8201). */
  pathMtus: PathMtuCache;
}

export class Icmpv6 {
  private readonly clock: Clock;
  private readonly counters: Counters;
  private readonly errorBucket: TokenBucket;
  private readonly pathMtus: PathMtuCache;

  constructor(
    private readonly ip: Icmpv6Host,
    options: Icmpv6Options,
  ) {
    this.clock = options.clock;
    this.counters = options.counters;
    this.pathMtus = options.pathMtus;
    this.errorBucket = new TokenBucket({ ratePerSecond: options.errorsPerSecond, burst: options.errorsPerSecond });
  }

  /** An ICMPv6 message addressed to us (our unicast address, ::1 locally, or a link-local group). */
  receive(received: ReceivedIPv6Packet): void {
    const icmp = this.counters;
    icmp.add('received');
    const { source, destination } = received.header;
    const parsed = parseIcmpv6Message(received.payload, source, destination, received.transportChecksum);
    if (!parsed.ok) {
      icmp.drop(parsed.reason);
      return;
    }
    const message = parsed.message;
    const type = message.type;
    if (type === ICMPV6_ECHO_REQUEST) {
      this.answerEcho(received);
      return;
    }
    if (
      type === ICMPV6_DEST_UNREACHABLE ||
      type === ICMPV6_PACKET_TOO_BIG ||
      type === ICMPV6_TIME_EXCEEDED ||
      type === ICMPV6_PARAMETER_PROBLEM
    ) {
      // RFC 4443 2.4 (d): pass the error to the upper-layer process whose packet it quotes; a
      // quote of something we did not send is not ours to act on.
      const quote = parseIcmpv6ErrorQuote(message.body);
      if (quote === undefined || quote.source !== this.ip.localAddressFor(quote.destination)) {
        icmp.drop('bad_error_quote');
        return;
      }
      icmp.add('errors_received');
      if (type === ICMPV6_PACKET_TOO_BIG) {
        this.receivePacketTooBig(message.restOfHeader, quote);
        return;
      }
      this.ip.transportFor(quote.protocol)?.receiveIcmpError(socketErrorForIcmpv6(type, message.code), quote);
      return;
    }
    if (NDP_TYPES.has(type)) {
      icmp.add('ignored_ndp');
      return;
    }
    if (MLD_TYPES.has(type)) {
      icmp.add('ignored_mld');
      return;
    }
    icmp.add(`ignored_type_${type}`);
  }

  /**
   * RFC 4443 4.2: the reply carries the request's identifier, sequence number and data. A
   * request to a multicast group is answered only for all-nodes (ff02::1; the other groups
   * that reach us are the solicited-node and MLD ones, which no ping targets), from our unicast
   * address (RFC 4443 2.2), as Linux's icmpv6_echo_reply does with its default
   * icmp.echo_ignore_multicast = 0.
   */
  private answerEcho(received: ReceivedIPv6Packet): void {
    const { source, destination } = received.header;
    if (isIPv6Multicast(destination) && destination !== IPV6_ALL_NODES) {
      this.counters.add('ignored_multicast_echo');
      return;
    }
    const replySource = this.ip.localAddressFor(source);
    const packet = encodeIcmpv6EchoReply(received.payload, destination, replySource, IPV6_HEADER_LENGTH);
    this.counters.add('echo_replies');
    this.ip.sendTransport(PROTOCOL_ICMPV6, replySource, source, packet);
  }

  /**
   * RFC 8201 4: a link on the path to the quoted destination takes at most `mtu` bytes. The
   * cache screens the report (below 1280 is discarded, never a rise; counted), the transport
   * learns the new path MTU with the quote, and if it recognised the packet as one in flight
   * (RFC 5927 4.1: a blind forgery changes nothing) the estimate is lowered, as for IPv4.
   */
  private receivePacketTooBig(mtu: number, quote: Icmpv6ErrorQuote): void {
    this.counters.add('packet_too_big_received');
    const transport = this.ip.transportFor(quote.protocol);
    const outcome = this.pathMtus.applyReport(
      quote.destination,
      mtu,
      IPV6_HEADER_LENGTH + quote.payloadLength,
      this.clock.now(),
      (pathMtu) => transport?.receivePathMtuReduced(quote, pathMtu) === true,
    );
    if (outcome === 'not_in_flight') this.counters.drop('packet_too_big_not_in_flight');
  }

  /**
   * Send an ICMPv6 error about `offendingPacket` (the packet as received, from its fixed header:
   * the error quotes it) to its source, unless RFC 4443 2.4 (e) forbids it or the rate limit
   * is spent. `restOfHeader` is the Parameter Problem pointer (or the MTU for Packet Too Big).
   */
  sendError(type: number, code: number, offendingPacket: Uint8Array, restOfHeader = 0): void {
    const pointer = type === ICMPV6_PARAMETER_PROBLEM ? restOfHeader : 0;
    if (!shouldSendIcmpv6Error(offendingPacket, type, code, pointer)) {
      this.counters.add('errors_not_allowed');
      return;
    }
    if (!this.errorBucket.take(this.clock.now())) {
      this.counters.add('errors_rate_limited');
      return;
    }
    // The offending packet's source: its bytes 8..23 (the packet was checked before).
    const destination = readIPv6(offendingPacket, 8);
    const source = this.ip.localAddressFor(destination);
    const packet = encodeIcmpv6Error(type, code, restOfHeader, offendingPacket, source, destination, IPV6_HEADER_LENGTH);
    this.counters.add('errors_sent');
    this.ip.sendTransport(PROTOCOL_ICMPV6, source, destination, packet);
  }
}
