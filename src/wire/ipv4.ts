/**
 * IPv4 packet codec (RFC 791 section 3.1), and the home of the IPv4 size limits.
 *
 * Every codec in src/wire has the same four parts (see checksum.ts for the one checksum):
 * - checkIPv4Packet: validates every length field against the bytes actually present, and the
 *   header checksum, and returns a checked IPv4PacketView or a drop reason; it never throws on
 *   wire input. The view reads fields in place.
 * - parseIPv4Packet: the same checks, giving the plain IPv4Header record and a payload view.
 * - writeIPv4Header: writes into a caller's buffer at an offset and returns the bytes written
 *   (IPV4_MIN_HEADER: the stack sends no IP options); ipv4PacketLength sizes that buffer. IPv4
 *   writes only its header because the payload is already in place behind it: transports
 *   encode their bytes with IPV4_MIN_HEADER bytes of headroom (their encode functions).
 * Caller bugs in what is to be written (an oversized datagram) throw RangeError.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import { readIPv4, writeIPv4, type IPv4Address } from './address.js';
import { internetChecksum } from './checksum.js';

/** RFC 791 3.1: IHL of 5 words; the header we write. */
export const IPV4_MIN_HEADER = 20;
/** RFC 791 3.2: every internet module must be able to forward a 68-byte datagram, the smallest MTU. */
export const IPV4_MIN_MTU = 68;
/** RFC 791 3.1: the 16-bit total length field; also the largest MTU the stack accepts. */
export const IPV4_MAX_DATAGRAM = 0xffff;
/** RFC 1122 3.2.1.7 recommends 64 (the IANA default TTL, as Linux uses). */
export const IPV4_DEFAULT_TTL = 64;

/** Protocol numbers (IANA "Assigned Internet Protocol Numbers"). */
export const PROTOCOL_ICMP = 1;
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;

/** RFC 791 3.1: flags and fragment offset share bytes 6..7. */
const FLAG_DONT_FRAGMENT = 0x4000;
const FLAG_MORE_FRAGMENTS = 0x2000;
const FRAGMENT_OFFSET_MASK = 0x1fff;

export interface IPv4Header {
  /** Header length in bytes (IHL * 4), options included. */
  headerLength: number;
  tos: number;
  totalLength: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (the field counts 8-byte units). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  source: IPv4Address;
  destination: IPv4Address;
}

export type IPv4DropReason =
  | 'truncated' // fewer than 20 bytes, or fewer than IHL*4
  | 'bad_version'
  | 'bad_ihl' // IHL < 5
  | 'bad_total_length' // total length < header length, or beyond the bytes received
  | 'bad_checksum';

/**
 * 'received': a packet from the link, checked in full.
 * 'quoted': the datagram an ICMP error quotes (RFC 792: its header and at least the first 8 data
 * bytes). The quote may be cut anywhere after its header, so the total length is not checked
 * against the bytes present, and neither is the checksum: routers may have rewritten the quote
 * (NAT). The view's payload then runs to the end of the quote.
 */
export type IPv4CheckMode = 'received' | 'quoted';

/** A header that passed checkIPv4Packet; the accessors read the bytes in place. */
class IPv4PacketView {
  constructor(
    /** The packet from its first header byte (bytes beyond the total length are link padding). */
    readonly bytes: Uint8Array,
    private readonly payloadEnd: number,
  ) {}

  get headerLength(): number {
    return (this.bytes[0]! & 0x0f) * 4;
  }
  get tos(): number {
    return this.bytes[1]!;
  }
  get totalLength(): number {
    return readUint16(this.bytes, 2);
  }
  get identification(): number {
    return readUint16(this.bytes, 4);
  }
  get dontFragment(): boolean {
    return (readUint16(this.bytes, 6) & FLAG_DONT_FRAGMENT) !== 0;
  }
  get moreFragments(): boolean {
    return (readUint16(this.bytes, 6) & FLAG_MORE_FRAGMENTS) !== 0;
  }
  /** In bytes. */
  get fragmentOffset(): number {
    return (readUint16(this.bytes, 6) & FRAGMENT_OFFSET_MASK) * 8;
  }
  get ttl(): number {
    return this.bytes[8]!;
  }
  get protocol(): number {
    return this.bytes[9]!;
  }
  get checksum(): number {
    return readUint16(this.bytes, 10);
  }
  get source(): IPv4Address {
    return readIPv4(this.bytes, 12);
  }
  get destination(): IPv4Address {
    return readIPv4(this.bytes, 16);
  }
  /** The bytes after the header up to the total length ('received') or the quote's end ('quoted'). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength, this.payloadEnd);
  }
}

export type IPv4CheckResult = { ok: true; view: IPv4PacketView } | { ok: false; reason: IPv4DropReason };

export type IPv4ParseResult =
  | { ok: true; header: IPv4Header; /** payload view, trimmed to totalLength (link padding removed) */ payload: Uint8Array }
  | { ok: false; reason: IPv4DropReason };

/** The checks of RFC 791 3.1 (and RFC 1122 3.2.1.1-2 on version and checksum), in order. */
function dropReason(packet: Uint8Array, mode: IPv4CheckMode): IPv4DropReason | undefined {
  if (packet.length < IPV4_MIN_HEADER) return 'truncated';
  const versionIhl = packet[0]!;
  if (versionIhl >> 4 !== 4) return 'bad_version';
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER) return 'bad_ihl';
  if (headerLength > packet.length) return 'truncated';
  if (mode === 'quoted') return undefined;
  const totalLength = readUint16(packet, 2);
  if (totalLength < headerLength || totalLength > packet.length) return 'bad_total_length';
  if (internetChecksum(packet, 0, headerLength) !== 0) return 'bad_checksum';
  return undefined;
}

/** The header record of a checked packet: the view's accessors, read in one go. */
function readHeader(packet: Uint8Array): IPv4Header {
  const flagsFragment = readUint16(packet, 6);
  return {
    headerLength: (packet[0]! & 0x0f) * 4,
    tos: packet[1]!,
    totalLength: readUint16(packet, 2),
    identification: readUint16(packet, 4),
    dontFragment: (flagsFragment & FLAG_DONT_FRAGMENT) !== 0,
    moreFragments: (flagsFragment & FLAG_MORE_FRAGMENTS) !== 0,
    fragmentOffset: (flagsFragment & FRAGMENT_OFFSET_MASK) * 8,
    ttl: packet[8]!,
    protocol: packet[9]!,
    source: readIPv4(packet, 12),
    destination: readIPv4(packet, 16),
  };
}

/** Check `packet` (starting at its first header byte) and return a view of it, or why it is dropped. */
export function checkIPv4Packet(packet: Uint8Array, mode: IPv4CheckMode = 'received'): IPv4CheckResult {
  const reason = dropReason(packet, mode);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, view: new IPv4PacketView(packet, mode === 'quoted' ? packet.length : readUint16(packet, 2)) };
}

/**
 * Check a received packet and read it into a record. Per packet, so it makes no view object:
 * the same checks, then the view's fields read in one go.
 */
export function parseIPv4Packet(packet: Uint8Array): IPv4ParseResult {
  const reason = dropReason(packet, 'received');
  if (reason !== undefined) return { ok: false, reason };
  const header = readHeader(packet);
  return { ok: true, header, payload: packet.subarray(header.headerLength, header.totalLength) };
}

export interface IPv4HeaderFields {
  source: IPv4Address;
  destination: IPv4Address;
  protocol: number;
  /** Bytes of payload that follow the header. */
  payloadLength: number;
  identification?: number;
  ttl?: number;
  tos?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In bytes; must be a multiple of 8. */
  fragmentOffset?: number;
}

/** The fields that rewrite `header` (without options) for a packet carrying `payloadLength` bytes. */
export function headerFieldsOf(header: IPv4Header, payloadLength: number): IPv4HeaderFields {
  return {
    source: header.source,
    destination: header.destination,
    protocol: header.protocol,
    payloadLength,
    identification: header.identification,
    ttl: header.ttl,
    tos: header.tos,
    dontFragment: header.dontFragment,
    moreFragments: header.moreFragments,
    fragmentOffset: header.fragmentOffset,
  };
}

/**
 * Write a 20-byte header (no options) at `offset` with a correct checksum; returns the bytes
 * written (IPV4_MIN_HEADER). The caller's buffer needs IPV4_MIN_HEADER + payloadLength bytes
 * from `offset`, the payload behind the header. Throws RangeError for a datagram over 65535
 * bytes or a fragment offset that is not a multiple of 8.
 */
export function writeIPv4Header(buffer: Uint8Array, offset: number, fields: IPv4HeaderFields): number {
  const totalLength = IPV4_MIN_HEADER + fields.payloadLength;
  if (totalLength > IPV4_MAX_DATAGRAM) throw new RangeError(`IPv4 datagram of ${totalLength} bytes exceeds ${IPV4_MAX_DATAGRAM}`);
  const fragmentOffset = fields.fragmentOffset ?? 0;
  if (fragmentOffset % 8 !== 0) throw new RangeError('fragment offset must be a multiple of 8');
  buffer[offset] = 0x45;
  buffer[offset + 1] = fields.tos ?? 0;
  writeUint16(buffer, offset + 2, totalLength);
  writeUint16(buffer, offset + 4, fields.identification ?? 0);
  writeUint16(
    buffer,
    offset + 6,
    (fields.dontFragment ? FLAG_DONT_FRAGMENT : 0) | (fields.moreFragments ? FLAG_MORE_FRAGMENTS : 0) | (fragmentOffset / 8),
  );
  buffer[offset + 8] = fields.ttl ?? IPV4_DEFAULT_TTL;
  buffer[offset + 9] = fields.protocol;
  writeUint16(buffer, offset + 10, 0);
  writeIPv4(buffer, offset + 12, fields.source);
  writeIPv4(buffer, offset + 16, fields.destination);
  writeUint16(buffer, offset + 10, internetChecksum(buffer, offset, IPV4_MIN_HEADER));
  return IPV4_MIN_HEADER;
}

/** Bytes of the packet writeIPv4Header heads: the header plus `payloadLength` bytes. */
export function ipv4PacketLength(payloadLength: number): number {
  return IPV4_MIN_HEADER + payloadLength;
}
