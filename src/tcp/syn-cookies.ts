/**
 * SYN cookies (RFC 4987 section 3.6): when a listener's half-open queue is full, the SYN-ACK's
 * ISN encodes what the connection needs, so the listener keeps no state until the peer's ACK
 * returns it (ACK - 1). The shape is Linux's (net/ipv4/syncookies.c), the layout our own:
 *
 *   bits 31..29  the coarse time counter (64 s periods) modulo 8
 *   bits 28..27  an index into COOKIE_MSS_TABLE: the peer's MSS, rounded down
 *   bits 26..0   a keyed MAC (SipHash-2-4, src/siphash.ts, truncated; Linux's cookie_hash is
 *                SipHash too) over the four-tuple, the peer's ISN, the full period number and
 *                the MSS index
 *
 * A cookie is valid in the period it was made and the COOKIE_MAX_AGE_PERIODS after it, so it
 * lives 128 to 192 s (Linux: about 2 minutes). Window scale and SACK-permitted do not fit in the
 * ISN: when the peer sent timestamps they ride in the low bits of our TSval, which the peer's ACK
 * echoes (Linux's cookie_init_timestamp); without timestamps they are lost, as in Linux.
 */
import { writeUint16, writeUint32 } from '../bytes.js';
import { SipHash24 } from '../siphash.js';
import type { IPAddress } from '../wire/address6.js';
import { writeIPAddress } from '../wire/ip.js';
import { TCP_DEFAULT_MSS, TCP_MAX_WINDOW_SHIFT, type TcpOptions } from '../wire/tcp.js';
import { timestampAt } from './options.js';
import { seqLt, type SeqNumber } from './seq.js';
import type { TcpFourTuple } from './types.js';

/**
 * The MSS values a cookie can carry (two bits). Linux's IPv4 table: the minimum (RFC 9293 3.7.1),
 * a tunnelled path, and the two common Ethernet values (1460, and 1440 with some encapsulation).
 */
export const COOKIE_MSS_TABLE: readonly number[] = [TCP_DEFAULT_MSS, 1300, 1440, 1460];
/**
 * The table over IPv6, whose MSS is 20 bytes smaller for the same MTU (RFC 8200 8.3): the IPv6
 * minimum MTU (1280 - 60), a 1480-byte tunnel (6in4), Ethernet (1500 - 60). Linux's msstab6 starts
 * at 1220 and ends with jumbo frames; ours keeps 536 first, as the IPv4 table, so that a peer
 * announcing less than 1220 is never sent more than it announced, and loses the jumbo entry
 * (such a peer gets 1440, correct if slower).
 */
export const COOKIE_MSS_TABLE6: readonly number[] = [TCP_DEFAULT_MSS, 1220, 1420, 1440];

/** The cookie MSS table for a connection to `remote`'s family. */
function mssTable(remote: IPAddress): readonly number[] {
  return typeof remote === 'number' ? COOKIE_MSS_TABLE : COOKIE_MSS_TABLE6;
}
/** The time counter ticks every 64 s, as RFC 4987 3.6 suggests ("t mod 32 ... every 64 seconds"). */
export const COOKIE_PERIOD_MS = 64_000;
/** Periods before the current one whose cookies are still accepted. */
export const COOKIE_MAX_AGE_PERIODS = 2;
/** Our secret: 128 bits, like the ISN secret (RFC 6528 3), SipHash-2-4's key size. */
export const COOKIE_SECRET_BYTES = 16;

const COUNTER_SHIFT = 29;
const COUNTER_MASK = 0x7;
const MSS_INDEX_SHIFT = 27;
const MSS_INDEX_MASK = 0x3;
const MAC_MASK = 0x7ffffff;

/** The low TSval bits that carry the peer's options: 0-3 its window shift (15: none), 4 SACK-permitted. */
const TS_OPTION_BITS = 0x1f;
const TS_NO_WINDOW_SCALE = 0xf;
const TS_SACK_PERMITTED = 0x10;

export class SynCookies {
  private readonly hasher: SipHash24;
  /** The tuple (addresses of up to 16 bytes), the peer's ISN, the period and the MSS index, serialised for the MAC; reused. */
  private readonly input = new Uint8Array(45);

  constructor(secret: Uint8Array) {
    this.hasher = new SipHash24(secret);
  }

  /**
   * The cookie answering a SYN from `tuple` with sequence number `peerIsn` and MSS option
   * `peerMss` (536 when absent): our ISN, and the MSS it carries (the largest table entry not
   * above the peer's, the smallest entry for a peer below it, as Linux).
   */
  issue(tuple: TcpFourTuple, peerIsn: SeqNumber, peerMss: number, now: number): SeqNumber {
    const table = mssTable(tuple.remoteAddress);
    let index = table.length - 1;
    while (index > 0 && table[index]! > peerMss) index--;
    const period = periodAt(now);
    return (((period & COUNTER_MASK) << COUNTER_SHIFT) | (index << MSS_INDEX_SHIFT) | this.mac(tuple, peerIsn, period, index)) >>> 0;
  }

  /**
   * The MSS a cookie carries when it is ours for this four-tuple and peer ISN and not older than
   * COOKIE_MAX_AGE_PERIODS; undefined for a forged, altered or stale one.
   */
  validate(tuple: TcpFourTuple, peerIsn: SeqNumber, cookie: SeqNumber, now: number): number | undefined {
    const counter = (cookie >>> COUNTER_SHIFT) & COUNTER_MASK;
    const index = (cookie >>> MSS_INDEX_SHIFT) & MSS_INDEX_MASK;
    const current = periodAt(now);
    // The counter names at most one period in the accepted range (it is shorter than 8 periods).
    const age = (current - counter) & COUNTER_MASK;
    if (age > COOKIE_MAX_AGE_PERIODS || age > current) return undefined;
    if (this.mac(tuple, peerIsn, current - age, index) !== (cookie & MAC_MASK)) return undefined;
    return mssTable(tuple.remoteAddress)[index];
  }

  private mac(tuple: TcpFourTuple, peerIsn: SeqNumber, period: number, mssIndex: number): number {
    const input = this.input;
    let offset = writeIPAddress(input, 0, tuple.localAddress);
    writeUint16(input, offset, tuple.localPort);
    offset = writeIPAddress(input, offset + 2, tuple.remoteAddress);
    writeUint16(input, offset, tuple.remotePort);
    writeUint32(input, offset + 2, peerIsn);
    writeUint32(input, offset + 6, period >>> 0);
    input[offset + 10] = mssIndex;
    return this.hasher.hash(input, offset + 11) & MAC_MASK;
  }
}

function periodAt(now: number): number {
  return Math.floor(now / COOKIE_PERIOD_MS);
}

/**
 * Our TSval in a cookie SYN-ACK: the clock with its low bits replaced by the peer's window shift
 * and SACK-permitted. It is moved back a step rather than ahead of the clock: the peer records it
 * as TS.Recent, and our later segments, stamped from the clock, must not look older to its PAWS
 * (RFC 7323 5.3).
 */
export function cookieTimestamp(now: number, peerWindowScale: number | undefined, sackPermitted: boolean): number {
  const clock = timestampAt(now);
  const bits = (peerWindowScale ?? TS_NO_WINDOW_SCALE) | (sackPermitted ? TS_SACK_PERMITTED : 0);
  let value = ((clock & ~TS_OPTION_BITS) | bits) >>> 0;
  if (seqLt(clock, value)) value = (value - (TS_OPTION_BITS + 1)) >>> 0;
  return value;
}

/**
 * The options the peer's SYN must have carried, rebuilt from a valid cookie's MSS and the
 * timestamp option of its ACK (whose echo is our cookieTimestamp), for NegotiatedOptions to
 * negotiate as it would the SYN. The TSval is the ACK's: it becomes TS.Recent. Without
 * timestamps only the MSS survives.
 */
export function cookieSynOptions(mss: number, ackTimestamp: { value: number; echo: number } | undefined): TcpOptions {
  const options: TcpOptions = { mss };
  if (ackTimestamp === undefined) return options;
  const bits = ackTimestamp.echo & TS_OPTION_BITS;
  const shift = bits & TS_NO_WINDOW_SCALE;
  if (shift !== TS_NO_WINDOW_SCALE) options.windowScale = Math.min(shift, TCP_MAX_WINDOW_SHIFT);
  if (bits & TS_SACK_PERMITTED) options.sackPermitted = true;
  options.timestamp = { value: ackTimestamp.value, echo: 0 };
  return options;
}

/** Cookies one source address may draw per second while a listener is flooded. */
export const COOKIES_PER_SOURCE_PER_SECOND = 2000;
/** Sources tracked per second at most: a flood from many addresses is not slowed by this. */
const COOKIE_SOURCES_TRACKED = 4096;

/**
 * A per-source budget for SYN cookies. A SYN flood from one address (hping3 --flood, a LAND-like
 * tool) outruns the stack, so the device's queue overflows and drops real clients' SYNs with the
 * flood's: answering each flood SYN with a cookie costs a MAC and a SYN-ACK. Past its budget a
 * source's SYNs are dropped before any of that, so the flood costs little more than its parsing
 * and the queue keeps room for everyone else. (Linux has no such limit built in; it is what an
 * `iptables hashlimit` rule in front of a listener does.) A fixed one-second window: counts per
 * source, forgotten when the second turns. An IPv6 source is counted by its /64: one host
 * usually holds a whole /64 (RFC 4291 2.5.1 interface identifiers, RFC 8981 temporary addresses),
 * so counting each address would let it draw a budget per address.
 */
export class CookieSourceBudget {
  /** By IPv4 address, or by an IPv6 address's first four 16-bit groups (a 4-unit string). */
  private readonly counts = new Map<number | string, number>();
  private windowStart = Number.NEGATIVE_INFINITY;

  constructor(private readonly perSecond = COOKIES_PER_SOURCE_PER_SECOND) {}

  /** Whether `source` may have another cookie at `now` (ms); counts it if so. */
  take(source: IPAddress, now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.counts.clear();
    }
    const key = typeof source === 'number' ? source : source.slice(0, 4);
    const count = this.counts.get(key);
    if (count === undefined) {
      if (this.counts.size < COOKIE_SOURCES_TRACKED) this.counts.set(key, 1);
      return true;
    }
    if (count >= this.perSecond) return false;
    this.counts.set(key, count + 1);
    return true;
  }
}
