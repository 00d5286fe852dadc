/**
 * IPv6 header codec (RFC 8200 section 3), and the home of the IPv6 size limits. Codec only: the
 * IP layer does not use it yet (issue 11).
 *
 * The same parts as ipv4.ts, the model of every codec in src/wire:
 * - checkIPv6Packet: the version, and the payload length against the bytes actually present,
 *   giving a checked IPv6PacketView or a drop reason; it never throws on wire input. There is no
 *   header checksum (RFC 8200 3: the upper layers cover the addresses with their pseudo-header).
 * - parseIPv6Packet: the same checks, giving the plain IPv6Header record and a payload view.
 * - writeIPv6Header: writes the 40-byte header at an offset into a caller's buffer, in the
 *   headroom a transport left, and returns the bytes written; ipv6PacketLength sizes the buffer.
 * The extension headers after the fixed header are walked by ipv6-extensions.ts.
 * Caller bugs in what is to be written (an oversized payload, a flow label over 20 bits) throw
 * RangeError.
 */
import { readUint16, readUint32, writeUint16, writeUint32 } from '../bytes.js';
import { readIPv6, writeIPv6, type IPv6Address } from './address6.js';

/** RFC 8200 3: the fixed header. */
export const IPV6_HEADER_LENGTH = 40;
/** RFC 8200 5: every link carrying IPv6 has an MTU of 1280 or more. */
export const IPV6_MIN_MTU = 1280;
/**
 * RFC 8200 3: the 16-bit Payload Length field (the bytes after the fixed header, extension
 * headers included). Jumbograms (RFC 2675) are not supported.
 */
export const IPV6_MAX_PAYLOAD_LENGTH = 0xffff;
/** The hop limit we send with, as Linux's default (the IANA default TTL, RFC 8200 3 leaves it to the node). */
export const IPV6_DEFAULT_HOP_LIMIT = 64;
/** RFC 6437 2: the 20-bit Flow Label field. */
const IPV6_FLOW_LABEL_MASK = 0xfffff;

/** Next Header values (IANA "Assigned Internet Protocol Numbers") the IPv6 code names. */
export const NEXT_HEADER_HOP_BY_HOP = 0;
export const NEXT_HEADER_ROUTING = 43;
export const NEXT_HEADER_FRAGMENT = 44;
export const PROTOCOL_ICMPV6 = 58;
/** RFC 8200 4.7: nothing follows. */
export const NEXT_HEADER_NONE = 59;
export const NEXT_HEADER_DESTINATION_OPTIONS = 60;

export interface IPv6Header {
  /** RFC 8200 7 (and RFC 2474): DSCP and ECN bits. */
  trafficClass: number;
  /** RFC 6437: 20 bits, 0 for an unlabelled flow. */
  flowLabel: number;
  /** The bytes after the 40-byte header, extension headers included. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  source: IPv6Address;
  destination: IPv6Address;
}

export type IPv6DropReason =
  | 'truncated' // fewer than 40 bytes
  | 'bad_version' // the version field is not 6
  | 'bad_payload_length' // the payload length runs past the bytes received
  | 'jumbogram'; // payload length 0 with a hop-by-hop header and bytes behind it: RFC 2675, not supported

/**
 * 'received': a packet from the link, checked in full; bytes beyond the payload length are
 * trimmed (link padding).
 * 'quoted': the packet an ICMPv6 error quotes (RFC 4443 2.4 (c): as much as fits in 1280 bytes),
 * which may be cut anywhere after its fixed header, so the payload length is not checked against
 * the bytes present and the view's payload runs to the end of the quote (or the payload length,
 * whichever is shorter).
 */
export type IPv6CheckMode = 'received' | 'quoted';

/** A header that passed checkIPv6Packet; the accessors read the bytes in place. */
class IPv6PacketView {
  constructor(
    /** The packet from its first header byte (bytes beyond the payload length are link padding). */
    readonly bytes: Uint8Array,
    private readonly payloadEnd: number,
  ) {}

  get trafficClass(): number {
    return (readUint16(this.bytes, 0) >>> 4) & 0xff;
  }
  get flowLabel(): number {
    return readUint32(this.bytes, 0) & IPV6_FLOW_LABEL_MASK;
  }
  get payloadLength(): number {
    return readUint16(this.bytes, 4);
  }
  get nextHeader(): number {
    return this.bytes[6]!;
  }
  get hopLimit(): number {
    return this.bytes[7]!;
  }
  get source(): IPv6Address {
    return readIPv6(this.bytes, 8);
  }
  get destination(): IPv6Address {
    return readIPv6(this.bytes, 24);
  }
  /** The packet trimmed to the payload length (or to the quote): what ipv6-extensions.ts walks. */
  get packet(): Uint8Array {
    return this.bytes.subarray(0, this.payloadEnd);
  }
  /** The bytes after the fixed header, extension headers included. */
  get payload(): Uint8Array {
    return this.bytes.subarray(IPV6_HEADER_LENGTH, this.payloadEnd);
  }
}

export type IPv6CheckResult = { ok: true; view: IPv6PacketView } | { ok: false; reason: IPv6DropReason };

export type IPv6ParseResult =
  | {
      ok: true;
      header: IPv6Header;
      /** The packet from its first byte, trimmed to 40 + payload length (link padding removed). */
      packet: Uint8Array;
    }
  | { ok: false; reason: IPv6DropReason };

/** The checks of RFC 8200 3, in order. */
function dropReason(packet: Uint8Array, mode: IPv6CheckMode): IPv6DropReason | undefined {
  if (packet.length < IPV6_HEADER_LENGTH) return 'truncated';
  if (packet[0]! >>> 4 !== 6) return 'bad_version';
  if (mode === 'quoted') return undefined;
  const payloadLength = readUint16(packet, 4);
  // A frame shorter than the header says is a drop; a longer one is trimmed (link padding).
  if (IPV6_HEADER_LENGTH + payloadLength > packet.length) return 'bad_payload_length';
  // RFC 2675 3: a jumbogram has payload length 0 and its length in a hop-by-hop option.
  if (payloadLength === 0 && packet[6] === NEXT_HEADER_HOP_BY_HOP && packet.length > IPV6_HEADER_LENGTH) return 'jumbogram';
  return undefined;
}

function payloadEnd(packet: Uint8Array, mode: IPv6CheckMode): number {
  const end = IPV6_HEADER_LENGTH + readUint16(packet, 4);
  return mode === 'quoted' ? Math.min(end, packet.length) : end;
}

/** Check `packet` (starting at its first header byte) and return a view of it, or why it is dropped. */
export function checkIPv6Packet(packet: Uint8Array, mode: IPv6CheckMode = 'received'): IPv6CheckResult {
  const reason = dropReason(packet, mode);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, view: new IPv6PacketView(packet, payloadEnd(packet, mode)) };
}

/** Check a received packet and read it into a record (the view's fields in one go, without a view object). */
export function parseIPv6Packet(packet: Uint8Array): IPv6ParseResult {
  const reason = dropReason(packet, 'received');
  if (reason !== undefined) return { ok: false, reason };
  const first = readUint32(packet, 0);
  const payloadLength = readUint16(packet, 4);
  return {
    ok: true,
    header: {
      trafficClass: (first >>> 20) & 0xff,
      flowLabel: first & IPV6_FLOW_LABEL_MASK,
      payloadLength,
      nextHeader: packet[6]!,
      hopLimit: packet[7]!,
      source: readIPv6(packet, 8),
      destination: readIPv6(packet, 24),
    },
    packet: packet.subarray(0, IPV6_HEADER_LENGTH + payloadLength),
  };
}

export interface IPv6HeaderFields {
  source: IPv6Address;
  destination: IPv6Address;
  /** The first header after the fixed one: an extension header or the upper-layer protocol. */
  nextHeader: number;
  /** Bytes that follow the fixed header (extension headers included). */
  payloadLength: number;
  hopLimit?: number;
  trafficClass?: number;
  /** RFC 6437: 20 bits; 0 (the default) leaves the flow unlabelled. See flowLabelFromHash. */
  flowLabel?: number;
}

/**
 * Write the 40-byte header at `offset`; returns the bytes written (IPV6_HEADER_LENGTH). The
 * caller's buffer needs IPV6_HEADER_LENGTH + payloadLength bytes from `offset`, the payload
 * behind the header. Throws RangeError for a payload over 65535 bytes (no jumbograms), a flow
 * label over 20 bits or a traffic class over 8 bits.
 */
export function writeIPv6Header(buffer: Uint8Array, offset: number, fields: IPv6HeaderFields): number {
  const { payloadLength } = fields;
  if (!(payloadLength >= 0 && payloadLength <= IPV6_MAX_PAYLOAD_LENGTH)) {
    throw new RangeError(`IPv6 payload of ${payloadLength} bytes exceeds ${IPV6_MAX_PAYLOAD_LENGTH}`);
  }
  const flowLabel = fields.flowLabel ?? 0;
  if (flowLabel < 0 || flowLabel > IPV6_FLOW_LABEL_MASK) throw new RangeError(`flow label ${flowLabel} exceeds 20 bits`);
  const trafficClass = fields.trafficClass ?? 0;
  if (trafficClass < 0 || trafficClass > 0xff) throw new RangeError(`traffic class ${trafficClass} exceeds 8 bits`);
  writeUint32(buffer, offset, ((6 << 28) | (trafficClass << 20) | flowLabel) >>> 0);
  writeUint16(buffer, offset + 4, payloadLength);
  buffer[offset + 6] = fields.nextHeader;
  buffer[offset + 7] = fields.hopLimit ?? IPV6_DEFAULT_HOP_LIMIT;
  writeIPv6(buffer, offset + 8, fields.source);
  writeIPv6(buffer, offset + 24, fields.destination);
  return IPV6_HEADER_LENGTH;
}

/** Bytes of the packet writeIPv6Header heads: the header plus `payloadLength` bytes. */
export function ipv6PacketLength(payloadLength: number): number {
  return IPV6_HEADER_LENGTH + payloadLength;
}

/**
 * A flow label from a hash of a flow's 5-tuple (and a secret, so that labels are not
 * predictable: RFC 6437 3 and its Appendix A; the hash is the caller's, as the ISN's is in
 * src/tcp/isn.ts). The top 20 bits of a multiplicative (Fibonacci) hash of it, so that every one
 * of the 32 bits counts, and a zero result becomes 1, since a zero label means "unlabelled" (RFC
 * 6437 2).
 */
export function flowLabelFromHash(hash: number): number {
  const label = Math.imul(hash, 0x9e3779b1) >>> 12;
  return label === 0 ? 1 : label;
}
