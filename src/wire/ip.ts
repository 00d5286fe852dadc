/**
 * What the two address families share at the edges of the IP layer: telling an address's family
 * (IPv4 a number, IPv6 an 8-unit string: address6.ts says why), the size of the header a
 * transport leaves room for, and the text forms of either family. Protocol code never branches
 * on a version field of its own: the type of the address is the family.
 */
import { formatIPv4, martianClass, writeIPv4, type MartianClass } from './address.js';
import { formatIPv6, ipv6MartianClass, writeIPv6, type IPAddress, type IPv6MartianClass } from './address6.js';
import { IPV4_MIN_HEADER } from './ipv4.js';
import { IPV6_HEADER_LENGTH } from './ipv6.js';

export type { IPAddress } from './address6.js';

/** The family of `address`: 4 for an IPv4 number, 6 for an IPv6 string. */
export function ipFamily(address: IPAddress): 4 | 6 {
  return typeof address === 'number' ? 4 : 6;
}

/**
 * The martian class of an address of either family (address.ts's martianClass for IPv4, RFC 1812
 * 5.3.7; address6.ts's ipv6MartianClass for IPv6), undefined for a single host that may appear on
 * the wire. `ownAddress` of the same family makes it 'self'.
 */
export function martianClassOf(address: IPAddress, ownAddress?: IPAddress): MartianClass | IPv6MartianClass | undefined {
  if (typeof address === 'number') return martianClass(address, typeof ownAddress === 'number' ? ownAddress : undefined);
  return ipv6MartianClass(address, typeof ownAddress === 'string' ? ownAddress : undefined);
}

/**
 * The headroom a transport leaves in front of its header for a datagram to `destination`: the IP
 * header the IP layer writes there (IPv4 without options, 20 bytes; IPv6's fixed header, 40, RFC
 * 8200 3; the stack sends no extension headers of its own except fragment headers, which the IP
 * layer adds when it fragments, in memory of its own).
 */
export function ipHeaderLength(destination: IPAddress): number {
  return typeof destination === 'number' ? IPV4_MIN_HEADER : IPV6_HEADER_LENGTH;
}

/** Dotted quad for IPv4, RFC 5952 text for IPv6 (no brackets: formatHostPort adds them). */
export function formatIPAddress(address: IPAddress): string {
  return typeof address === 'number' ? formatIPv4(address) : formatIPv6(address);
}

/**
 * Write `address` in network order at `offset` (4 bytes for IPv4, 16 for IPv6) and return the
 * offset after it: how a hash input (ISN, SYN cookie, ephemeral port) takes a tuple of either
 * family, with the family told apart by the input's length.
 */
export function writeIPAddress(bytes: Uint8Array, offset: number, address: IPAddress): number {
  if (typeof address === 'number') {
    writeIPv4(bytes, offset, address);
    return offset + 4;
  }
  writeIPv6(bytes, offset, address);
  return offset + 16;
}
