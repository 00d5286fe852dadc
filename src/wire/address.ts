/**
 * Addresses on the wire: IPv4 addresses (RFC 791 3.1, carried as numbers inside the stack, text
 * only at the API edge, with the dotted-quad and CIDR parsers) and the range of the transport
 * port numbers TCP and UDP share. The packet codecs (ipv4.ts, icmpv4.ts, udp.ts, tcp.ts) read and
 * write addresses with readIPv4 / writeIPv4.
 */
import { readUint32, writeUint32 } from '../bytes.js';

/**
 * IPv4 addresses are carried as unsigned 32-bit numbers (network order value: 10.0.0.2 is
 * 0x0a000002) everywhere inside the stack; strings appear only at the API edge.
 */
export type IPv4Address = number;

const dottedQuad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse dotted-quad notation; returns undefined for anything malformed. */
export function parseIPv4Address(text: string): IPv4Address | undefined {
  const m = dottedQuad.exec(text);
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part[0] === '0') return undefined; // no octal-looking parts
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function formatIPv4(address: IPv4Address): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** Read / write an address stored big-endian at `offset`. */
export const readIPv4: (bytes: Uint8Array, offset: number) => IPv4Address = readUint32;
export const writeIPv4: (bytes: Uint8Array, offset: number, address: IPv4Address) => void = writeUint32;

/**
 * Parse `address/len` with `parseAddress`, the length in decimal of at most as many digits as
 * `maxPrefixLength` has and at most it: the CIDR form of either family (address6.ts's
 * parseIPv6Cidr uses it too).
 */
export function parsePrefix<A>(
  text: string,
  parseAddress: (text: string) => A | undefined,
  maxPrefixLength: number,
): { address: A; prefixLength: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === undefined || !/^\d+$/.test(lenText) || lenText.length > String(maxPrefixLength).length) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > maxPrefixLength) return undefined;
  return { address, prefixLength };
}

/** Parse `a.b.c.d/len` into address and prefix length. */
export function parseCidr(text: string): { address: IPv4Address; prefixLength: number } | undefined {
  return parsePrefix(text, parseIPv4Address, 32);
}

export const ANY_ADDRESS: IPv4Address = 0;
export const BROADCAST_ADDRESS: IPv4Address = 0xffffffff;
/**
 * The stack's loopback address (RFC 1122 3.2.1.3 (g), RFC 6890: 127.0.0.0/8 is the host's own
 * loopback). Only 127.0.0.1 is ours, as a Linux `lo` with 127.0.0.1/32 would be: the local
 * address of a connection follows from its remote address (see IpLayer.localAddressFor), which
 * keeps TCP's demultiplexing key free of the local address.
 */
export const LOOPBACK_ADDRESS: IPv4Address = 0x7f000001;

/** The largest port: UDP (RFC 768) and TCP (RFC 9293 3.1) ports are 16-bit fields. Port 0 is never a peer's port. */
export const MAX_PORT = 0xffff;

export function isMulticast(address: IPv4Address): boolean {
  return address >>> 28 === 0xe;
}

/**
 * The classes of addresses that never name a single host on the wire (RFC 1122 3.2.1.3, the list
 * of RFC 1812 5.3.7): `zero_net` 0.0.0.0/8 ("this network", only a source while a host learns its
 * address), `loopback` 127.0.0.0/8 (never outside a host), `multicast` 224.0.0.0/4 (a group, never
 * a source), `class_e` 240.0.0.0/4 (reserved), `broadcast` 255.255.255.255 (inside class E, told
 * apart). `self` is the host's own address, which only the host itself may use as a source.
 */
export type MartianClass = 'self' | 'zero_net' | 'loopback' | 'multicast' | 'class_e' | 'broadcast';

/**
 * The martian class of `address`, or undefined for an address that may be a peer. `ownAddress`,
 * when given, is reported as `self` (a datagram from the link claiming our own address as its
 * source is spoofed, RFC 1812 5.3.7); omit it to classify a destination, where our own address
 * is local delivery, not a martian.
 */
export function martianClass(address: IPv4Address, ownAddress?: IPv4Address): MartianClass | undefined {
  if (address === ownAddress) return 'self';
  const firstOctet = address >>> 24;
  if (firstOctet === 0) return 'zero_net';
  if (firstOctet === 127) return 'loopback';
  if (isMulticast(address)) return 'multicast';
  if (address === BROADCAST_ADDRESS) return 'broadcast';
  if (address >>> 28 === 0xf) return 'class_e';
  return undefined;
}
