/**
 * ICMP error policy. Sending: when the IP layer may send an ICMP error (the RFC 1122 3.2.2 rules
 * on which datagrams never draw one; ICMPv6's RFC 4443 2.4 (e) rules are the codec's
 * shouldSendIcmpv6Error) and how often (a token bucket, RFC 1812 4.3.2.8 and RFC 4443 2.4 (f),
 * as Linux's icmp_ratelimit does). Receiving: which socket error a received ICMP or ICMPv6 error
 * becomes, the one mapping for both families. The message codecs are src/wire/icmpv4.ts and
 * src/wire/icmpv6.ts.
 */
import type { NetErrorCode } from '../errors.js';
import { BROADCAST_ADDRESS, isMulticast, LOOPBACK_ADDRESS, martianClass } from '../wire/address.js';
import { ICMP_DEST_UNREACHABLE, NET_UNREACHABLE, PORT_UNREACHABLE, PROTOCOL_UNREACHABLE } from '../wire/icmpv4.js';
import {
  ICMPV6_ADDRESS_UNREACHABLE,
  ICMPV6_BEYOND_SCOPE,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_NO_ROUTE,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_TIME_EXCEEDED,
} from '../wire/icmpv6.js';
import { PROTOCOL_ICMP, PROTOCOL_TCP, type IPv4Header } from '../wire/ipv4.js';

/** Types RFC 792 and its successors define as queries or informational: errors may answer them.
 *  Anything else, unknown types included, is treated as an error (as Linux does). */
const NON_ERROR_TYPES = new Set([0, 8, 9, 10, 13, 14, 15, 16, 17, 18]);

/**
 * May an ICMP error be sent about this datagram? RFC 1122 3.2.2: never about an ICMP error
 * message, a datagram sent to a broadcast or multicast address, a fragment other than the first,
 * or a datagram whose source does not define a single host (zero, loopback, broadcast,
 * multicast, class E). The stack's own loopback address is a single host, ourselves: datagrams
 * from it only come through local delivery (the link's are dropped as martians), and an error
 * back to it is how a socket dialled to 127.0.0.1 learns of a closed port. A subnet-directed
 * broadcast is not recognisable here; the caller, which knows its prefix, must screen that.
 */
export function shouldSendIcmpError(offendingHeader: IPv4Header, offendingPayload: Uint8Array): boolean {
  if (offendingHeader.fragmentOffset !== 0) return false;
  if (offendingHeader.destination === BROADCAST_ADDRESS || isMulticast(offendingHeader.destination)) return false;
  if (offendingHeader.source !== LOOPBACK_ADDRESS && martianClass(offendingHeader.source) !== undefined) return false;
  if (offendingHeader.protocol === PROTOCOL_ICMP) {
    const type = offendingPayload[0];
    // Without the type we cannot tell it is not an error: stay silent.
    if (type === undefined || !NON_ERROR_TYPES.has(type)) return false;
  }
  return true;
}

export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Most tokens held, and the number available at the start. */
  burst: number;
}

/**
 * A token bucket driven by passed-in time (milliseconds, as everywhere in the stack): `take`
 * spends one token if there is one. Starts full, so a quiet stack can answer a short burst.
 */
export class TokenBucket {
  private readonly ratePerSecond: number;
  private readonly burst: number;
  private tokens: number;
  private lastRefill: number | undefined;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond >= 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a finite number >= 0, got ${options.ratePerSecond}`);
    }
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`burst must be a finite number >= 1, got ${options.burst}`);
    }
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.tokens = options.burst;
  }

  take(now: number): boolean {
    if (this.lastRefill === undefined) {
      this.lastRefill = now;
    } else if (now > this.lastRefill) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) * this.ratePerSecond) / 1000);
      this.lastRefill = now;
    }
    // The epsilon absorbs rounding from adding fractional tokens over many refills.
    if (this.tokens >= 1 - 1e-9) {
      this.tokens = Math.max(0, this.tokens - 1);
      return true;
    }
    return false;
  }
}

/** The socket error a transport reports for a received ICMP error. */
export interface IcmpSocketError {
  readonly code: NetErrorCode;
  /**
   * RFC 1122 4.2.3.9: a hard error ends a connection that is still opening; a soft one is only
   * remembered, and reported if the connection later times out.
   */
  readonly hard: boolean;
}

const REFUSED: IcmpSocketError = { code: 'ECONNREFUSED', hard: true };
const NET_UNREACHABLE_SOFT: IcmpSocketError = { code: 'ENETUNREACH', hard: false };
const HOST_UNREACHABLE_SOFT: IcmpSocketError = { code: 'EHOSTUNREACH', hard: false };
/** UDP reports protocol unreachable as a host it cannot reach (see socketErrorForIcmp). */
const HOST_UNREACHABLE_HARD: IcmpSocketError = { code: 'EHOSTUNREACH', hard: true };

/**
 * Map a received ICMP error (`type`, `code`) about a datagram of transport `protocol` to the
 * socket error the transport reports. RFC 1122 4.2.3.9 (and RFC 5927 for TCP): protocol and
 * port unreachable are hard errors, reported as ECONNREFUSED (Linux does the same for port
 * unreachable); net unreachable is ENETUNREACH, every other unreachable, time exceeded included,
 * is EHOSTUNREACH, and those are soft. Fragmentation needed never comes here: it feeds path MTU
 * discovery (RFC 1191, src/ip/path-mtu.ts) and reaches transports as a new path MTU, never as an
 * error a timeout would report. UDP (RFC 1122 4.1.3.3) uses the same table except for protocol unreachable, which it has
 * always reported as EHOSTUNREACH.
 */
export function socketErrorForIcmp(type: number, code: number, protocol: number): IcmpSocketError {
  if (type !== ICMP_DEST_UNREACHABLE) return HOST_UNREACHABLE_SOFT;
  switch (code) {
    case PORT_UNREACHABLE:
      return REFUSED;
    case PROTOCOL_UNREACHABLE:
      return protocol === PROTOCOL_TCP ? REFUSED : HOST_UNREACHABLE_HARD;
    case NET_UNREACHABLE:
      return NET_UNREACHABLE_SOFT;
    default:
      return HOST_UNREACHABLE_SOFT;
  }
}

const ACCESS_DENIED_HARD: IcmpSocketError = { code: 'EACCES', hard: true };
const PROTOCOL_ERROR_HARD: IcmpSocketError = { code: 'EPROTO', hard: true };

/**
 * Map a received ICMPv6 error (`type`, `code`; RFC 4443 3) to the socket error the transport
 * reports, as Linux's icmpv6_err_convert (net/ipv6/icmp.c) does, so a program sees what it would
 * see on Linux: destination unreachable no route is ENETUNREACH, address unreachable and the
 * reserved code 2 (beyond scope) EHOSTUNREACH, all three soft; port unreachable ECONNREFUSED and
 * administratively prohibited, source address failed policy and reject route EACCES, all hard;
 * an unknown unreachable code and parameter problem EPROTO, hard; time exceeded EHOSTUNREACH,
 * soft. (A hard error ends a connection only while it is opening: RFC 5461, the transport's
 * rule.) Packet too big never comes here: it feeds path MTU discovery (RFC 8201).
 */
export function socketErrorForIcmpv6(type: number, code: number): IcmpSocketError {
  if (type === ICMPV6_TIME_EXCEEDED) return HOST_UNREACHABLE_SOFT;
  if (type !== ICMPV6_DEST_UNREACHABLE) return PROTOCOL_ERROR_HARD;
  switch (code) {
    case ICMPV6_NO_ROUTE:
      return NET_UNREACHABLE_SOFT;
    case ICMPV6_BEYOND_SCOPE:
    case ICMPV6_ADDRESS_UNREACHABLE:
      return HOST_UNREACHABLE_SOFT;
    case ICMPV6_PORT_UNREACHABLE:
      return REFUSED;
    default:
      // 1 administratively prohibited, 5 source address failed policy, 6 reject route (RFC 4443
      // 3.1): EACCES, hard; anything newer: EPROTO, hard (icmpv6_err_convert's default).
      return code <= 6 ? ACCESS_DENIED_HARD : PROTOCOL_ERROR_HARD;
  }
}
