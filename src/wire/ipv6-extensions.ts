/**
 * The IPv6 extension header chain (RFC 8200 4.1-4.6), walked from the fixed header to the
 * upper-layer header. Codec only: the IP layer does not use it yet (issue 11).
 *
 * walkIPv6Extensions takes the packet from its first byte, trimmed to its payload length
 * (ipv6.ts's view `packet`), so that every offset it reports, and every Parameter Problem pointer
 * (RFC 4443 3.4: an offset within the invoking packet), counts from the fixed header. It gives
 * the upper-layer protocol and the offset of its header, the fragment header if the packet is a
 * fragment, or a drop reason (counted by the caller) with, where RFC 8200 asks for one, the
 * Parameter Problem to send. Wire input never throws. A caller may skip the walk when the fixed
 * header's Next Header is already TCP, UDP or ICMPv6, the common case.
 *
 * Two modes:
 * - 'process', for a packet addressed to us: options are acted on (RFC 8200 4.2), a routing
 *   header with segments left is refused (4.4; type 0 by RFC 5095 too), a hop-by-hop header is
 *   accepted only right after the fixed header (4.3), and a fragment stops the walk (what
 *   follows is fragment data, walked again after reassembly from `fragment.nextHeader`); an
 *   atomic fragment (offset 0, M clear) is processed as a whole packet (RFC 6946 4).
 * - 'skip', for reading a packet rather than receiving it (the quote in an ICMPv6 error, or the
 *   offending packet of an error we might send): only the structure is followed, and a first
 *   fragment's chain is followed into its data; a non-first fragment stops the walk.
 *
 * Bounds (RFC 8504 5.3 lets a host limit what it processes): at most IPV6_MAX_EXTENSION_HEADERS
 * headers and IPV6_MAX_EXTENSION_BYTES bytes of them, at most IPV6_MAX_OPTIONS options other than
 * padding in one options header, and at most 7 bytes of padding in a row (the most 8-byte
 * alignment needs; Linux's ip6_parse_tlv drops the same).
 */
import { readUint16, readUint32 } from '../bytes.js';
import { PROTOCOL_TCP, PROTOCOL_UDP } from './ipv4.js';
import {
  IPV6_HEADER_LENGTH,
  IPV6_MAX_PAYLOAD_LENGTH,
  IPV6_MIN_MTU,
  NEXT_HEADER_DESTINATION_OPTIONS,
  NEXT_HEADER_FRAGMENT,
  NEXT_HEADER_HOP_BY_HOP,
  NEXT_HEADER_ROUTING,
  PROTOCOL_ICMPV6,
} from './ipv6.js';

/** At most this many extension headers in one packet (a lawful chain has at most 6, RFC 8200 4.1). */
export const IPV6_MAX_EXTENSION_HEADERS = 8;
/**
 * At most this many bytes of extension headers: the chain must fit in a first fragment (RFC
 * 7112 5), and no first fragment on a path of the minimum MTU holds more.
 */
export const IPV6_MAX_EXTENSION_BYTES = IPV6_MIN_MTU - IPV6_HEADER_LENGTH;
/** At most this many options other than padding in one hop-by-hop or destination options header (Linux's default). */
export const IPV6_MAX_OPTIONS = 8;
/** RFC 8200 4.2: the longest run of padding 8-byte alignment needs. */
const MAX_PADDING_RUN = 7;

/** RFC 8200 4.2 option types. */
const OPTION_PAD1 = 0;
const OPTION_PADN = 1;

/** RFC 8200 4.4: the routing type RFC 5095 deprecates (and which we would refuse anyway). */
const ROUTING_TYPE_0 = 0;

/** Parameter Problem codes (RFC 4443 3.4, RFC 7112 5). */
export const PARAMETER_PROBLEM_ERRONEOUS_FIELD = 0;
export const PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER = 1;
export const PARAMETER_PROBLEM_UNRECOGNIZED_OPTION = 2;
export const PARAMETER_PROBLEM_INCOMPLETE_CHAIN = 3;

/** The offset of the Payload Length field in the fixed header (a Parameter Problem pointer). */
const PAYLOAD_LENGTH_FIELD = 4;
/** The fixed header's Next Header field: the pointer for an unrecognised first next header. */
const NEXT_HEADER_FIELD = 6;
const FRAGMENT_HEADER_LENGTH = 8;

/** What a Parameter Problem message (RFC 4443 3.4) about the packet carries. */
export interface ParameterProblem {
  code: number;
  /** Offset in the packet, from the first byte of the fixed header, of the field in error. */
  pointer: number;
}

/** A fragment header (RFC 8200 4.5). */
export interface IPv6Fragment {
  /** Offset of the fragment header in the packet: the length of the unfragmentable part. */
  headerOffset: number;
  /** Where this fragment's data sits in the original packet's fragmentable part, in bytes. */
  fragmentOffset: number;
  moreFragments: boolean;
  identification: number;
  /** The first header of the fragmentable part. */
  nextHeader: number;
}

export type IPv6ExtensionDropReason =
  | 'truncated_extension' // an extension header, or the length it states, runs past the packet
  | 'misplaced_hop_by_hop' // a hop-by-hop header other than right after the fixed header (4.3)
  | 'too_many_extension_headers' // more than IPV6_MAX_EXTENSION_HEADERS
  | 'extension_chain_too_long' // more than IPV6_MAX_EXTENSION_BYTES of extension headers
  | 'bad_option_length' // an option runs past the end of its header
  | 'bad_padding' // more than 7 bytes of Pad1 / PadN in a row
  | 'too_many_options' // more than IPV6_MAX_OPTIONS options besides padding in one header
  | 'unknown_option' // an unrecognised option whose action bits say discard (4.2)
  | 'routing_type_0' // RFC 5095: a type 0 routing header with segments left
  | 'unknown_routing_type' // any other routing header with segments left (4.4): we route nothing
  | 'bad_fragment_length' // M set and the fragment's data not a multiple of 8 bytes (4.5)
  | 'fragment_too_big' // fragment offset + data beyond 65535 bytes (4.5)
  | 'incomplete_first_fragment'; // a first fragment without its whole header chain (RFC 7112 5)

export type IPv6ChainResult =
  | {
      ok: true;
      /** The upper-layer protocol (TCP, UDP, ICMPv6, NEXT_HEADER_NONE, or one we do not know),
       *  or for a fragment the first header of its fragmentable part. */
      protocol: number;
      /** Offset of the upper-layer header, or of a fragment's data. */
      offset: number;
      /** Offset of the Next Header field that named `protocol`: the pointer of a Parameter
       *  Problem, code 1, when the caller does not know the protocol (RFC 8200 4). */
      nextHeaderPointer: number;
      /** Set when the walk stopped at a fragment ('process': any non-atomic fragment; 'skip': a non-first one). */
      fragment: IPv6Fragment | undefined;
      /** An atomic fragment (RFC 6946) was passed on the way. */
      atomicFragment: boolean;
    }
  | {
      ok: false;
      reason: IPv6ExtensionDropReason;
      /** The Parameter Problem RFC 8200 / RFC 4443 / RFC 7112 ask for, if any (subject to shouldSendIcmpv6Error and the rate limit). */
      problem: ParameterProblem | undefined;
    };

export type IPv6WalkMode = 'process' | 'skip';

type Drop = Extract<IPv6ChainResult, { ok: false }>;

function drop(reason: IPv6ExtensionDropReason, problem?: ParameterProblem): Drop {
  return { ok: false, reason, problem };
}

/** Upper-layer header bytes a first fragment must hold (RFC 7112 5; as Linux's ipv6frag_thdr_truncated). */
function upperLayerMinimum(protocol: number): number {
  if (protocol === PROTOCOL_TCP) return 20;
  if (protocol === PROTOCOL_UDP || protocol === PROTOCOL_ICMPV6) return 8;
  return 0;
}

/**
 * RFC 8200 4.2: the options of a hop-by-hop or destination options header spanning
 * [start, end). Pad1 and PadN are skipped; every other option is unrecognised (the stack
 * implements none, Router Alert included) and acted on by its two high-order bits: 00 skip,
 * 01 discard, 10 discard and send a Parameter Problem, code 2, pointing at the option type,
 * 11 the same unless the destination is multicast.
 */
function checkOptions(packet: Uint8Array, start: number, end: number): Drop | undefined {
  const destinationMulticast = packet[24] === 0xff;
  let padding = 0;
  let options = 0;
  let i = start + 2;
  while (i < end) {
    const type = packet[i]!;
    if (type === OPTION_PAD1) {
      if (++padding > MAX_PADDING_RUN) return drop('bad_padding');
      i++;
      continue;
    }
    if (i + 2 > end) return drop('bad_option_length');
    const next = i + 2 + packet[i + 1]!;
    if (next > end) return drop('bad_option_length');
    if (type === OPTION_PADN) {
      padding += next - i;
      if (padding > MAX_PADDING_RUN) return drop('bad_padding');
      i = next;
      continue;
    }
    padding = 0;
    if (++options > IPV6_MAX_OPTIONS) return drop('too_many_options');
    const action = type >>> 6;
    if (action === 1) return drop('unknown_option');
    if (action === 2 || (action === 3 && !destinationMulticast)) {
      return drop('unknown_option', { code: PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, pointer: i });
    }
    if (action === 3) return drop('unknown_option');
    i = next;
  }
  return undefined;
}

/**
 * RFC 8200 4.5, on a fragment that is not atomic: the checks of its length and of the
 * reassembled payload length it implies, and
 * (RFC 7112 5) that a first fragment holds the whole header chain.
 */
function checkFragment(packet: Uint8Array, offset: number, fragment: IPv6Fragment, headersSoFar: number): Drop | undefined {
  const dataOffset = offset + FRAGMENT_HEADER_LENGTH;
  const dataLength = packet.length - dataOffset;
  if (fragment.moreFragments && dataLength % 8 !== 0) {
    return drop('bad_fragment_length', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: PAYLOAD_LENGTH_FIELD });
  }
  // The reassembled payload: the unfragmentable extension headers, then the fragmentable part.
  if (offset - IPV6_HEADER_LENGTH + fragment.fragmentOffset + dataLength > IPV6_MAX_PAYLOAD_LENGTH) {
    return drop('fragment_too_big', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: offset + 2 });
  }
  if (fragment.fragmentOffset !== 0) return undefined;
  const rest = walk(packet, fragment.nextHeader, dataOffset, offset, 'skip', headersSoFar);
  if (rest.ok && rest.fragment === undefined && packet.length - rest.offset >= upperLayerMinimum(rest.protocol)) return undefined;
  if (!rest.ok && rest.reason !== 'truncated_extension') return rest;
  return drop('incomplete_first_fragment', { code: PARAMETER_PROBLEM_INCOMPLETE_CHAIN, pointer: 0 });
}

function walk(
  packet: Uint8Array,
  firstNextHeader: number,
  firstOffset: number,
  firstPointer: number,
  mode: IPv6WalkMode,
  headersBefore: number,
): IPv6ChainResult {
  let nextHeader = firstNextHeader;
  let offset = firstOffset;
  let nextHeaderPointer = firstPointer;
  let headers = headersBefore;
  let atomicFragment = false;
  for (;;) {
    let length: number;
    if (nextHeader === NEXT_HEADER_FRAGMENT) {
      length = FRAGMENT_HEADER_LENGTH;
    } else if (
      nextHeader === NEXT_HEADER_HOP_BY_HOP ||
      nextHeader === NEXT_HEADER_DESTINATION_OPTIONS ||
      nextHeader === NEXT_HEADER_ROUTING
    ) {
      // RFC 8200 4.3-4.4, 4.6: Hdr Ext Len counts 8-byte units after the first 8 bytes.
      if (offset + 2 > packet.length) return drop('truncated_extension');
      length = (packet[offset + 1]! + 1) * 8;
    } else {
      return { ok: true, protocol: nextHeader, offset, nextHeaderPointer, fragment: undefined, atomicFragment };
    }
    if (++headers > IPV6_MAX_EXTENSION_HEADERS) return drop('too_many_extension_headers');
    if (offset + length > packet.length) return drop('truncated_extension');
    if (offset + length - IPV6_HEADER_LENGTH > IPV6_MAX_EXTENSION_BYTES) return drop('extension_chain_too_long');
    if (mode === 'process') {
      if (nextHeader === NEXT_HEADER_HOP_BY_HOP && offset !== IPV6_HEADER_LENGTH) {
        // RFC 8200 4.3: only right after the fixed header; elsewhere it is an unrecognised Next Header.
        return drop('misplaced_hop_by_hop', { code: PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER, pointer: nextHeaderPointer });
      }
      if (nextHeader === NEXT_HEADER_HOP_BY_HOP || nextHeader === NEXT_HEADER_DESTINATION_OPTIONS) {
        const problem = checkOptions(packet, offset, offset + length);
        if (problem !== undefined) return problem;
      }
      if (nextHeader === NEXT_HEADER_ROUTING && packet[offset + 3] !== 0) {
        // RFC 8200 4.4 with segments left: we implement no routing type (RFC 5095 3 for type 0),
        // so the packet is discarded with a Parameter Problem pointing at the Routing Type.
        const reason = packet[offset + 2] === ROUTING_TYPE_0 ? 'routing_type_0' : 'unknown_routing_type';
        return drop(reason, { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: offset + 2 });
      }
    }
    if (nextHeader === NEXT_HEADER_FRAGMENT) {
      const offsetFlags = readUint16(packet, offset + 2);
      const fragment: IPv6Fragment = {
        headerOffset: offset,
        fragmentOffset: offsetFlags & 0xfff8,
        moreFragments: (offsetFlags & 1) !== 0,
        identification: readUint32(packet, offset + 4),
        nextHeader: packet[offset]!,
      };
      const atomic = fragment.fragmentOffset === 0 && !fragment.moreFragments;
      if (atomic) {
        atomicFragment = true;
      } else if (mode === 'process') {
        const problem = checkFragment(packet, offset, fragment, headers);
        if (problem !== undefined) return problem;
        return { ok: true, protocol: fragment.nextHeader, offset: offset + length, nextHeaderPointer: offset, fragment, atomicFragment };
      } else if (fragment.fragmentOffset !== 0) {
        return { ok: true, protocol: fragment.nextHeader, offset: offset + length, nextHeaderPointer: offset, fragment, atomicFragment };
      }
    }
    nextHeaderPointer = offset;
    nextHeader = packet[offset]!;
    offset += length;
  }
}

/**
 * Walk the extension headers of `packet` (from its first byte, trimmed to 40 + payload length)
 * from `nextHeader` at `offset`: by default the fixed header's Next Header and the byte after the
 * fixed header. After reassembly a caller resumes at the fragment header's offset with
 * `fragment.nextHeader`, giving that header's offset as `nextHeaderPointer`.
 */
export function walkIPv6Extensions(
  packet: Uint8Array,
  mode: IPv6WalkMode = 'process',
  nextHeader = packet[NEXT_HEADER_FIELD] ?? 0,
  offset = IPV6_HEADER_LENGTH,
  nextHeaderPointer = NEXT_HEADER_FIELD,
): IPv6ChainResult {
  if (packet.length < offset) return drop('truncated_extension');
  return walk(packet, nextHeader, offset, nextHeaderPointer, mode, 0);
}
