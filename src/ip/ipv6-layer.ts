/**
 * The IPv6 half of the IP layer (RFC 8200). The IP layer (ip-layer.ts) owns what both families
 * share (the transports registry, the end of a batch, local delivery and its loopback queue with
 * the self-loop hop limit, transparent mode, the path MTU estimates, packetBuffer, the transmit
 * queue) and hands this class each packet whose version nibble is 6, and each datagram a
 * transport sends to an IPv6 destination.
 *
 * Input: check the fixed header (checkIPv6Packet's rules, via parseIPv6Packet), drop martian
 * sources from the link (ipv6MartianClass, counted per class), keep what is for us (our address;
 * ::1 only through local delivery; the link-local groups, ff02::/16, for ICMPv6 only: all-nodes,
 * whose echo requests are answered, and the solicited-node, all-routers and MLD groups the
 * kernel's neighbour discovery and MLD messages go to, which ICMPv6 counts and ignores), walk the
 * extension headers (walkIPv6Extensions, with the Parameter Problem the codec asks for),
 * reassemble fragments (RFC 8200 4.5, reassembly.ts's core), then hand ICMPv6 to icmpv6.ts and
 * the rest to the registered transport as a ReceivedIPv6Packet whose header's nextHeader is the
 * upper-layer protocol; a protocol nobody speaks draws a Parameter Problem code 1 (RFC 8200 4).
 * A packet with hop limit 0 addressed to us is processed: RFC 8200 3 has only forwarding nodes
 * discard it.
 *
 * Output: write the 40-byte header into the transport's headroom (hop limit 64, a flow label per
 * RFC 6437 from a keyed hash of the flow), deliver to our own addresses locally, send what fits
 * the path MTU, and fragment the rest with a Fragment header (RFC 8200 4.5; identification from
 * a counter with a random start). Routers never fragment IPv6, so every datagram is "DF" on the
 * path: a TCP segment (which is sized to the path) goes out as long as it fits the link, and a
 * Packet Too Big lowers the estimate (RFC 8201).
 */
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { DeadlineQueue } from '../timers.js';
import { ipv6MartianClass, IPV6_LOOPBACK, type IPv6Address } from '../wire/address6.js';
import type { ChecksumCheck } from '../wire/checksum.js';
import {
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
} from '../wire/icmpv6.js';
import { PROTOCOL_TCP, PROTOCOL_UDP } from '../wire/ipv4.js';
import {
  flowLabelFromHash,
  IPV6_HEADER_LENGTH,
  IPV6_MAX_PAYLOAD_LENGTH,
  NEXT_HEADER_NONE,
  parseIPv6Packet,
  PROTOCOL_ICMPV6,
  writeIPv6Header,
  type IPv6Header,
} from '../wire/ipv6.js';
import { PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER, walkIPv6Extensions, type IPv6ChainResult } from '../wire/ipv6-extensions.js';
import { writeUint16 } from '../bytes.js';
import { fragmentIPv6Packet } from './fragment.js';
import { Icmpv6 } from './icmpv6.js';
import type { PathMtuCache } from './path-mtu.js';
import { FragmentReassembler, ReassemblyDeadline, type FragmentPiece } from './reassembly.js';
import type { ReceivedIPv6Packet, TransportProtocol } from './transport-contract.js';

/** The Fragment header's length (RFC 8200 4.5). */
const FRAGMENT_HEADER_LENGTH = 8;
/** The fixed header's Next Header field (RFC 8200 3). */
const NEXT_HEADER_FIELD = 6;

/** What the IPv6 half needs from the IP layer around it (the shared parts). */
export interface IPv6Host {
  readonly clock: Clock;
  readonly timers: DeadlineQueue;
  /** The transport registered for an IP protocol number, if any. */
  transportFor(protocol: number): TransportProtocol | undefined;
  /** The protocols in transparent mode (IpLayer.setTransparent). */
  readonly transparentProtocols: ReadonlySet<number>;
  /** The path MTU estimate for a destination (IpLayer.pathMtu). */
  pathMtu(destination: IPv6Address): number;
  /** Queue a packet for local delivery on the next turn (with the self-loop hop limit). */
  deliverLocally(protocol: number, packet: Uint8Array): void;
  /** Hand a packet to the link (a TCP super-segment with its segment size). */
  transmit(packet: Uint8Array, segmentSize?: number): void;
  /** The link's MTU. */
  readonly mtu: number;
  /** Send an ICMPv6 message through the IP layer's sendTransport (its checks included). */
  sendTransport(protocol: number, source: IPv6Address, destination: IPv6Address, packet: Uint8Array): void;
}

export interface IPv6LayerOptions {
  /** Our IPv6 address (a unicast one: the stack checked). */
  address: IPv6Address;
  host: IPv6Host;
  /** The `ipv6` and `icmpv6` counters. */
  counters: Counters;
  icmpCounters: Counters;
  pathMtus: PathMtuCache;
  /** ICMPv6 errors per second (token bucket, burst of the same size). */
  icmpErrorRate: number;
  reassemblyTimeoutMs: number;
  reassemblyMaxBytes: number;
  /** Random 32-bit values: the first fragment identification and the flow label secret. */
  randomUint32: () => number;
}

/** RFC 4291 2.7: a multicast group of link-local scope, ff02::/16. */
function isLinkLocalMulticast(address: IPv6Address): boolean {
  return address.charCodeAt(0) === 0xff02;
}

/**
 * The walk's answer for a packet whose fixed header names TCP, UDP or ICMPv6 directly, the common
 * case, which needs no walk (ipv6-extensions.ts allows skipping it then).
 */
const DIRECT_UPPER_LAYER: Array<IPv6ChainResult | undefined> = [];
for (const protocol of [PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_ICMPV6]) {
  DIRECT_UPPER_LAYER[protocol] = {
    ok: true,
    protocol,
    offset: IPV6_HEADER_LENGTH,
    nextHeaderPointer: NEXT_HEADER_FIELD,
    fragment: undefined,
    atomicFragment: false,
  };
}

export class IPv6Layer {
  readonly address: IPv6Address;
  private readonly host: IPv6Host;
  private readonly counters: Counters;
  private readonly icmp: Icmpv6;
  private readonly reassembler: FragmentReassembler<IPv6Header>;
  private readonly reassemblyDeadline: ReassemblyDeadline;
  private identification: number;
  /** RFC 6437 3: the secret that keeps flow labels unpredictable. */
  private readonly flowSecret: number;

  constructor(options: IPv6LayerOptions) {
    this.address = options.address;
    this.host = options.host;
    this.counters = options.counters;
    this.identification = options.randomUint32();
    this.flowSecret = options.randomUint32();
    this.icmp = new Icmpv6(
      {
        localAddressFor: (remote) => (remote === IPV6_LOOPBACK ? IPV6_LOOPBACK : this.address),
        sendTransport: (protocol, source, destination, packet) => this.host.sendTransport(protocol, source, destination, packet),
        transportFor: (protocol) => this.host.transportFor(protocol),
      },
      { clock: this.host.clock, counters: options.icmpCounters, errorsPerSecond: options.icmpErrorRate, pathMtus: options.pathMtus },
    );
    this.reassembler = new FragmentReassembler<IPv6Header>({
      timeoutMs: options.reassemblyTimeoutMs,
      maxBytes: options.reassemblyMaxBytes,
      counters: this.counters,
    });
    // RFC 8200 4.5: Time Exceeded code 1 only if the first fragment arrived.
    this.reassemblyDeadline = new ReassemblyDeadline(this.reassembler, this.host.timers, (firstFragment) =>
      this.icmp.sendError(ICMPV6_TIME_EXCEEDED, ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED, firstFragment),
    );
  }

  /** Datagrams still being reassembled, and the bytes they hold. */
  reassemblyStats(): { pending: number; heldBytes: number } {
    return { pending: this.reassembler.pendingCount, heldBytes: this.reassembler.heldBytes };
  }

  /** One received packet whose version nibble is 6, from the link or from local delivery. */
  receive(packet: Uint8Array, fromLink: boolean, transportChecksum: ChecksumCheck): void {
    const ip = this.counters;
    ip.add('received');
    const parsed = parseIPv6Packet(packet);
    if (!parsed.ok) {
      ip.drop(parsed.reason);
      return;
    }
    const header = parsed.header;
    let whole = parsed.packet;
    if (fromLink) {
      // RFC 4291 2.5.2-2.5.5, 2.7: a source that is not a single node elsewhere (or is our own
      // address, which only local delivery carries) is forged or broken.
      const martian = ipv6MartianClass(header.source, this.address);
      if (martian !== undefined) {
        ip.drop(`martian_source_${martian}`);
        return;
      }
    }
    const destination = header.destination;
    // ::1 only from inside the stack (RFC 4291 2.5.3: never from an interface).
    const unicastForUs = destination === this.address || (destination === IPV6_LOOPBACK && !fromLink);
    const group = fromLink && isLinkLocalMulticast(destination);
    const transparent =
      fromLink && !unicastForUs && !group && this.host.transparentProtocols.size > 0 && ipv6MartianClass(destination) === undefined;
    if (!unicastForUs && !group && !transparent) {
      ip.drop('not_for_us');
      return;
    }
    let chain = DIRECT_UPPER_LAYER[header.nextHeader] ?? walkIPv6Extensions(whole, 'process');
    if (!chain.ok) {
      ip.drop(chain.reason);
      if (chain.problem !== undefined && unicastForUs) this.sendParameterProblem(chain.problem.code, chain.problem.pointer, whole);
      return;
    }
    if (chain.fragment !== undefined) {
      ip.add('fragments_received');
      const reassembled = this.reassemble(header, chain, whole);
      this.reassemblyDeadline.arm();
      if (reassembled === undefined) return;
      whole = reassembled;
      // The link's word was about this fragment, not the reassembled datagram.
      transportChecksum = 'verify';
      chain = walkIPv6Extensions(whole, 'process');
      if (!chain.ok) {
        ip.drop(chain.reason);
        return;
      }
    }
    const protocol = chain.protocol;
    if (group) {
      // Link-local groups take ICMPv6 only (echo to all-nodes, and the neighbour discovery and
      // MLD messages ICMPv6 counts); we join no group for any other protocol.
      if (protocol !== PROTOCOL_ICMPV6) {
        ip.drop('multicast_not_joined');
        return;
      }
    } else if (transparent) {
      if (!this.host.transparentProtocols.has(protocol)) {
        ip.drop(protocol === PROTOCOL_ICMPV6 ? 'icmp_not_forwarded' : 'not_for_us');
        return;
      }
      ip.add('transparent_delivered');
    }
    if (protocol === NEXT_HEADER_NONE) {
      // RFC 8200 4.7: nothing follows; the packet is done with.
      ip.add('no_next_header');
      return;
    }
    ip.add('delivered');
    const received: ReceivedIPv6Packet = {
      family: 6,
      // The fixed header as it came, unless extension headers or reassembly changed what follows.
      header:
        protocol === header.nextHeader && whole === parsed.packet
          ? header
          : { ...header, nextHeader: protocol, payloadLength: whole.length - IPV6_HEADER_LENGTH },
      payload: whole.subarray(chain.offset),
      packet: whole,
      transportChecksum,
    };
    if (protocol === PROTOCOL_ICMPV6) {
      this.icmp.receive(received);
      return;
    }
    const transport = this.host.transportFor(protocol);
    if (transport !== undefined) {
      transport.receive(received);
      return;
    }
    ip.drop('unknown_protocol');
    // RFC 8200 4: an unrecognised Next Header draws Parameter Problem code 1 pointing at it.
    this.sendParameterProblem(PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER, chain.nextHeaderPointer, whole);
  }

  /**
   * RFC 8200 4.5: store a fragment; when its datagram is complete, the reassembled packet: the
   * offset-0 fragment's unfragmentable part and Fragment header (made an atomic fragment, offset
   * 0 and M clear, so the chain walk passes it, RFC 6946), then the fragmentable part, with the
   * Payload Length of the whole. Keeping the 8-byte Fragment header means a datagram within 8
   * bytes of the 65535-byte limit is refused (`reassembly_oversize`); nothing legitimate is
   * that close.
   */
  private reassemble(header: IPv6Header, chain: Extract<IPv6ChainResult, { ok: true }>, packet: Uint8Array): Uint8Array | undefined {
    const fragment = chain.fragment!;
    const headerLength = fragment.headerOffset + FRAGMENT_HEADER_LENGTH;
    const piece: FragmentPiece<IPv6Header> = {
      // RFC 8200 4.5: source, destination and identification name the datagram.
      key: `${header.source}${header.destination}${fragment.identification}`,
      header,
      offset: fragment.fragmentOffset,
      moreFragments: fragment.moreFragments,
      headerLength,
      maxEnd: IPV6_MAX_PAYLOAD_LENGTH - (headerLength - IPV6_HEADER_LENGTH),
    };
    const whole = this.reassembler.acceptPiece(piece, packet.subarray(chain.offset), packet, this.host.clock.now());
    if (whole === undefined) return undefined;
    const out = new Uint8Array(whole.headerBytes.length + whole.payload.length);
    out.set(whole.headerBytes, 0);
    out.set(whole.payload, whole.headerBytes.length);
    writeUint16(out, 4, out.length - IPV6_HEADER_LENGTH);
    writeUint16(out, whole.headerBytes.length - FRAGMENT_HEADER_LENGTH + 2, 0);
    return out;
  }

  private sendParameterProblem(code: number, pointer: number, packet: Uint8Array): void {
    this.icmp.sendError(ICMPV6_PARAMETER_PROBLEM, code, packet, pointer);
  }

  /** RFC 4443 3.1: port unreachable (code 4) about a datagram nobody listens for. */
  sendPortUnreachable(offending: ReceivedIPv6Packet): void {
    this.icmp.sendError(ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, offending.packet);
  }

  /**
   * Send a transport's datagram (its payload behind IPV6_HEADER_LENGTH bytes of headroom) whose
   * source the IP layer allowed: write the header, then deliver it locally, hand it to the link,
   * or fragment it.
   */
  send(
    protocol: number,
    source: IPv6Address,
    destination: IPv6Address,
    packet: Uint8Array,
    local: boolean,
    dontFragment: boolean,
    segmentSize?: number,
  ): void {
    const ip = this.counters;
    if (packet.length - IPV6_HEADER_LENGTH > IPV6_MAX_PAYLOAD_LENGTH) {
      // No jumbograms (RFC 2675): a transport's bug, counted, never thrown from the send path.
      ip.drop('too_big');
      return;
    }
    writeIPv6Header(packet, 0, {
      source,
      destination,
      nextHeader: protocol,
      payloadLength: packet.length - IPV6_HEADER_LENGTH,
      flowLabel: this.flowLabel(protocol, source, destination, packet),
    });
    if (local) {
      this.host.deliverLocally(protocol, packet);
      return;
    }
    if (segmentSize !== undefined) {
      ip.add('sent');
      this.host.transmit(packet, segmentSize);
      return;
    }
    const pathMtu = this.host.pathMtu(destination);
    if (packet.length <= pathMtu || (dontFragment && packet.length <= this.host.mtu)) {
      ip.add('sent');
      this.host.transmit(packet);
      return;
    }
    if (dontFragment) {
      ip.drop('too_big_df');
      return;
    }
    // RFC 8200 4.5 and 5: only the source fragments, to the path MTU.
    this.identification = (this.identification + 1) >>> 0;
    const fragments = fragmentIPv6Packet(packet, pathMtu, this.identification);
    ip.add('fragments_sent', fragments.length);
    for (const fragment of fragments) {
      ip.add('sent');
      this.host.transmit(fragment);
    }
  }

  /**
   * RFC 6437 3: the same label for every packet of a flow (source, destination, protocol and, for
   * TCP and UDP, the ports), unpredictable from outside (a keyed hash: FNV-1a over the 16-bit
   * words, seeded with a secret), never 0.
   */
  private flowLabel(protocol: number, source: IPv6Address, destination: IPv6Address, packet: Uint8Array): number {
    let hash = this.flowSecret ^ protocol;
    for (let i = 0; i < 8; i++) hash = Math.imul(hash ^ source.charCodeAt(i), 0x01000193);
    for (let i = 0; i < 8; i++) hash = Math.imul(hash ^ destination.charCodeAt(i), 0x01000193);
    if ((protocol === PROTOCOL_TCP || protocol === PROTOCOL_UDP) && packet.length >= IPV6_HEADER_LENGTH + 4) {
      hash = Math.imul(hash ^ ((packet[IPV6_HEADER_LENGTH]! << 8) | packet[IPV6_HEADER_LENGTH + 1]!), 0x01000193);
      hash = Math.imul(hash ^ ((packet[IPV6_HEADER_LENGTH + 2]! << 8) | packet[IPV6_HEADER_LENGTH + 3]!), 0x01000193);
    }
    return flowLabelFromHash(hash);
  }
}
