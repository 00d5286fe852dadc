/**
 * The IPv4 layer with crafted packets, first through a whole Stack (drops by reason, protocol
 * unreachable for protocols we do not speak, rate limited, fragmentation of what we send), then
 * the NetworkLayer class on its own: demultiplexing to a registered transport, local delivery,
 * ICMP echo, errors sent and received, the reassembly timer, identification and DF.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { CounterSet } from '../../../src/counters.js';
import { NetworkLayer } from '../../../src/ip/ip-layer.js';
import type { IcmpSocketError } from '../../../src/ip/icmp-errors.js';
import type { ReceivedPacket, TransportProtocol, TransportQuote } from '../../../src/ip/transport-contract.js';
import { silentLogger } from '../../../src/log.js';
import { LOOPBACK_ADDRESS, parseIPv4Address } from '../../../src/wire/address.js';
import {
  encodeEchoRequest,
  encodeIcmpError,
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  FRAGMENTATION_NEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_TIME_EXCEEDED,
  parseIcmpMessage,
  PORT_UNREACHABLE,
  PROTOCOL_UNREACHABLE,
  type IcmpErrorQuote,
} from '../../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, writeIPv4Header } from '../../../src/wire/ipv4.js';
import { mulberry32, seededRandom } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { ManualTime } from '../../support/manual-time.js';

const HOST = parseIPv4Address('10.0.0.1')!;
const STACK = parseIPv4Address('10.0.0.2')!;

interface PacketFields {
  source?: number;
  destination?: number;
  ttl?: number;
  identification?: number;
  moreFragments?: boolean;
  fragmentOffset?: number;
}

function packet(protocol: number, payload: Uint8Array, fields: PacketFields = {}): Uint8Array {
  const bytes = new Uint8Array(IPV4_MIN_HEADER + payload.length);
  writeIPv4Header(bytes, 0, {
    source: fields.source ?? HOST,
    destination: fields.destination ?? STACK,
    protocol,
    payloadLength: payload.length,
    ttl: fields.ttl ?? 64,
    identification: fields.identification ?? 0,
    moreFragments: fields.moreFragments ?? false,
    fragmentOffset: fields.fragmentOffset ?? 0,
  });
  bytes.set(payload, IPV4_MIN_HEADER);
  return bytes;
}

function setup(options: { icmpErrorRate?: number } = {}) {
  const link = new ReplayLink(1500);
  const clock = new FakeClock(0);
  const stack = new Stack({ link, address: STACK, clock, manualTimers: true, icmpErrorRate: options.icmpErrorRate });
  return { link, time: ManualTime.of(stack), stack };
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
    const { link, time, stack } = setup({ icmpErrorRate: 5 });
    for (let i = 0; i < 20; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(5);
    expect(stack.counters('icmp').get('errors_rate_limited')).toBe(15);
    time.advance(1000);
    for (let i = 0; i < 20; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(5);
  });

  it('drops and counts datagrams for other addresses, with TTL 0, and malformed headers', () => {
    const { link, stack } = setup();
    const echo = encodeEchoRequest(1, 1, new Uint8Array(8));
    link.inject([packet(PROTOCOL_ICMP, echo, { destination: parseIPv4Address('10.0.0.3')! })]);
    link.inject([packet(PROTOCOL_ICMP, echo, { ttl: 0 })]);
    const badVersion = packet(PROTOCOL_ICMP, echo);
    badVersion[0] = 0x75; // version 7: 6 is IPv6, which its own layer reads
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

/** A transport that records what the IPv4 layer hands it. */
class RecordingTransport implements TransportProtocol {
  readonly received: ReceivedPacket[] = [];
  readonly errors: Array<{ error: IcmpSocketError; quote: TransportQuote }> = [];
  throwOnReceive = false;

  receive(received: ReceivedPacket): void {
    if (this.throwOnReceive) throw new Error('transport bug');
    this.received.push({ ...received, payload: received.payload.slice() });
  }

  receiveIcmpError(error: IcmpSocketError, quote: TransportQuote): void {
    this.errors.push({ error, quote });
  }

  readonly pathMtus: Array<{ quote: IcmpErrorQuote; pathMtu: number }> = [];
  /** What receivePathMtuReduced answers: is the quoted datagram one in flight? */
  quotesInFlight = true;

  receivePathMtuReduced(quote: IcmpErrorQuote, pathMtu: number): boolean {
    this.pathMtus.push({ quote, pathMtu });
    return this.quotesInFlight;
  }
}

function layerSetup(options: { icmpErrorRate?: number; reassemblyTimeoutMs?: number; copiesOnSend?: boolean } = {}) {
  const link = options.copiesOnSend ? new CopyingReplayLink(1500) : new ReplayLink(1500);
  const time = new ManualTime();
  const counterSet = new CounterSet();
  const looped: Uint8Array[][] = [];
  const ip = new NetworkLayer({
    address: STACK,
    link,
    clock: time.clock,
    timers: time.timers,
    random: seededRandom(1),
    logger: silentLogger,
    counterSet,
    icmpErrorRate: options.icmpErrorRate ?? 100,
    reassemblyTimeoutMs: options.reassemblyTimeoutMs ?? 30_000,
    reassemblyMaxBytes: 1024 * 1024,
    loopback: (packets) => looped.push([...packets]),
  });
  link.setReceiver((packets) => ip.receiveBatch(packets));
  const udp = new RecordingTransport();
  ip.register(PROTOCOL_UDP, udp);
  return { link, time, ip, ipCounters: counterSet.layer('ip'), icmpCounters: counterSet.layer('icmp'), looped, udp };
}

/** A ReplayLink that keeps a copy of each packet sent, as Link.copiesOnSend promises. */
class CopyingReplayLink extends ReplayLink {
  readonly copiesOnSend = true;

  override send(packet: Uint8Array): void {
    super.send(packet.slice());
  }
}

/** The ICMP message in a packet the layer sent. */
function icmpIn(sent: Uint8Array) {
  const ip = parseIPv4Packet(sent);
  if (!ip.ok) throw new Error(`unparseable packet: ${ip.reason}`);
  expect(ip.header.protocol).toBe(PROTOCOL_ICMP);
  const icmp = parseIcmpMessage(ip.payload);
  if (!icmp.ok) throw new Error(`unparseable ICMP: ${icmp.reason}`);
  return { header: ip.header, message: icmp.message };
}

/** A transport payload with the IPV4_MIN_HEADER headroom sendTransport expects. */
function withHeadroom(payloadLength: number): Uint8Array {
  return new Uint8Array(IPV4_MIN_HEADER + payloadLength).map((_, i) => (i < IPV4_MIN_HEADER ? 0 : i & 0xff));
}

describe('NetworkLayer input', () => {
  it('hands a datagram for us to the transport registered for its protocol', () => {
    const { link, ip, ipCounters, udp } = layerSetup();
    const datagram = packet(PROTOCOL_UDP, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    link.inject([datagram]);
    expect(udp.received).toHaveLength(1);
    expect(udp.received[0]!.header.source).toBe(HOST);
    expect([...udp.received[0]!.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ip.transportFor(PROTOCOL_UDP)).toBe(udp);
    expect(ipCounters.get('delivered')).toBe(1);
    expect(link.drain()).toEqual([]);
  });

  it('drops what fails validation, is for another address or has TTL 0, before any transport sees it', () => {
    const { link, ipCounters, udp } = layerSetup();
    const badChecksum = packet(PROTOCOL_UDP, new Uint8Array(8));
    badChecksum[10]! ^= 0xff;
    link.inject([
      packet(PROTOCOL_UDP, new Uint8Array(8), { destination: parseIPv4Address('10.0.0.3')! }),
      packet(PROTOCOL_UDP, new Uint8Array(8), { ttl: 0 }),
      new Uint8Array(12),
      badChecksum,
    ]);
    expect(udp.received).toEqual([]);
    expect(ipCounters.get('drop.not_for_us')).toBe(1);
    expect(ipCounters.get('drop.ttl_zero')).toBe(1);
    expect(ipCounters.get('drop.truncated')).toBe(1);
    expect(ipCounters.get('dropped')).toBe(4);
    expect(ipCounters.get('delivered')).toBe(0);
  });

  it('counts a transport that throws as an internal error and goes on with the batch', () => {
    const { link, ipCounters, udp } = layerSetup();
    udp.throwOnReceive = true;
    link.inject([packet(PROTOCOL_UDP, new Uint8Array(8)), packet(PROTOCOL_UDP, new Uint8Array(8))]);
    expect(ipCounters.get('drop.internal_error')).toBe(2);
    expect(ipCounters.get('received')).toBe(2);
  });

  it('answers a protocol nobody registered with protocol unreachable', () => {
    const { link, ipCounters } = layerSetup();
    link.inject([packet(PROTOCOL_TCP, new Uint8Array(20))]);
    const [reply] = link.drain();
    const { header, message } = icmpIn(reply!);
    expect(header.destination).toBe(HOST);
    expect([message.type, message.code]).toEqual([ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE]);
    expect(ipCounters.get('drop.unknown_protocol')).toBe(1);
  });

  it('answers an echo request with the same identifier, sequence number and data (RFC 792)', () => {
    const { link, icmpCounters } = layerSetup();
    const data = new Uint8Array([9, 8, 7, 6, 5]);
    link.inject([packet(PROTOCOL_ICMP, encodeEchoRequest(0x1234, 7, data))]);
    const sent = link.drain();
    expect(sent).toHaveLength(1);
    const { header, message } = icmpIn(sent[0]!);
    expect([header.source, header.destination]).toEqual([STACK, HOST]);
    expect(message.type).toBe(ICMP_ECHO_REPLY);
    expect(message.restOfHeader).toBe((0x1234 << 16) | 7);
    expect([...message.body]).toEqual([...data]);
    expect(icmpCounters.get('echo_replies')).toBe(1);
  });

  it('rate-limits the errors it sends, refilling with time', () => {
    const { link, time, icmpCounters } = layerSetup({ icmpErrorRate: 2 });
    for (let i = 0; i < 5; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(2);
    expect(icmpCounters.get('errors_rate_limited')).toBe(3);
    time.advance(500);
    for (let i = 0; i < 5; i++) link.inject([packet(99, new Uint8Array(8))]);
    expect(link.drain()).toHaveLength(1);
    expect(icmpCounters.get('errors_sent')).toBe(3);
  });

  it('sends time exceeded (reassembly) when a datagram whose first fragment arrived times out', () => {
    const { link, time, ipCounters } = layerSetup({ reassemblyTimeoutMs: 1000 });
    const first = packet(PROTOCOL_UDP, new Uint8Array(16).fill(0xab), { identification: 77, moreFragments: true });
    link.inject([first]);
    time.advance(999);
    expect(link.drain()).toEqual([]);
    time.advance(1);
    const sent = link.drain();
    expect(sent).toHaveLength(1);
    const { header, message } = icmpIn(sent[0]!);
    expect(header.destination).toBe(HOST);
    expect([message.type, message.code]).toEqual([ICMP_TIME_EXCEEDED, FRAGMENT_REASSEMBLY_TIME_EXCEEDED]);
    expect(Buffer.compare(message.body.subarray(0, IPV4_MIN_HEADER + 8), first.subarray(0, IPV4_MIN_HEADER + 8))).toBe(0);
    expect(ipCounters.get('fragments_received')).toBe(1);
  });

  it('stays silent when a datagram times out without its first fragment (RFC 1122 3.2.1.4)', () => {
    const { link, time, ip } = layerSetup({ reassemblyTimeoutMs: 1000 });
    link.inject([packet(PROTOCOL_UDP, new Uint8Array(16), { identification: 78, fragmentOffset: 16 })]);
    expect(ip.reassemblyStats().pending).toBe(1);
    time.advance(1000);
    expect(link.drain()).toEqual([]);
    expect(ip.reassemblyStats()).toEqual({ pending: 0, heldBytes: 0 });
  });

  it('passes a received ICMP error to the transport whose datagram it quotes', () => {
    const { link, ip, icmpCounters, udp } = layerSetup();
    const ours = withHeadroom(8);
    ours.set([0xc0, 0x00, 0x00, 0x35], IPV4_MIN_HEADER); // ports 49152 -> 53
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, ours);
    const [sent] = link.drain();
    link.inject([packet(PROTOCOL_ICMP, encodeIcmpError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, sent!))]);
    expect(udp.errors).toHaveLength(1);
    expect(udp.errors[0]).toMatchObject({
      error: { code: 'ECONNREFUSED', hard: true },
      quote: { protocol: PROTOCOL_UDP, source: STACK, destination: HOST, sourcePort: 49152, destinationPort: 53 },
    });
    expect(icmpCounters.get('errors_received')).toBe(1);
  });

  it('drops an ICMP error that quotes a datagram we did not send', () => {
    const { link, icmpCounters, udp } = layerSetup();
    const notOurs = packet(PROTOCOL_UDP, new Uint8Array(8), { source: HOST, destination: parseIPv4Address('10.0.0.9')! });
    link.inject([packet(PROTOCOL_ICMP, encodeIcmpError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, notOurs))]);
    expect(udp.errors).toEqual([]);
    expect(icmpCounters.get('drop.bad_error_quote')).toBe(1);
  });
});

describe('NetworkLayer output', () => {
  it('writes the header into the headroom with an identification that advances by one', () => {
    const { link, ip } = layerSetup();
    const expectedFirst = (Math.floor(seededRandom(1).float() * 0x10000) + 1) & 0xffff;
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(8));
    const headers = link.drain().map((sent) => {
      const parsed = parseIPv4Packet(sent);
      if (!parsed.ok) throw new Error(parsed.reason);
      return parsed.header;
    });
    expect(headers.map((header) => header.identification)).toEqual([expectedFirst, (expectedFirst + 1) & 0xffff]);
    expect(headers[0]).toMatchObject({ source: STACK, destination: HOST, protocol: PROTOCOL_UDP, totalLength: IPV4_MIN_HEADER + 8 });
  });

  it('delivers datagrams to our own address locally, batched on a later turn of the event loop', async () => {
    const { link, ip, ipCounters, looped } = layerSetup();
    ip.sendTransport(PROTOCOL_UDP, STACK, STACK, withHeadroom(8));
    ip.sendTransport(PROTOCOL_UDP, STACK, STACK, withHeadroom(4));
    expect(looped).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(looped).toHaveLength(1);
    expect(looped[0]!.map((p) => p.length)).toEqual([IPV4_MIN_HEADER + 8, IPV4_MIN_HEADER + 4]);
    expect(link.drain()).toEqual([]);
    expect(ipCounters.get('looped_back')).toBe(2);
    expect(ipCounters.get('sent')).toBe(0);
  });

  it('fragments what exceeds the MTU, and drops it (counted, never thrown) when DF is set', () => {
    const { link, ip, ipCounters } = layerSetup();
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(4000));
    const fragments = link.drain();
    expect(fragments).toHaveLength(3);
    expect(fragments.every((fragment) => fragment.length <= 1500)).toBe(true);
    expect(ipCounters.get('fragments_sent')).toBe(3);
    expect(() => ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(4000), true)).not.toThrow();
    expect(ipCounters.get('drop.too_big_df')).toBe(1);
    expect(link.drain()).toEqual([]);
  });

  it('hands out reused packet memory only for a link that copies on send, and never for our own address', () => {
    const { ip } = layerSetup();
    expect(ip.packetBuffer(HOST, 60).buffer).not.toBe(ip.packetBuffer(HOST, 60).buffer);
    const copying = layerSetup({ copiesOnSend: true });
    const first = copying.ip.packetBuffer(HOST, 1500);
    expect(first.length).toBe(1500);
    expect(copying.ip.packetBuffer(HOST, 40).buffer).toBe(first.buffer);
    // A packet to ourselves or to 127.0.0.1 waits in the loopback queue: memory of its own.
    expect(copying.ip.packetBuffer(STACK, 40).buffer).not.toBe(first.buffer);
    expect(copying.ip.packetBuffer(LOOPBACK_ADDRESS, 40).buffer).not.toBe(first.buffer);
  });

  it('sends nothing once closed', () => {
    const { link, ip } = layerSetup();
    ip.close();
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(8));
    expect(link.drain()).toEqual([]);
  });
});

describe('NetworkLayer path MTU discovery (RFC 1191)', () => {
  /** The layer with a recording transport for TCP too (whose datagrams carry DF). */
  function pmtuSetup() {
    const layer = layerSetup();
    const tcp = new RecordingTransport();
    layer.ip.register(PROTOCOL_TCP, tcp);
    return { ...layer, tcp };
  }

  /** A DF TCP datagram of `totalLength` bytes the layer sent to HOST (ports 49152 -> 80). */
  function sentDfTcp(layer: ReturnType<typeof pmtuSetup>, totalLength = 1500): Uint8Array {
    const datagram = withHeadroom(totalLength - IPV4_MIN_HEADER);
    datagram.set([0xc0, 0x00, 0x00, 0x50], IPV4_MIN_HEADER);
    layer.ip.sendTransport(PROTOCOL_TCP, STACK, HOST, datagram, true);
    const [sent] = layer.link.drain();
    return sent!;
  }

  /** A router's fragmentation needed about `offending`, with `nextHopMtu` in bytes 6-7. */
  function fragmentationNeeded(offending: Uint8Array, nextHopMtu: number): Uint8Array {
    return packet(PROTOCOL_ICMP, encodeIcmpError(ICMP_DEST_UNREACHABLE, FRAGMENTATION_NEEDED, offending, nextHopMtu));
  }

  it('lowers the estimate for the quoted destination and hands the transport the new MTU, not an error', () => {
    const layer = pmtuSetup();
    const { link, ip, ipCounters, icmpCounters, tcp } = layer;
    expect(ip.pathMtu(HOST)).toBe(1500);
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    expect(ip.pathMtu(HOST)).toBe(1000);
    expect(ip.pathMtu(parseIPv4Address('10.0.0.9')!)).toBe(1500);
    expect(tcp.errors).toEqual([]);
    expect(tcp.pathMtus).toHaveLength(1);
    expect(tcp.pathMtus[0]).toMatchObject({
      pathMtu: 1000,
      quote: { protocol: PROTOCOL_TCP, destination: HOST, sourcePort: 49152, totalLength: 1500 },
    });
    expect(ipCounters.get('pmtu_reduced')).toBe(1);
    expect(icmpCounters.get('frag_needed_received')).toBe(1);

    // A second message for the same MTU (another segment of the same flight) still reaches the
    // transport: a connection that has not resized yet needs it.
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    expect(tcp.pathMtus.map((report) => report.pathMtu)).toEqual([1000, 1000]);
    expect(ipCounters.get('pmtu_confirmed')).toBe(1);
  });

  it('leaves the estimate alone when the transport does not have the quoted datagram in flight (RFC 5927 4.1)', () => {
    const layer = pmtuSetup();
    const { link, ip, icmpCounters, ipCounters, tcp } = layer;
    tcp.quotesInFlight = false;
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    expect(tcp.pathMtus).toHaveLength(1);
    expect(ip.pathMtu(HOST)).toBe(1500);
    expect(icmpCounters.get('drop.frag_needed_not_in_flight')).toBe(1);
    expect(ipCounters.get('pmtu_reduced')).toBe(0);
  });

  it('fragments datagrams without DF to the path MTU and leaves DF ones to their transport', () => {
    const layer = pmtuSetup();
    const { link, ip } = layer;
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    ip.sendTransport(PROTOCOL_UDP, STACK, HOST, withHeadroom(1400));
    const fragments = link.drain();
    expect(fragments).toHaveLength(2);
    expect(Math.max(...fragments.map((fragment) => fragment.length))).toBeLessThanOrEqual(1000);
    // Another destination is not affected.
    ip.sendTransport(PROTOCOL_UDP, STACK, parseIPv4Address('10.0.0.9')!, withHeadroom(1400));
    expect(link.drain()).toHaveLength(1);
    // A DF datagram that fits the link goes out whole: TCP sized it (and learns from the router).
    ip.sendTransport(PROTOCOL_TCP, STACK, HOST, withHeadroom(1400), true);
    expect(link.drain().map((sent) => sent.length)).toEqual([1420]);
  });

  it('uses the RFC 1191 plateau below the quoted length when an old router gives no MTU', () => {
    const layer = pmtuSetup();
    layer.link.inject([fragmentationNeeded(sentDfTcp(layer, 1500), 0)]);
    expect(layer.ip.pathMtu(HOST)).toBe(1492);
    layer.link.inject([fragmentationNeeded(sentDfTcp(layer, 1492), 0)]);
    expect(layer.ip.pathMtu(HOST)).toBe(1006);
    expect(layer.tcp.pathMtus.map((report) => report.pathMtu)).toEqual([1492, 1006]);
  });

  it('counts and ignores a report that would raise the estimate, is below 68, or is not below the datagram', () => {
    const layer = pmtuSetup();
    const { link, ip, ipCounters, tcp } = layer;
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1200)]);
    expect(ipCounters.get('drop.pmtu_increase')).toBe(1);
    link.inject([fragmentationNeeded(sentDfTcp(layer, 1000), 40)]);
    expect(ipCounters.get('drop.pmtu_below_minimum')).toBe(1);
    link.inject([fragmentationNeeded(sentDfTcp(layer, 600), 600)]);
    expect(ipCounters.get('drop.pmtu_not_below_datagram')).toBe(1);
    expect(ip.pathMtu(HOST)).toBe(1000);
    expect(tcp.pathMtus).toHaveLength(1);
    expect(tcp.errors).toEqual([]);
  });

  it('ignores fragmentation needed quoting a datagram we did not send, or one sent without DF', () => {
    const layer = pmtuSetup();
    const { link, ip, icmpCounters, tcp } = layer;
    const notOurs = packet(PROTOCOL_TCP, new Uint8Array(1480), { source: HOST, destination: parseIPv4Address('10.0.0.9')! });
    link.inject([fragmentationNeeded(notOurs, 576)]);
    expect(icmpCounters.get('drop.bad_error_quote')).toBe(1);
    const withoutDf = withHeadroom(1480);
    ip.sendTransport(PROTOCOL_TCP, STACK, HOST, withoutDf);
    const [sent] = link.drain();
    link.inject([fragmentationNeeded(sent!, 576)]);
    expect(icmpCounters.get('drop.frag_needed_without_df')).toBe(1);
    expect(ip.pathMtu(HOST)).toBe(1500);
    expect(tcp.pathMtus).toEqual([]);
    expect(tcp.errors).toEqual([]);
  });

  it('raises the estimate back to the link MTU ten minutes after it was lowered (RFC 1191 6.3)', () => {
    const layer = pmtuSetup();
    const { link, ip, ipCounters, time } = layer;
    link.inject([fragmentationNeeded(sentDfTcp(layer), 1000)]);
    time.advance(10 * 60 * 1000 - 1);
    expect(ip.pathMtu(HOST)).toBe(1000);
    time.advance(1);
    expect(ip.pathMtu(HOST)).toBe(1500);
    expect(ipCounters.get('pmtu_expired')).toBe(1);
  });
});
