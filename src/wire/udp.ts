/**
 * UDP datagram codec (RFC 768). The checksum covers the IPv4 pseudo-header; a transmitted
 * checksum of zero means "none" and is accepted on IPv4 (RFC 768, RFC 1122 4.1.3.4), and a
 * computed checksum of zero is sent as 0xffff.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import type { IPv4Address } from './address.js';
import { finishChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { PROTOCOL_UDP } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;

export interface UdpDatagram {
  sourcePort: number;
  destinationPort: number;
  /** View into the packet: valid only while the packet is being handled. */
  payload: Uint8Array;
}

export type UdpDropReason = 'truncated' | 'bad_length' | 'bad_checksum';

export type UdpParseResult = { ok: true; datagram: UdpDatagram } | { ok: false; reason: UdpDropReason };

export function parseUdp(bytes: Uint8Array, source: IPv4Address, destination: IPv4Address): UdpParseResult {
  if (bytes.length < UDP_HEADER_LENGTH) return { ok: false, reason: 'truncated' };
  const length = readUint16(bytes, 4);
  // The UDP length must cover the header and fit in what IP delivered; trailing bytes beyond
  // it (IP total length larger than UDP length) are ignored as Linux does.
  if (length < UDP_HEADER_LENGTH || length > bytes.length) return { ok: false, reason: 'bad_length' };
  const checksum = readUint16(bytes, 6);
  if (checksum !== 0) {
    const sum = sumWords(bytes, 0, length, pseudoHeaderSum(source, destination, PROTOCOL_UDP, length));
    if (finishChecksum(sum) !== 0) return { ok: false, reason: 'bad_checksum' };
  }
  return {
    ok: true,
    datagram: {
      sourcePort: readUint16(bytes, 0),
      destinationPort: readUint16(bytes, 2),
      payload: bytes.subarray(UDP_HEADER_LENGTH, length),
    },
  };
}

/**
 * Encode a datagram into a fresh buffer with `headroom` bytes free at the front for the IPv4
 * header (so the IP layer writes its header in place).
 */
export function encodeUdp(
  sourcePort: number,
  destinationPort: number,
  payload: Uint8Array,
  source: IPv4Address,
  destination: IPv4Address,
  headroom = 0,
): Uint8Array {
  const length = UDP_HEADER_LENGTH + payload.length;
  if (length > 0xffff) throw new RangeError(`UDP datagram of ${length} bytes exceeds 65535`);
  const buffer = new Uint8Array(headroom + length);
  writeUint16(buffer, headroom, sourcePort);
  writeUint16(buffer, headroom + 2, destinationPort);
  writeUint16(buffer, headroom + 4, length);
  buffer.set(payload, headroom + UDP_HEADER_LENGTH);
  const checksum = finishChecksum(sumWords(buffer, headroom, length, pseudoHeaderSum(source, destination, PROTOCOL_UDP, length)));
  writeUint16(buffer, headroom + 6, checksum === 0 ? 0xffff : checksum);
  return buffer;
}
