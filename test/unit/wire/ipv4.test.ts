import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { writeUint16 } from '../../../src/bytes.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import {
  IPV4_DEFAULT_TTL,
  IPV4_MIN_HEADER,
  PROTOCOL_UDP,
  parseIPv4Packet,
  writeIPv4Header,
  type IPv4DropReason,
} from '../../../src/wire/ipv4.js';

function buildPacket(payload: Uint8Array, extra: Partial<Parameters<typeof writeIPv4Header>[2]> = {}): Uint8Array {
  const packet = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  writeIPv4Header(packet, 0, {
    source: 0x0a000001,
    destination: 0x0a000002,
    protocol: PROTOCOL_UDP,
    payloadLength: payload.length,
    ...extra,
  });
  packet.set(payload, IPV4_MIN_HEADER);
  return packet;
}

/** Rewrite the header checksum after a test tampers with a field. */
function refreshChecksum(packet: Uint8Array, headerLength = (packet[0]! & 0x0f) * 4): void {
  writeUint16(packet, 10, 0);
  writeUint16(packet, 10, internetChecksum(packet, 0, headerLength));
}

function expectDrop(packet: Uint8Array, reason: IPv4DropReason): void {
  const result = parseIPv4Packet(packet);
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.reason).toBe(reason);
}

describe('IPv4 header codec (RFC 791 3.1)', () => {
  it('round-trips every field through writeIPv4Header and parseIPv4Packet', () => {
    const payload = Uint8Array.from({ length: 37 }, (_, i) => i);
    const packet = buildPacket(payload, {
      identification: 0xbeef,
      ttl: 17,
      tos: 0xb8,
      dontFragment: true,
      moreFragments: true,
      fragmentOffset: 8 * 1000,
    });
    expect(packet[0]).toBe(0x45);
    expect(internetChecksum(packet, 0, 20)).toBe(0);
    const result = parseIPv4Packet(packet);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.header).toEqual({
      headerLength: 20,
      tos: 0xb8,
      totalLength: 57,
      identification: 0xbeef,
      dontFragment: true,
      moreFragments: true,
      fragmentOffset: 8000,
      ttl: 17,
      protocol: PROTOCOL_UDP,
      source: 0x0a000001,
      destination: 0x0a000002,
    });
    expect([...result.payload]).toEqual([...payload]);
  });

  it('uses defaults: TTL 64, no flags, offset 0, id 0', () => {
    const result = parseIPv4Packet(buildPacket(new Uint8Array(0)));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.header.ttl).toBe(IPV4_DEFAULT_TTL);
    expect(result.header.dontFragment).toBe(false);
    expect(result.header.moreFragments).toBe(false);
    expect(result.header.fragmentOffset).toBe(0);
    expect(result.header.identification).toBe(0);
    expect(result.payload.length).toBe(0);
  });

  it('writes at an offset (headroom) without touching bytes before it', () => {
    const buffer = new Uint8Array(30).fill(0xaa);
    writeIPv4Header(buffer, 10, { source: 1, destination: 2, protocol: 6, payloadLength: 0 });
    expect(buffer.subarray(0, 10).every((b) => b === 0xaa)).toBe(true);
    expect(parseIPv4Packet(buffer.subarray(10)).ok).toBe(true);
  });

  it('refuses to write an oversized datagram or an unaligned fragment offset', () => {
    const buffer = new Uint8Array(20);
    expect(() => writeIPv4Header(buffer, 0, { source: 1, destination: 2, protocol: 17, payloadLength: 65516 })).toThrow(RangeError);
    expect(() => writeIPv4Header(buffer, 0, { source: 1, destination: 2, protocol: 17, payloadLength: 0, fragmentOffset: 12 })).toThrow(
      RangeError,
    );
  });

  it('reports truncated for fewer than 20 bytes', () => {
    const packet = buildPacket(new Uint8Array(4));
    for (let length = 0; length < 20; length++) expectDrop(packet.subarray(0, length), 'truncated');
  });

  it('reports bad_version for a version other than 4', () => {
    const packet = buildPacket(new Uint8Array(4));
    packet[0] = 0x65;
    refreshChecksum(packet, 20);
    expectDrop(packet, 'bad_version');
  });

  it('reports bad_ihl for IHL below 5', () => {
    for (const ihl of [0, 1, 4]) {
      const packet = buildPacket(new Uint8Array(4));
      packet[0] = 0x40 | ihl;
      expectDrop(packet, 'bad_ihl');
    }
  });

  it('reports truncated when IHL reaches past the buffer', () => {
    const packet = buildPacket(new Uint8Array(4)); // 24 bytes
    packet[0] = 0x47; // 28-byte header
    writeUint16(packet, 2, 24);
    expectDrop(packet, 'truncated');
  });

  it('reports bad_total_length when total length is below the header length or beyond the bytes', () => {
    const short = buildPacket(new Uint8Array(8));
    writeUint16(short, 2, 19);
    refreshChecksum(short);
    expectDrop(short, 'bad_total_length');

    const long = buildPacket(new Uint8Array(8));
    writeUint16(long, 2, 29);
    refreshChecksum(long);
    expectDrop(long, 'bad_total_length');

    const withOptions = new Uint8Array(32);
    withOptions.set(buildPacket(new Uint8Array(12)));
    withOptions[0] = 0x46; // 24-byte header
    writeUint16(withOptions, 2, 22); // less than the header
    refreshChecksum(withOptions);
    expectDrop(withOptions, 'bad_total_length');
  });

  it('reports bad_checksum for any flipped header bit', () => {
    const packet = buildPacket(new Uint8Array(8));
    for (const byteIndex of [1, 4, 8, 9, 12, 19]) {
      const copy = packet.slice();
      flipBits(copy, byteIndex, 0x10);
      expectDrop(copy, 'bad_checksum');
    }
    // The payload is not covered by the header checksum.
    const payloadFlip = packet.slice();
    flipBits(payloadFlip, 25, 0xff);
    expect(parseIPv4Packet(payloadFlip).ok).toBe(true);
  });

  it('skips options for every IHL from 6 to 15 so the payload starts after them', () => {
    for (let ihl = 6; ihl <= 15; ihl++) {
      const headerLength = ihl * 4;
      const payload = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x42]);
      const packet = new Uint8Array(headerLength + payload.length);
      writeIPv4Header(packet, 0, { source: 1, destination: 2, protocol: 17, payloadLength: 0 });
      packet[0] = 0x40 | ihl;
      packet.fill(0x01, 20, headerLength); // NOP options (RFC 791)
      writeUint16(packet, 2, packet.length);
      packet.set(payload, headerLength);
      refreshChecksum(packet);
      const result = parseIPv4Packet(packet);
      expect(result.ok, `ihl ${ihl}`).toBe(true);
      if (!result.ok) continue;
      expect(result.header.headerLength).toBe(headerLength);
      expect([...result.payload]).toEqual([...payload]);
    }
  });

  it('trims link padding beyond the total length', () => {
    const packet = buildPacket(Uint8Array.from([1, 2, 3]));
    const padded = new Uint8Array(packet.length + 23);
    padded.set(packet);
    padded.fill(0xee, packet.length);
    const result = parseIPv4Packet(padded);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.header.totalLength).toBe(23);
    expect([...result.payload]).toEqual([1, 2, 3]);
  });

  it('returns a view, not a copy', () => {
    const packet = buildPacket(Uint8Array.from([9, 9]));
    const result = parseIPv4Packet(packet);
    if (!result.ok) throw new Error('expected ok');
    packet[20] = 7;
    expect(result.payload[0]).toBe(7);
  });
});
