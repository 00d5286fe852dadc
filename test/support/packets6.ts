/**
 * IPv6 packet builders for tests, built on the codecs' encode and write functions (src/wire), as
 * packets.ts is for IPv4. ipv6-packets.ts builds IPv6 bytes by hand instead, for tests whose
 * point is independence from the IPv6 codec.
 */
import type { IPv6Address } from '../../src/wire/address6.js';
import { PROTOCOL_TCP } from '../../src/wire/ipv4.js';
import { IPV6_HEADER_LENGTH, writeIPv6Header } from '../../src/wire/ipv6.js';
import { encodeTcpSegment, type TcpSegment } from '../../src/wire/tcp.js';

/** An IPv6 packet (no extension headers) carrying `segment` from `source` to `destination`, with a valid checksum. */
export function tcp6Packet(segment: TcpSegment, source: IPv6Address, destination: IPv6Address): Uint8Array {
  const packet = encodeTcpSegment(segment, source, destination, IPV6_HEADER_LENGTH);
  writeIPv6Header(packet, 0, { source, destination, nextHeader: PROTOCOL_TCP, payloadLength: packet.length - IPV6_HEADER_LENGTH });
  return packet;
}
