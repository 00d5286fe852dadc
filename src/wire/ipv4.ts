/**
 * IPv4 header codec (RFC 791 section 3.1). Parsing checks every length field against the bytes
 * actually present and reports a drop reason instead of throwing; building writes into a
 * caller-sized buffer and fills in the checksum.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import { readIPv4, writeIPv4, type IPv4Address } from './address.js';
import { internetChecksum } from './checksum.js';

export const IPV4_MIN_HEADER = 20;
export const PROTOCOL_ICMP = 1;
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;

export const FLAG_DONT_FRAGMENT = 0x4000;
export const FLAG_MORE_FRAGMENTS = 0x2000;
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

export type IPv4ParseResult =
  | { ok: true; header: IPv4Header; /** payload view, trimmed to totalLength (link padding removed) */ payload: Uint8Array }
  | { ok: false; reason: IPv4DropReason };

export function parseIPv4Packet(packet: Uint8Array): IPv4ParseResult {
  if (packet.length < IPV4_MIN_HEADER) return { ok: false, reason: 'truncated' };
  const versionIhl = packet[0]!;
  if (versionIhl >> 4 !== 4) return { ok: false, reason: 'bad_version' };
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER) return { ok: false, reason: 'bad_ihl' };
  if (headerLength > packet.length) return { ok: false, reason: 'truncated' };
  const totalLength = readUint16(packet, 2);
  if (totalLength < headerLength || totalLength > packet.length) return { ok: false, reason: 'bad_total_length' };
  if (internetChecksum(packet, 0, headerLength) !== 0) return { ok: false, reason: 'bad_checksum' };
  const flagsFragment = readUint16(packet, 6);
  return {
    ok: true,
    header: {
      headerLength,
      tos: packet[1]!,
      totalLength,
      identification: readUint16(packet, 4),
      dontFragment: (flagsFragment & FLAG_DONT_FRAGMENT) !== 0,
      moreFragments: (flagsFragment & FLAG_MORE_FRAGMENTS) !== 0,
      fragmentOffset: (flagsFragment & FRAGMENT_OFFSET_MASK) * 8,
      ttl: packet[8]!,
      protocol: packet[9]!,
      source: readIPv4(packet, 12),
      destination: readIPv4(packet, 16),
    },
    payload: packet.subarray(headerLength, totalLength),
  };
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

export const DEFAULT_TTL = 64;

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

/** Write a 20-byte header (no options) at `offset` with a correct checksum. */
export function writeIPv4Header(buffer: Uint8Array, offset: number, fields: IPv4HeaderFields): void {
  const totalLength = IPV4_MIN_HEADER + fields.payloadLength;
  if (totalLength > 0xffff) throw new RangeError(`IPv4 datagram of ${totalLength} bytes exceeds 65535`);
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
  buffer[offset + 8] = fields.ttl ?? DEFAULT_TTL;
  buffer[offset + 9] = fields.protocol;
  writeUint16(buffer, offset + 10, 0);
  writeIPv4(buffer, offset + 12, fields.source);
  writeIPv4(buffer, offset + 16, fields.destination);
  writeUint16(buffer, offset + 10, internetChecksum(buffer, offset, IPV4_MIN_HEADER));
}
