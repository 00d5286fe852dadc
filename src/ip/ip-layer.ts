/**
 * The IP layer (NetworkLayer, both families): IPv4 here (RFC 791, RFC 1122 3.2.1), IPv6 in ipv6-layer.ts (RFC 8200), which
 * this class hands every packet with version 6 and every datagram to an IPv6 destination; what
 * the families share (the transports, the end of a batch, local delivery and its loopback queue,
 * the self-loop hop limit, transparent mode, path MTU estimates, packetBuffer, the transmit
 * queue) is here, once. With IPv6 off (no address6) IPv6 packets are counted and dropped
 * (`ipv6` `drop.disabled`).
 *
 * IPv4 input: validate each packet with the codec, keep
 * what is for our address, reassemble fragments, and demultiplex by protocol to ICMP or a
 * registered transport (protocol unreachable for anything else). Output: write the header into
 * the headroom transports leave (IPV4_MIN_HEADER bytes), deliver datagrams to our own addresses
 * (the link address, and the loopback address 127.0.0.1 that only the stack itself can reach)
 * locally, and fragment what exceeds the path MTU unless DF is set (the estimates RFC 1191 path
 * MTU discovery keeps per destination, path-mtu.ts). It is also what the transports
 * see below them (IpLayer): the stack's clock, timers, randomness and counters come through it.
 *
 * On a hostile wire: packets from the link with a martian source (our own address, 0/8, 127/8,
 * multicast, class E, broadcast; RFC 1122 3.2.1.3, RFC 1812 5.3.7) are dropped before anything
 * answers them, nothing is ever sent to a martian destination, a socket talking to itself through
 * local delivery has a hop limit, and an exception while handling one packet drops that packet.
 */
import { readUint16 } from '../bytes.js';
import type { Clock } from '../clock.js';
import type { CounterSet, Counters } from '../counters.js';
import { RECEIVED_CHECKSUM_TRUSTED, type Link } from '../link/link.js';
import { errorDetail, type Logger } from '../log.js';
import type { RandomSource } from '../random.js';
import type { DeadlineQueue } from '../timers.js';
import { LOOPBACK_ADDRESS, martianClass, type IPv4Address } from '../wire/address.js';
import { IPV6_LOOPBACK, type IPAddress, type IPv6Address } from '../wire/address6.js';
import { martianClassOf } from '../wire/ip.js';
import type { ChecksumCheck } from '../wire/checksum.js';
import {
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_ERROR_MAX_PACKET,
  ICMP_TIME_EXCEEDED,
  PORT_UNREACHABLE,
  PROTOCOL_UNREACHABLE,
} from '../wire/icmpv4.js';
import {
  headerFieldsOf,
  IPV4_MIN_HEADER,
  parseIPv4Packet,
  PROTOCOL_ICMP,
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  writeIPv4Header,
  type IPv4Header,
} from '../wire/ipv4.js';
import { IPV6_HEADER_LENGTH, IPV6_MAX_PAYLOAD_LENGTH } from '../wire/ipv6.js';
import { fragmentPacket } from './fragment.js';
import { Icmp } from './icmp.js';
import { PathMtuCache } from './path-mtu.js';
import { IPv6Layer } from './ipv6-layer.js';
import { ReassemblyDeadline, Reassembler } from './reassembly.js';
import type { IpLayer, ReceivedIPv4Packet, ReceivedPacket, TransportProtocol } from './transport-contract.js';

export interface NetworkLayerOptions {
  /** Our own address: what we accept, and the source of what we send. */
  address: IPv4Address;
  /** Our IPv6 address (a unicast one, on a link of MTU 1280 or more: the stack checks); absent, IPv6 is off. */
  address6?: IPv6Address;
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
   * Where datagrams to our own addresses are delivered: the stack's input, called on a later turn
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

/** Where a batch of received packets comes from: the link, or our own local delivery. */
export type PacketOrigin = 'link' | 'loopback';

/**
 * The hop limit of a socket talking to itself through local delivery: how many event-loop turns
 * in a row a datagram from our address and port P to our address and port P (TCP or UDP) may be
 * looped back, each one sent while the previous one was being delivered.
 *
 * Why this design. Local delivery (RFC 1122 3.2.1.3 allows a host to talk to itself) runs one
 * batch per turn of the event loop, and an automatic responder that answers its own datagram
 * (the UDP echo service getting a datagram "from" itself, or a LAND-like TCP connection whose
 * peer is itself answering each of its own ACKs) keeps one datagram in flight forever, at full
 * CPU. A TTL cannot be carried across the application (an echo sends a new datagram), and a
 * generation count on all local traffic cannot tell a loop from two sockets in a long
 * conversation (a TCP transfer over our own address is an unbroken chain of turns too). What
 * tells them apart is the endpoint: two sockets talking have different ports, a socket that
 * receives what it sends itself has the same address and port on both ends, and a conversation
 * of one socket with itself that never pauses for a turn is a loop. So the IP layer counts, per
 * such self-addressed endpoint, the turns in a row in which it sent a datagram while its previous
 * one was being delivered, and past this limit drops the datagram (counted `local_loop_limit`),
 * which ends the loop; the count starts again after a turn without one. Loops between two
 * different automatic responders are the responders' to avoid (the demo's UDP echo does not
 * answer well-known ports, src/demo/services.ts).
 */
const SELF_LOOP_HOP_LIMIT = 16;

/** A self-addressed endpoint's run of looped turns: the batch it last joined and its length. */
interface SelfLoopRun {
  batch: number;
  hops: number;
}

/**
 * How much may wait in the link's transmit queue before senders that can wait hold back: Linux's
 * tcp_limit_output_bytes (1 MiB), the TCP small queues limit. With it a bulk download over the TUN
 * device no longer overflows the TX ring (then 16 MiB, now 4): measured, 256 MiB downloads went
 * from ~2400 retransmissions (~200 super-segments dropped by our own ring) to none, ~1.5x faster.
 */
const TRANSMIT_QUEUE_LIMIT_BYTES = 1 << 20;

/** The largest packet either family sends: an IPv6 header and the largest payload. */
const MAX_PACKET = IPV6_HEADER_LENGTH + IPV6_MAX_PAYLOAD_LENGTH;

export class NetworkLayer implements IpLayer {
  readonly address: IPv4Address;
  readonly address6: IPv6Address | undefined;
  readonly mtu: number;
  readonly clock: Clock;
  readonly timers: DeadlineQueue;
  readonly random: RandomSource;
  readonly logger: Logger;

  private readonly link: Link;
  private readonly counterSet: CounterSet;
  private readonly ipCounters: Counters;
  private readonly ipv6Counters: Counters;
  private readonly icmp: Icmp;
  /** The IPv6 half, when IPv6 is on. */
  private readonly ipv6: IPv6Layer | undefined;
  private readonly reassembler: Reassembler;
  private readonly pathMtus: PathMtuCache;
  private readonly loopback: (packets: readonly Uint8Array[]) => void;
  /** Transports by IP protocol number (ICMP is handled here, not registered). */
  private readonly transports: Array<TransportProtocol | undefined> = new Array<TransportProtocol | undefined>(256).fill(undefined);
  /** The registered transports that defer work to the end of a batch (TransportProtocol.endOfBatch). */
  private readonly batchEnders: TransportProtocol[] = [];
  private identification: number;
  private readonly reassemblyDeadline: ReassemblyDeadline;
  private loopbackQueue: Uint8Array[] = [];
  /** The memory packetBuffer hands out again and again, made on first use. */
  private sendScratch: Uint8Array | undefined;
  /** Local delivery batches flushed so far; the queue fills batch `loopbackBatches + 1`. */
  private loopbackBatches = 0;
  /** The batch being delivered, from its flush until the next turn (what it sends is its echo). */
  private deliveringBatch: number | undefined;
  /** Self-addressed endpoints (protocol and port) seen in the last batches, for the hop limit. */
  private readonly selfLoopRuns = new Map<number, SelfLoopRun>();
  private closed = false;
  /** Protocols in transparent mode (setTransparent): delivered for any unicast destination. */
  readonly transparentProtocols = new Set<number>();

  constructor(options: NetworkLayerOptions) {
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
    this.reassemblyDeadline = new ReassemblyDeadline(this.reassembler, this.timers, (firstFragment) => {
      // RFC 792 / RFC 1122 3.2.1.2: time exceeded (reassembly) only if fragment 0 arrived.
      const parsed = parseIPv4Packet(firstFragment);
      if (!parsed.ok) return;
      this.icmp.sendError(ICMP_TIME_EXCEEDED, FRAGMENT_REASSEMBLY_TIME_EXCEEDED, {
        family: 4,
        header: parsed.header,
        payload: parsed.payload,
        packet: firstFragment,
      });
    });
    this.address6 = options.address6;
    this.ipv6Counters = this.counters('ipv6');
    if (options.address6 !== undefined) {
      const random = options.random;
      this.ipv6 = new IPv6Layer({
        address: options.address6,
        host: {
          clock: this.clock,
          timers: this.timers,
          mtu: this.mtu,
          transparentProtocols: this.transparentProtocols,
          transportFor: (protocol) => this.transports[protocol],
          pathMtu: (destination) => this.pathMtu(destination),
          deliverLocally: (protocol, packet) => this.loopBack(protocol, packet),
          transmit: (packet, segmentSize) => this.link.send(packet, segmentSize),
          sendTransport: (protocol, source, destination, packet) => this.sendTransport(protocol, source, destination, packet),
        },
        counters: this.ipv6Counters,
        icmpCounters: this.counters('icmpv6'),
        pathMtus: this.pathMtus,
        icmpErrorRate: options.icmpErrorRate,
        reassemblyTimeoutMs: options.reassemblyTimeoutMs,
        reassemblyMaxBytes: options.reassemblyMaxBytes,
        randomUint32: () => Math.floor(random.float() * 0x1_0000_0000) >>> 0,
      });
    }
  }

  counters(layer: string): Counters {
    return this.counterSet.layer(layer);
  }

  /** Demultiplex datagrams of IP protocol `protocol` to `transport`. */
  register(protocol: number, transport: TransportProtocol): void {
    if (protocol === PROTOCOL_ICMP) throw new RangeError('ICMP is part of the IPv4 layer');
    this.transports[protocol] = transport;
    if (transport.endOfBatch !== undefined) this.batchEnders.push(transport);
  }

  transportFor(protocol: number): TransportProtocol | undefined {
    return this.transports[protocol];
  }

  localAddressFor<A extends IPAddress>(remote: A): A {
    if (typeof remote !== 'number') {
      // With IPv6 off nothing IPv6 is sent (sendTransport drops it), whatever source it names.
      return (remote === IPV6_LOOPBACK ? IPV6_LOOPBACK : (this.address6 ?? remote)) as A;
    }
    return (remote === LOOPBACK_ADDRESS ? LOOPBACK_ADDRESS : this.address) as A;
  }

  isLocalAddress(address: IPAddress): boolean {
    if (typeof address !== 'number') return this.address6 !== undefined && (address === this.address6 || address === IPV6_LOOPBACK);
    return address === this.address || address === LOOPBACK_ADDRESS;
  }

  setTransparent(protocol: number, on: boolean): void {
    if (on) this.transparentProtocols.add(protocol);
    else this.transparentProtocols.delete(protocol);
  }

  pathMtu(destination: IPAddress): number {
    // Asked for every datagram sent: skip the clock while no path is known to be smaller.
    if (this.pathMtus.size === 0) return this.mtu;
    return this.pathMtus.pathMtu(destination, this.clock.now());
  }

  /** Datagrams still being reassembled, and the bytes they hold. */
  reassemblyStats(): { pending: number; heldBytes: number } {
    const ipv6 = this.ipv6?.reassemblyStats();
    return {
      pending: this.reassembler.pendingCount + (ipv6?.pending ?? 0),
      heldBytes: this.reassembler.heldBytes + (ipv6?.heldBytes ?? 0),
    };
  }

  /**
   * Handle a batch of received packets, from the link or from our own local delivery; `flags`
   * are the link's RECEIVED_* bits per packet.
   */
  receiveBatch(packets: readonly Uint8Array[], origin: PacketOrigin = 'link', flags?: Uint8Array): void {
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i]!;
      try {
        this.receivePacket(packet, origin, flags !== undefined && (flags[i]! & RECEIVED_CHECKSUM_TRUSTED) !== 0 ? 'trusted' : 'verify');
      } catch (error) {
        // A bug in protocol code must not take the whole stack down with one packet; count it
        // and keep going (the packet is dropped).
        this.ipCounters.drop('internal_error');
        this.logger.error(`internal error handling a packet: ${errorDetail(error)}`);
      }
    }
    for (const transport of this.batchEnders) {
      try {
        transport.endOfBatch!();
      } catch (error) {
        this.ipCounters.drop('internal_error');
        this.logger.error(`internal error ending a batch: ${errorDetail(error)}`);
      }
    }
  }

  private receivePacket(packet: Uint8Array, origin: PacketOrigin, transportChecksum: ChecksumCheck): void {
    if (packet.length > 0 && packet[0]! >>> 4 === 6) {
      // The version nibble (RFC 8200 3) says which family's layer reads the rest.
      if (this.ipv6 === undefined) this.ipv6Counters.drop('disabled');
      else this.ipv6.receive(packet, origin === 'link', transportChecksum);
      return;
    }
    const ip = this.ipCounters;
    ip.add('received');
    const parsed = parseIPv4Packet(packet);
    if (!parsed.ok) {
      ip.drop(parsed.reason);
      return;
    }
    let { header, payload } = parsed;
    if (origin === 'link') {
      // RFC 1122 3.2.1.3 / RFC 1812 5.3.7: a source that is not a single host elsewhere (or is
      // our own address, which only local delivery carries) is forged or broken; anything we
      // answered would go to a group, to nowhere, or back to ourselves.
      const martian = martianClass(header.source, this.address);
      if (martian !== undefined) {
        ip.drop(`martian_source_${martian}`);
        return;
      }
    }
    let originalPacket = packet;
    // The loopback address is only reachable from inside the stack: from the link, 127.0.0.1
    // is not ours (RFC 1122 3.2.1.3 (g): such a datagram must not appear on a network).
    const forUs = header.destination === this.address || (header.destination === LOOPBACK_ADDRESS && origin === 'loopback');
    if (!forUs) {
      // Forwarding: a transport in transparent mode takes every unicast destination from the
      // link (RFC 1122 3.2.1.3 still rules out the others, loopback included).
      const fromLink = origin === 'link';
      if (!fromLink || !this.transparentProtocols.has(header.protocol) || martianClass(header.destination) !== undefined) {
        // While forwarding, ICMP for other hosts (a ping through the stack) has no relay: Node
        // cannot send ICMP echo, so it is counted apart from other strays.
        const unforwardedPing = fromLink && this.transparentProtocols.size > 0 && header.protocol === PROTOCOL_ICMP;
        ip.drop(unforwardedPing ? 'icmp_not_forwarded' : 'not_for_us');
        return;
      }
      ip.add('transparent_delivered');
    }
    if (header.ttl === 0) {
      // RFC 1122 3.2.1.7: TTL 0 must never be sent; such a datagram is malformed for us.
      ip.drop('ttl_zero');
      return;
    }
    if (header.moreFragments || header.fragmentOffset !== 0) {
      ip.add('fragments_received');
      const whole = this.reassembler.accept(header, payload, packet, this.clock.now());
      this.reassemblyDeadline.arm();
      if (whole === undefined) return;
      header = whole.header;
      payload = whole.payload;
      originalPacket = quotablePacket(header, payload);
      // The link's word was about this fragment, not the reassembled datagram.
      transportChecksum = 'verify';
    }
    ip.add('delivered');
    const received: ReceivedIPv4Packet = { family: 4, header, payload, packet: originalPacket, transportChecksum };
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

  transmitQueueFull(): boolean {
    const capacity = this.link.queueCapacity;
    const queued = this.link.queuedBytes;
    return capacity !== undefined && queued !== undefined && queued > Math.min(capacity / 2, TRANSMIT_QUEUE_LIMIT_BYTES);
  }

  /**
   * IpLayer.packetBuffer. When the link copies what it is sent (Link.copiesOnSend) and the packet
   * is for the link, a view of one buffer reused for every packet: a download then allocates no
   * 64 KiB ArrayBuffer per super-segment, which young-generation scavenges did not free fast
   * enough (tens of MiB of external memory at 600 MB/s, RSS that malloc then kept). A packet to
   * a local address (ours, 127.0.0.1) waits in the loopback queue, so it gets memory of its own.
   */
  packetBuffer(destination: IPAddress, length: number): Uint8Array {
    if (this.link.copiesOnSend !== true || this.isLocalAddress(destination) || length > MAX_PACKET) return new Uint8Array(length);
    this.sendScratch ??= new Uint8Array(MAX_PACKET);
    return this.sendScratch.subarray(0, length);
  }

  tcpSegmentationTo(destination: IPAddress): boolean {
    return this.link.tcpSegmentation === true && !this.isLocalAddress(destination);
  }

  sendTransport(
    protocol: number,
    source: IPAddress,
    destination: IPAddress,
    packet: Uint8Array,
    dontFragment = false,
    segmentSize?: number,
  ): void {
    if (this.closed) return;
    const counters = typeof destination === 'number' ? this.ipCounters : this.ipv6Counters;
    if (typeof destination !== 'number' && this.ipv6 === undefined) {
      counters.drop('disabled');
      return;
    }
    if (typeof source !== typeof destination) {
      counters.drop('family_mismatch');
      return;
    }
    if (
      source !== this.localAddressFor(destination) &&
      !(this.transparentProtocols.has(protocol) && martianClassOf(source) === undefined)
    ) {
      // Only a transparent transport speaks for addresses that are not ours, and never for one
      // that is not a single host.
      counters.drop('bad_source');
      return;
    }
    const local = this.isLocalAddress(destination);
    if (!local) {
      // The last guard (RFC 1122 3.2.1.3; for IPv6 likewise): whatever a transport or ICMP
      // decided, nothing is sent to an address that is not a single host (a reply to a martian
      // that got this far).
      const martian = martianClassOf(destination);
      if (martian !== undefined) {
        counters.drop(`martian_destination_${martian}`);
        return;
      }
    }
    // Both addresses are of one family (checked above).
    if (typeof destination !== 'number') {
      this.ipv6?.send(protocol, source as IPv6Address, destination, packet, local, dontFragment, segmentSize);
      return;
    }
    this.identification = (this.identification + 1) & 0xffff;
    writeIPv4Header(packet, 0, {
      source: source as IPv4Address,
      destination,
      protocol,
      payloadLength: packet.length - IPV4_MIN_HEADER,
      identification: this.identification,
      dontFragment,
    });
    if (local) {
      // Traffic to ourselves never reaches the link (as with Linux's loopback): it is delivered
      // on the next turn of the event loop, so a send from inside a receive handler does not
      // recurse.
      this.loopBack(protocol, packet);
      return;
    }
    if (segmentSize !== undefined) {
      // A TCP super-segment (tcpSegmentationTo said yes): TCP sized its segments to the path, the
      // link makes them.
      this.ipCounters.add('sent');
      this.link.send(packet, segmentSize);
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
      // Its sender should have sized it (TCP sizes segments to the path MTU; the stack refuses a
      // configuration whose segments cannot fit the link): count and drop, never throw from the
      // send path, which runs inside receive handlers and timer callbacks.
      this.ipCounters.drop('too_big_df');
      return;
    }
    // RFC 1191 section 3: without DF, fragment to the path MTU, so no router has to.
    const fragments = fragmentPacket(packet, this.pathMtu(destination));
    this.ipCounters.add('fragments_sent', fragments.length);
    for (const fragment of fragments) {
      this.ipCounters.add('sent');
      this.link.send(fragment);
    }
  }

  private loopBack(protocol: number, packet: Uint8Array): void {
    if (this.exceedsSelfLoopHopLimit(protocol, packet)) {
      this.ipCounters.drop('local_loop_limit');
      return;
    }
    this.ipCounters.add('looped_back');
    this.loopbackQueue.push(packet);
    if (this.loopbackQueue.length === 1) {
      setImmediate(() => {
        const batch = this.loopbackQueue;
        this.loopbackQueue = [];
        const flushed = ++this.loopbackBatches;
        this.deliveringBatch = flushed;
        // A run not continued by the batch just flushed can never be continued again.
        for (const [endpoint, run] of this.selfLoopRuns) if (run.batch < flushed) this.selfLoopRuns.delete(endpoint);
        this.loopback(batch);
        // What is sent from now until the next turn (synchronously, or by the application on
        // the microtasks that follow) answers this batch; immediates run in order, so this one
        // ends the turn before the next batch is flushed.
        setImmediate(() => {
          if (this.deliveringBatch === flushed) this.deliveringBatch = undefined;
        });
      });
    }
  }

  /**
   * SELF_LOOP_HOP_LIMIT: is `packet` (to our own address) from a TCP or UDP endpoint to itself
   * that has been looping for too many turns in a row? Records the run otherwise.
   */
  private exceedsSelfLoopHopLimit(protocol: number, packet: Uint8Array): boolean {
    if (protocol !== PROTOCOL_TCP && protocol !== PROTOCOL_UDP) return false;
    // TCP and UDP both start with the source and destination ports; our headers have no options
    // (nor extension headers).
    const headerLength = packet[0]! >>> 4 === 6 ? IPV6_HEADER_LENGTH : IPV4_MIN_HEADER;
    const port = readUint16(packet, headerLength);
    if (port !== readUint16(packet, headerLength + 2)) return false;
    const endpoint = protocol * 0x10000 + port;
    const batch = this.loopbackBatches + 1;
    const run = this.selfLoopRuns.get(endpoint);
    if (run?.batch === batch) return false;
    const hops = run !== undefined && run.batch === this.deliveringBatch ? run.hops + 1 : 1;
    if (hops > SELF_LOOP_HOP_LIMIT) {
      this.selfLoopRuns.delete(endpoint);
      return true;
    }
    this.selfLoopRuns.set(endpoint, { batch, hops });
    return false;
  }

  sendPortUnreachable(offending: ReceivedPacket): void {
    if (offending.family === 4) this.icmp.sendError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, offending);
    else this.ipv6?.sendPortUnreachable(offending);
  }

  /** Send nothing more (what transports send from now on is dropped silently). */
  close(): void {
    this.closed = true;
  }
}
