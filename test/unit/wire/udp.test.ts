import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { TEST_DESTINATION, TEST_SOURCE, udpDatagram, udpPacket } from '../../support/packets.js';
import { writeUint16 } from '../../../src/bytes.js';
import { parseIPv4Packet } from '../../../src/wire/ipv4.js';
import { TEST_DESTINATION6, TEST_SOURCE6 } from '../../support/ipv6-packets.js';
import {
  checkUdpDatagram,
  encodeUdpDatagram,
  parseUdpDatagram,
  UDP_HEADER_LENGTH,
  UDP_MAX_PAYLOAD,
  UDP_MAX_PAYLOAD_IPV6,
  udpDatagramLength,
  writeUdpDatagram,
  type UdpDropReason,
} from '../../../src/wire/udp.js';

function expectDrop(bytes: Uint8Array, reason: UdpDropReason): void {
  expect(checkUdpDatagram(bytes, TEST_SOURCE, TEST_DESTINATION)).toEqual({ ok: false, reason });
  expect(parseUdpDatagram(bytes, TEST_SOURCE, TEST_DESTINATION)).toEqual({ ok: false, reason });
}

describe('checkUdpDatagram (the checked view, RFC 768)', () => {
  it('reads every field in place, agreeing with parseUdpDatagram', () => {
    const bytes = udpDatagram({ sourcePort: 5353, destinationPort: 53, payload: Uint8Array.from([1, 2, 3]) });
    const padded = new Uint8Array(bytes.length + 5);
    padded.set(bytes);
    const checked = checkUdpDatagram(padded, TEST_SOURCE, TEST_DESTINATION);
    const parsed = parseUdpDatagram(padded, TEST_SOURCE, TEST_DESTINATION);
    if (!checked.ok || !parsed.ok) throw new Error('expected ok');
    const view = checked.view;
    expect({ sourcePort: view.sourcePort, destinationPort: view.destinationPort, payload: view.payload }).toEqual(parsed.datagram);
    expect(view.length).toBe(11);
    expect(view.checksum).toBe((bytes[6]! << 8) | bytes[7]!);
    expect([...view.payload]).toEqual([1, 2, 3]); // cut at the length field, not at the padding
    padded[8] = 9;
    expect(view.payload[0]).toBe(9);
  });

  it('drops truncated datagrams, lying lengths and bad checksums', () => {
    const bytes = udpDatagram({ payload: new Uint8Array(10) });
    for (let length = 0; length < UDP_HEADER_LENGTH; length++) expectDrop(bytes.subarray(0, length), 'truncated');
    const tooLong = bytes.slice();
    writeUint16(tooLong, 4, bytes.length + 1);
    expectDrop(tooLong, 'bad_length');
    const tooShort = bytes.slice();
    writeUint16(tooShort, 4, UDP_HEADER_LENGTH - 1);
    expectDrop(tooShort, 'bad_length');
    const corrupt = bytes.slice();
    flipBits(corrupt, 12, 0x02);
    expectDrop(corrupt, 'bad_checksum');
    expect(checkUdpDatagram(bytes, TEST_DESTINATION, TEST_SOURCE).ok).toBe(true); // the pseudo-header sum is symmetric
    expect(checkUdpDatagram(bytes, TEST_SOURCE, 0x0a000003)).toEqual({ ok: false, reason: 'bad_checksum' });
    const none = corrupt.slice();
    writeUint16(none, 6, 0); // "no checksum" (RFC 768)
    expect(checkUdpDatagram(none, TEST_SOURCE, TEST_DESTINATION).ok).toBe(true);
  });
});

describe('writeUdpDatagram into a caller buffer', () => {
  it('writes at a non-zero offset of a dirty buffer the same bytes encodeUdpDatagram makes', () => {
    const payload = Uint8Array.from([0xde, 0xad, 0xbe]);
    const offset = 13;
    const buffer = new Uint8Array(offset + udpDatagramLength(payload.length) + 4).fill(0xee);
    const written = writeUdpDatagram(buffer, offset, 1000, 2000, payload, TEST_SOURCE, TEST_DESTINATION);
    expect(written).toBe(11);
    expect(udpDatagramLength(payload.length)).toBe(11);
    expect(buffer[offset - 1]).toBe(0xee);
    expect(buffer[offset + written]).toBe(0xee);
    expect(buffer.subarray(offset, offset + written)).toEqual(encodeUdpDatagram(1000, 2000, payload, TEST_SOURCE, TEST_DESTINATION));
  });

  it('leaves the headroom of encodeUdpDatagram zero for the IPv4 header', () => {
    const plain = encodeUdpDatagram(1, 2, Uint8Array.from([7]), TEST_SOURCE, TEST_DESTINATION);
    const withRoom = encodeUdpDatagram(1, 2, Uint8Array.from([7]), TEST_SOURCE, TEST_DESTINATION, 20);
    expect([...withRoom.subarray(0, 20)]).toEqual(new Array<number>(20).fill(0));
    expect(withRoom.subarray(20)).toEqual(plain);
  });

  it('refuses a datagram beyond the 16-bit length field; the largest payload fills one IPv4 datagram', () => {
    expect(() => encodeUdpDatagram(1, 2, new Uint8Array(0xffff - UDP_HEADER_LENGTH + 1), TEST_SOURCE, TEST_DESTINATION)).toThrow(
      RangeError,
    );
    expect(UDP_MAX_PAYLOAD).toBe(65507);
    const packet = udpPacket({ payload: new Uint8Array(UDP_MAX_PAYLOAD) });
    const parsed = parseIPv4Packet(packet);
    expect(parsed.ok && parsed.header.totalLength).toBe(65535);
  });
});

describe('UDP over IPv6 (RFC 8200 8.1)', () => {
  // fd00::1:40000 -> fd00::2:53, "xyz"; checksum computed independently (Python) over the 40-byte pseudo-header.
  const known = Uint8Array.from([0x9c, 0x40, 0x00, 0x35, 0x00, 0x0b, 0x76, 0xe4, 0x78, 0x79, 0x7a]);

  it('writes and verifies the checksum over the IPv6 pseudo-header', () => {
    expect(encodeUdpDatagram(40000, 53, Uint8Array.from([0x78, 0x79, 0x7a]), TEST_SOURCE6, TEST_DESTINATION6)).toEqual(known);
    const parsed = parseUdpDatagram(known, TEST_SOURCE6, TEST_DESTINATION6);
    expect(parsed.ok && [...parsed.datagram.payload]).toEqual([0x78, 0x79, 0x7a]);
    expect(checkUdpDatagram(known, TEST_DESTINATION6, TEST_SOURCE6).ok).toBe(true); // the sum does not depend on the order
    expect(checkUdpDatagram(known, TEST_SOURCE6, TEST_SOURCE6)).toEqual({ ok: false, reason: 'bad_checksum' });
  });

  it('rejects a zero checksum over IPv6, even from a trusted link, while IPv4 accepts it', () => {
    const zero = known.slice();
    writeUint16(zero, 6, 0);
    expect(checkUdpDatagram(zero, TEST_SOURCE6, TEST_DESTINATION6)).toEqual({ ok: false, reason: 'bad_checksum' });
    expect(parseUdpDatagram(zero, TEST_SOURCE6, TEST_DESTINATION6, 'trusted')).toEqual({ ok: false, reason: 'bad_checksum' });
    expect(checkUdpDatagram(zero, TEST_SOURCE, TEST_DESTINATION).ok).toBe(true);
  });

  it('names the largest payload of one IPv6 packet without extension headers', () => {
    expect(UDP_MAX_PAYLOAD_IPV6).toBe(65527);
    expect(() => encodeUdpDatagram(1, 2, new Uint8Array(UDP_MAX_PAYLOAD_IPV6), TEST_SOURCE6, TEST_DESTINATION6)).not.toThrow();
  });
});
