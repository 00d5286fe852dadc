/**
 * The stack: composition only. It joins a link, the clock and timers, the IP layer (src/ip: IPv4,
 * and IPv6 when the stack has an IPv6 address) and the transports (src/udp, src/tcp), and owns
 * what spans them: the real-time driver, the counters, stats and close. Input arrives in batches
 * from the link and goes to the IP layer; transports send through the IP layer, which writes its
 * header into their headroom.
 *
 * Time: every deadline lives on the stack's DeadlineQueue and fires with the stack's Clock. The
 * queue tells the stack when a newly scheduled deadline is the earliest, and the stack re-arms
 * its one setTimeout for it, so nothing has to "poke" the driver after scheduling. Input
 * handling and timer callbacks hold that re-arming and arm once when they finish. With
 * `manualTimers` no real timer is ever armed: the test moves time (ManualTime, or a FakeClock
 * and `runTimers()`). An exception from a timer callback is counted (`timers: faults`) and
 * logged, and the other callbacks run; the connection it belonged to aborts itself.
 *
 * Configuration a link cannot carry (a TCP segment with its options and one byte of data larger
 * than the MTU, an MSS above MTU - 40) is refused here with EINVAL, not found at the first send.
 */
import type { SocketOptions } from './api/socket-options.js';
import { monotonicClock, type Clock } from './clock.js';
import { CounterSet, type Counters } from './counters.js';
import { NetError } from './errors.js';
import { NetworkLayer, type PacketOrigin } from './ip/ip-layer.js';
import type { Link } from './link/link.js';
import { errorDetail, silentLogger, type Logger } from './log.js';
import { cryptoRandom, type RandomSource } from './random.js';
import { TcpLayer } from './tcp/tcp-layer.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/types.js';
import { DeadlineQueue } from './timers.js';
import { UdpLayer } from './udp/udp-layer.js';
import { formatIPv4, parseIPv4Address, type IPv4Address } from './wire/address.js';
import { formatIPv6, ipv6MartianClass, parseIPv6Address, type IPv6Address } from './wire/address6.js';
import { IPV6_MIN_MTU } from './wire/ipv6.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_HEADER, IPV4_MIN_MTU, PROTOCOL_TCP, PROTOCOL_UDP } from './wire/ipv4.js';
import { TCP_MAX_SACK_BLOCKS, tcpHeaderLength, type SackBlock } from './wire/tcp.js';

/** RFC 9293 3.7.1: MSS = MTU - 40, the fixed IPv4 and TCP headers. */
const IPV4_TCP_HEADER_BYTES = 40;

/**
 * The TCP configuration of a stack on a link of `mtu` bytes: the defaults, the MSS the MTU gives,
 * then the caller's settings, checked against what the link can carry. Throws NetError EINVAL
 * for an MTU outside 68..65535, an unknown congestion controller, an MSS that is not an integer
 * from 1 to MTU - 40, or an MTU too small for a TCP segment with the most options this
 * configuration sends (SYN options; or timestamps plus SACK blocks, up to 40 bytes) and one byte
 * of data: such a segment could not be sent, and a TCP that cannot send its ACKs cannot work.
 */
export function tcpConfigForLink(mtu: number, tcp: Partial<TcpConfig> = {}): TcpConfig {
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > IPV4_MAX_DATAGRAM) {
    throw new NetError('EINVAL', `link MTU ${mtu} is not an integer from ${IPV4_MIN_MTU} to ${IPV4_MAX_DATAGRAM}`);
  }
  const congestionControl: unknown = tcp.congestionControl;
  if (congestionControl !== undefined && congestionControl !== 'cubic' && congestionControl !== 'newreno') {
    throw new NetError('EINVAL', `tcp.congestionControl ${JSON.stringify(congestionControl)} is not 'cubic' or 'newreno'`);
  }
  const maxTimeWait: unknown = tcp.maxTimeWait;
  if (maxTimeWait !== undefined && !(typeof maxTimeWait === 'number' && Number.isInteger(maxTimeWait) && maxTimeWait >= 0)) {
    const shown = typeof maxTimeWait === 'number' ? String(maxTimeWait) : JSON.stringify(maxTimeWait);
    throw new NetError('EINVAL', `tcp.maxTimeWait ${shown} is not a whole number of records (0 or more)`);
  }
  const config: TcpConfig = { ...DEFAULT_TCP_CONFIG, mss: mtu - IPV4_TCP_HEADER_BYTES, ...tcp };
  const largestMss = mtu - IPV4_TCP_HEADER_BYTES;
  if (!Number.isInteger(config.mss) || config.mss < 1 || config.mss > largestMss) {
    throw new NetError(
      'EINVAL',
      `tcp.mss ${config.mss} does not fit MTU ${mtu}: the MSS is an integer from 1 to ${largestMss} (the MTU less 40 bytes of IPv4 and TCP headers)`,
    );
  }
  // The largest TCP header we send: the SYN's options, or a segment's timestamps and as many
  // SACK blocks as fit (RFC 2018 3: up to 40 bytes of options in all).
  const timestamp = config.timestamps ? { value: 0, echo: 0 } : undefined;
  const sackBlocks: SackBlock[] | undefined = config.sack
    ? Array.from({ length: TCP_MAX_SACK_BLOCKS }, () => ({ left: 0, right: 0 }))
    : undefined;
  const largestHeader = Math.max(
    tcpHeaderLength({ mss: config.mss, windowScale: config.windowScaling ? 0 : undefined, sackPermitted: config.sack, timestamp }),
    tcpHeaderLength({ timestamp, sackBlocks }),
  );
  const smallestMtu = IPV4_MIN_HEADER + largestHeader + 1;
  if (mtu < smallestMtu) {
    throw new NetError(
      'EINVAL',
      `MTU ${mtu} cannot carry a TCP segment with its options: ${largestHeader} bytes of TCP header` +
        `${config.sack || config.timestamps ? ' (timestamps and SACK blocks)' : ''}, 20 of IPv4 and 1 byte of data need an MTU of at least ${smallestMtu}` +
        `${config.sack || config.timestamps ? '; raise the MTU or turn off tcp.sack and tcp.timestamps' : ''}`,
    );
  }
  return config;
}

/**
 * StackOptions.address6, checked: undefined when absent; NetError EINVAL for text that is not an
 * IPv6 address, an address that is not unicast (::, ::1, multicast, IPv4-mapped: none can be a
 * node's address on a link, RFC 4291 2.5.2-2.5.5.2, 2.7), or a link whose MTU is below IPv6's
 * minimum of 1280 (RFC 8200 5).
 */
function ipv6AddressOption(option: string | IPv6Address | undefined, mtu: number): IPv6Address | undefined {
  if (option === undefined) return undefined;
  // An 8-unit string with a unit outside printable ASCII is the address itself (any address in
  // use has one: 2000::/3, fc00::/7, fe80::/10); anything else is text.
  const address = /^[\x20-\x7e]*$/.test(option) || option.length !== 8 ? parseIPv6Address(option) : (option as IPv6Address);
  if (address === undefined) throw new NetError('EINVAL', `stack address6 ${JSON.stringify(option)} is not an IPv6 address`);
  const martian = ipv6MartianClass(address);
  if (martian !== undefined) {
    throw new NetError('EINVAL', `stack address6 ${formatIPv6(address)} is not a unicast address (${martian.replace('_', '-')})`);
  }
  if (mtu < IPV6_MIN_MTU) {
    throw new NetError(
      'EINVAL',
      `IPv6 needs a link MTU of at least ${IPV6_MIN_MTU} (RFC 8200 5), the link has ${mtu}: leave address6 out to run without IPv6`,
    );
  }
  return address;
}

/** What `new Stack()` is built from: the link it runs on and its own address, the rest optional. */
export interface StackOptions {
  /** Where packets go out and come in: a TUN device (`openTun`), `memoryLinkPair()`, ... */
  link: Link;
  /** The stack's own IPv4 address. */
  address: string | IPv4Address;
  /**
   * The stack's own IPv6 address (text such as `fd00::2`, or the 8-unit form): a unicast address,
   * on a link with an MTU of 1280 or more (RFC 8200 5). Absent: IPv6 is off, and IPv6 packets
   * from the link are counted and dropped (`ipv6` `drop.disabled`).
   */
  address6?: string | IPv6Address;
  /** The stack's time source. Default: `monotonicClock`; tests pass a `FakeClock`. */
  clock?: Clock;
  /**
   * When true, timers fire only when a test moves time (ManualTime, or `runTimers()` with a
   * FakeClock) and nothing arms a real timer. `close()` then gives no grace period: stack time
   * would only pass if the test moved it, so connections still closing are aborted at once.
   */
  manualTimers?: boolean;
  /**
   * Where random choices come from: the first ephemeral port of each transport, the first IPv4
   * identification, the ISN secret. Default: the OS CSPRNG; tests pass `seededRandom(seed)`.
   */
  random?: RandomSource;
  /** TCP settings; the rest from `DEFAULT_TCP_CONFIG`, MSS-related ones from the link's MTU. */
  tcp?: Partial<TcpConfig>;
  /**
   * What the API's TCP connections on this stack start with, where a call does not say (Go's
   * defaults otherwise: NoDelay, keepalive every 15 s; see src/api/socket-options.ts).
   */
  sockets?: SocketOptions;
  /** ICMP errors per second (token bucket, burst of the same size). Default 100. */
  icmpErrorRate?: number;
  /** How long a fragmented datagram may take to be reassembled (RFC 791 section 3.2). Default 30 s. */
  reassemblyTimeoutMs?: number;
  /** Bytes all datagrams being reassembled may hold together, per IP family. Default 4 MiB. */
  reassemblyMaxBytes?: number;
  /** Where the stack logs. Default: nowhere. */
  logger?: Logger;
  /** Statistics of the link underneath (e.g. the TUN device's queues), included in stats(). */
  linkStats?: () => object;
}

/**
 * One TCP/IP stack on one link: IPv4, ICMP, UDP and TCP. `openStack()` makes one on a TUN device;
 * `new Stack({ link, address })` runs one over any `Link` (e.g. `memoryLinkPair()`).
 */
export class Stack {
  /** The stack's own IPv4 address, as a 32-bit number (`addressText` as text). */
  readonly address: IPv4Address;
  /** The stack's own IPv6 address (`address6Text` as text), undefined when IPv6 is off. */
  readonly address6: IPv6Address | undefined;
  /** The link's MTU in bytes. */
  readonly mtu: number;
  /** The clock every deadline of the stack runs on. */
  readonly clock: Clock;
  /** @internal The deadline queue of every timer of the stack. */
  readonly timers: DeadlineQueue;
  /** Where the stack logs. */
  readonly logger: Logger;
  /** @internal Every layer's counters (`counters(layer)` for one). */
  readonly counterSet = new CounterSet();
  /** @internal The IPv4 layer. */
  readonly ip: NetworkLayer;
  /** @internal The UDP layer. */
  readonly udp: UdpLayer;
  /** @internal The TCP layer. */
  readonly tcp: TcpLayer;
  /** When the stack started, on its clock. */
  readonly startedAt: number;
  /** `StackOptions.sockets`: the socket options the stack's connections start with, where a call does not say. */
  readonly socketDefaults: SocketOptions | undefined;

  private readonly link: Link;
  private readonly linkStats: (() => object) | undefined;
  private readonly manualTimers: boolean;
  private driverTimer: NodeJS.Timeout | undefined;
  private driverDeadline = Infinity;
  /** True while input or timer callbacks run: they may schedule many deadlines; arm once after. */
  private driverHeld = false;
  private closed = false;

  constructor(options: StackOptions) {
    const address = typeof options.address === 'string' ? parseIPv4Address(options.address) : options.address;
    if (address === undefined) throw new NetError('EINVAL', `stack address ${String(options.address)} is not an IPv4 address`);
    this.address = address;
    this.address6 = ipv6AddressOption(options.address6, options.link.mtu);
    this.link = options.link;
    this.linkStats = options.linkStats;
    this.mtu = options.link.mtu;
    this.clock = options.clock ?? monotonicClock;
    this.manualTimers = options.manualTimers ?? false;
    this.socketDefaults = options.sockets;
    // Checked before anything is built, so a refused configuration leaves nothing behind.
    const tcpConfig = tcpConfigForLink(options.link.mtu, options.tcp);
    this.timers = new DeadlineQueue(
      () => this.onEarlierDeadline(),
      (error) => this.onTimerFault(error),
    );
    this.logger = options.logger ?? silentLogger;
    this.startedAt = this.clock.now();
    this.ip = new NetworkLayer({
      address,
      ...(this.address6 !== undefined ? { address6: this.address6 } : {}),
      link: this.link,
      clock: this.clock,
      timers: this.timers,
      random: options.random ?? cryptoRandom,
      logger: this.logger,
      counterSet: this.counterSet,
      icmpErrorRate: options.icmpErrorRate ?? 100,
      reassemblyTimeoutMs: options.reassemblyTimeoutMs ?? 30_000,
      reassemblyMaxBytes: options.reassemblyMaxBytes ?? 4 * 1024 * 1024,
      loopback: (packets) => this.receive(packets, 'loopback'),
    });
    this.udp = new UdpLayer(this.ip);
    this.tcp = new TcpLayer(this.ip, tcpConfig);
    this.ip.register(PROTOCOL_UDP, this.udp);
    this.ip.register(PROTOCOL_TCP, this.tcp);
    this.link.setReceiver((packets, flags) => this.receiveBatch(packets, flags));
  }

  /** The counters of one layer (`ip`, `tcp`, `udp`, ...), made on first use; every drop is counted with its reason. */
  counters(layer: string): Counters {
    return this.counterSet.layer(layer);
  }

  /** The stack's own address as dotted-quad text. */
  get addressText(): string {
    return formatIPv4(this.address);
  }

  /** The stack's own IPv6 address as RFC 5952 text, undefined when IPv6 is off. */
  get address6Text(): string | undefined {
    return this.address6 === undefined ? undefined : formatIPv6(this.address6);
  }

  /** Milliseconds since the stack started, on its clock. */
  get uptimeMs(): number {
    return this.clock.now() - this.startedAt;
  }

  /** Handle a batch of received IP packets (what the link's receiver calls; `flags` as it gives them). */
  receiveBatch(packets: readonly Uint8Array[], flags?: Uint8Array): void {
    this.receive(packets, 'link', flags);
  }

  private receive(packets: readonly Uint8Array[], origin: PacketOrigin, flags?: Uint8Array): void {
    if (this.closed) return;
    const held = this.driverHeld;
    this.driverHeld = true;
    try {
      this.ip.receiveBatch(packets, origin, flags);
    } finally {
      this.driverHeld = held;
    }
    this.service();
  }

  /** Test hook: fire every timer due at the clock's current time. */
  runTimers(): number {
    return this.timers.runExpired(this.clock.now());
  }

  /** Run due timers, then arm the real-time driver for the next deadline. */
  private service(): void {
    if (this.closed || this.manualTimers || this.driverHeld) return;
    this.driverHeld = true;
    try {
      this.timers.runExpired(this.clock.now());
    } finally {
      this.driverHeld = false;
    }
    this.armDriver();
  }

  /** The DeadlineQueue's call: a timer callback threw; the others still run. */
  private onTimerFault(error: unknown): void {
    this.counters('timers').add('faults');
    this.logger.error(`timer callback failed: ${errorDetail(error)}`);
  }

  /** The DeadlineQueue's call: a deadline earlier than every queued one was just scheduled. */
  private onEarlierDeadline(): void {
    if (this.closed || this.manualTimers || this.driverHeld) return;
    this.armDriver();
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
      ...(this.address6 !== undefined ? { address6: this.address6Text } : {}),
      uptimeMs: Math.round(this.uptimeMs),
      counters: this.counterSet.snapshot(),
      tcp: this.tcp.tableStats(),
      udp: this.udp.tableStats(),
      reassembly: this.ip.reassemblyStats(),
      ...(this.linkStats ? { link: this.linkStats() } : {}),
    };
  }

  /**
   * Close every socket (TCP connections get a FIN and up to `graceMs` of stack time to finish
   * their close handshake; with `manualTimers`, none), then stop the link.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.closed) return;
    await this.tcp.shutdown(this.manualTimers ? 0 : graceMs);
    this.udp.shutdown();
    this.closed = true;
    this.ip.close();
    if (this.driverTimer) clearTimeout(this.driverTimer);
    this.driverTimer = undefined;
    await this.link.close();
  }
}
