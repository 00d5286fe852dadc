import { describe, expect, it } from 'vitest';
import { ipv6Bytes, TEST_DESTINATION6, TEST_SOURCE6 } from '../../support/ipv6-packets.js';
import { parseIPv6Address } from '../../../src/wire/address6.js';
import {
  checkIPv6Packet,
  flowLabelFromHash,
  IPV6_DEFAULT_HOP_LIMIT,
  IPV6_HEADER_LENGTH,
  IPV6_MAX_PAYLOAD_LENGTH,
  ipv6PacketLength,
  NEXT_HEADER_HOP_BY_HOP,
  parseIPv6Packet,
  PROTOCOL_ICMPV6,
  writeIPv6Header,
  type IPv6DropReason,
  type IPv6Header,
} from '../../../src/wire/ipv6.js';
import { PROTOCOL_TCP, PROTOCOL_UDP } from '../../../src/wire/ipv4.js';

function expectDrop(packet: Uint8Array, reason: IPv6DropReason): void {
  expect(checkIPv6Packet(packet)).toEqual({ ok: false, reason });
  expect(parseIPv6Packet(packet)).toEqual({ ok: false, reason });
}

describe('IPv6 header (RFC 8200 3)', () => {
  it('parses every field of a hand-built header, and the view agrees', () => {
    const payload = Uint8Array.from([1, 2, 3, 4, 5]);
    const packet = ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload, hopLimit: 7, trafficClass: 0xb8, flowLabel: 0xabcde });
    const parsed = parseIPv6Packet(packet);
    const checked = checkIPv6Packet(packet);
    if (!parsed.ok || !checked.ok) throw new Error('expected ok');
    const expected: IPv6Header = {
      trafficClass: 0xb8,
      flowLabel: 0xabcde,
      payloadLength: 5,
      nextHeader: PROTOCOL_UDP,
      hopLimit: 7,
      source: TEST_SOURCE6,
      destination: TEST_DESTINATION6,
    };
    expect(parsed.header).toEqual(expected);
    const view = checked.view;
    expect({
      trafficClass: view.trafficClass,
      flowLabel: view.flowLabel,
      payloadLength: view.payloadLength,
      nextHeader: view.nextHeader,
      hopLimit: view.hopLimit,
      source: view.source,
      destination: view.destination,
    }).toEqual(parsed.header);
    expect([...view.payload]).toEqual([1, 2, 3, 4, 5]);
    expect(view.packet).toHaveLength(45);
    expect(parsed.packet).toHaveLength(45);
  });

  it('trims bytes beyond the payload length (link padding)', () => {
    const packet = new Uint8Array(60);
    packet.set(ipv6Bytes({ nextHeader: PROTOCOL_TCP, payload: Uint8Array.from([9, 9]) }));
    const parsed = parseIPv6Packet(packet);
    const checked = checkIPv6Packet(packet);
    if (!parsed.ok || !checked.ok) throw new Error('expected ok');
    expect(parsed.packet).toHaveLength(42);
    expect([...checked.view.payload]).toEqual([9, 9]);
  });

  it('accepts a packet with an empty payload', () => {
    const parsed = parseIPv6Packet(ipv6Bytes({ nextHeader: 59 }));
    expect(parsed.ok && parsed.header.payloadLength).toBe(0);
  });

  it('drops a packet shorter than the fixed header as truncated', () => {
    const packet = ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload: new Uint8Array(8) });
    for (const length of [0, 1, 20, 39]) expectDrop(packet.subarray(0, length), 'truncated');
  });

  it('drops a version other than 6', () => {
    for (const version of [0, 4, 5, 7, 15]) expectDrop(ipv6Bytes({ nextHeader: PROTOCOL_UDP, version }), 'bad_version');
  });

  it('drops a payload length past the bytes received (a shorter frame)', () => {
    const packet = ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload: new Uint8Array(10) });
    expectDrop(packet.subarray(0, 49), 'bad_payload_length');
    expectDrop(ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload: new Uint8Array(10), payloadLength: 11 }), 'bad_payload_length');
    expectDrop(ipv6Bytes({ nextHeader: PROTOCOL_UDP, payloadLength: 0xffff }), 'bad_payload_length');
  });

  it('drops a jumbogram (payload length 0 with a hop-by-hop header behind it, RFC 2675)', () => {
    expectDrop(ipv6Bytes({ nextHeader: NEXT_HEADER_HOP_BY_HOP, payload: new Uint8Array(16), payloadLength: 0 }), 'jumbogram');
  });

  it("in 'quoted' mode accepts a quote cut short of its payload length, and its payload runs to the cut", () => {
    const packet = ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload: new Uint8Array(100) });
    const checked = checkIPv6Packet(packet.subarray(0, 48), 'quoted');
    if (!checked.ok) throw new Error('expected ok');
    expect(checked.view.payloadLength).toBe(100);
    expect(checked.view.payload).toHaveLength(8);
    expect(checkIPv6Packet(packet.subarray(0, 39), 'quoted')).toEqual({ ok: false, reason: 'truncated' });
  });
});

describe('writeIPv6Header', () => {
  it('writes the bytes a hand-built header has, and parses back', () => {
    const payload = Uint8Array.from([0xaa, 0xbb, 0xcc]);
    const buffer = new Uint8Array(4 + ipv6PacketLength(payload.length));
    buffer.set(payload, 4 + IPV6_HEADER_LENGTH);
    const fields = {
      source: TEST_SOURCE6,
      destination: TEST_DESTINATION6,
      nextHeader: PROTOCOL_ICMPV6,
      payloadLength: payload.length,
      hopLimit: 255,
      trafficClass: 0x2e,
      flowLabel: 0xfffff,
    };
    expect(writeIPv6Header(buffer, 4, fields)).toBe(IPV6_HEADER_LENGTH);
    const packet = buffer.subarray(4);
    expect(packet).toEqual(ipv6Bytes({ ...fields, payload }));
    const parsed = parseIPv6Packet(packet);
    expect(parsed.ok && parsed.header).toEqual({ ...fields });
  });

  it('defaults to hop limit 64, traffic class 0 and an unlabelled flow', () => {
    const buffer = new Uint8Array(ipv6PacketLength(0));
    writeIPv6Header(buffer, 0, { source: TEST_SOURCE6, destination: TEST_DESTINATION6, nextHeader: 59, payloadLength: 0 });
    const parsed = parseIPv6Packet(buffer);
    expect(parsed.ok && parsed.header).toMatchObject({ hopLimit: IPV6_DEFAULT_HOP_LIMIT, trafficClass: 0, flowLabel: 0 });
    expect([...buffer.subarray(0, 4)]).toEqual([0x60, 0, 0, 0]);
  });

  it('throws RangeError for a payload over 65535 bytes, a flow label over 20 bits, a traffic class over 8', () => {
    const base = { source: TEST_SOURCE6, destination: parseIPv6Address('::1')!, nextHeader: 59, payloadLength: 0 };
    const buffer = new Uint8Array(64);
    expect(() => writeIPv6Header(buffer, 0, { ...base, payloadLength: IPV6_MAX_PAYLOAD_LENGTH + 1 })).toThrow(RangeError);
    expect(() => writeIPv6Header(buffer, 0, { ...base, flowLabel: 0x100000 })).toThrow(RangeError);
    expect(() => writeIPv6Header(buffer, 0, { ...base, trafficClass: 0x100 })).toThrow(RangeError);
  });
});

describe('flowLabelFromHash (RFC 6437)', () => {
  it('gives 20 bits that depend on every bit of the hash, never 0', () => {
    expect(flowLabelFromHash(0)).toBe(1);
    expect(flowLabelFromHash(0xffffffff)).toBeLessThanOrEqual(0xfffff);
    const labels = new Set<number>();
    for (let bit = 0; bit < 32; bit++) labels.add(flowLabelFromHash(2 ** bit));
    expect(labels.size).toBe(32);
    for (const label of labels) expect(label).toBeLessThanOrEqual(0xfffff);
  });
});
