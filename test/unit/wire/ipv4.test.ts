import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { writeUint16 } from '../../../src/bytes.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { ipv4Packet } from '../../support/packets.js';
import {
  checkIPv4Packet,
  IPV4_DEFAULT_TTL,
  ipv4PacketLength,
  IPV4_MIN_HEADER,
  PROTOCOL_UDP,
  parseIPv4Packet,
  writeIPv4Header,
  type IPv4DropReason,
} from '../../../src/wire/ipv4.js';

/** Rewrite the header checksum after a test tampers with a field. */
function refreshChecksum(packet: Uint8Array, headerLength = (packet[0]! & 0x0f) * 4): void {
  writeUint16(packet, 10, 0);
  writeUint16(packet, 10, internetChecksum(packet, 0, headerLength));
}

/** Both the parse and the checked view drop the packet for `reason`. */
function expectDrop(packet: Uint8Array, reason: IPv4DropReason): void {
  const result = parseIPv4Packet(packet);
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.reason).toBe(reason);
  expect(checkIPv4Packet(packet)).toEqual({ ok: false, reason });
}

describe('IPv4 header codec (RFC 791 3.1)', () => {
  it('round-trips every field through writeIPv4Header and parseIPv4Packet', () => {
    const payload = Uint8Array.from({ length: 37 }, (_, i) => i);
    const packet = ipv4Packet(payload, {
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
    const result = parseIPv4Packet(ipv4Packet(new Uint8Array(0)));
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
    const packet = ipv4Packet(new Uint8Array(4));
    for (let length = 0; length < 20; length++) expectDrop(packet.subarray(0, length), 'truncated');
  });

  it('reports bad_version for a version other than 4', () => {
    const packet = ipv4Packet(new Uint8Array(4));
    packet[0] = 0x65;
    refreshChecksum(packet, 20);
    expectDrop(packet, 'bad_version');
  });

  it('reports bad_ihl for IHL below 5', () => {
    for (const ihl of [0, 1, 4]) {
      const packet = ipv4Packet(new Uint8Array(4));
      packet[0] = 0x40 | ihl;
      expectDrop(packet, 'bad_ihl');
    }
  });

  it('reports truncated when IHL reaches past the buffer', () => {
    const packet = ipv4Packet(new Uint8Array(4)); // 24 bytes
    packet[0] = 0x47; // 28-byte header
    writeUint16(packet, 2, 24);
    expectDrop(packet, 'truncated');
  });

  it('reports bad_total_length when total length is below the header length or beyond the bytes', () => {
    const short = ipv4Packet(new Uint8Array(8));
    writeUint16(short, 2, 19);
    refreshChecksum(short);
    expectDrop(short, 'bad_total_length');

    const long = ipv4Packet(new Uint8Array(8));
    writeUint16(long, 2, 29);
    refreshChecksum(long);
    expectDrop(long, 'bad_total_length');

    const withOptions = new Uint8Array(32);
    withOptions.set(ipv4Packet(new Uint8Array(12)));
    withOptions[0] = 0x46; // 24-byte header
    writeUint16(withOptions, 2, 22); // less than the header
    refreshChecksum(withOptions);
    expectDrop(withOptions, 'bad_total_length');
  });

  it('reports bad_checksum for any flipped header bit', () => {
    const packet = ipv4Packet(new Uint8Array(8));
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
    const packet = ipv4Packet(Uint8Array.from([1, 2, 3]));
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
    const packet = ipv4Packet(Uint8Array.from([9, 9]));
    const result = parseIPv4Packet(packet);
    if (!result.ok) throw new Error('expected ok');
    packet[20] = 7;
    expect(result.payload[0]).toBe(7);
  });
});

describe('checkIPv4Packet (the checked view)', () => {
  it('reads every field in place, agreeing with parseIPv4Packet', () => {
    const packet = ipv4Packet(Uint8Array.from([1, 2, 3, 4, 5]), {
      identification: 0x1234,
      ttl: 9,
      tos: 0x20,
      dontFragment: true,
      moreFragments: true,
      fragmentOffset: 64,
    });
    const padded = new Uint8Array(packet.length + 3);
    padded.set(packet);
    const checked = checkIPv4Packet(padded);
    const parsed = parseIPv4Packet(padded);
    if (!checked.ok || !parsed.ok) throw new Error('expected ok');
    const view = checked.view;
    expect({
      headerLength: view.headerLength,
      tos: view.tos,
      totalLength: view.totalLength,
      identification: view.identification,
      dontFragment: view.dontFragment,
      moreFragments: view.moreFragments,
      fragmentOffset: view.fragmentOffset,
      ttl: view.ttl,
      protocol: view.protocol,
      source: view.source,
      destination: view.destination,
    }).toEqual(parsed.header);
    expect(view.payload).toEqual(parsed.payload);
    expect(view.checksum).toBe((packet[10]! << 8) | packet[11]!);
    expect(view.bytes).toBe(padded);
    padded[20] = 0x77;
    expect(view.payload[0]).toBe(0x77); // in place, not a copy
  });

  it('drops every malformed header, as parseIPv4Packet does', () => {
    const packet = ipv4Packet(new Uint8Array(8));
    expectDrop(packet.subarray(0, 19), 'truncated');
    const v6 = packet.slice();
    v6[0] = 0x65;
    refreshChecksum(v6, 20);
    expectDrop(v6, 'bad_version');
    const smallIhl = packet.slice();
    smallIhl[0] = 0x44;
    expectDrop(smallIhl, 'bad_ihl');
    const ihlPastEnd = packet.subarray(0, 22).slice();
    ihlPastEnd[0] = 0x46;
    expectDrop(ihlPastEnd, 'truncated');
    const lyingLength = packet.slice();
    writeUint16(lyingLength, 2, 29);
    refreshChecksum(lyingLength);
    expectDrop(lyingLength, 'bad_total_length');
    const corrupt = packet.slice();
    flipBits(corrupt, 15, 0x01);
    expectDrop(corrupt, 'bad_checksum');
  });

  it("in 'quoted' mode skips the total length and checksum, and the payload runs to the end of the quote", () => {
    const packet = ipv4Packet(new Uint8Array(100));
    const cut = packet.slice(0, 28); // header + 8 bytes, as RFC 792 requires at least
    flipBits(cut, 8, 0x01); // a rewritten TTL: the checksum no longer verifies
    expect(checkIPv4Packet(cut)).toEqual({ ok: false, reason: 'bad_total_length' });
    const quoted = checkIPv4Packet(cut, 'quoted');
    if (!quoted.ok) throw new Error(`expected ok, got ${quoted.reason}`);
    expect(quoted.view.totalLength).toBe(120);
    expect(quoted.view.payload.length).toBe(8);
    // The structural checks still apply.
    expect(checkIPv4Packet(cut.subarray(0, 19), 'quoted')).toEqual({ ok: false, reason: 'truncated' });
    const v6 = cut.slice();
    v6[0] = 0x65;
    expect(checkIPv4Packet(v6, 'quoted')).toEqual({ ok: false, reason: 'bad_version' });
    const smallIhl = cut.slice();
    smallIhl[0] = 0x43;
    expect(checkIPv4Packet(smallIhl, 'quoted')).toEqual({ ok: false, reason: 'bad_ihl' });
    const longIhl = cut.slice();
    longIhl[0] = 0x48; // 32-byte header in 28 bytes
    expect(checkIPv4Packet(longIhl, 'quoted')).toEqual({ ok: false, reason: 'truncated' });
  });
});

describe('writeIPv4Header into a caller buffer', () => {
  it('writes at a non-zero offset, returns the bytes written, and ipv4PacketLength sizes the buffer', () => {
    const payload = Uint8Array.from([5, 6, 7]);
    const offset = 14;
    const buffer = new Uint8Array(offset + ipv4PacketLength(payload.length) + 2).fill(0xcc);
    buffer.set(payload, offset + IPV4_MIN_HEADER);
    const written = writeIPv4Header(buffer, offset, { source: 1, destination: 2, protocol: PROTOCOL_UDP, payloadLength: payload.length });
    expect(written).toBe(IPV4_MIN_HEADER);
    expect(ipv4PacketLength(payload.length)).toBe(23);
    expect(buffer.subarray(0, offset).every((b) => b === 0xcc)).toBe(true);
    expect(buffer.subarray(offset + 23).every((b) => b === 0xcc)).toBe(true);
    // A dirty checksum field is overwritten, not summed in.
    expect(internetChecksum(buffer, offset, IPV4_MIN_HEADER)).toBe(0);
    const parsed = parseIPv4Packet(buffer.subarray(offset));
    expect(parsed.ok && [...parsed.payload]).toEqual([5, 6, 7]);
  });
});
