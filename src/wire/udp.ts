/**
 * UDP datagram codec (RFC 768), and the home of UDP's size limits. The checksum covers the
 * pseudo-header of the addresses' family (IPv4 numbers, IPv6 strings: checksum.ts's
 * transportPseudoHeaderSum); a transmitted checksum of zero means "none" and is accepted on IPv4
 * (RFC 768, RFC 1122 4.1.3.4) but is a bad checksum on IPv6 (RFC 8200 8.1), and a computed
 * checksum of zero is sent as 0xffff.
 *
 * The same parts as every codec in src/wire:
 * - checkUdpDatagram: length and checksum checks, giving a checked UdpDatagramView or a drop
 *   reason (never a throw on wire input);
 * - parseUdpDatagram: the same checks, giving the plain UdpDatagram record;
 * - writeUdpDatagram into a caller's buffer at an offset (returns the bytes written), sized by
 *   udpDatagramLength;
 * - encodeUdpDatagram: the allocating convenience with headroom for the IP header, built on
 *   writeUdpDatagram. The fields are arguments, not a record, so that sending builds no object
 *   per datagram besides its buffer.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import type { IPAddress } from './address6.js';
import { finishChecksum, transportPseudoHeaderSum, sumWords, type ChecksumCheck } from './checksum.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_HEADER, PROTOCOL_UDP } from './ipv4.js';
import { IPV6_MAX_PAYLOAD_LENGTH } from './ipv6.js';

export const UDP_HEADER_LENGTH = 8;
/** RFC 768: the 16-bit length field, header included. */
const UDP_MAX_LENGTH = 0xffff;
/** Largest UDP payload in one IPv4 datagram: 65535 - 20 (IP) - 8 (UDP) = 65507. */
export const UDP_MAX_PAYLOAD = IPV4_MAX_DATAGRAM - IPV4_MIN_HEADER - UDP_HEADER_LENGTH;
/** Largest UDP payload in one IPv6 packet without extension headers (the payload length excludes the 40-byte header): 65527. */
export const UDP_MAX_PAYLOAD_IPV6 = IPV6_MAX_PAYLOAD_LENGTH - UDP_HEADER_LENGTH;

interface UdpDatagram {
  sourcePort: number;
  destinationPort: number;
  /** View into the packet: valid only while the packet is being handled. */
  payload: Uint8Array;
}

export type UdpDropReason =
  | 'truncated' // fewer than 8 bytes
  | 'bad_length' // length field below 8 or beyond the bytes IP delivered
  | 'bad_checksum'; // a checksum that does not verify with the pseudo-header, or zero over IPv6

/** A datagram that passed checkUdpDatagram; the accessors read the bytes in place. */
class UdpDatagramView {
  constructor(readonly bytes: Uint8Array) {}

  get sourcePort(): number {
    return readUint16(this.bytes, 0);
  }
  get destinationPort(): number {
    return readUint16(this.bytes, 2);
  }
  /** The length field: header plus payload. */
  get length(): number {
    return readUint16(this.bytes, 4);
  }
  get checksum(): number {
    return readUint16(this.bytes, 6);
  }
  /** The payload, cut at the length field (bytes IP delivered beyond it are ignored). */
  get payload(): Uint8Array {
    return this.bytes.subarray(UDP_HEADER_LENGTH, this.length);
  }
}

export type UdpCheckResult = { ok: true; view: UdpDatagramView } | { ok: false; reason: UdpDropReason };
export type UdpParseResult = { ok: true; datagram: UdpDatagram } | { ok: false; reason: UdpDropReason };

function dropReason(bytes: Uint8Array, source: IPAddress, destination: IPAddress, checksumCheck: ChecksumCheck): UdpDropReason | undefined {
  if (bytes.length < UDP_HEADER_LENGTH) return 'truncated';
  const length = readUint16(bytes, 4);
  // The UDP length must cover the header and fit in what IP delivered; trailing bytes beyond
  // it (IP total length larger than UDP length) are ignored as Linux does.
  if (length < UDP_HEADER_LENGTH || length > bytes.length) return 'bad_length';
  const checksum = readUint16(bytes, 6);
  // RFC 8200 8.1: over IPv6 the checksum is mandatory and a zero one is discarded, whatever the
  // link says (no sender's correct checksum is zero: a computed zero is sent as 0xffff).
  if (checksum === 0 && typeof source === 'string') return 'bad_checksum';
  if (checksum !== 0 && checksumCheck === 'verify') {
    const sum = sumWords(bytes, 0, length, transportPseudoHeaderSum(source, destination, PROTOCOL_UDP, length));
    if (finishChecksum(sum) !== 0) return 'bad_checksum';
  }
  return undefined;
}

/** Check the IP payload `bytes`; `source` and `destination` are what the pseudo-header covers. */
export function checkUdpDatagram(
  bytes: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumCheck = 'verify',
): UdpCheckResult {
  const reason = dropReason(bytes, source, destination, checksum);
  return reason === undefined ? { ok: true, view: new UdpDatagramView(bytes) } : { ok: false, reason };
}

/** Check a datagram and read it into a record (per packet, so without a view object). */
export function parseUdpDatagram(
  bytes: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumCheck = 'verify',
): UdpParseResult {
  const reason = dropReason(bytes, source, destination, checksum);
  if (reason !== undefined) return { ok: false, reason };
  return {
    ok: true,
    datagram: {
      sourcePort: readUint16(bytes, 0),
      destinationPort: readUint16(bytes, 2),
      payload: bytes.subarray(UDP_HEADER_LENGTH, readUint16(bytes, 4)),
    },
  };
}

/** Bytes writeUdpDatagram writes for `payloadLength` bytes of payload. */
export function udpDatagramLength(payloadLength: number): number {
  return UDP_HEADER_LENGTH + payloadLength;
}

/**
 * Write a datagram at `offset` with its checksum over the pseudo-header of `source` and
 * `destination`. Returns the bytes written. Throws RangeError beyond the 16-bit length field.
 */
export function writeUdpDatagram(
  buffer: Uint8Array,
  offset: number,
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
): number {
  const length = udpDatagramLength(payload.length);
  if (length > UDP_MAX_LENGTH) throw new RangeError(`UDP datagram of ${length} bytes exceeds ${UDP_MAX_LENGTH}`);
  writeUint16(buffer, offset, sourcePort);
  writeUint16(buffer, offset + 2, destinationPort);
  writeUint16(buffer, offset + 4, length);
  writeUint16(buffer, offset + 6, 0);
  buffer.set(payload, offset + UDP_HEADER_LENGTH);
  const checksum = finishChecksum(sumWords(buffer, offset, length, transportPseudoHeaderSum(source, destination, PROTOCOL_UDP, length)));
  writeUint16(buffer, offset + 6, checksum === 0 ? 0xffff : checksum);
  return length;
}

/**
 * A new buffer of `headroom` bytes (left zero, for the IP header) followed by the datagram, so
 * the IP layer writes its header in place. Throws as writeUdpDatagram does.
 */
export function encodeUdpDatagram(
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  headroom = 0,
): Uint8Array {
  const buffer = new Uint8Array(headroom + udpDatagramLength(payload.length));
  writeUdpDatagram(buffer, headroom, sourcePort, destinationPort, payload, source, destination);
  return buffer;
}
