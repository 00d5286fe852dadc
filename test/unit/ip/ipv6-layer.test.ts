/**
 * The IPv6 half of the IP layer with crafted packets and manual time: the stack's address6
 * option, drops by reason (header, martian sources, destinations, extension headers), ICMPv6
 * echo byte for byte, the link-local groups, reassembly in every order with overlaps and the
 * timeout, fragmentation of what we send, the rules of the errors we send, and the errors we
 * receive reaching a fake transport (Packet Too Big through the path MTU).
 */
import { describe, expect, it } from 'vitest';
import { CounterSet } from '../../../src/counters.js';
import { NetError } from '../../../src/errors.js';
import type { IcmpSocketError } from '../../../src/ip/icmp-errors.js';
import { NetworkLayer } from '../../../src/ip/ip-layer.js';
import type { ReceivedPacket, TransportProtocol, TransportQuote } from '../../../src/ip/transport-contract.js';
import { silentLogger } from '../../../src/log.js';
import { seededRandom } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { ipv4MappedAddress, IPV6_LOOPBACK, IPV6_UNSPECIFIED, parseIPv6Address, type IPv6Address } from '../../../src/wire/address6.js';
import {
  encodeIcmpv6EchoRequest,
  encodeIcmpv6Error,
  encodeIcmpv6Message,
  ICMPV6_ADMINISTRATIVELY_PROHIBITED,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMPV6_NO_ROUTE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_TIME_EXCEEDED,
  parseIcmpv6Message,
} from '../../../src/wire/icmpv6.js';
import { PROTOCOL_UDP } from '../../../src/wire/ipv4.js';
import { IPV6_HEADER_LENGTH, NEXT_HEADER_FRAGMENT, NEXT_HEADER_ROUTING, parseIPv6Packet, PROTOCOL_ICMPV6 } from '../../../src/wire/ipv6.js';
import { encodeUdpDatagram } from '../../../src/wire/udp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { concatBytes, fragmentHeader, ipv6Bytes, optionsHeader, routingHeader } from '../../support/ipv6-packets.js';
import { ManualTime } from '../../support/manual-time.js';

function v6(text: string): IPv6Address {
  const address = parseIPv6Address(text);
  if (address === undefined) throw new Error(`bad test address ${text}`);
  return address;
}

const HOST = v6('fd00::1');
const STACK = v6('fd00::2');
const ALL_NODES = v6('ff02::1');
const STACK4 = parseIPv4Address('10.0.0.2')!;

class RecordingTransport implements TransportProtocol {
  readonly received: ReceivedPacket[] = [];
  readonly errors: Array<{ error: IcmpSocketError; quote: TransportQuote }> = [];
  readonly pathMtus: Array<{ quote: TransportQuote; pathMtu: number }> = [];
  quotesInFlight = true;

  receive(received: ReceivedPacket): void {
    this.received.push({ ...received, payload: received.payload.slice(), packet: received.packet.slice() });
  }

  receiveIcmpError(error: IcmpSocketError, quote: TransportQuote): void {
    this.errors.push({ error, quote });
  }

  receivePathMtuReduced(quote: TransportQuote, pathMtu: number): boolean {
    this.pathMtus.push({ quote, pathMtu });
    return this.quotesInFlight;
  }
}

function setup(options: { icmpErrorRate?: number; mtu?: number } = {}) {
  const link = new ReplayLink(options.mtu ?? 1500);
  const time = new ManualTime();
  const counterSet = new CounterSet();
  const looped: Uint8Array[][] = [];
  const ip = new NetworkLayer({
    address: STACK4,
    address6: STACK,
    link,
    clock: time.clock,
    timers: time.timers,
    random: seededRandom(1),
    logger: silentLogger,
    counterSet,
    icmpErrorRate: options.icmpErrorRate ?? 100,
    reassemblyTimeoutMs: 30_000,
    reassemblyMaxBytes: 1024 * 1024,
    loopback: (packets) => looped.push([...packets]),
  });
  link.setReceiver((packets) => ip.receiveBatch(packets));
  const udp = new RecordingTransport();
  ip.register(PROTOCOL_UDP, udp);
  return { link, time, ip, counters: counterSet.layer('ipv6'), icmp: counterSet.layer('icmpv6'), looped, udp };
}

/** A UDP datagram from HOST to STACK (or as given) in an IPv6 packet. */
function udpPacket(payload: Uint8Array, fields: { source?: IPv6Address; destination?: IPv6Address; hopLimit?: number } = {}): Uint8Array {
  const source = fields.source ?? HOST;
  const destination = fields.destination ?? STACK;
  return ipv6Bytes({
    nextHeader: PROTOCOL_UDP,
    source,
    destination,
    hopLimit: fields.hopLimit,
    payload: encodeUdpDatagram(1000, 2000, payload, source, destination),
  });
}

function echoRequest(data: Uint8Array, destination = STACK, source = HOST): Uint8Array {
  return ipv6Bytes({
    nextHeader: PROTOCOL_ICMPV6,
    source,
    destination,
    payload: encodeIcmpv6EchoRequest(0x1234, 7, data, source, destination),
  });
}

/** The IPv6 header and ICMPv6 message of a packet the layer sent. */
function icmpv6In(sent: Uint8Array) {
  const ip = parseIPv6Packet(sent);
  if (!ip.ok) throw new Error(`unparseable packet: ${ip.reason}`);
  expect(ip.header.nextHeader).toBe(PROTOCOL_ICMPV6);
  const icmp = parseIcmpv6Message(ip.packet.subarray(IPV6_HEADER_LENGTH), ip.header.source, ip.header.destination);
  if (!icmp.ok) throw new Error(`unparseable ICMPv6: ${icmp.reason}`);
  return { header: ip.header, message: icmp.message };
}

/** A transport payload of `length` bytes behind the 40 bytes of headroom sendTransport expects. */
function withHeadroom(length: number): Uint8Array {
  return new Uint8Array(IPV6_HEADER_LENGTH + length).map((_, i) => (i < IPV6_HEADER_LENGTH ? 0 : i & 0xff));
}

describe('Stack address6 option', () => {
  it('is off when absent: IPv6 packets are counted and dropped, the stack has no IPv6 address', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', manualTimers: true });
    expect(stack.address6).toBeUndefined();
    expect(stack.address6Text).toBeUndefined();
    expect(stack.ip.address6).toBeUndefined();
    link.inject([echoRequest(new Uint8Array(8))]);
    stack.ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(8));
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ipv6').get('drop.disabled')).toBe(2);
    expect(stack.ip.isLocalAddress(IPV6_LOOPBACK)).toBe(false);
  });

  it('takes text, reports it in RFC 5952 form, and answers ping -6', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', address6: 'FD00:0:0::2', manualTimers: true });
    expect(stack.address6).toBe(STACK);
    expect(stack.address6Text).toBe('fd00::2');
    expect(stack.ip.address6).toBe(STACK);
    expect(stack.stats()['address6']).toBe('fd00::2');
    link.inject([echoRequest(new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(1);
  });

  it.each(['::', '::1', 'ff02::1', '::ffff:10.0.0.2', 'fd00::/64', '10.0.0.2'])('refuses %s with EINVAL', (text) => {
    expect(() => new Stack({ link: new ReplayLink(1500), address: '10.0.0.2', address6: text, manualTimers: true })).toThrow(NetError);
  });

  it('refuses IPv6 on a link below 1280 bytes, saying to turn IPv6 off', () => {
    const make = () => new Stack({ link: new ReplayLink(1279), address: '10.0.0.2', address6: 'fd00::2', manualTimers: true });
    expect(make).toThrow(/RFC 8200 5.*leave address6 out/);
    expect(() => new Stack({ link: new ReplayLink(1279), address: '10.0.0.2', manualTimers: true })).not.toThrow();
  });
});

describe('IPv6 input', () => {
  it('hands a datagram for us to the registered transport with its family, header and upper-layer bytes', () => {
    const { link, udp, counters } = setup();
    const packet = udpPacket(new Uint8Array([1, 2, 3]), { hopLimit: 0 });
    link.inject([packet]);
    expect(udp.received).toHaveLength(1);
    const received = udp.received[0]!;
    expect(received.family).toBe(6);
    expect(received.header.source).toBe(HOST);
    expect(received.header.destination).toBe(STACK);
    if (received.family === 6) expect(received.header.nextHeader).toBe(PROTOCOL_UDP);
    expect([...received.payload.subarray(8)]).toEqual([1, 2, 3]);
    expect([...received.packet]).toEqual([...packet]);
    // RFC 8200 3: hop limit 0 is the forwarders' business; the destination processes it.
    expect(counters.get('delivered')).toBe(1);
  });

  it('walks extension headers to the upper-layer protocol', () => {
    const { link, udp } = setup();
    const datagram = encodeUdpDatagram(1000, 2000, new Uint8Array([9]), HOST, STACK);
    const packet = ipv6Bytes({ nextHeader: 0, payload: concatBytes(optionsHeader(60), optionsHeader(PROTOCOL_UDP), datagram) });
    link.inject([packet]);
    expect(udp.received).toHaveLength(1);
    expect([...udp.received[0]!.payload]).toEqual([...datagram]);
  });

  it('drops and counts bad headers, martian sources by class and destinations not ours', () => {
    const { link, counters, udp } = setup();
    const payload = new Uint8Array(4);
    const lying = udpPacket(payload);
    lying[5] = 200;
    link.inject([
      new Uint8Array([0x60, 0, 0, 0]),
      lying,
      udpPacket(payload, { source: STACK }),
      udpPacket(payload, { source: IPV6_UNSPECIFIED }),
      udpPacket(payload, { source: IPV6_LOOPBACK }),
      udpPacket(payload, { source: ALL_NODES }),
      udpPacket(payload, { source: ipv4MappedAddress(parseIPv4Address('10.0.0.1')!) }),
      udpPacket(payload, { destination: v6('fd00::3') }),
      udpPacket(payload, { destination: IPV6_LOOPBACK }),
      udpPacket(payload, { destination: ALL_NODES }),
    ]);
    expect(link.drain()).toEqual([]);
    expect(udp.received).toEqual([]);
    expect(counters.get('drop.truncated')).toBe(1);
    expect(counters.get('drop.bad_payload_length')).toBe(1);
    for (const kind of ['self', 'unspecified', 'loopback', 'multicast', 'ipv4_mapped']) {
      expect(counters.get(`drop.martian_source_${kind}`)).toBe(1);
    }
    expect(counters.get('drop.not_for_us')).toBe(2);
    expect(counters.get('drop.multicast_not_joined')).toBe(1);
    expect(counters.get('dropped')).toBe(10);
  });

  it('answers an unknown next header with Parameter Problem code 1 pointing at it', () => {
    const { link, counters } = setup();
    const offending = ipv6Bytes({ nextHeader: 99, payload: new Uint8Array(8) });
    link.inject([offending]);
    const [sent] = link.drain();
    const { header, message } = icmpv6In(sent!);
    expect(header.destination).toBe(HOST);
    expect(header.source).toBe(STACK);
    expect(message.type).toBe(ICMPV6_PARAMETER_PROBLEM);
    expect(message.code).toBe(1);
    expect(message.restOfHeader).toBe(6);
    expect([...message.body]).toEqual([...offending]);
    expect(counters.get('drop.unknown_protocol')).toBe(1);
    // Behind a destination options header, the pointer is that header's Next Header field.
    link.inject([ipv6Bytes({ nextHeader: 60, payload: concatBytes(optionsHeader(99), new Uint8Array(8)) })]);
    expect(icmpv6In(link.drain()[0]!).message.restOfHeader).toBe(40);
  });

  it('refuses a type 0 routing header (RFC 5095) and an unknown option of action 10 with Parameter Problem', () => {
    const { link, counters, udp } = setup();
    const datagram = encodeUdpDatagram(1000, 2000, new Uint8Array(4), HOST, STACK);
    link.inject([ipv6Bytes({ nextHeader: NEXT_HEADER_ROUTING, payload: concatBytes(routingHeader(PROTOCOL_UDP, 0, 1, 1), datagram) })]);
    let sent = icmpv6In(link.drain()[0]!);
    expect([sent.message.type, sent.message.code, sent.message.restOfHeader]).toEqual([ICMPV6_PARAMETER_PROBLEM, 0, 42]);
    expect(counters.get('drop.routing_type_0')).toBe(1);
    link.inject([ipv6Bytes({ nextHeader: 60, payload: concatBytes(optionsHeader(PROTOCOL_UDP, [0x80, 0]), datagram) })]);
    sent = icmpv6In(link.drain()[0]!);
    expect([sent.message.type, sent.message.code, sent.message.restOfHeader]).toEqual([ICMPV6_PARAMETER_PROBLEM, 2, 42]);
    expect(counters.get('drop.unknown_option')).toBe(1);
    expect(udp.received).toEqual([]);
  });
});

describe('ICMPv6 echo and the link-local groups', () => {
  it('answers an echo request byte for byte: same identifier, sequence and data, from our address', () => {
    const { link, icmp } = setup();
    const data = new Uint8Array(56).map((_, i) => i * 3);
    link.inject([echoRequest(data)]);
    const [reply] = link.drain();
    const parsed = parseIPv6Packet(reply!);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.header.source).toBe(STACK);
    expect(parsed.header.destination).toBe(HOST);
    expect(parsed.header.hopLimit).toBe(64);
    expect(parsed.header.flowLabel).not.toBe(0);
    const expected = encodeIcmpv6Message(ICMPV6_ECHO_REPLY, 0, (0x1234 << 16) | 7, data, STACK, HOST);
    expect([...reply!.subarray(IPV6_HEADER_LENGTH)]).toEqual([...expected]);
    expect(icmp.get('echo_replies')).toBe(1);
  });

  it('answers an echo to all-nodes from its unicast address, ignores other groups, counts neighbour discovery and MLD', () => {
    const { link, icmp, counters } = setup();
    const linkLocal = v6('fe80::1');
    link.inject([echoRequest(new Uint8Array(4), ALL_NODES, linkLocal)]);
    const [reply] = link.drain();
    const { header, message } = icmpv6In(reply!);
    expect(header.source).toBe(STACK);
    expect(header.destination).toBe(linkLocal);
    expect(message.type).toBe(ICMPV6_ECHO_REPLY);
    link.inject([echoRequest(new Uint8Array(4), v6('ff02::2'), linkLocal)]);
    const routerSolicitation = encodeIcmpv6Message(133, 0, 0, new Uint8Array(0), linkLocal, v6('ff02::2'));
    const neighbourSolicitation = encodeIcmpv6Message(135, 0, 0, new Uint8Array(16), linkLocal, v6('ff02::1:ff00:2'));
    const mldReport = encodeIcmpv6Message(143, 0, 0, new Uint8Array(0), linkLocal, v6('ff02::16'));
    link.inject([
      ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6, source: linkLocal, destination: v6('ff02::2'), hopLimit: 255, payload: routerSolicitation }),
      ipv6Bytes({
        nextHeader: PROTOCOL_ICMPV6,
        source: linkLocal,
        destination: v6('ff02::1:ff00:2'),
        hopLimit: 255,
        payload: neighbourSolicitation,
      }),
      ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6, source: linkLocal, destination: v6('ff02::16'), hopLimit: 1, payload: mldReport }),
      ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6, source: linkLocal, destination: v6('ff05::1'), payload: mldReport }),
    ]);
    expect(link.drain()).toEqual([]);
    expect(icmp.get('ignored_multicast_echo')).toBe(1);
    expect(icmp.get('ignored_ndp')).toBe(2);
    expect(icmp.get('ignored_mld')).toBe(1);
    expect(counters.get('drop.not_for_us')).toBe(1);
  });

  it('answers a ping of ::1 through local delivery, and drops ::1 from the link', async () => {
    const { link, ip, looped, counters } = setup();
    ip.receiveBatch([echoRequest(new Uint8Array(4), IPV6_LOOPBACK, IPV6_LOOPBACK)], 'loopback');
    await new Promise((resolve) => setImmediate(resolve));
    const [reply] = looped.flat();
    const { header, message } = icmpv6In(reply!);
    expect([header.source, header.destination, message.type]).toEqual([IPV6_LOOPBACK, IPV6_LOOPBACK, ICMPV6_ECHO_REPLY]);
    link.inject([echoRequest(new Uint8Array(4), IPV6_LOOPBACK, HOST)]);
    expect(link.drain()).toEqual([]);
    expect(counters.get('drop.not_for_us')).toBe(1);
  });

  it('drops an echo request with a bad checksum', () => {
    const { link, icmp } = setup();
    const packet = echoRequest(new Uint8Array(8));
    packet[IPV6_HEADER_LENGTH + 8] = 1;
    link.inject([packet]);
    expect(link.drain()).toEqual([]);
    expect(icmp.get('drop.bad_checksum')).toBe(1);
  });
});

/** A UDP datagram from HOST to STACK cut into fragments of `pieceLength` bytes (a multiple of 8). */
function fragments(payloadLength: number, pieceLength: number, identification = 77): { datagram: Uint8Array; pieces: Uint8Array[] } {
  const datagram = encodeUdpDatagram(
    1000,
    2000,
    new Uint8Array(payloadLength).map((_, i) => i & 0xff),
    HOST,
    STACK,
  );
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < datagram.length; offset += pieceLength) {
    const end = Math.min(offset + pieceLength, datagram.length);
    const header = fragmentHeader(PROTOCOL_UDP, offset, end < datagram.length, identification);
    pieces.push(ipv6Bytes({ nextHeader: NEXT_HEADER_FRAGMENT, payload: concatBytes(header, datagram.subarray(offset, end)) }));
  }
  return { datagram, pieces };
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('IPv6 reassembly (RFC 8200 4.5)', () => {
  it.each(permutations([0, 1, 2]).map((order) => [order.join(',')]))('reassembles three fragments in the order %s', (orderText) => {
    const { link, udp, counters } = setup();
    const { datagram, pieces } = fragments(2000, 680);
    for (const index of orderText.split(',').map(Number)) link.inject([pieces[index]!]);
    expect(udp.received).toHaveLength(1);
    const received = udp.received[0]!;
    expect([...received.payload]).toEqual([...datagram]);
    expect(received.transportChecksum).toBe('verify');
    if (received.family === 6) expect(received.header.nextHeader).toBe(PROTOCOL_UDP);
    expect(counters.get('reassembled')).toBe(1);
    expect(counters.get('fragments_received')).toBe(3);
  });

  it('processes an atomic fragment on its own (RFC 6946) beside a pending datagram of the same identification', () => {
    const { link, udp } = setup();
    const { pieces } = fragments(2000, 680, 5);
    link.inject([pieces[0]!]);
    const single = encodeUdpDatagram(1000, 2000, new Uint8Array([4, 2]), HOST, STACK);
    link.inject([ipv6Bytes({ nextHeader: NEXT_HEADER_FRAGMENT, payload: concatBytes(fragmentHeader(PROTOCOL_UDP, 0, false, 5), single) })]);
    expect(udp.received).toHaveLength(1);
    expect([...udp.received[0]!.payload]).toEqual([...single]);
    link.inject([pieces[1]!, pieces[2]!]);
    expect(udp.received).toHaveLength(2);
  });

  it('drops the whole datagram when fragments overlap (RFC 5722)', () => {
    const { link, udp, counters } = setup();
    const { datagram, pieces } = fragments(2000, 680);
    const overlapping = ipv6Bytes({
      nextHeader: NEXT_HEADER_FRAGMENT,
      payload: concatBytes(fragmentHeader(PROTOCOL_UDP, 672, true, 77), datagram.subarray(672, 672 + 680)),
    });
    link.inject([pieces[0]!, overlapping, pieces[1]!, pieces[2]!]);
    expect(udp.received).toEqual([]);
    expect(counters.get('drop.reassembly_overlap')).toBe(1);
  });

  it('sends Time Exceeded code 1 quoting the first fragment when reassembly times out, nothing without it', () => {
    const { link, time, counters } = setup();
    const { pieces } = fragments(2000, 680);
    link.inject([pieces[0]!, pieces[2]!]);
    time.advance(30_000);
    const [sent] = link.drain();
    const { header, message } = icmpv6In(sent!);
    expect(header.destination).toBe(HOST);
    expect([message.type, message.code]).toEqual([ICMPV6_TIME_EXCEEDED, ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED]);
    expect([...message.body]).toEqual([...pieces[0]!]);
    expect(counters.get('drop.reassembly_timeout')).toBe(1);
    const other = fragments(2000, 680, 78);
    link.inject([other.pieces[1]!]);
    time.advance(30_000);
    expect(link.drain()).toEqual([]);
    expect(counters.get('drop.reassembly_timeout')).toBe(2);
  });

  it('answers a fragment of bad length with Parameter Problem pointing at the payload length', () => {
    const { link, counters } = setup();
    const bad = ipv6Bytes({
      nextHeader: NEXT_HEADER_FRAGMENT,
      payload: concatBytes(fragmentHeader(PROTOCOL_UDP, 0, true, 1), new Uint8Array(13)),
    });
    link.inject([bad]);
    const { message } = icmpv6In(link.drain()[0]!);
    expect([message.type, message.code, message.restOfHeader]).toEqual([ICMPV6_PARAMETER_PROBLEM, 0, 4]);
    expect(counters.get('drop.bad_fragment_length')).toBe(1);
  });
});

describe('IPv6 output', () => {
  it('writes the header into the headroom, with a flow label stable per flow', () => {
    const { link, ip } = setup();
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(16));
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(16));
    const [first, second] = link.drain().map((packet) => parseIPv6Packet(packet));
    expect(first!.ok && second!.ok).toBe(true);
    if (!first!.ok || !second!.ok) return;
    expect(first!.header).toMatchObject({ source: STACK, destination: HOST, nextHeader: PROTOCOL_UDP, payloadLength: 16, hopLimit: 64 });
    expect(first!.header.flowLabel).toBe(second!.header.flowLabel);
    expect(first!.header.flowLabel).not.toBe(0);
  });

  it('fragments a datagram larger than the MTU with Fragment headers of one identification', () => {
    const { link, ip, counters } = setup();
    const packet = withHeadroom(4000);
    const payload = packet.slice(IPV6_HEADER_LENGTH);
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, packet);
    const sent = link.drain();
    expect(sent).toHaveLength(3);
    const rebuilt = new Uint8Array(payload.length);
    const identifications = new Set<number>();
    for (const [index, fragment] of sent.entries()) {
      expect(fragment.length).toBeLessThanOrEqual(1500);
      const parsed = parseIPv6Packet(fragment);
      if (!parsed.ok) throw new Error(parsed.reason);
      expect(parsed.header.nextHeader).toBe(NEXT_HEADER_FRAGMENT);
      expect(fragment[40]).toBe(PROTOCOL_UDP);
      const offsetFlags = (fragment[42]! << 8) | fragment[43]!;
      expect(offsetFlags & 1).toBe(index < 2 ? 1 : 0);
      identifications.add(new DataView(fragment.buffer, fragment.byteOffset).getUint32(44));
      rebuilt.set(fragment.subarray(48), offsetFlags & 0xfff8);
      if (index < 2) expect((fragment.length - 48) % 8).toBe(0);
    }
    expect(identifications.size).toBe(1);
    expect([...rebuilt]).toEqual([...payload]);
    expect(counters.get('fragments_sent')).toBe(3);
  });

  it('delivers to our address and ::1 locally, and drops a source not ours, martian destinations and jumbograms', () => {
    const { link, ip, looped, counters } = setup();
    expect(ip.localAddressFor(IPV6_LOOPBACK)).toBe(IPV6_LOOPBACK);
    expect(ip.localAddressFor(HOST)).toBe(STACK);
    expect(ip.isLocalAddress(IPV6_LOOPBACK)).toBe(true);
    ip.sendTransport(PROTOCOL_UDP, STACK, STACK, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, IPV6_LOOPBACK, IPV6_LOOPBACK, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, HOST, v6('fd00::9'), withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, STACK, ALL_NODES, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, STACK4, HOST, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(65536));
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        expect(looped.flat()).toHaveLength(2);
        expect(link.drain()).toEqual([]);
        expect(counters.get('drop.bad_source')).toBe(1);
        expect(counters.get('drop.martian_destination_multicast')).toBe(1);
        expect(counters.get('drop.family_mismatch')).toBe(1);
        expect(counters.get('drop.too_big')).toBe(1);
        resolve();
      });
    });
  });
});

describe('ICMPv6 errors sent', () => {
  function receivedUdp(fields: { source?: IPv6Address; destination?: IPv6Address } = {}) {
    const { link, ip, udp, icmp } = setup({ icmpErrorRate: 3 });
    link.inject([udpPacket(new Uint8Array(4), fields)]);
    return { link, ip, udp, icmp };
  }

  it('answers sendPortUnreachable with destination unreachable code 4 quoting the datagram, rate limited', () => {
    const { link, ip, udp, icmp } = receivedUdp();
    const offending = udp.received[0]!;
    ip.sendPortUnreachable(offending);
    const { header, message } = icmpv6In(link.drain()[0]!);
    expect(header.destination).toBe(HOST);
    expect([message.type, message.code]).toEqual([ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE]);
    expect([...message.body]).toEqual([...offending.packet]);
    for (let i = 0; i < 5; i++) ip.sendPortUnreachable(offending);
    expect(link.drain()).toHaveLength(2);
    expect(icmp.get('errors_rate_limited')).toBe(3);
  });

  it('never answers a datagram to a multicast group, or an ICMPv6 error', () => {
    const { link, ip, udp, icmp } = receivedUdp();
    const offending = udp.received[0]!;
    const toGroup = udpPacket(new Uint8Array(4), { destination: ALL_NODES });
    ip.sendPortUnreachable({ ...offending, packet: toGroup });
    const error = encodeIcmpv6Error(ICMPV6_DEST_UNREACHABLE, 0, 0, toGroup, HOST, STACK);
    ip.sendPortUnreachable({ ...offending, packet: ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6, payload: error }) });
    expect(link.drain()).toEqual([]);
    expect(icmp.get('errors_not_allowed')).toBe(2);
  });
});

describe('ICMPv6 errors received', () => {
  /** An ICMPv6 error from HOST about a UDP datagram of `length` payload bytes that STACK sent to `to`. */
  function errorAbout(
    type: number,
    code: number,
    restOfHeader: number,
    fields: { from?: IPv6Address; to?: IPv6Address; length?: number } = {},
  ): Uint8Array {
    const from = fields.from ?? STACK;
    const to = fields.to ?? v6('fd00:1::5');
    const quoted = ipv6Bytes({
      nextHeader: PROTOCOL_UDP,
      source: from,
      destination: to,
      payload: encodeUdpDatagram(2000, 53, new Uint8Array(fields.length ?? 4), from, to),
    });
    return ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6, payload: encodeIcmpv6Error(type, code, restOfHeader, quoted, HOST, STACK) });
  }

  it('maps destination unreachable to the socket error Linux reports and hands it to the transport', () => {
    const { link, udp } = setup();
    link.inject([
      errorAbout(ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0),
      errorAbout(ICMPV6_DEST_UNREACHABLE, ICMPV6_NO_ROUTE, 0),
      errorAbout(ICMPV6_DEST_UNREACHABLE, ICMPV6_ADMINISTRATIVELY_PROHIBITED, 0),
      errorAbout(ICMPV6_TIME_EXCEEDED, 0, 0),
      errorAbout(ICMPV6_PARAMETER_PROBLEM, 0, 6),
    ]);
    expect(udp.errors.map(({ error }) => [error.code, error.hard])).toEqual([
      ['ECONNREFUSED', true],
      ['ENETUNREACH', false],
      ['EACCES', true],
      ['EHOSTUNREACH', false],
      ['EPROTO', true],
    ]);
    const quote = udp.errors[0]!.quote;
    expect(quote).toMatchObject({
      protocol: PROTOCOL_UDP,
      source: STACK,
      destination: v6('fd00:1::5'),
      sourcePort: 2000,
      destinationPort: 53,
    });
    expect(link.drain()).toEqual([]);
  });

  it('ignores an error quoting a packet we did not send', () => {
    const { link, udp, icmp } = setup();
    link.inject([errorAbout(ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0, { from: v6('fd00::7') })]);
    expect(udp.errors).toEqual([]);
    expect(icmp.get('drop.bad_error_quote')).toBe(1);
  });

  it('lowers the path MTU on Packet Too Big about a packet in flight, never below 1280, and fragments to it', () => {
    const { link, ip, udp, icmp } = setup();
    const far = v6('fd00:1::5');
    link.inject([errorAbout(ICMPV6_PACKET_TOO_BIG, 0, 1400, { length: 1452 })]);
    expect(udp.pathMtus.map(({ pathMtu }) => pathMtu)).toEqual([1400]);
    expect(udp.errors).toEqual([]);
    expect(ip.pathMtu(far)).toBe(1400);
    expect(ip.pathMtu(HOST)).toBe(1500);
    link.inject([errorAbout(ICMPV6_PACKET_TOO_BIG, 0, 1000, { length: 1452 })]);
    expect(ip.pathMtu(far)).toBe(1400);
    expect(icmp.get('packet_too_big_received')).toBe(2);
    udp.quotesInFlight = false;
    link.inject([errorAbout(ICMPV6_PACKET_TOO_BIG, 0, 1300, { length: 1452 })]);
    expect(ip.pathMtu(far)).toBe(1400);
    expect(icmp.get('drop.packet_too_big_not_in_flight')).toBe(1);
    ip.sendTransport(PROTOCOL_UDP, STACK, far, withHeadroom(1420));
    const sent = link.drain();
    expect(sent).toHaveLength(2);
    expect(Math.max(...sent.map((packet) => packet.length))).toBeLessThanOrEqual(1400);
  });
});
