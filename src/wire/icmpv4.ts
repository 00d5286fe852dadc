/**
 * ICMP for IPv4 (RFC 792): the message codec, echo replies, and error messages with their quoted
 * datagram. When an error may be sent, and how often, is the IP layer's (src/ip/icmp-errors.ts).
 *
 * These functions work on ICMP message bytes (what follows the IP header); the stack wraps
 * them in an IPv4 header.
 */
import { readUint16, readUint32, writeUint16, writeUint32, copyBytes } from '../bytes.js';
import { readIPv4, type IPv4Address } from './address.js';
import { internetChecksum, updateChecksum } from './checksum.js';
import { IPV4_MIN_HEADER } from './ipv4.js';

export const ICMP_HEADER_LENGTH = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

/** Destination Unreachable codes (RFC 792). */
export const NET_UNREACHABLE = 0;
export const HOST_UNREACHABLE = 1;
export const PROTOCOL_UNREACHABLE = 2;
export const PORT_UNREACHABLE = 3;
export const FRAGMENTATION_NEEDED = 4;

/** Time Exceeded codes (RFC 792). */
export const TTL_EXCEEDED_IN_TRANSIT = 0;
export const FRAGMENT_REASSEMBLY_TIME_EXCEEDED = 1;

/**
 * RFC 1812 4.3.2.3: an error should quote as much of the offending datagram as fits without the
 * whole IP packet exceeding 576 bytes (what Linux does), of which RFC 792 requires the header
 * and first 8 data bytes.
 */
export const ICMP_ERROR_MAX_PACKET = 576;
const MAX_QUOTE = ICMP_ERROR_MAX_PACKET - IPV4_MIN_HEADER - ICMP_HEADER_LENGTH;

export interface IcmpMessage {
  type: number;
  code: number;
  /** Bytes 4..5 of the header (the echo identifier). */
  identifier: number;
  /** Bytes 6..7 of the header (the echo sequence number). */
  sequence: number;
  /** Bytes 4..7 as one uint32 (e.g. the next-hop MTU of fragmentation needed, RFC 1191). */
  restOfHeader: number;
  /** Everything after the 8-byte header (a view). */
  body: Uint8Array;
}

export type IcmpParseResult = { ok: true; message: IcmpMessage } | { ok: false; reason: 'truncated' | 'bad_checksum' };

/** Parse an ICMP message; the checksum covers the whole message (RFC 792). */
export function parseIcmp(message: Uint8Array): IcmpParseResult {
  if (message.length < ICMP_HEADER_LENGTH) return { ok: false, reason: 'truncated' };
  if (internetChecksum(message) !== 0) return { ok: false, reason: 'bad_checksum' };
  return {
    ok: true,
    message: {
      type: message[0]!,
      code: message[1]!,
      identifier: readUint16(message, 4),
      sequence: readUint16(message, 6),
      restOfHeader: readUint32(message, 4),
      body: message.subarray(ICMP_HEADER_LENGTH),
    },
  };
}

/** Build a message with a computed checksum: the 8-byte header followed by `body`. */
export function buildIcmpMessage(type: number, code: number, restOfHeader: number, body: Uint8Array): Uint8Array {
  const message = new Uint8Array(ICMP_HEADER_LENGTH + body.length);
  message[0] = type;
  message[1] = code;
  writeUint32(message, 4, restOfHeader >>> 0);
  message.set(body, ICMP_HEADER_LENGTH);
  writeUint16(message, 2, internetChecksum(message));
  return message;
}

/** An echo request (used by tests and by anything that pings). */
export function buildEchoRequest(identifier: number, sequence: number, data: Uint8Array): Uint8Array {
  return buildIcmpMessage(ICMP_ECHO_REQUEST, 0, ((identifier & 0xffff) * 0x10000 + (sequence & 0xffff)) >>> 0, data);
}

/**
 * The reply to an echo request (RFC 792: "the data received in the echo message must be returned
 * in the echo reply message"): a copy with the type changed to 0. Only the first word changed, so
 * the checksum is updated incrementally (RFC 1624 eqn. 3) instead of summing the whole payload.
 * Throws RangeError if `request` is not an echo request (the caller checks the type first).
 */
export function buildEchoReply(request: Uint8Array): Uint8Array {
  if (request.length < ICMP_HEADER_LENGTH || request[0] !== ICMP_ECHO_REQUEST) {
    throw new RangeError('buildEchoReply: not an ICMP echo request');
  }
  const reply = copyBytes(request);
  const oldWord = readUint16(reply, 0);
  reply[0] = ICMP_ECHO_REPLY;
  const checksum = updateChecksum(readUint16(reply, 2), oldWord, readUint16(reply, 0));
  writeUint16(reply, 2, checksum);
  // Eqn. 3 cannot yield +0 sums: for a reply that is all zero but the checksum (id 0, seq 0,
  // zero payload) it gives 0x0000 where the right value is 0xffff. A result of 0 is rare
  // (1 in 65536), so settle it with a full sum.
  if (checksum === 0) {
    writeUint16(reply, 2, 0);
    writeUint16(reply, 2, internetChecksum(reply));
  }
  return reply;
}

/**
 * An ICMP error about `offendingPacket` (the IP packet as received, header included): the
 * 8-byte header with `restOfHeader` in bytes 4..7 (zero, or e.g. the next-hop MTU in the low 16
 * bits for fragmentation needed, RFC 1191), then the offending packet from its first byte, cut
 * at its total length and at what keeps the IP packet within 576 bytes. Throws RangeError for a
 * packet shorter than an IPv4 header (a caller bug: it was parsed before).
 */
export function buildIcmpError(type: number, code: number, offendingPacket: Uint8Array, restOfHeader = 0): Uint8Array {
  if (offendingPacket.length < IPV4_MIN_HEADER) throw new RangeError('buildIcmpError: offending packet too short');
  const totalLength = readUint16(offendingPacket, 2);
  const available = totalLength >= IPV4_MIN_HEADER && totalLength <= offendingPacket.length ? totalLength : offendingPacket.length;
  return buildIcmpMessage(type, code, restOfHeader, offendingPacket.subarray(0, Math.min(available, MAX_QUOTE)));
}

export interface IcmpErrorQuote {
  protocol: number;
  source: IPv4Address;
  destination: IPv4Address;
  /** First two bytes after the quoted header: the source port for UDP and TCP. */
  sourcePort: number;
  /** Bytes 2..3 after the quoted header: the destination port for UDP and TCP. */
  destinationPort: number;
  /** The quoted bytes after the IP header (a view; TCP reads the sequence number here). */
  transport: Uint8Array;
}

/**
 * Read the datagram quoted in a received Destination Unreachable / Time Exceeded body, so the
 * error can be matched to the socket that sent it. The quoted header's checksum is not checked:
 * routers may have rewritten the quote (NAT), and the fields used here are checked for sanity.
 * Returns undefined when the quote is too short to hold a header and both ports, is not IPv4,
 * or quotes a non-initial fragment (whose data does not start with the ports).
 */
export function parseIcmpErrorQuote(body: Uint8Array): IcmpErrorQuote | undefined {
  if (body.length < IPV4_MIN_HEADER) return undefined;
  const versionIhl = body[0]!;
  if (versionIhl >> 4 !== 4) return undefined;
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER || body.length < headerLength + 4) return undefined;
  if ((readUint16(body, 6) & 0x1fff) !== 0) return undefined;
  return {
    protocol: body[9]!,
    source: readIPv4(body, 12),
    destination: readIPv4(body, 16),
    sourcePort: readUint16(body, headerLength),
    destinationPort: readUint16(body, headerLength + 2),
    transport: body.subarray(headerLength),
  };
}
