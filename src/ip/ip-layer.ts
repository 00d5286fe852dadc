/**
 * The IPv4 layer (RFC 791, RFC 1122 3.2.1). Input: validate each packet with the codec, keep
 * what is for our address, reassemble fragments, and demultiplex by protocol to ICMP or a
 * registered transport (protocol unreachable for anything else). Output: write the header into
 * the headroom transports leave (IPV4_MIN_HEADER bytes), deliver datagrams to our own address
 * locally, and fragment what exceeds the path MTU unless DF is set (the estimates RFC 1191 path
 * MTU discovery keeps per destination, path-mtu.ts). It is also what the transports
 * see below them (IpLayer): the stack's clock, timers, randomness and counters come through it.
 */
import type { Clock } from '../clock.js';
import type { CounterSet, Counters } from '../counters.js';
import { NetError } from '../errors.js';
import type { Link } from '../link/link.js';
import type { Logger } from '../log.js';
import type { RandomSource } from '../random.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import type { IPv4Address } from '../wire/address.js';
import {
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_ERROR_MAX_PACKET,
  ICMP_TIME_EXCEEDED,
  PROTOCOL_UNREACHABLE,
} from '../wire/icmpv4.js';
import { headerFieldsOf, IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_ICMP, writeIPv4Header, type IPv4Header } from '../wire/ipv4.js';
import { fragmentPacket } from './fragment.js';
import { Icmp } from './icmp.js';
import { PathMtuCache } from './path-mtu.js';
import { Reassembler } from './reassembly.js';
import type { IpLayer, ReceivedPacket, TransportProtocol } from './transport-contract.js';

export interface IPv4LayerOptions {
  /** Our own address: what we accept, and the source of what we send. */
  address: IPv4Address;
  /** Where packets leave; its MTU bounds what we send unfragmented. */
  link: Link;
  clock: Clock;
  timers: DeadlineQueue;
  random: RandomSource;
  logger: Logger;
  counterSet: CounterSet;
  /** ICMP errors per second (token bucket, burst of the same size). */
  icmpErrorRate: number;
  reassemblyTimeoutMs: number;
  reassemblyMaxBytes: number;
  /**
   * Where datagrams to our own address are delivered: the stack's input, called on a later turn
   * of the event loop with everything sent to ourselves since.
   */
  loopback: (packets: readonly Uint8Array[]) => void;
}

/**
 * For ICMP errors about a reassembled datagram: its header (describing the whole datagram) and
 * the start of its payload, which is what the error must quote (RFC 792: header + 64 bits).
 */
function quotablePacket(header: IPv4Header, payload: Uint8Array): Uint8Array {
  const quoted = Math.min(payload.length, ICMP_ERROR_MAX_PACKET);
  const packet = new Uint8Array(IPV4_MIN_HEADER + quoted);
  writeIPv4Header(packet, 0, headerFieldsOf(header, payload.length));
  packet.set(payload.subarray(0, quoted), IPV4_MIN_HEADER);
  return packet;
}

export class IPv4Layer implements IpLayer {
  readonly address: IPv4Address;
  readonly mtu: number;
  readonly clock: Clock;
  readonly timers: DeadlineQueue;
  readonly random: RandomSource;
  readonly logger: Logger;

  private readonly link: Link;
  private readonly counterSet: CounterSet;
  private readonly ipCounters: Counters;
  private readonly icmp: Icmp;
  private readonly reassembler: Reassembler;
  private readonly pathMtus: PathMtuCache;
  private readonly loopback: (packets: readonly Uint8Array[]) => void;
  /** Transports by IP protocol number (ICMP is handled here, not registered). */
  private readonly transports: Array<TransportProtocol | undefined> = new Array<TransportProtocol | undefined>(256).fill(undefined);
  private identification: number;
  private reassemblyTimer: TimerHandle | undefined;
  private loopbackQueue: Uint8Array[] = [];
  private closed = false;

  constructor(options: IPv4LayerOptions) {
    this.address = options.address;
    this.link = options.link;
    this.mtu = options.link.mtu;
    this.clock = options.clock;
    this.timers = options.timers;
    this.random = options.random;
    this.logger = options.logger;
    this.counterSet = options.counterSet;
    this.loopback = options.loopback;
    this.ipCounters = this.counters('ip');
    // RFC 6864 4.1: the identification only has to be unique per source, destination and
    // protocol within the maximum datagram lifetime; a random start keeps successive runs apart.
    this.identification = Math.floor(options.random.float() * 0x10000);
    this.pathMtus = new PathMtuCache({ linkMtu: this.mtu, counters: this.ipCounters });
    this.icmp = new Icmp(this, {
      clock: this.clock,
      counters: this.counters('icmp'),
      errorsPerSecond: options.icmpErrorRate,
      pathMtus: this.pathMtus,
    });
    this.reassembler = new Reassembler({
      timeoutMs: options.reassemblyTimeoutMs,
      maxBytes: options.reassemblyMaxBytes,
      counters: this.ipCounters,
    });
  }

  counters(layer: string): Counters {
    return this.counterSet.layer(layer);
  }

  /** Demultiplex datagrams of IP protocol `protocol` to `transport`. */
  register(protocol: number, transport: TransportProtocol): void {
    if (protocol === PROTOCOL_ICMP) throw new RangeError('ICMP is part of the IPv4 layer');
    this.transports[protocol] = transport;
  }

  transportFor(protocol: number): TransportProtocol | undefined {
    return this.transports[protocol];
  }

  pathMtu(destination: IPv4Address): number {
    // Asked for every datagram sent: skip the clock while no path is known to be smaller.
    if (this.pathMtus.size === 0) return this.mtu;
    return this.pathMtus.pathMtu(destination, this.clock.now());
  }

  /** Datagrams still being reassembled, and the bytes they hold. */
  reassemblyStats(): { pending: number; heldBytes: number } {
    return { pending: this.reassembler.pendingCount, heldBytes: this.reassembler.heldBytes };
  }

  /** Handle a batch of received packets. */
  receiveBatch(packets: readonly Uint8Array[]): void {
    for (const packet of packets) {
      try {
        this.receivePacket(packet);
      } catch (error) {
        // A bug in protocol code must not take the whole stack down with one packet; count it
        // and keep going (the packet is dropped).
        this.ipCounters.drop('internal_error');
        this.logger.error(`internal error handling a packet: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
    }
  }

  private receivePacket(packet: Uint8Array): void {
    const ip = this.ipCounters;
    ip.add('received');
    const parsed = parseIPv4Packet(packet);
    if (!parsed.ok) {
      ip.drop(parsed.reason);
      return;
    }
    let { header, payload } = parsed;
    let originalPacket = packet;
    if (header.destination !== this.address) {
      ip.drop('not_for_us');
      return;
    }
    if (header.ttl === 0) {
      // RFC 1122 3.2.1.7: TTL 0 must never be sent; such a datagram is malformed for us.
      ip.drop('ttl_zero');
      return;
    }
    if (header.moreFragments || header.fragmentOffset !== 0) {
      ip.add('fragments_received');
      const whole = this.reassembler.accept(header, payload, packet, this.clock.now());
      this.armReassemblyTimer();
      if (whole === undefined) return;
      header = whole.header;
      payload = whole.payload;
      originalPacket = quotablePacket(header, payload);
    }
    ip.add('delivered');
    const received: ReceivedPacket = { header, payload, packet: originalPacket };
    if (header.protocol === PROTOCOL_ICMP) {
      this.icmp.receive(received);
      return;
    }
    const transport = this.transports[header.protocol];
    if (transport !== undefined) {
      transport.receive(received);
      return;
    }
    ip.drop('unknown_protocol');
    // RFC 1122 3.2.2.1: protocol unreachable for a protocol we do not speak.
    this.icmp.sendError(ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE, received);
  }

  sendTransport(protocol: number, destination: IPv4Address, packet: Uint8Array, dontFragment = false): void {
    if (this.closed) return;
    this.identification = (this.identification + 1) & 0xffff;
    writeIPv4Header(packet, 0, {
      source: this.address,
      destination,
      protocol,
      payloadLength: packet.length - IPV4_MIN_HEADER,
      identification: this.identification,
      dontFragment,
    });
    if (destination === this.address) {
      // Traffic to ourselves never reaches the link (as with Linux's loopback): it is delivered
      // on the next turn of the event loop, so a send from inside a receive handler does not
      // recurse.
      this.loopBack(packet);
      return;
    }
    if (packet.length <= this.mtu && (dontFragment || packet.length <= this.pathMtu(destination))) {
      // A DF datagram that fits the link goes out as it is: its sender sized it, and a router
      // beyond that cannot forward it answers with fragmentation needed (RFC 1191).
      this.ipCounters.add('sent');
      this.link.send(packet);
      return;
    }
    if (dontFragment) {
      this.ipCounters.drop('too_big_df');
      throw new NetError('EMSGSIZE', `packet of ${packet.length} bytes exceeds MTU ${this.mtu} with DF set`);
    }
    // RFC 1191 section 3: without DF, fragment to the path MTU, so no router has to.
    const fragments = fragmentPacket(packet, this.pathMtu(destination));
    this.ipCounters.add('fragments_sent', fragments.length);
    for (const fragment of fragments) {
      this.ipCounters.add('sent');
      this.link.send(fragment);
    }
  }

  private loopBack(packet: Uint8Array): void {
    this.ipCounters.add('looped_back');
    this.loopbackQueue.push(packet);
    if (this.loopbackQueue.length === 1) {
      setImmediate(() => {
        const batch = this.loopbackQueue;
        this.loopbackQueue = [];
        this.loopback(batch);
      });
    }
  }

  sendIcmpError(type: number, code: number, offending: ReceivedPacket, restOfHeader = 0): void {
    this.icmp.sendError(type, code, offending, restOfHeader);
  }

  private armReassemblyTimer(): void {
    const next = this.reassembler.nextExpiry();
    if (next === undefined) {
      this.reassemblyTimer?.cancel();
      this.reassemblyTimer = undefined;
      return;
    }
    if (this.reassemblyTimer?.active) return;
    this.reassemblyTimer = this.timers.schedule(next, (now) => {
      this.reassemblyTimer = undefined;
      for (const expired of this.reassembler.expire(now)) {
        // RFC 792 / RFC 1122 3.2.1.4: time exceeded (reassembly) only if fragment 0 arrived.
        if (expired.firstFragment === undefined) continue;
        const parsed = parseIPv4Packet(expired.firstFragment);
        if (!parsed.ok) continue;
        this.icmp.sendError(ICMP_TIME_EXCEEDED, FRAGMENT_REASSEMBLY_TIME_EXCEEDED, {
          header: parsed.header,
          payload: parsed.payload,
          packet: expired.firstFragment,
        });
      }
      this.armReassemblyTimer();
    });
  }

  /** Send nothing more (what transports send from now on is dropped silently). */
  close(): void {
    this.closed = true;
  }
}
