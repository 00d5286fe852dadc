/**
 * ICMPv6 (RFC 4443) message codec: echo request and reply, the four error messages with their
 * quoted packet, and the rules of RFC 4443 2.4 (e) on which packets never draw an error. Codec
 * only: the IP layer does not use it yet (issue 11); how often errors may be sent stays the IP
 * layer's (src/ip/icmp-errors.ts's token bucket, RFC 4443 2.4 (f)).
 *
 * ICMPv6 messages have ICMP's 8-byte header layout, so the view, the record and the writer are
 * icmpv4.ts's; what differs is that the checksum also covers the IPv6 pseudo-header (RFC 4443
 * 2.3, RFC 8200 8.1), so every function that checks or writes one takes the packet's source and
 * destination:
 * - checkIcmpv6Message: length and checksum checks, giving a checked view or a drop reason;
 * - parseIcmpv6Message: the same checks, giving the plain record;
 * - writeIcmpv6Message into a caller's buffer at an offset, sized by icmpMessageLength;
 * - encodeIcmpv6Message, encodeIcmpv6EchoRequest, encodeIcmpv6EchoReply, encodeIcmpv6Error:
 *   allocating conveniences with optional headroom for the IPv6 header.
 * parseIcmpv6ErrorQuote reads the packet an error quotes with the IPv6 view in 'quoted' mode and
 * the extension walk in 'skip' mode.
 */
import { readUint16, writeUint16 } from '../bytes.js';
import { isIPv6Multicast, IPV6_UNSPECIFIED, type IPv6Address } from './address6.js';
import { finishChecksum, ipv6PseudoHeaderSum, partialChecksum, sumWords, updateChecksum, type ChecksumCheck } from './checksum.js';
import { ICMP_HEADER_LENGTH, icmpMessageLength, IcmpMessageView, readIcmpMessage, writeIcmpMessage, type IcmpMessage } from './icmpv4.js';
import { checkIPv6Packet, IPV6_HEADER_LENGTH, IPV6_MIN_MTU, PROTOCOL_ICMPV6 } from './ipv6.js';
import { PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, walkIPv6Extensions } from './ipv6-extensions.js';

/** Message types (RFC 4443 2.1): below 128 errors, from 128 on informational. */
export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
/** RFC 4861 8: never answered with an error (RFC 4443 2.4 (e.2)). */
export const ICMPV6_REDIRECT = 137;
const INFORMATIONAL_TYPES = 128;

/** Destination Unreachable codes (RFC 4443 3.1). */
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADMINISTRATIVELY_PROHIBITED = 1;
export const ICMPV6_BEYOND_SCOPE = 2;
export const ICMPV6_ADDRESS_UNREACHABLE = 3;
export const ICMPV6_PORT_UNREACHABLE = 4;
export const ICMPV6_SOURCE_POLICY_FAILED = 5;
export const ICMPV6_REJECT_ROUTE = 6;

/** Time Exceeded codes (RFC 4443 3.3). */
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
export const ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED = 1;

/**
 * RFC 4443 2.4 (c): an error carries as much of the invoking packet as fits without the error
 * packet exceeding the minimum IPv6 MTU. We send errors without extension headers.
 */
export const ICMPV6_ERROR_MAX_PACKET = IPV6_MIN_MTU;
const MAX_QUOTE = ICMPV6_ERROR_MAX_PACKET - IPV6_HEADER_LENGTH - ICMP_HEADER_LENGTH;
/** The quoted transport bytes an error must hold to be matched to a socket: both ports. */
const QUOTED_PORT_BYTES = 4;

export type Icmpv6DropReason =
  | 'truncated' // fewer than 8 bytes
  | 'bad_checksum'; // the checksum over the pseudo-header and the message does not verify (RFC 4443 2.3)

export type Icmpv6CheckResult = { ok: true; view: IcmpMessageView } | { ok: false; reason: Icmpv6DropReason };
export type Icmpv6ParseResult = { ok: true; message: IcmpMessage } | { ok: false; reason: Icmpv6DropReason };

function dropReason(
  message: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  check: ChecksumCheck,
): Icmpv6DropReason | undefined {
  if (message.length < ICMP_HEADER_LENGTH) return 'truncated';
  if (check === 'trusted') return undefined;
  const sum = sumWords(message, 0, message.length, ipv6PseudoHeaderSum(source, destination, PROTOCOL_ICMPV6, message.length));
  if (finishChecksum(sum) !== 0) return 'bad_checksum';
  return undefined;
}

/** Check the upper-layer bytes `message`; `source` and `destination` are the IPv6 packet's, which the checksum covers. */
export function checkIcmpv6Message(
  message: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  checksum: ChecksumCheck = 'verify',
): Icmpv6CheckResult {
  const reason = dropReason(message, source, destination, checksum);
  return reason === undefined ? { ok: true, view: new IcmpMessageView(message) } : { ok: false, reason };
}

/** Check a message and read it into a record (the view's fields in one go, without a view object). */
export function parseIcmpv6Message(
  message: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  checksum: ChecksumCheck = 'verify',
): Icmpv6ParseResult {
  const reason = dropReason(message, source, destination, checksum);
  if (reason !== undefined) return { ok: false, reason };
  return { ok: true, message: readIcmpMessage(message) };
}

/**
 * Write a message at `offset`: the 8-byte header (type, code, checksum, `restOfHeader` in bytes
 * 4..7) then `body`, with the checksum over the pseudo-header of `source` and `destination`.
 * Returns the bytes written.
 */
export function writeIcmpv6Message(
  buffer: Uint8Array,
  offset: number,
  type: number,
  code: number,
  restOfHeader: number,
  body: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
): number {
  const pseudoHeader = ipv6PseudoHeaderSum(source, destination, PROTOCOL_ICMPV6, icmpMessageLength(body.length));
  return writeIcmpMessage(buffer, offset, type, code, restOfHeader, body, pseudoHeader);
}

/** A new buffer of `headroom` bytes (left zero, for the IPv6 header) followed by the message. */
export function encodeIcmpv6Message(
  type: number,
  code: number,
  restOfHeader: number,
  body: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  headroom = 0,
): Uint8Array {
  const buffer = new Uint8Array(headroom + icmpMessageLength(body.length));
  writeIcmpv6Message(buffer, headroom, type, code, restOfHeader, body, source, destination);
  return buffer;
}

/** An echo request (RFC 4443 4.1), for tests and anything that pings. */
export function encodeIcmpv6EchoRequest(
  identifier: number,
  sequence: number,
  data: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  headroom = 0,
): Uint8Array {
  const restOfHeader = ((identifier & 0xffff) * 0x10000 + (sequence & 0xffff)) >>> 0;
  return encodeIcmpv6Message(ICMPV6_ECHO_REQUEST, 0, restOfHeader, data, source, destination, headroom);
}

function addressSum(address: IPv6Address): number {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += address.charCodeAt(i);
  return sum;
}

/**
 * The reply (RFC 4443 4.2: identifier, sequence and data of the request) to the echo request
 * `request` that was sent to `requestDestination`; the reply goes from `replySource` back to the
 * request's source, after `headroom` zero bytes. `replySource` is the request's destination for
 * a unicast request, and one of our addresses for a multicast one (RFC 4443 2.2). Only the type
 * word and one pseudo-header address change, so the checksum is updated incrementally (RFC 1624
 * eqn. 3 with the sums of the changed words) instead of summing the data: an ICMPv6 sum always
 * includes the nonzero next header, so eqn. 3's one weakness, an all-zero message, cannot arise.
 * Throws RangeError if `request` is not an echo request (the caller checks the type first).
 */
export function encodeIcmpv6EchoReply(
  request: Uint8Array,
  requestDestination: IPv6Address,
  replySource: IPv6Address,
  headroom = 0,
): Uint8Array {
  if (request.length < ICMP_HEADER_LENGTH || request[0] !== ICMPV6_ECHO_REQUEST) {
    throw new RangeError('encodeIcmpv6EchoReply: not an ICMPv6 echo request');
  }
  const buffer = new Uint8Array(headroom + request.length);
  buffer.set(request, headroom);
  const reply = buffer.subarray(headroom);
  const oldSum = readUint16(reply, 0) + addressSum(requestDestination);
  reply[0] = ICMPV6_ECHO_REPLY;
  const newSum = readUint16(reply, 0) + addressSum(replySource);
  writeUint16(reply, 2, updateChecksum(readUint16(reply, 2), partialChecksum(oldSum), partialChecksum(newSum)));
  return buffer;
}

/**
 * An ICMPv6 error about `offendingPacket` (the IPv6 packet as received, from its first byte)
 * from `source` to `destination` (the offending packet's source): the 8-byte header with
 * `restOfHeader` in bytes 4..7 (zero; the MTU for Packet Too Big; the pointer for Parameter
 * Problem), then the offending packet cut at its payload length and at what keeps the error
 * within 1280 bytes (RFC 4443 2.4 (c)); after `headroom` zero bytes. Throws RangeError for a
 * packet shorter than an IPv6 header (a caller bug: it was parsed before).
 */
export function encodeIcmpv6Error(
  type: number,
  code: number,
  restOfHeader: number,
  offendingPacket: Uint8Array,
  source: IPv6Address,
  destination: IPv6Address,
  headroom = 0,
): Uint8Array {
  if (offendingPacket.length < IPV6_HEADER_LENGTH) throw new RangeError('encodeIcmpv6Error: offending packet too short');
  const packetLength = Math.min(IPV6_HEADER_LENGTH + readUint16(offendingPacket, 4), offendingPacket.length);
  const quote = offendingPacket.subarray(0, Math.min(packetLength, MAX_QUOTE));
  return encodeIcmpv6Message(type, code, restOfHeader, quote, source, destination, headroom);
}

export interface Icmpv6ErrorQuote {
  /** The quoted packet's upper-layer protocol, found past its extension headers. */
  protocol: number;
  source: IPv6Address;
  destination: IPv6Address;
  /** The quoted header's Payload Length: the size of the packet the error is about, less 40. */
  payloadLength: number;
  /** First two bytes of the upper-layer header: the source port for UDP and TCP. */
  sourcePort: number;
  /** Bytes 2..3 of the upper-layer header: the destination port for UDP and TCP. */
  destinationPort: number;
  /** The quoted bytes from the upper-layer header on (a view; TCP reads the sequence number here). */
  transport: Uint8Array;
}

/**
 * Read the packet quoted in a received error's body, so the error can be matched to the socket
 * that sent it. The quote may be cut anywhere after the fixed header (RFC 4443 2.4 (c)), so the
 * IPv6 view checks it in 'quoted' mode and its extension headers are only skipped. Returns
 * undefined when the quote is not IPv6, its header chain is cut or malformed, it quotes a
 * non-first fragment (whose data does not start with the ports), or it is too short to hold both
 * ports.
 */
export function parseIcmpv6ErrorQuote(body: Uint8Array): Icmpv6ErrorQuote | undefined {
  const checked = checkIPv6Packet(body, 'quoted');
  if (!checked.ok) return undefined;
  const quoted = checked.view;
  const chain = walkIPv6Extensions(quoted.packet, 'skip');
  if (!chain.ok || chain.fragment !== undefined) return undefined;
  const transport = quoted.packet.subarray(chain.offset);
  if (transport.length < QUOTED_PORT_BYTES) return undefined;
  return {
    protocol: chain.protocol,
    source: quoted.source,
    destination: quoted.destination,
    payloadLength: quoted.payloadLength,
    sourcePort: readUint16(transport, 0),
    destinationPort: readUint16(transport, 2),
    transport,
  };
}

/**
 * May the error `type` / `code` be sent about `offendingPacket` (from its first byte)? RFC 4443
 * 2.4 (e): never about
 * - (e.1, e.2) an ICMPv6 error message or a Redirect: the upper-layer header is found past the
 *   extension headers ('skip' walk); an ICMPv6 packet cut before its type stays unanswered. A
 *   packet whose chain cannot be walked (the very thing a Parameter Problem reports) or a
 *   non-first fragment cannot be shown to be an error and may be answered, as Linux does;
 * - (e.3) a packet to a multicast address, except Packet Too Big, and Parameter Problem code 2
 *   about an option whose type has the high-order bits 10 (`pointer` is the option's offset, as
 *   the walk gave it; the walk already withholds the problem for bits 11 to multicast);
 * - (e.6) a packet whose source is not a single node: the unspecified address, or multicast.
 * (e.4, e.5), link-layer multicast and broadcast, do not arise on a TUN device, which has no
 * link layer. Whether the source is a martian is the IP layer's filter (address6.ts), run
 * before any error is considered.
 */
export function shouldSendIcmpv6Error(offendingPacket: Uint8Array, type: number, code: number, pointer = 0): boolean {
  const checked = checkIPv6Packet(offendingPacket, 'quoted');
  if (!checked.ok) return false;
  const offending = checked.view;
  const source = offending.source;
  if (source === IPV6_UNSPECIFIED || isIPv6Multicast(source)) return false;
  if (isIPv6Multicast(offending.destination)) {
    const optionBits10 =
      type === ICMPV6_PARAMETER_PROBLEM && code === PARAMETER_PROBLEM_UNRECOGNIZED_OPTION && (offendingPacket[pointer] ?? 0) >>> 6 === 2;
    if (type !== ICMPV6_PACKET_TOO_BIG && !optionBits10) return false;
  }
  const packet = offending.packet;
  const chain = walkIPv6Extensions(packet, 'skip');
  if (chain.ok && chain.fragment === undefined && chain.protocol === PROTOCOL_ICMPV6) {
    const offendingType = packet[chain.offset];
    if (offendingType === undefined || offendingType < INFORMATIONAL_TYPES || offendingType === ICMPV6_REDIRECT) return false;
  }
  return true;
}
