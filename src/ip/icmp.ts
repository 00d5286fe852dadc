/**
 * ICMPv4 for the IPv4 layer (RFC 792, RFC 1122 3.2.2): answers echo requests, sends errors about
 * datagrams we received (screened by the RFC 1122 3.2.2 rules and rate limited by a token
 * bucket), and passes the errors we receive to the transport whose datagram they quote.
 * Fragmentation needed (RFC 1191) lowers the path MTU estimate first and reaches the transport
 * as a new path MTU, not as an error.
 */
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { IPv4Address } from '../wire/address.js';
import {
  encodeEchoReply,
  encodeIcmpError,
  FRAGMENTATION_NEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  parseIcmpMessage,
  parseIcmpErrorQuote,
  type IcmpErrorQuote,
} from '../wire/icmpv4.js';
import { IPV4_MIN_HEADER, PROTOCOL_ICMP } from '../wire/ipv4.js';
import { shouldSendIcmpError, socketErrorForIcmp, TokenBucket } from './icmp-errors.js';
import type { PathMtuCache } from './path-mtu.js';
import type { ReceivedIPv4Packet, TransportProtocol } from './transport-contract.js';

/** What ICMP needs from the IPv4 layer it belongs to. */
export interface IcmpHost {
  /** Our address toward `remote` (IpLayer.localAddressFor). */
  localAddressFor(remote: IPv4Address): IPv4Address;
  sendTransport(protocol: number, source: IPv4Address, destination: IPv4Address, packet: Uint8Array): void;
  /** The transport registered for an IP protocol number, if any. */
  transportFor(protocol: number): TransportProtocol | undefined;
}

export interface IcmpOptions {
  clock: Clock;
  counters: Counters;
  /** ICMP errors per second (token bucket, burst of the same size). */
  errorsPerSecond: number;
  /** The IP layer's path MTU estimates, which fragmentation needed lowers (RFC 1191). */
  pathMtus: PathMtuCache;
}

export class Icmp {
  private readonly clock: Clock;
  private readonly counters: Counters;
  private readonly errorBucket: TokenBucket;
  private readonly pathMtus: PathMtuCache;

  constructor(
    private readonly ip: IcmpHost,
    options: IcmpOptions,
  ) {
    this.clock = options.clock;
    this.counters = options.counters;
    this.pathMtus = options.pathMtus;
    this.errorBucket = new TokenBucket({ ratePerSecond: options.errorsPerSecond, burst: options.errorsPerSecond });
  }

  /** An ICMP message addressed to us. */
  receive(received: ReceivedIPv4Packet): void {
    const icmp = this.counters;
    icmp.add('received');
    const parsed = parseIcmpMessage(received.payload);
    if (!parsed.ok) {
      icmp.drop(parsed.reason);
      return;
    }
    const message = parsed.message;
    if (message.type === ICMP_ECHO_REQUEST) {
      // RFC 792 / RFC 1122 3.2.2.6: echo the identifier, sequence number and data unchanged.
      const reply = encodeEchoReply(received.payload);
      const packet = new Uint8Array(IPV4_MIN_HEADER + reply.length);
      packet.set(reply, IPV4_MIN_HEADER);
      icmp.add('echo_replies');
      this.ip.sendTransport(PROTOCOL_ICMP, this.ip.localAddressFor(received.header.source), received.header.source, packet);
      return;
    }
    if (message.type === ICMP_DEST_UNREACHABLE || message.type === ICMP_TIME_EXCEEDED) {
      // RFC 1122 3.2.2.1 / 4.1.3.3 / 4.2.3.9: pass the error to the transport whose datagram it
      // quotes; a quote of something we did not send is not ours to act on.
      const quote = parseIcmpErrorQuote(message.body);
      if (quote === undefined || quote.source !== this.ip.localAddressFor(quote.destination)) {
        icmp.drop('bad_error_quote');
        return;
      }
      icmp.add('errors_received');
      if (message.type === ICMP_DEST_UNREACHABLE && message.code === FRAGMENTATION_NEEDED) {
        // RFC 1191 section 4: the next-hop MTU is the low 16 bits of the header's second word.
        this.receiveFragmentationNeeded(message.restOfHeader & 0xffff, quote);
        return;
      }
      this.ip.transportFor(quote.protocol)?.receiveIcmpError(socketErrorForIcmp(message.type, message.code, quote.protocol), quote);
      return;
    }
    icmp.add(`ignored_type_${message.type}`);
  }

  /**
   * RFC 1191: a router could not forward our datagram without fragmenting it and DF was set. The
   * cache screens the report (and counts what it ignores), the transport learns the new path MTU
   * with the quote so it can resize what it sends, and if the transport recognised the datagram,
   * the estimate for its destination is lowered.
   */
  private receiveFragmentationNeeded(nextHopMtu: number, quote: IcmpErrorQuote): void {
    this.counters.add('frag_needed_received');
    if (!quote.dontFragment) {
      // RFC 1191 section 4: routers send this only for datagrams with DF set; ours without DF
      // would have been fragmented, so the message is not about a datagram of ours.
      this.counters.drop('frag_needed_without_df');
      return;
    }
    // What the transport resends during the call is fragmented (if it lacks DF) to the old
    // estimate, since the estimate is lowered only after it answered; routers fragment it
    // further, and later datagrams are cut to the new one.
    const transport = this.ip.transportFor(quote.protocol);
    const outcome = this.pathMtus.applyReport(
      quote.destination,
      nextHopMtu,
      quote.totalLength,
      this.clock.now(),
      (pathMtu) => transport?.receivePathMtuReduced(quote, pathMtu) === true,
    );
    if (outcome === 'not_in_flight') this.counters.drop('frag_needed_not_in_flight');
  }

  /** Send an ICMP error about `offending`, unless RFC 1122 3.2.2 forbids it or the rate limit is spent. */
  sendError(type: number, code: number, offending: ReceivedIPv4Packet, restOfHeader = 0): void {
    if (!shouldSendIcmpError(offending.header, offending.payload)) return;
    if (!this.errorBucket.take(this.clock.now())) {
      this.counters.add('errors_rate_limited');
      return;
    }
    const message = encodeIcmpError(type, code, offending.packet, restOfHeader);
    const packet = new Uint8Array(IPV4_MIN_HEADER + message.length);
    packet.set(message, IPV4_MIN_HEADER);
    this.counters.add('errors_sent');
    this.ip.sendTransport(PROTOCOL_ICMP, this.ip.localAddressFor(offending.header.source), offending.header.source, packet);
  }
}
