/**
 * IPv6 addresses (RFC 4291): the text forms of RFC 4291 2.2 in, the canonical text of RFC 5952
 * out, byte access for the codecs (ipv6.ts, ipv6-extensions.ts, icmpv6.ts) and the classes the IP
 * layer filters martians by. Text appears only at the API edge, as for IPv4 (address.ts).
 *
 * Representation: an IPv6Address is a string of exactly 8 UTF-16 code units, the address's eight
 * 16-bit groups in network order (2001:db8::1 is "\u2001\u0db8\0\0\0\0\0\u0001"). Why a string:
 * - it is a primitive, so `===` compares two addresses and a Map or Set keys on one directly,
 *   with V8 hashing it once and caching the hash in the string;
 * - it extends the TCP demux key the way src/tcp/tcp-layer.ts builds it for IPv4 (code units of
 *   the remote address, the two ports, then the local address, 6 units): an IPv6 key is
 *   `remote + fromCharCode(ports) + local`, 18 code units built by concatenation, and can never
 *   equal a 6-unit IPv4 key, so one Map can serve both families;
 * - its code units are the 16-bit words the internet checksum adds, so the IPv6 pseudo-header
 *   sum (checksum.ts) reads them without going back to bytes;
 * - it is immutable, unlike a Uint8Array(16) (which would also key a Map by identity, not value).
 * Reading one from a packet costs one String.fromCharCode of 8 words (a short string); four
 * uint32 numbers would avoid that but need four fields in every record and a key built anyway,
 * and a BigInt costs more to build and to hash. The code units may be lone surrogates
 * (0xd800-0xdfff): that is harmless, since nothing decodes the string as text.
 * The type is branded so that text like "fd00::1" cannot be passed where the 8-unit form is due.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import { parseIPv4Address, parsePrefix, type IPv4Address } from './address.js';

/** An IPv6 address: 8 UTF-16 code units, its 16-bit groups in network order (see above; `formatIPv6` for text). */
export type IPv6Address = string & {
  /** The brand that keeps text such as "fd00::1" from passing for the 8-unit form. */
  readonly __ipv6Address: never;
};

/** An address of either family: IPv4 as a number, IPv6 as an 8-unit string; `typeof` tells them apart. */
export type IPAddress = IPv4Address | IPv6Address;

/** RFC 4291 2.5.2: the unspecified address `::`. */
export const IPV6_UNSPECIFIED = '\0\0\0\0\0\0\0\0' as IPv6Address;
/** RFC 4291 2.5.3: the loopback address `::1`. */
export const IPV6_LOOPBACK = '\0\0\0\0\0\0\0\u0001' as IPv6Address;

/** The address of eight 16-bit groups (each taken modulo 2^16). */
export function ipv6FromGroups(groups: readonly number[]): IPv6Address {
  if (groups.length !== 8) throw new RangeError(`an IPv6 address has 8 groups, got ${groups.length}`);
  let text = '';
  for (const group of groups) text += String.fromCharCode(group & 0xffff);
  return text as IPv6Address;
}

/** The eight 16-bit groups of `address`. */
export function ipv6Groups(address: IPv6Address): number[] {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(address.charCodeAt(i));
  return groups;
}

/** Read the 16 address bytes at `offset` (bounds are the caller's: codecs check lengths first). */
export function readIPv6(bytes: Uint8Array, offset: number): IPv6Address {
  return String.fromCharCode(
    readUint16(bytes, offset),
    readUint16(bytes, offset + 2),
    readUint16(bytes, offset + 4),
    readUint16(bytes, offset + 6),
    readUint16(bytes, offset + 8),
    readUint16(bytes, offset + 10),
    readUint16(bytes, offset + 12),
    readUint16(bytes, offset + 14),
  ) as IPv6Address;
}

/** Write `address` as 16 bytes at `offset`. */
export function writeIPv6(bytes: Uint8Array, offset: number, address: IPv6Address): void {
  for (let i = 0; i < 8; i++) writeUint16(bytes, offset + 2 * i, address.charCodeAt(i));
}

/** The longest text form: 8 groups of 4 digits and 7 colons (INET6_ADDRSTRLEN less its NUL). */
const MAX_TEXT_LENGTH = 45;

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10; // a-f, A-F
  return -1;
}

/**
 * Parse the text forms of RFC 4291 2.2: eight groups of 1 to 4 hex digits separated by colons
 * (either case), one `::` standing for one or more zero groups, and a dotted-quad IPv4 address in
 * place of the last two groups (`::ffff:192.0.2.1`). Returns undefined for anything else: a zone
 * (`fe80::1%eth0`, RFC 4007 11: a scoped address is not a bare address), brackets, a prefix
 * length, a second `::`, a group of 5 digits, a lone leading or trailing colon, or an IPv4 part
 * that is not a strict dotted quad (address.ts: no octal-looking octets).
 */
export function parseIPv6Address(text: string): IPv6Address | undefined {
  const length = text.length;
  if (length < 2 || length > MAX_TEXT_LENGTH) return undefined;
  const groups: number[] = [];
  /** Index in `groups` where the `::` gap goes, or -1. */
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    // A leading colon is only allowed as the start of `::`.
    if (text.charCodeAt(1) !== 0x3a) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < length) {
    let end = i;
    let value = 0;
    for (let digit = hexValue(text.charCodeAt(end)); digit >= 0 && end < length; digit = hexValue(text.charCodeAt(end))) {
      value = value * 16 + digit;
      end++;
    }
    if (end < length && text.charCodeAt(end) === 0x2e) {
      // The embedded IPv4 form: the rest is a dotted quad and fills the last two groups.
      const v4 = parseIPv4Address(text.slice(i));
      if (v4 === undefined || groups.length > 6) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (end === i || end - i > 4 || groups.length === 8) return undefined;
    groups.push(value);
    i = end;
    if (i === length) break;
    if (text.charCodeAt(i) !== 0x3a) return undefined;
    i++;
    if (i === length) return undefined; // a lone trailing colon
    if (text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return undefined; // a second `::`
      gap = groups.length;
      i++;
    }
  }
  if (gap < 0) return groups.length === 8 ? ipv6FromGroups(groups) : undefined;
  if (groups.length > 7) return undefined; // `::` stands for at least one group
  const zeros = new Array<number>(8 - groups.length).fill(0);
  return ipv6FromGroups([...groups.slice(0, gap), ...zeros, ...groups.slice(gap)]);
}

/**
 * The RFC 5952 text: lowercase hex (4.3) without leading zeros (4.1), the longest run of two or
 * more zero groups shortened to `::` (the first of equal runs, 4.2.1-4.2.3; never a single zero
 * group), and an IPv4-mapped address in the mixed notation of section 5 (`::ffff:192.0.2.1`),
 * as Go's netip formats it.
 */
export function formatIPv6(address: IPv6Address): string {
  const v4 = ipv4FromMapped(address);
  if (v4 !== undefined) return `::ffff:${v4 >>> 24}.${(v4 >>> 16) & 0xff}.${(v4 >>> 8) & 0xff}.${v4 & 0xff}`;
  let bestStart = -1;
  let bestLength = 1; // a run must be longer than this to be shortened
  for (let i = 0; i < 8;) {
    if (address.charCodeAt(i) !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && address.charCodeAt(end) === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number): string => {
    const parts: string[] = [];
    for (let i = from; i < to; i++) parts.push(address.charCodeAt(i).toString(16));
    return parts.join(':');
  };
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** Parse `address/len` (RFC 4291 2.3), as `--host-addr6 fd00::1/64` will be given. */
export function parseIPv6Cidr(text: string): { address: IPv6Address; prefixLength: number } | undefined {
  return parsePrefix(text, parseIPv6Address, 128);
}

/** Whether the first `prefixLength` bits of `a` and `b` agree (on-link tests, RFC 4291 2.3). */
export function ipv6PrefixMatches(a: IPv6Address, b: IPv6Address, prefixLength: number): boolean {
  let bits = prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((a.charCodeAt(i) ^ b.charCodeAt(i)) & mask) !== 0) return false;
  }
  return true;
}

/** Whether the first five groups are zero: the common part of the mapped and compatible forms. */
function zeroFirstFive(address: IPv6Address): boolean {
  for (let i = 0; i < 5; i++) if (address.charCodeAt(i) !== 0) return false;
  return true;
}

/** RFC 4291 2.5.5.2: `::ffff:a.b.c.d`, how a dual-stack API names an IPv4 peer (Go's Addr.Is4In6). */
export function ipv4MappedAddress(address: IPv4Address): IPv6Address {
  return String.fromCharCode(0, 0, 0, 0, 0, 0xffff, address >>> 16, address & 0xffff) as IPv6Address;
}

/** The IPv4 address inside an IPv4-mapped address, or undefined if `address` is not one. */
export function ipv4FromMapped(address: IPv6Address): IPv4Address | undefined {
  if (!zeroFirstFive(address) || address.charCodeAt(5) !== 0xffff) return undefined;
  return (address.charCodeAt(6) * 0x10000 + address.charCodeAt(7)) >>> 0;
}

export function isIPv6Unspecified(address: IPv6Address): boolean {
  return address === IPV6_UNSPECIFIED;
}

export function isIPv6Loopback(address: IPv6Address): boolean {
  return address === IPV6_LOOPBACK;
}

/** RFC 4291 2.7: ff00::/8. */
export function isIPv6Multicast(address: IPv6Address): boolean {
  return address.charCodeAt(0) >>> 8 === 0xff;
}

/** RFC 4291 2.7: the 4-bit scope of a multicast address (1 interface-local, 2 link-local, ...). */
export function ipv6MulticastScope(address: IPv6Address): number {
  return address.charCodeAt(0) & 0xf;
}

/** RFC 4291 2.5.6: fe80::/10. */
export function isIPv6LinkLocal(address: IPv6Address): boolean {
  return (address.charCodeAt(0) & 0xffc0) === 0xfe80;
}

export function isIPv4Mapped(address: IPv6Address): boolean {
  return ipv4FromMapped(address) !== undefined;
}

/** The documentation prefixes: 2001:db8::/32 (RFC 3849) and 3fff::/20 (RFC 9637). */
export function isIPv6Documentation(address: IPv6Address): boolean {
  const first = address.charCodeAt(0);
  const second = address.charCodeAt(1);
  return (first === 0x2001 && second === 0x0db8) || (first === 0x3fff && second >>> 12 === 0);
}

/**
 * The IPv6 addresses that never name a peer on the link, as address.ts's MartianClass does for
 * IPv4: `unspecified` (RFC 4291 2.5.2: never a destination, and as a source only in duplicate
 * address detection, which a TUN device has no use for), `loopback` (RFC 4291 2.5.3: a packet
 * from an interface with ::1 as source or destination must be dropped), `multicast` (RFC 4291
 * 2.7: never a source; as a destination, a group the caller decides on), `ipv4_mapped` (RFC 4291
 * 2.5.5.2 and RFC 6890: an API form, never on the wire; Linux drops such TCP SYNs too), and
 * `self` for the host's own address as the source of a packet from the link (spoofed).
 * Link-local sources are not martians: the kernel's side of a TUN device has an fe80:: address
 * and sends from it (router solicitations, MLD).
 */
export type IPv6MartianClass = 'self' | 'unspecified' | 'loopback' | 'multicast' | 'ipv4_mapped';

/**
 * The martian class of `address`, or undefined for an address that may be a peer. `ownAddress`,
 * when given, is reported as `self`; omit it to classify a destination.
 */
export function ipv6MartianClass(address: IPv6Address, ownAddress?: IPv6Address): IPv6MartianClass | undefined {
  if (address === ownAddress) return 'self';
  if (address === IPV6_UNSPECIFIED) return 'unspecified';
  if (address === IPV6_LOOPBACK) return 'loopback';
  if (isIPv6Multicast(address)) return 'multicast';
  if (isIPv4Mapped(address)) return 'ipv4_mapped';
  return undefined;
}
