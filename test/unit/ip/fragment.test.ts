import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { ipv4Packet, type IPv4Extra } from '../../support/packets.js';
import { Counters } from '../../../src/counters.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { fragmentDatagram, fragmentPacket } from '../../../src/ip/fragment.js';
import {
  IPV4_MAX_DATAGRAM,
  IPV4_MIN_MTU,
  PROTOCOL_UDP,
  parseIPv4Packet,
  writeIPv4Header,
  type IPv4Header,
  type IPv4HeaderFields,
} from '../../../src/wire/ipv4.js';
import { Reassembler } from '../../../src/ip/reassembly.js';

const fields: IPv4HeaderFields = {
  source: 0x0a000002,
  destination: 0x0a000001,
  protocol: PROTOCOL_UDP,
  payloadLength: 0,
  identification: 0x4242,
  ttl: 33,
  tos: 0x10,
};

function patterned(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) % 251);
}

function parsed(packet: Uint8Array): { header: IPv4Header; payload: Uint8Array } {
  const result = parseIPv4Packet(packet);
  if (!result.ok) throw new Error(`fragment does not parse: ${result.reason}`);
  return result;
}

describe('fragmentDatagram (RFC 791 3.2)', () => {
  it('returns one unfragmented packet when the datagram fits', () => {
    const payload = patterned(1480);
    const packets = fragmentDatagram(fields, payload, 1500);
    expect(packets).toHaveLength(1);
    expect(packets[0]!.length).toBe(1500);
    const { header, payload: out } = parsed(packets[0]!);
    expect(header.moreFragments).toBe(false);
    expect(header.fragmentOffset).toBe(0);
    expect(header.totalLength).toBe(1500);
    expect(out).toEqual(payload);
  });

  it('ignores fields.payloadLength in favour of the payload', () => {
    const packets = fragmentDatagram({ ...fields, payloadLength: 9999 }, patterned(10), 1500);
    expect(parsed(packets[0]!).header.totalLength).toBe(30);
  });

  it('splits 4000 bytes at MTU 1500 into 1480 + 1480 + 1040 with the right offsets and flags', () => {
    const payload = patterned(4000);
    const packets = fragmentDatagram(fields, payload, 1500);
    expect(packets.map((p) => p.length)).toEqual([1500, 1500, 1060]);
    const headers = packets.map((p) => parsed(p).header);
    expect(headers.map((h) => h.fragmentOffset)).toEqual([0, 1480, 2960]);
    expect(headers.map((h) => h.moreFragments)).toEqual([true, true, false]);
    for (const h of headers) {
      expect(h.identification).toBe(0x4242);
      expect(h.ttl).toBe(33);
      expect(h.tos).toBe(0x10);
      expect(h.protocol).toBe(PROTOCOL_UDP);
      expect(h.source).toBe(fields.source);
      expect(h.destination).toBe(fields.destination);
    }
    for (const p of packets) expect(internetChecksum(p, 0, 20)).toBe(0);
  });

  it('keeps every fragment within the MTU and non-final data a multiple of 8 (MTU 68, 576, 1500, odd MTUs)', () => {
    for (const mtu of [68, 69, 75, 576, 1000, 1500, 9000]) {
      for (const size of [0, 1, 47, 48, 49, 1472, 1481, 5000, 65515]) {
        const payload = patterned(size, mtu);
        const packets = fragmentDatagram(fields, payload, mtu);
        let expectedOffset = 0;
        packets.forEach((packet, index) => {
          expect(packet.length).toBeLessThanOrEqual(mtu);
          const { header, payload: data } = parsed(packet);
          const last = index === packets.length - 1;
          expect(header.fragmentOffset).toBe(expectedOffset);
          expect(header.moreFragments).toBe(!last);
          if (!last) expect(data.length % 8).toBe(0);
          expect(Buffer.compare(data, payload.subarray(expectedOffset, expectedOffset + data.length))).toBe(0);
          expectedOffset += data.length;
        });
        expect(expectedOffset).toBe(size);
      }
    }
  });

  it('reassembles back to the original for many sizes and MTUs', () => {
    const reassembler = new Reassembler({ counters: new Counters('ip') });
    let id = 0;
    for (const mtu of [68, 576, 1500]) {
      for (const size of [1, 8, 100, 548, 1473, 3000, 8191, 20000, 65515]) {
        const payload = patterned(size, size);
        const packets = fragmentDatagram({ ...fields, identification: ++id }, payload, mtu);
        let result: { header: IPv4Header; payload: Uint8Array } | undefined;
        for (const packet of packets.reverse()) {
          const { header, payload: data } = parsed(packet);
          if (result !== undefined) throw new Error('completed before the last fragment');
          result = reassembler.accept(header, data, packet, 0);
        }
        expect(result, `mtu ${mtu} size ${size}`).toBeDefined();
        expect(Buffer.compare(result!.payload, payload)).toBe(0);
        expect(result!.header.totalLength).toBe(20 + size);
        expect(result!.header.identification).toBe(id);
      }
    }
    expect(reassembler.pendingCount).toBe(0);
  });

  it("throws RangeError when Don't Fragment is set and the datagram does not fit", () => {
    expect(() => fragmentDatagram({ ...fields, dontFragment: true }, patterned(1481), 1500)).toThrow(RangeError);
    // ... but a DF datagram that fits is sent whole with DF kept.
    const [packet] = fragmentDatagram({ ...fields, dontFragment: true }, patterned(1480), 1500);
    expect(parsed(packet!).header.dontFragment).toBe(true);
  });

  it('rejects datagrams over 65535 bytes and MTUs outside 68..65535', () => {
    expect([IPV4_MIN_MTU, IPV4_MAX_DATAGRAM]).toEqual([68, 65535]);
    expect(fragmentDatagram(fields, patterned(10), IPV4_MIN_MTU)).toHaveLength(1);
    expect(fragmentDatagram(fields, patterned(10), IPV4_MAX_DATAGRAM)).toHaveLength(1);
    expect(() => fragmentDatagram(fields, new Uint8Array(65516), 1500)).toThrow(RangeError);
    expect(() => fragmentDatagram(fields, patterned(10), 67)).toThrow(RangeError);
    expect(() => fragmentDatagram(fields, patterned(10), 65536)).toThrow(RangeError);
    expect(() => fragmentDatagram(fields, patterned(10), 1500.5)).toThrow(RangeError);
  });

  it('refragments a fragment: offsets are shifted and MF is kept on its last piece', () => {
    const packets = fragmentDatagram({ ...fields, fragmentOffset: 1480, moreFragments: true }, patterned(1480), 576);
    const headers = packets.map((p) => parsed(p).header);
    expect(headers.map((h) => h.fragmentOffset)).toEqual([1480, 1480 + 552, 1480 + 1104]);
    expect(headers.every((h) => h.moreFragments)).toBe(true);
  });
});

describe('fragmentPacket', () => {
  function built(payload: Uint8Array, extra: IPv4Extra = {}): Uint8Array {
    return ipv4Packet(payload, { ...fields, ...extra });
  }

  it('returns a packet that fits unchanged (same object)', () => {
    const packet = built(patterned(100));
    const out = fragmentPacket(packet, 1500);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(packet);
  });

  it('splits a built packet into the same fragments fragmentDatagram makes', () => {
    const payload = patterned(3000);
    const out = fragmentPacket(built(payload), 1500);
    expect(out).toEqual(fragmentDatagram(fields, payload, 1500));
    expect(out.map((p) => p.length)).toEqual([1500, 1500, 60]);
  });

  it('works on a view with headroom before it', () => {
    const payload = patterned(2000);
    const buffer = new Uint8Array(14 + 20 + payload.length);
    writeIPv4Header(buffer, 14, { ...fields, payloadLength: payload.length });
    buffer.set(payload, 34);
    const out = fragmentPacket(buffer.subarray(14), 576);
    expect(out.every((p) => p.length <= 576)).toBe(true);
    const joined = new Uint8Array(payload.length);
    for (const p of out) {
      const { header, payload: data } = parsed(p);
      joined.set(data, header.fragmentOffset);
    }
    expect(joined).toEqual(payload);
  });

  it('throws for DF, for a malformed packet and for options', () => {
    expect(() => fragmentPacket(built(patterned(2000), { dontFragment: true }), 1500)).toThrow(RangeError);
    const corrupt = built(patterned(2000));
    flipBits(corrupt, 8, 1);
    expect(() => fragmentPacket(corrupt, 1500)).toThrow(RangeError);
    expect(() => fragmentPacket(new Uint8Array(10), 1500)).toThrow(RangeError);
  });
});
