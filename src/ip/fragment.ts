/**
 * Outgoing fragmentation for both families. IPv4: RFC 791 section 3.2 below; IPv6: RFC 8200
 * 4.5, fragmentIPv6Packet at the end.
 *
 * IPv4: outgoing fragmentation (RFC 791 section 3.2, "Fragmentation and Reassembly", and the
 * fragmentation procedure in section 3.2's example algorithm). Packets are written with the
 * IPv4 codec (src/wire/ipv4.ts), which also holds the MTU range and the largest datagram.
 *
 * Every fragment is a complete IPv4 packet with a 20-byte header: the same identification,
 * source, destination, protocol, TOS and TTL as the original; the data of every fragment but the
 * last is a multiple of 8 bytes because the offset field counts 8-byte units; MF is set on all
 * but the last fragment (and on the last too when the datagram being split was itself a
 * non-final fragment, so that refragmenting a fragment keeps the original's meaning).
 */
import { writeUint16, writeUint32 } from '../bytes.js';
import {
  headerFieldsOf,
  IPV4_MAX_DATAGRAM,
  IPV4_MIN_HEADER,
  IPV4_MIN_MTU,
  ipv4PacketLength,
  parseIPv4Packet,
  writeIPv4Header,
  type IPv4HeaderFields,
} from '../wire/ipv4.js';
import { IPV6_HEADER_LENGTH, IPV6_MIN_MTU, NEXT_HEADER_FRAGMENT } from '../wire/ipv6.js';

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > IPV4_MAX_DATAGRAM) {
    throw new RangeError(`MTU must be an integer in ${IPV4_MIN_MTU}..${IPV4_MAX_DATAGRAM}, got ${mtu}`);
  }
}

/**
 * Build the packets that carry `payload` over a link of `mtu` bytes. `fields.payloadLength` is
 * ignored: the payload's own length is used. A datagram that fits goes out as one packet.
 *
 * Throws RangeError when the datagram does not fit and `fields.dontFragment` is set (the stack
 * turns that into EMSGSIZE), when the whole datagram would exceed 65535 bytes, or for an MTU
 * outside 68..65535.
 */
export function fragmentDatagram(fields: IPv4HeaderFields, payload: Uint8Array, mtu: number): Uint8Array[] {
  checkMtu(mtu);
  const baseOffset = fields.fragmentOffset ?? 0;
  if (ipv4PacketLength(baseOffset + payload.length) > IPV4_MAX_DATAGRAM) {
    throw new RangeError(`IPv4 datagram of ${ipv4PacketLength(baseOffset + payload.length)} bytes exceeds ${IPV4_MAX_DATAGRAM}`);
  }
  if (ipv4PacketLength(payload.length) <= mtu) {
    const packet = new Uint8Array(ipv4PacketLength(payload.length));
    writeIPv4Header(packet, 0, { ...fields, payloadLength: payload.length });
    packet.set(payload, IPV4_MIN_HEADER);
    return [packet];
  }
  if (fields.dontFragment) {
    throw new RangeError(`datagram of ${ipv4PacketLength(payload.length)} bytes exceeds MTU ${mtu} and Don't Fragment is set`);
  }
  // Largest multiple of 8 that fits after the header (RFC 791: NFB, the number of fragment blocks).
  const maxData = ((mtu - IPV4_MIN_HEADER) >> 3) << 3;
  const lastFragmentHasMore = fields.moreFragments ?? false;
  const packets: Uint8Array[] = [];
  for (let start = 0; start < payload.length; start += maxData) {
    const length = Math.min(maxData, payload.length - start);
    const isLast = start + length === payload.length;
    const packet = new Uint8Array(ipv4PacketLength(length));
    writeIPv4Header(packet, 0, {
      ...fields,
      payloadLength: length,
      fragmentOffset: baseOffset + start,
      moreFragments: isLast ? lastFragmentHasMore : true,
    });
    packet.set(payload.subarray(start, start + length), IPV4_MIN_HEADER);
    packets.push(packet);
  }
  return packets;
}

/**
 * Split an already-built packet (a valid 20-byte header at offset 0, as the stack writes them)
 * into packets of at most `mtu` bytes. A packet that already fits is returned as is (not copied).
 * Bytes after the header's total length are ignored.
 *
 * Throws RangeError for a packet that is not a valid option-less IPv4 packet (a caller bug: the
 * stack built it), for DF set on a packet larger than the MTU, or for an MTU outside 68..65535.
 */
export function fragmentPacket(packet: Uint8Array, mtu: number): Uint8Array[] {
  checkMtu(mtu);
  const parsed = parseIPv4Packet(packet);
  if (!parsed.ok) throw new RangeError(`fragmentPacket: not a valid IPv4 packet (${parsed.reason})`);
  const { header, payload } = parsed;
  if (header.headerLength !== IPV4_MIN_HEADER) {
    // Options would need the copy-flag rule of RFC 791 3.1; the stack never sends options.
    throw new RangeError('fragmentPacket: packets with IP options are not supported');
  }
  if (header.totalLength <= mtu) return [packet];
  return fragmentDatagram(headerFieldsOf(header, payload.length), payload, mtu);
}

/** RFC 8200 4.5: the Fragment header. */
const IPV6_FRAGMENT_HEADER_LENGTH = 8;

/**
 * RFC 8200 4.5: split an IPv6 packet the stack built (the 40-byte fixed header with the
 * upper-layer protocol as its Next Header, no extension headers: the whole payload is the
 * fragmentable part) into fragments of at most `mtu` bytes. Each is the fixed header (Next
 * Header 44, its own Payload Length), a Fragment header (the upper-layer protocol, the offset in
 * 8-byte units, M on all but the last, `identification`) and a piece of the payload whose length
 * is a multiple of 8 except in the last. Fresh buffers. A packet that fits is returned as is.
 *
 * Throws RangeError for an MTU below 1280 or above 65575 (a caller bug: the stack refuses IPv6
 * on smaller links) or a packet shorter than its header.
 */
export function fragmentIPv6Packet(packet: Uint8Array, mtu: number, identification: number): Uint8Array[] {
  if (!Number.isInteger(mtu) || mtu < IPV6_MIN_MTU || mtu > IPV6_HEADER_LENGTH + 0xffff) {
    throw new RangeError(`IPv6 MTU must be an integer in ${IPV6_MIN_MTU}..${IPV6_HEADER_LENGTH + 0xffff}, got ${mtu}`);
  }
  if (packet.length < IPV6_HEADER_LENGTH) throw new RangeError('fragmentIPv6Packet: not an IPv6 packet');
  if (packet.length <= mtu) return [packet];
  const nextHeader = packet[6]!;
  const payload = packet.subarray(IPV6_HEADER_LENGTH);
  const maxData = ((mtu - IPV6_HEADER_LENGTH - IPV6_FRAGMENT_HEADER_LENGTH) >> 3) << 3;
  const fragments: Uint8Array[] = [];
  for (let start = 0; start < payload.length; start += maxData) {
    const length = Math.min(maxData, payload.length - start);
    const more = start + length < payload.length;
    const fragment = new Uint8Array(IPV6_HEADER_LENGTH + IPV6_FRAGMENT_HEADER_LENGTH + length);
    fragment.set(packet.subarray(0, IPV6_HEADER_LENGTH), 0);
    writeUint16(fragment, 4, IPV6_FRAGMENT_HEADER_LENGTH + length);
    fragment[6] = NEXT_HEADER_FRAGMENT;
    const at = IPV6_HEADER_LENGTH;
    fragment[at] = nextHeader;
    fragment[at + 1] = 0;
    // The offset in 8-byte units fills the top 13 bits: start is a multiple of 8 already.
    writeUint16(fragment, at + 2, start | (more ? 1 : 0));
    writeUint32(fragment, at + 4, identification >>> 0);
    fragment.set(payload.subarray(start, start + length), at + IPV6_FRAGMENT_HEADER_LENGTH);
    fragments.push(fragment);
  }
  return fragments;
}
