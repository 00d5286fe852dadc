/**
 * Path MTU discovery, the host's side, for both families (IPv4: RFC 1191, RFC 1122 4.2.3.9 for
 * what TCP does with it; IPv6: RFC 8201): a per-destination estimate of the path MTU, lowered by
 * ICMP "fragmentation needed and DF set" (destination unreachable code 4) or ICMPv6 Packet Too
 * Big, and raised again when it expires. Destinations of both families share one table (an
 * IPv4 address is a number, an IPv6 one a string: they never collide).
 *
 * - RFC 1191 section 3: the estimate starts at the first-hop MTU (our link's), is never raised by a
 *   Datagram Too Big message, and never falls below 68 octets (the IPv4 minimum, RFC 791).
 * - RFC 1191 section 4: the router puts the next-hop MTU in the low 16 bits of the ICMP header's
 *   second word; an old router leaves it zero, and then (section 5 with the table of section 7)
 *   the new estimate is the largest plateau below the Total Length of the quoted datagram.
 * - RFC 8201 section 4: for IPv6 the floor is 1280 (the minimum link MTU), and a Packet Too Big
 *   reporting less is discarded; every IPv6 message carries its MTU (no plateau guess).
 * - RFC 1191 section 6.3 (RFC 8201 section 4 likewise): an estimate is forgotten about ten minutes after it was last lowered,
 *   so a path that grew is used in full again (the next too-big datagram lowers it once more).
 *
 * Only destinations whose path is smaller than the link have an entry; at most `maxEntries` are
 * kept (a flood of forged ICMP for many addresses cannot grow it without bound), and when full
 * the entry lowered longest ago goes first. Entries are kept in the order they were last lowered,
 * which is also the order they expire in, so both expiry and eviction take from the front.
 *
 * A report is taken in two steps: screenReport checks it against these rules, and lower records it
 * once the transport has recognised the quoted datagram as one it has in flight (RFC 5927 section
 * 4.1), so a blind forgery changes nothing.
 *
 * Pure: time is the stack's milliseconds, passed in; every outcome is counted on the IP layer's
 * counters under `pmtu_*` (ignored reports as drops).
 */
import type { Counters } from '../counters.js';
import type { IPAddress } from '../wire/address6.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_MTU } from '../wire/ipv4.js';
import { IPV6_MIN_MTU } from '../wire/ipv6.js';

/** RFC 1191 section 6.3: raise the estimate again this long after it was last lowered. */
export const PATH_MTU_EXPIRY_MS = 10 * 60 * 1000;
/** Destinations with a lowered estimate held at most. */
const PATH_MTU_MAX_ENTRIES = 1024;

/**
 * RFC 1191 section 7, table 7-1: the MTUs common on real links, highest first. With no next-hop MTU
 * in the message, the estimate drops to the next plateau below the datagram that did not fit.
 */
const MTU_PLATEAUS: readonly number[] = [IPV4_MAX_DATAGRAM, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, IPV4_MIN_MTU];

/** RFC 1191 section 5: the largest plateau below `datagramLength` (never below 68). */
export function plateauBelow(datagramLength: number): number {
  for (const plateau of MTU_PLATEAUS) {
    if (plateau < datagramLength) return plateau;
  }
  return IPV4_MIN_MTU;
}

interface PathMtuEntry {
  pathMtu: number;
  /** Stack time at which the estimate reverts to the link MTU. */
  expiresAt: number;
}

export interface PathMtuCacheOptions {
  /** The first-hop MTU: the estimate of every destination without an entry. */
  linkMtu: number;
  counters: Counters;
  expiryMs?: number;
  maxEntries?: number;
}

export class PathMtuCache {
  private readonly linkMtu: number;
  private readonly counters: Counters;
  private readonly expiryMs: number;
  private readonly maxEntries: number;
  /** In the order the entries were last lowered (Map iteration order is insertion order). */
  private readonly entries = new Map<IPAddress, PathMtuEntry>();

  constructor(options: PathMtuCacheOptions) {
    this.linkMtu = options.linkMtu;
    this.counters = options.counters;
    this.expiryMs = options.expiryMs ?? PATH_MTU_EXPIRY_MS;
    this.maxEntries = options.maxEntries ?? PATH_MTU_MAX_ENTRIES;
    if (!(this.maxEntries >= 1)) throw new RangeError(`maxEntries must be at least 1, got ${this.maxEntries}`);
  }

  /** Destinations with a lowered estimate (expired ones not yet purged included). */
  get size(): number {
    return this.entries.size;
  }

  /** The path MTU estimate for `destination` at `now`: the link MTU unless ICMP lowered it recently. */
  pathMtu(destination: IPAddress, now: number): number {
    if (this.entries.size === 0) return this.linkMtu;
    const entry = this.entries.get(destination);
    if (entry === undefined) return this.linkMtu;
    if (now >= entry.expiresAt) {
      // RFC 1191 section 6.3: stale; the path may have grown since.
      this.entries.delete(destination);
      this.counters.add('pmtu_expired');
      return this.linkMtu;
    }
    return entry.pathMtu;
  }

  /**
   * A fragmentation-needed message about a datagram of `quotedLength` bytes (its Total Length) we
   * sent to `destination`, with `nextHopMtu` from the message (0 from an old router). Returns the
   * path MTU it reports (lower than the estimate, or equal to it, which a connection that has not
   * yet shrunk its segments still needs), or undefined when the report is ignored (counted).
   * Changes nothing: `lower` records it.
   */
  screenReport(destination: IPAddress, nextHopMtu: number, quotedLength: number, now: number): number | undefined {
    const ipv4 = typeof destination === 'number';
    // RFC 1191 section 5: an old IPv4 router gives no MTU; guess the next plateau down.
    const reported = nextHopMtu === 0 && ipv4 ? plateauBelow(quotedLength) : nextHopMtu;
    if (reported < (ipv4 ? IPV4_MIN_MTU : IPV6_MIN_MTU)) {
      // RFC 1191 section 3: never below 68 octets; RFC 8201 section 4: a Packet Too Big below
      // 1280 is discarded. A router cannot have a link that small, so the message is bogus (or
      // hostile: RFC 5927 section 7 on forged tiny MTUs).
      this.counters.drop('pmtu_below_minimum');
      return undefined;
    }
    if (reported >= quotedLength) {
      // The datagram fitted the MTU the message claims, so this is not why it was dropped.
      this.counters.drop('pmtu_not_below_datagram');
      return undefined;
    }
    const current = this.pathMtu(destination, now);
    if (reported > current) {
      // RFC 1191 section 3: a Datagram Too Big message never raises the estimate.
      this.counters.drop('pmtu_increase');
      return undefined;
    }
    return reported;
  }

  /**
   * The whole of a report's handling, for both families: screen it (screenReport), then ask
   * `inFlight` (the transport, told the new path MTU so it can resize what it sends) whether the
   * quoted datagram is one it has in flight, and lower the estimate only then (RFC 5927 4.1: TCP
   * checks the quoted sequence number, so a blind forgery changes nothing). Returns
   * 'not_in_flight' for the caller to count under its own message's name.
   */
  applyReport(
    destination: IPAddress,
    reportedMtu: number,
    quotedLength: number,
    now: number,
    inFlight: (pathMtu: number) => boolean,
  ): 'ignored' | 'not_in_flight' | 'lowered' {
    const pathMtu = this.screenReport(destination, reportedMtu, quotedLength, now);
    if (pathMtu === undefined) return 'ignored';
    if (!inFlight(pathMtu)) return 'not_in_flight';
    this.lower(destination, pathMtu, now);
    return 'lowered';
  }

  /**
   * Record a screened report the transport validated: the estimate for `destination` is `pathMtu`
   * for the next PATH_MTU_EXPIRY_MS (an equal report restarts that time: the path still says so).
   */
  lower(destination: IPAddress, pathMtu: number, now: number): void {
    const current = this.pathMtu(destination, now);
    if (pathMtu > current) return;
    this.counters.add(pathMtu < current ? 'pmtu_reduced' : 'pmtu_confirmed');
    // Re-inserted at the back: the order of last lowering is the order of expiry.
    this.entries.delete(destination);
    this.makeRoom(now);
    this.entries.set(destination, { pathMtu, expiresAt: now + this.expiryMs });
  }

  /** Before an insertion: purge expired entries from the front, then evict the oldest if still full. */
  private makeRoom(now: number): void {
    for (const [destination, entry] of this.entries) {
      if (now < entry.expiresAt) break;
      this.entries.delete(destination);
      this.counters.add('pmtu_expired');
    }
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      this.counters.add('pmtu_evicted');
    }
  }
}
