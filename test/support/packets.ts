/**
 * Packet builders for tests, built on the codecs' write and encode functions (src/wire), so a
 * test states the fields it cares about instead of hand-rolling bytes. Where a test's point is
 * independence from the codec under test, build the bytes by hand instead.
 */
import { encodeEchoRequest } from '../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, writeIPv4Header, type IPv4HeaderFields } from '../../src/wire/ipv4.js';
import { encodeUdpDatagram } from '../../src/wire/udp.js';
import { encodeTcpSegment, TCP_ACK, type TcpSegment } from '../../src/wire/tcp.js';
import type { IPv4Address } from '../../src/wire/address.js';

/** IPv4 header fields a builder fills in itself: the payload length, and the protocol for transports. */
export type IPv4Extra = Partial<Omit<IPv4HeaderFields, 'payloadLength'>>;

/** Default addresses of the test packets: 10.0.0.1 -> 10.0.0.2. */
export const TEST_SOURCE: IPv4Address = 0x0a000001;
export const TEST_DESTINATION: IPv4Address = 0x0a000002;

/** Write the IPv4 header in the IPV4_MIN_HEADER bytes of headroom in front of a transport's bytes. */
function headInPlace(packet: Uint8Array, protocol: number, extra: IPv4Extra): Uint8Array {
  writeIPv4Header(packet, 0, {
    source: TEST_SOURCE,
    destination: TEST_DESTINATION,
    protocol,
    ...extra,
    payloadLength: packet.length - IPV4_MIN_HEADER,
  });
  return packet;
}

/** An IPv4 packet (20-byte header) around `payload`; protocol UDP unless `extra` says otherwise. */
export function ipv4Packet(payload: Uint8Array, extra: IPv4Extra = {}): Uint8Array {
  const packet = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  packet.set(payload, IPV4_MIN_HEADER);
  return headInPlace(packet, extra.protocol ?? PROTOCOL_UDP, extra);
}

export interface UdpFields {
  sourcePort?: number;
  destinationPort?: number;
  payload?: Uint8Array;
}

/** A UDP datagram (no IP header) with a valid checksum for `source` -> `destination`. */
export function udpDatagram(fields: UdpFields = {}, source = TEST_SOURCE, destination = TEST_DESTINATION): Uint8Array {
  return encodeUdpDatagram(
    fields.sourcePort ?? 40000,
    fields.destinationPort ?? 9999,
    fields.payload ?? new Uint8Array(0),
    source,
    destination,
  );
}

/** An IPv4 packet carrying a UDP datagram, the way the stack builds one (header written in the headroom). */
export function udpPacket(fields: UdpFields = {}, extra: IPv4Extra = {}): Uint8Array {
  const source = extra.source ?? TEST_SOURCE;
  const destination = extra.destination ?? TEST_DESTINATION;
  const packet = encodeUdpDatagram(
    fields.sourcePort ?? 40000,
    fields.destinationPort ?? 9999,
    fields.payload ?? new Uint8Array(0),
    source,
    destination,
    IPV4_MIN_HEADER,
  );
  return headInPlace(packet, PROTOCOL_UDP, extra);
}

/** A segment record: an ACK from port 40000 to 80 with no options or data unless overridden. */
export function tcpSegment(overrides: Partial<TcpSegment> = {}): TcpSegment {
  return {
    sourcePort: 40000,
    destinationPort: 80,
    seq: 0x12345678,
    ack: 0x9abcdef0,
    flags: TCP_ACK,
    window: 65535,
    urgentPointer: 0,
    options: {},
    payload: new Uint8Array(0),
    ...overrides,
  };
}

/** An IPv4 packet carrying `segment` with a valid checksum. */
export function tcpPacket(segment: TcpSegment, extra: IPv4Extra = {}): Uint8Array {
  const packet = encodeTcpSegment(segment, extra.source ?? TEST_SOURCE, extra.destination ?? TEST_DESTINATION, IPV4_MIN_HEADER);
  return headInPlace(packet, PROTOCOL_TCP, extra);
}

/** An IPv4 packet carrying an ICMP echo request. */
export function echoRequestPacket(identifier: number, sequence: number, data: Uint8Array, extra: IPv4Extra = {}): Uint8Array {
  return headInPlace(encodeEchoRequest(identifier, sequence, data, IPV4_MIN_HEADER), PROTOCOL_ICMP, extra);
}
