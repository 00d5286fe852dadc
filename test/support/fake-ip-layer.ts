/**
 * A fake IP layer for transport tests in either family, without the real IP layers: it implements
 * the contract (src/ip/transport-contract.ts) over one IPv4 and one IPv6 address, records what the
 * transports send, and delivers packets to them as the IP layer would (family, header, payload).
 * Two of them joined by `pair()` carry each other's packets when `pump()` is called, so two TCP or
 * UDP layers can talk over IPv6 before (or beside) the stack's IPv6 layer.
 */
import { Counters } from '../../src/counters.js';
import type { IpLayer, ReceivedPacket, TransportProtocol } from '../../src/ip/transport-contract.js';
import { silentLogger } from '../../src/log.js';
import { seededRandom, type RandomSource } from '../../src/random.js';
import { LOOPBACK_ADDRESS, type IPv4Address } from '../../src/wire/address.js';
import { IPV6_LOOPBACK, parseIPv6Address, type IPAddress, type IPv6Address } from '../../src/wire/address6.js';
import { ipHeaderLength } from '../../src/wire/ip.js';
import { ManualTime } from './manual-time.js';

/** An IPv6 address from its text (a test constant). */
export function ipv6(text: string): IPv6Address {
  const parsed = parseIPv6Address(text);
  if (parsed === undefined) throw new Error(`bad test address ${text}`);
  return parsed;
}

/** A packet a transport handed to the fake IP layer. */
export interface SentPacket {
  protocol: number;
  source: IPAddress;
  destination: IPAddress;
  /** The transport bytes (after the IP headroom), copied. */
  transport: Uint8Array;
  dontFragment: boolean;
  segmentSize: number | undefined;
}

export interface FakeIpOptions {
  address: IPv4Address;
  address6: IPv6Address | undefined;
  mtu?: number;
  time?: ManualTime;
  random?: RandomSource;
}

export class FakeIpLayer implements IpLayer {
  readonly address: IPv4Address;
  readonly address6: IPv6Address | undefined;
  readonly mtu: number;
  readonly time: ManualTime;
  readonly random: RandomSource;
  readonly logger = silentLogger;
  /** Everything the transports sent, in order (pump() takes it from here). */
  readonly sent: SentPacket[] = [];
  /** The packets the transports answered with a port unreachable. */
  readonly portUnreachables: ReceivedPacket[] = [];
  /** Path MTUs below the link's, by destination (what ICMP would have taught the IP layer). */
  readonly pathMtus = new Map<IPAddress, number>();
  /** The link segments TCP super-segments (TSO). */
  tcpSegmentation = false;
  private readonly transports = new Map<number, TransportProtocol>();
  private readonly layers = new Map<string, Counters>();
  private peer: FakeIpLayer | undefined;

  constructor(options: FakeIpOptions) {
    this.address = options.address;
    this.address6 = options.address6;
    this.mtu = options.mtu ?? 1500;
    this.time = options.time ?? new ManualTime();
    this.random = options.random ?? seededRandom(options.address);
  }

  get clock(): ManualTime['clock'] {
    return this.time.clock;
  }

  get timers(): ManualTime['timers'] {
    return this.time.timers;
  }

  /** Join two fake layers back to back, sharing one time. */
  static pair(a: Omit<FakeIpOptions, 'time'>, b: Omit<FakeIpOptions, 'time'>): [FakeIpLayer, FakeIpLayer] {
    const time = new ManualTime();
    const left = new FakeIpLayer({ ...a, time });
    const right = new FakeIpLayer({ ...b, time });
    left.peer = right;
    right.peer = left;
    return [left, right];
  }

  register(protocol: number, transport: TransportProtocol): void {
    this.transports.set(protocol, transport);
  }

  counters(layer: string): Counters {
    let counters = this.layers.get(layer);
    if (counters === undefined) {
      counters = new Counters(layer);
      this.layers.set(layer, counters);
    }
    return counters;
  }

  localAddressFor<A extends IPAddress>(remote: A): A {
    if (typeof remote === 'number') return (remote === LOOPBACK_ADDRESS ? LOOPBACK_ADDRESS : this.address) as A;
    if (remote === IPV6_LOOPBACK) return remote;
    if (this.address6 === undefined) throw new Error('FakeIpLayer: no IPv6 address');
    return this.address6 as A;
  }

  isLocalAddress(address: IPAddress): boolean {
    return (
      address === this.address ||
      address === LOOPBACK_ADDRESS ||
      address === IPV6_LOOPBACK ||
      (this.address6 !== undefined && address === this.address6)
    );
  }

  setTransparent(): void {}

  pathMtu(destination: IPAddress): number {
    return this.pathMtus.get(destination) ?? this.mtu;
  }

  sendTransport(
    protocol: number,
    source: IPAddress,
    destination: IPAddress,
    packet: Uint8Array,
    dontFragment = false,
    segmentSize?: number,
  ): void {
    if (typeof source !== typeof destination) throw new Error('FakeIpLayer: a source and a destination of different families');
    this.sent.push({ protocol, source, destination, transport: packet.slice(ipHeaderLength(destination)), dontFragment, segmentSize });
  }

  packetBuffer(_destination: IPAddress, length: number): Uint8Array {
    return new Uint8Array(length);
  }

  tcpSegmentationTo(destination: IPAddress): boolean {
    return this.tcpSegmentation && !this.isLocalAddress(destination);
  }

  transmitQueueFull(): boolean {
    return false;
  }

  sendPortUnreachable(offending: ReceivedPacket): void {
    this.portUnreachables.push(offending);
  }

  /** Hand `transport` bytes from `source` to `destination` (ours) to the transport of `protocol`. */
  deliver(protocol: number, source: IPAddress, destination: IPAddress, transport: Uint8Array): void {
    const receiver = this.transports.get(protocol);
    if (receiver === undefined) throw new Error(`FakeIpLayer: no transport for protocol ${protocol}`);
    receiver.receive(receivedPacket(protocol, source, destination, transport));
    receiver.endOfBatch?.();
  }

  /**
   * Carry the packets both sides sent to the other, in batches, until neither sends more (at most
   * `maxRounds` rounds). `keep` decides each packet's fate (false: lost on the way).
   */
  pump(keep: (packet: SentPacket) => boolean = () => true, maxRounds = 10_000): void {
    const peer = this.peer;
    if (peer === undefined) throw new Error('FakeIpLayer: not paired');
    for (let round = 0; round < maxRounds; round++) {
      if (this.sent.length === 0 && peer.sent.length === 0) return;
      for (const [from, to] of [
        [this, peer],
        [peer, this],
      ] as const) {
        for (const packet of from.sent.splice(0)) {
          if (keep(packet)) to.deliver(packet.protocol, packet.source, packet.destination, packet.transport);
        }
      }
    }
    throw new Error('FakeIpLayer.pump: the two sides never went quiet');
  }
}

/** What the IP layer of the destination's family hands a transport for these bytes. */
function receivedPacket(protocol: number, source: IPAddress, destination: IPAddress, payload: Uint8Array): ReceivedPacket {
  if (typeof source === 'number' && typeof destination === 'number') {
    const header = {
      headerLength: 20,
      tos: 0,
      totalLength: 20 + payload.length,
      identification: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol,
      source,
      destination,
    };
    return { family: 4, header, payload, packet: payload };
  }
  if (typeof source === 'number' || typeof destination === 'number') throw new Error('receivedPacket: mixed families');
  const header = { trafficClass: 0, flowLabel: 0, payloadLength: payload.length, nextHeader: protocol, hopLimit: 64, source, destination };
  return { family: 6, header, payload, packet: payload };
}
