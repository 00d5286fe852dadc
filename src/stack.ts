/**
 * The stack: ties a link, the clock and timers, IPv4 (with fragmentation, reassembly, ICMP) and
 * the transports together. Input arrives in batches from the link; each packet is validated,
 * reassembled if fragmented, and demultiplexed by protocol. Output from transports arrives as
 * buffers with IPV4_MIN_HEADER bytes of headroom, so the IPv4 header is written in place.
 *
 * Time: the stack reads its Clock and fires its DeadlineQueue. With `manualTimers` a test drives
 * time itself (FakeClock + `runTimers()`); otherwise one setTimeout tracks the next deadline.
 */
import { monotonicClock, type Clock } from './clock.js';
import { CounterSet, type Counters } from './counters.js';
import { NetError } from './errors.js';
import { formatIPv4, parseIPv4Address, type IPv4Address } from './wire/address.js';
import { fragmentPacket } from './ip/fragment.js';
import { shouldSendIcmpError, TokenBucket } from './ip/icmp-errors.js';
import {
  encodeEchoReply,
  encodeIcmpError,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMP_ERROR_MAX_PACKET,
  parseIcmpMessage,
  parseIcmpErrorQuote,
  PROTOCOL_UNREACHABLE,
} from './wire/icmpv4.js';
import {
  IPV4_MIN_HEADER,
  parseIPv4Packet,
  PROTOCOL_ICMP,
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  headerFieldsOf,
  writeIPv4Header,
  type IPv4Header,
} from './wire/ipv4.js';
import { Reassembler } from './ip/reassembly.js';
import type { Link } from './link/link.js';
import { silentLogger, type Logger } from './log.js';
import { TcpLayer } from './tcp/tcp-layer.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/types.js';
import { DeadlineQueue, type TimerHandle } from './timers.js';
import { UdpLayer } from './udp/udp-layer.js';

export interface StackOptions {
  link: Link;
  /** The stack's own IPv4 address. */
  address: string | IPv4Address;
  clock?: Clock;
  /** When true, timers fire only from `runTimers()` (tests with a FakeClock). */
  manualTimers?: boolean;
  tcp?: Partial<TcpConfig>;
  /** ICMP errors per second (token bucket, burst of the same size). Default 100. */
  icmpErrorRate?: number;
  reassemblyTimeoutMs?: number;
  reassemblyMaxBytes?: number;
  logger?: Logger;
  /** Statistics of the link underneath (e.g. the TUN device's queues), included in stats(). */
  linkStats?: () => object;
}

/** What transports need from the IP layer. */
export interface IpLayer {
  readonly address: IPv4Address;
  readonly mtu: number;
  readonly timers: DeadlineQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  counters(layer: string): Counters;
  /** Send a transport payload that starts at IPV4_MIN_HEADER in `packet` (the headroom). */
  sendTransport(protocol: number, destination: IPv4Address, packet: Uint8Array, dontFragment?: boolean): void;
  /** Send an ICMP error about a received packet (rate limited, RFC 1122 3.2.2 rules applied). */
  sendIcmpError(type: number, code: number, offending: ReceivedPacket, restOfHeader?: number): void;
  /** Ask for the timer driver to re-arm after new deadlines were scheduled outside input handling. */
  poke(): void;
}

export interface ReceivedPacket {
  header: IPv4Header;
  payload: Uint8Array;
  /** The original packet (first fragment for reassembled datagrams), for ICMP quoting. */
  packet: Uint8Array;
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

export class Stack implements IpLayer {
  readonly address: IPv4Address;
  readonly mtu: number;
  readonly clock: Clock;
  readonly timers = new DeadlineQueue();
  readonly logger: Logger;
  readonly counterSet = new CounterSet();
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  readonly startedAt: number;

  private readonly link: Link;
  private readonly linkStats: (() => object) | undefined;
  private readonly ipCounters: Counters;
  private readonly icmpCounters: Counters;
  private readonly reassembler: Reassembler;
  private readonly icmpErrorBucket: TokenBucket;
  private readonly manualTimers: boolean;
  private identification = Math.floor(Math.random() * 0x10000);
  private reassemblyTimer: TimerHandle | undefined;
  private driverTimer: NodeJS.Timeout | undefined;
  private driverDeadline = Infinity;
  private pokeQueued = false;
  private loopbackQueue: Uint8Array[] = [];
  private closed = false;

  constructor(options: StackOptions) {
    const address = typeof options.address === 'string' ? parseIPv4Address(options.address) : options.address;
    if (address === undefined) throw new NetError('EINVAL', `stack address ${String(options.address)} is not an IPv4 address`);
    this.address = address;
    this.link = options.link;
    this.linkStats = options.linkStats;
    this.mtu = options.link.mtu;
    this.clock = options.clock ?? monotonicClock;
    this.manualTimers = options.manualTimers ?? false;
    this.logger = options.logger ?? silentLogger;
    this.startedAt = this.clock.now();
    this.ipCounters = this.counters('ip');
    this.icmpCounters = this.counters('icmp');
    this.reassembler = new Reassembler({
      timeoutMs: options.reassemblyTimeoutMs ?? 30_000,
      maxBytes: options.reassemblyMaxBytes ?? 4 * 1024 * 1024,
      counters: this.ipCounters,
    });
    const rate = options.icmpErrorRate ?? 100;
    this.icmpErrorBucket = new TokenBucket({ ratePerSecond: rate, burst: rate });
    this.udp = new UdpLayer(this);
    this.tcp = new TcpLayer(this, {
      ...DEFAULT_TCP_CONFIG,
      mss: this.mtu - 40,
      ...options.tcp,
    });
    this.link.setReceiver((packets) => this.receiveBatch(packets));
  }

  counters(layer: string): Counters {
    return this.counterSet.layer(layer);
  }

  get addressText(): string {
    return formatIPv4(this.address);
  }

  /** Milliseconds since the stack started, on its clock. */
  get uptimeMs(): number {
    return this.clock.now() - this.startedAt;
  }

  /** Handle a batch of received IP packets (what the link's receiver calls). */
  receiveBatch(packets: readonly Uint8Array[]): void {
    if (this.closed) return;
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
    this.service();
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
    switch (header.protocol) {
      case PROTOCOL_ICMP:
        this.receiveIcmp(received);
        return;
      case PROTOCOL_UDP:
        this.udp.receive(received);
        return;
      case PROTOCOL_TCP:
        this.tcp.receive(received);
        return;
      default:
        ip.drop('unknown_protocol');
        // RFC 1122 3.2.2.1: protocol unreachable for a protocol we do not speak.
        this.sendIcmpError(ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE, received);
    }
  }

  private receiveIcmp(received: ReceivedPacket): void {
    const icmp = this.icmpCounters;
    icmp.add('received');
    const parsed = parseIcmpMessage(received.payload);
    if (!parsed.ok) {
      icmp.drop(parsed.reason);
      return;
    }
    const message = parsed.message;
    if (message.type === ICMP_ECHO_REQUEST) {
      // RFC 792 / RFC 1122 3.2.2.6: echo the identifier, sequence number and data unchanged.
      const reply = encodeEchoReply(received.payload);
      const packet = new Uint8Array(IPV4_MIN_HEADER + reply.length);
      packet.set(reply, IPV4_MIN_HEADER);
      icmp.add('echo_replies');
      this.sendTransport(PROTOCOL_ICMP, received.header.source, packet);
      return;
    }
    if (message.type === ICMP_DEST_UNREACHABLE || message.type === ICMP_TIME_EXCEEDED) {
      const quote = parseIcmpErrorQuote(message.body);
      if (quote === undefined || quote.source !== this.address) {
        icmp.drop('bad_error_quote');
        return;
      }
      icmp.add(`errors_received`);
      if (quote.protocol === PROTOCOL_UDP) this.udp.receiveIcmpError(message.type, message.code, quote);
      else if (quote.protocol === PROTOCOL_TCP) this.tcp.receiveIcmpError(message.type, message.code, quote);
      return;
    }
    icmp.add(`ignored_type_${message.type}`);
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
    if (packet.length <= this.mtu) {
      this.ipCounters.add('sent');
      this.link.send(packet);
      return;
    }
    if (dontFragment) {
      this.ipCounters.drop('too_big_df');
      throw new NetError('EMSGSIZE', `packet of ${packet.length} bytes exceeds MTU ${this.mtu} with DF set`);
    }
    const fragments = fragmentPacket(packet, this.mtu);
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
        this.receiveBatch(batch);
      });
    }
  }

  sendIcmpError(type: number, code: number, offending: ReceivedPacket, restOfHeader = 0): void {
    if (!shouldSendIcmpError(offending.header, offending.payload)) return;
    if (!this.icmpErrorBucket.take(this.clock.now())) {
      this.icmpCounters.add('errors_rate_limited');
      return;
    }
    const message = encodeIcmpError(type, code, offending.packet, restOfHeader);
    const packet = new Uint8Array(IPV4_MIN_HEADER + message.length);
    packet.set(message, IPV4_MIN_HEADER);
    this.icmpCounters.add(`errors_sent`);
    this.sendTransport(PROTOCOL_ICMP, offending.header.source, packet);
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
        this.sendIcmpError(ICMP_TIME_EXCEEDED, FRAGMENT_REASSEMBLY_TIME_EXCEEDED, {
          header: parsed.header,
          payload: parsed.payload,
          packet: expired.firstFragment,
        });
      }
      this.armReassemblyTimer();
    });
  }

  /** Run due timers and re-arm the real-time driver. */
  service(): void {
    if (this.closed) return;
    if (this.manualTimers) return;
    this.timers.runExpired(this.clock.now());
    this.armDriver();
  }

  /** Test hook: fire every timer due at the clock's current time. */
  runTimers(): number {
    return this.timers.runExpired(this.clock.now());
  }

  poke(): void {
    if (this.manualTimers || this.pokeQueued || this.closed) return;
    this.pokeQueued = true;
    queueMicrotask(() => {
      this.pokeQueued = false;
      this.service();
    });
  }

  private armDriver(): void {
    const next = this.timers.nextDeadline();
    if (next === undefined) {
      if (this.driverTimer) clearTimeout(this.driverTimer);
      this.driverTimer = undefined;
      this.driverDeadline = Infinity;
      return;
    }
    if (this.driverTimer && next >= this.driverDeadline) return;
    if (this.driverTimer) clearTimeout(this.driverTimer);
    this.driverDeadline = next;
    const delay = Math.max(0, next - this.clock.now());
    this.driverTimer = setTimeout(() => {
      this.driverTimer = undefined;
      this.driverDeadline = Infinity;
      this.service();
    }, Math.ceil(delay));
  }

  /** A snapshot of every layer's counters plus table sizes. */
  stats(): Record<string, unknown> {
    return {
      address: this.addressText,
      uptimeMs: Math.round(this.uptimeMs),
      counters: this.counterSet.snapshot(),
      tcp: this.tcp.tableStats(),
      udp: this.udp.tableStats(),
      reassembly: { pending: this.reassembler.pendingCount, heldBytes: this.reassembler.heldBytes },
      ...(this.linkStats ? { link: this.linkStats() } : {}),
    };
  }

  /**
   * Close every socket (TCP connections get a FIN and up to `graceMs` to finish their close
   * handshake), then stop the link.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.closed) return;
    await this.tcp.shutdown(graceMs);
    this.udp.shutdown();
    this.closed = true;
    if (this.driverTimer) clearTimeout(this.driverTimer);
    this.driverTimer = undefined;
    await this.link.close();
  }
}
