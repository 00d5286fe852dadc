/**
 * The stack's IPv4 input and output paths with crafted packets: drops by reason, protocol
 * unreachable for protocols we do not speak (rate limited), and fragmentation of what we send.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { encodeEchoRequest, ICMP_DEST_UNREACHABLE, parseIcmpMessage, PROTOCOL_UNREACHABLE } from '../../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_ICMP, writeIPv4Header } from '../../../src/wire/ipv4.js';
import { mulberry32 } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import { ReplayLink } from '../../replay/replay-link.js';

const HOST = parseIPv4Address('10.0.0.1')!;
const STACK = parseIPv4Address('10.0.0.2')!;

function packet(protocol: number, payload: Uint8Array, fields: { destination?: number; ttl?: number } = {}): Uint8Array {
  const bytes = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  writeIPv4Header(bytes, 0, {
    source: HOST,
    destination: fields.destination ?? STACK,
    protocol,
    payloadLength: payload.length,
    ttl: fields.ttl ?? 64,
  });
  bytes.set(payload, IPV4_MIN_HEADER);
  return bytes;
}

function setup(options: { icmpErrorRate?: number } = {}) {
  const link = new ReplayLink(1500);
  const clock = new FakeClock(0);
  const stack = new Stack({ link, address: STACK, clock, manualTimers: true, icmpErrorRate: options.icmpErrorRate });
  return { link, clock, stack };
}

describe('stack IPv4 input', () => {
  it('answers a protocol it does not speak with ICMP protocol unreachable quoting the datagram', () => {
    const { link, stack } = setup();
    const offending = packet(99, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    link.inject([offending]);
    const [reply] = link.drain();
    expect(reply).toBeDefined();
    const ip = parseIPv4Packet(reply!);
    expect(ip.ok).toBe(true);
    if (!ip.ok) return;
    expect(ip.header.destination).toBe(HOST);
    expect(ip.header.protocol).toBe(PROTOCOL_ICMP);
    const icmp = parseIcmpMessage(ip.payload);
    expect(icmp.ok).toBe(true);
    if (!icmp.ok) return;
    expect([icmp.message.type, icmp.message.code]).toEqual([ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE]);
    expect(Buffer.compare(icmp.message.body.subarray(0, 28), offending.subarray(0, 28))).toBe(0);
    expect(stack.counters('ip').get('drop.unknown_protocol')).toBe(1);
  });

  it('rate-limits ICMP errors with a token bucket and counts what it suppresses', () => {
    const { link, clock, stack } = setup({ icmpErrorRate: 5 });
    for (let i = 0; i < 20; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(5);
    expect(stack.counters('icmp').get('errors_rate_limited')).toBe(15);
    clock.advance(1000);
    for (let i = 0; i < 20; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(5);
  });

  it('drops and counts datagrams for other addresses, with TTL 0, and malformed headers', () => {
    const { link, stack } = setup();
    const echo = encodeEchoRequest(1, 1, new Uint8Array(8));
    link.inject([packet(PROTOCOL_ICMP, echo, { destination: parseIPv4Address('10.0.0.3')! })]);
    link.inject([packet(PROTOCOL_ICMP, echo, { ttl: 0 })]);
    const badVersion = packet(PROTOCOL_ICMP, echo);
    badVersion[0] = 0x65;
    const lyingLength = packet(PROTOCOL_ICMP, echo);
    lyingLength[3] = 0xff;
    link.inject([badVersion, lyingLength, new Uint8Array(10)]);
    expect(link.drain()).toEqual([]);
    const ip = stack.counters('ip');
    expect(ip.get('drop.not_for_us')).toBe(1);
    expect(ip.get('drop.ttl_zero')).toBe(1);
    expect(ip.get('drop.bad_version')).toBe(1);
    expect(ip.get('drop.bad_total_length')).toBe(1);
    expect(ip.get('drop.truncated')).toBe(1);
    expect(ip.get('dropped')).toBe(5);
  });

  it('fragments an echo reply larger than the MTU and answers a fragmented request', () => {
    const { link } = setup();
    const request = encodeEchoRequest(
      7,
      9,
      new Uint8Array(4000).map((_, i) => i & 0xff),
    );
    link.inject([packet(PROTOCOL_ICMP, request)]);
    const sent = link.drain();
    expect(sent.length).toBe(3);
    expect(sent.every((p) => p.length <= 1500)).toBe(true);
  });

  it('survives a flood of garbage without throwing or growing', () => {
    const { link, stack } = setup();
    const random = mulberry32(1);
    for (let i = 0; i < 5000; i++) {
      const bytes = new Uint8Array(Math.floor(random() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      if (bytes.length > 0) bytes[0] = 0x45;
      link.inject([bytes]);
    }
    expect(stack.counters('ip').get('received')).toBe(5000);
    expect(stack.counters('ip').get('drop.internal_error')).toBe(0);
    expect(stack.stats()).toMatchObject({ reassembly: { pending: 0 } });
  });
});
