/**
 * ICMP for IPv4 (RFC 792) message codec: echo request and reply, and error messages with their
 * quoted datagram. When an error may be sent, and how often, is the IP layer's
 * (src/ip/icmp-errors.ts).
 *
 * The same parts as every codec in src/wire, on ICMP message bytes (what follows the IP header):
 * - checkIcmpMessage: length and checksum checks, giving a checked IcmpMessageView or a drop
 *   reason (never a throw on wire input);
 * - parseIcmpMessage: the same checks, giving the plain IcmpMessage record;
 * - writeIcmpMessage into a caller's buffer at an offset (returns the bytes written), sized by
 *   icmpMessageLength;
 * - encodeIcmpMessage, encodeEchoRequest, encodeEchoReply, encodeIcmpError: allocating
 *   conveniences with optional headroom for the IPv4 header, built on writeIcmpMessage (the echo
 *   reply is a copy of the request with an incremental checksum update instead).
 * parseIcmpErrorQuote reads the datagram an error quotes with the IPv4 view in 'quoted' mode.
 */
import { readUint16, readUint32, writeUint16, writeUint32 } from '../bytes.js';
import type { IPv4Address } from './address.js';
import { internetChecksum, updateChecksum } from './checksum.js';
import { checkIPv4Packet, IPV4_MIN_HEADER } from './ipv4.js';

/** The 8-byte header ICMP (RFC 792) and ICMPv6 (RFC 4443 2.1, icmpv6.ts) share: type, code, checksum, 4 more bytes. */
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
/** The quoted transport bytes an error must hold to be matched to a socket: both ports. */
const QUOTED_PORT_BYTES = 4;

/** An ICMP or ICMPv6 message read into a record (the two share the header layout). */
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

type IcmpDropReason =
  | 'truncated' // fewer than 8 bytes
  | 'bad_checksum'; // the checksum over the whole message does not verify (RFC 792)

/** A message that passed checkIcmpMessage (or icmpv6.ts's checkIcmpv6Message); the accessors read the bytes in place. */
export class IcmpMessageView {
  constructor(readonly bytes: Uint8Array) {}

  get type(): number {
    return this.bytes[0]!;
  }
  get code(): number {
    return this.bytes[1]!;
  }
  get checksum(): number {
    return readUint16(this.bytes, 2);
  }
  get identifier(): number {
    return readUint16(this.bytes, 4);
  }
  get sequence(): number {
    return readUint16(this.bytes, 6);
  }
  get restOfHeader(): number {
    return readUint32(this.bytes, 4);
  }
  get body(): Uint8Array {
    return this.bytes.subarray(ICMP_HEADER_LENGTH);
  }
}

export type IcmpCheckResult = { ok: true; view: IcmpMessageView } | { ok: false; reason: IcmpDropReason };
export type IcmpParseResult = { ok: true; message: IcmpMessage } | { ok: false; reason: IcmpDropReason };

/** The checksum covers the whole message (RFC 792). */
function dropReason(message: Uint8Array): IcmpDropReason | undefined {
  if (message.length < ICMP_HEADER_LENGTH) return 'truncated';
  if (internetChecksum(message) !== 0) return 'bad_checksum';
  return undefined;
}

export function checkIcmpMessage(message: Uint8Array): IcmpCheckResult {
  const reason = dropReason(message);
  return reason === undefined ? { ok: true, view: new IcmpMessageView(message) } : { ok: false, reason };
}

/** The record of a checked message of at least 8 bytes: the view's fields in one go, without a view object. */
export function readIcmpMessage(message: Uint8Array): IcmpMessage {
  return {
    type: message[0]!,
    code: message[1]!,
    identifier: readUint16(message, 4),
    sequence: readUint16(message, 6),
    restOfHeader: readUint32(message, 4),
    body: message.subarray(ICMP_HEADER_LENGTH),
  };
}

/** Check a message and read it into a record. */
export function parseIcmpMessage(message: Uint8Array): IcmpParseResult {
  const reason = dropReason(message);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, message: readIcmpMessage(message) };
}

/** Bytes writeIcmpMessage writes for a body of `bodyLength` bytes. */
export function icmpMessageLength(bodyLength: number): number {
  return ICMP_HEADER_LENGTH + bodyLength;
}

/**
 * Write a message at `offset`: the 8-byte header (type, code, checksum, `restOfHeader` in bytes
 * 4..7) then `body`, with the checksum computed. Returns the bytes written. `pseudoHeaderSum` is
 * 0 for ICMP; ICMPv6 passes the sum of its pseudo-header (RFC 4443 2.3, icmpv6.ts).
 */
export function writeIcmpMessage(
  buffer: Uint8Array,
  offset: number,
  type: number,
  code: number,
  restOfHeader: number,
  body: Uint8Array,
  pseudoHeaderSum = 0,
): number {
  const length = icmpMessageLength(body.length);
  buffer[offset] = type;
  buffer[offset + 1] = code;
  writeUint16(buffer, offset + 2, 0);
  writeUint32(buffer, offset + 4, restOfHeader >>> 0);
  buffer.set(body, offset + ICMP_HEADER_LENGTH);
  writeUint16(buffer, offset + 2, internetChecksum(buffer, offset, length, pseudoHeaderSum));
  return length;
}

/** A new buffer of `headroom` bytes (left zero, for the IPv4 header) followed by the message. */
export function encodeIcmpMessage(type: number, code: number, restOfHeader: number, body: Uint8Array, headroom = 0): Uint8Array {
  const buffer = new Uint8Array(headroom + icmpMessageLength(body.length));
  writeIcmpMessage(buffer, headroom, type, code, restOfHeader, body);
  return buffer;
}

/** An echo request (used by tests and by anything that pings). */
export function encodeEchoRequest(identifier: number, sequence: number, data: Uint8Array, headroom = 0): Uint8Array {
  return encodeIcmpMessage(ICMP_ECHO_REQUEST, 0, ((identifier & 0xffff) * 0x10000 + (sequence & 0xffff)) >>> 0, data, headroom);
}

/**
 * The reply to an echo request (RFC 792: "the data received in the echo message must be returned
 * in the echo reply message"): a copy with the type changed to 0, after `headroom` zero bytes.
 * Only the first word changed, so the checksum is updated incrementally (RFC 1624 eqn. 3)
 * instead of summing the whole payload. Throws RangeError if `request` is not an echo request
 * (the caller checks the type first).
 */
export function encodeEchoReply(request: Uint8Array, headroom = 0): Uint8Array {
  if (request.length < ICMP_HEADER_LENGTH || request[0] !== ICMP_ECHO_REQUEST) {
    throw new RangeError('encodeEchoReply: not an ICMP echo request');
  }
  const buffer = new Uint8Array(headroom + request.length);
  buffer.set(request, headroom);
  const reply = buffer.subarray(headroom);
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
  return buffer;
}

/**
 * An ICMP error about `offendingPacket` (the IP packet as received, header included): the
 * 8-byte header with `restOfHeader` in bytes 4..7 (zero, or e.g. the next-hop MTU in the low 16
 * bits for fragmentation needed, RFC 1191), then the offending packet from its first byte, cut
 * at its total length and at what keeps the IP packet within 576 bytes; after `headroom` zero
 * bytes. Throws RangeError for a packet shorter than an IPv4 header (a caller bug: it was parsed
 * before).
 */
export function encodeIcmpError(type: number, code: number, offendingPacket: Uint8Array, restOfHeader = 0, headroom = 0): Uint8Array {
  if (offendingPacket.length < IPV4_MIN_HEADER) throw new RangeError('encodeIcmpError: offending packet too short');
  const totalLength = readUint16(offendingPacket, 2);
  const available = totalLength >= IPV4_MIN_HEADER && totalLength <= offendingPacket.length ? totalLength : offendingPacket.length;
  return encodeIcmpMessage(type, code, restOfHeader, offendingPacket.subarray(0, Math.min(available, MAX_QUOTE)), headroom);
}

export interface IcmpErrorQuote {
  protocol: number;
  source: IPv4Address;
  destination: IPv4Address;
  /** The quoted header's Total Length: the size of the datagram the error is about (RFC 1191 section 5). */
  totalLength: number;
  /** The quoted header's DF flag: fragmentation needed is only ever about a DF datagram (RFC 1191 section 4). */
  dontFragment: boolean;
  /** First two bytes after the quoted header: the source port for UDP and TCP. */
  sourcePort: number;
  /** Bytes 2..3 after the quoted header: the destination port for UDP and TCP. */
  destinationPort: number;
  /** The quoted bytes after the IP header (a view; TCP reads the sequence number here). */
  transport: Uint8Array;
}

/**
 * Read the datagram quoted in a received Destination Unreachable / Time Exceeded body, so the
 * error can be matched to the socket that sent it. The quote is checked by the IPv4 view in
 * 'quoted' mode: its checksum is not checked (routers may have rewritten the quote, NAT) and it
 * may be cut after its first transport bytes. Returns undefined when the quote is too short to
 * hold a header and both ports, is not IPv4, or quotes a non-initial fragment (whose data does
 * not start with the ports).
 */
export function parseIcmpErrorQuote(body: Uint8Array): IcmpErrorQuote | undefined {
  const checked = checkIPv4Packet(body, 'quoted');
  if (!checked.ok) return undefined;
  const quoted = checked.view;
  const transport = quoted.payload;
  if (transport.length < QUOTED_PORT_BYTES || quoted.fragmentOffset !== 0) return undefined;
  return {
    protocol: quoted.protocol,
    source: quoted.source,
    destination: quoted.destination,
    totalLength: quoted.totalLength,
    dontFragment: quoted.dontFragment,
    sourcePort: readUint16(transport, 0),
    destinationPort: readUint16(transport, 2),
    transport,
  };
}
