/**
 * openStack: the whole stack over a TUN device, with optional pcap capture and fault injection,
 * set as the default stack for listen / dial / listenPacket.
 */
import { setDefaultStack } from './api/net.js';
import type { SocketOptions } from './api/socket-options.js';
import { NetError } from './errors.js';
import { parseCidr, parseIPv4Address } from './wire/address.js';
import { ipv6MartianClass, parseIPv6Address, parseIPv6Cidr } from './wire/address6.js';
import { IPV6_MIN_MTU } from './wire/ipv6.js';
import { impairLink, parseImpairSpec } from './link/impair.js';
import type { Link } from './link/link.js';
import { tapLink } from './link/tap.js';
import type { Logger } from './log.js';
import { PcapWriter } from './pcap/pcap.js';
import { Stack } from './stack.js';
import type { TcpConfig } from './tcp/types.js';
import { openTun, type TunDevice } from './tun/tun-device.js';

/** Options of `openStack()`: the TUN device and the stack on it. */
export interface OpenStackOptions {
  /** TUN device name (default tun0). */
  tun?: string;
  /** Kernel side address and prefix, set on the device (default 10.0.0.1/24). */
  hostCidr?: string;
  /** The stack's own address (default 10.0.0.2). */
  address?: string;
  /** Kernel side IPv6 address and prefix, set on the device (default fd00::1/64). */
  hostCidr6?: string;
  /** The stack's own IPv6 address (default fd00::2). */
  address6?: string;
  /** IPv6 on the stack and the device (default true); false: IPv4 only, no IPv6 address anywhere. */
  ipv6?: boolean;
  /** Device MTU, 68..65535 (default 1500). */
  mtu?: number;
  /** Configure the kernel side (address, MTU, up). Default true. */
  configure?: boolean;
  /**
   * Put the device into this existing network namespace and configure its host side there; the
   * process and its kernel sockets stay in the namespace they started in (forwarding).
   */
  deviceNetns?: string;
  /** Routes via the device in the device's namespace (`default` allowed), e.g. ['default']. */
  routes?: string[];
  /** Write every packet in and out to this pcap file. */
  pcap?: string;
  /** Fault injection spec, e.g. "loss=0.05,reorder=0.1,seed=1". */
  impair?: string;
  /**
   * Checksum and TCP segmentation offloads on the TUN device (virtio-net headers), default true;
   * off when the kernel refuses them, and under `impair`, whose faults apply to MTU-sized packets.
   */
  offload?: boolean;
  /** Where the stack logs (`createLogger(level)`). Default: nowhere. */
  logger?: Logger;
  /** TCP settings (StackOptions.tcp); the rest from `DEFAULT_TCP_CONFIG`. */
  tcp?: Partial<TcpConfig>;
  /** Defaults of the API's TCP connections (StackOptions.sockets). */
  sockets?: SocketOptions;
  /** Make this the default stack for listen / dial / listenPacket (default true). */
  setDefault?: boolean;
}

/** What `openStack()` resolves to: the stack, its TUN device, and `close()` for both. */
export interface RunningStack {
  /** The stack (also the default stack unless `setDefault: false`). */
  stack: Stack;
  /** The TUN device it runs on. */
  device: TunDevice;
  /** Close connections gracefully, flush the pcap, close (and so remove) the device. */
  close(graceMs?: number): Promise<void>;
}

/** The stack's IPv6 address by default (a unique local address, RFC 4193). */
export const DEFAULT_ADDRESS6 = 'fd00::2';
/** The kernel side's IPv6 address and prefix by default. */
export const DEFAULT_HOST_CIDR6 = 'fd00::1/64';

/**
 * Refuse IPv6 settings the device or the stack cannot use: the stack's address must be a unicast
 * one of its own (not ::, ::1, multicast or IPv4-mapped), the host side's a CIDR with another
 * address, and the MTU at least IPv6's 1280 (RFC 8200 5).
 */
export function checkIPv6Addresses(address6: string, hostCidr6: string, mtu: number | undefined): void {
  const parsed = parseIPv6Address(address6);
  if (parsed === undefined) throw new NetError('EINVAL', `--addr6 ${address6} is not an IPv6 address like fd00::2`);
  const martian = ipv6MartianClass(parsed);
  if (martian !== undefined)
    throw new NetError('EINVAL', `--addr6 ${address6} is an IPv6 ${martian.replace('_', '-')} address, not one a host can have`);
  const host = parseIPv6Cidr(hostCidr6);
  if (host === undefined) throw new NetError('EINVAL', `--host-addr6 ${hostCidr6} is not an IPv6 CIDR like fd00::1/64`);
  if (host.address === parsed) throw new NetError('EINVAL', `--addr6 ${address6} is the same as the host side's IPv6 address`);
  if (mtu !== undefined && mtu < IPV6_MIN_MTU)
    throw new NetError('EINVAL', `--mtu ${mtu} is below IPv6's minimum of ${IPV6_MIN_MTU} (RFC 8200 5): raise it, or use --no-ipv6`);
}

export async function openStack(options: OpenStackOptions = {}): Promise<RunningStack> {
  const address = options.address ?? '10.0.0.2';
  const hostCidr = options.hostCidr ?? '10.0.0.1/24';
  if (parseIPv4Address(address) === undefined) throw new NetError('EINVAL', `--addr ${address} is not an IPv4 address`);
  if (parseCidr(hostCidr) === undefined) throw new NetError('EINVAL', `--host-addr ${hostCidr} is not an IPv4 CIDR like 10.0.0.1/24`);
  const ipv6 = options.ipv6 ?? true;
  const address6 = ipv6 ? (options.address6 ?? DEFAULT_ADDRESS6) : undefined;
  const hostCidr6 = ipv6 ? (options.hostCidr6 ?? DEFAULT_HOST_CIDR6) : undefined;
  if (address6 !== undefined && hostCidr6 !== undefined) checkIPv6Addresses(address6, hostCidr6, options.mtu);
  const impairSpec = options.impair !== undefined ? parseImpairSpec(options.impair) : undefined;
  const device = await openTun({
    name: options.tun ?? 'tun0',
    // The fault injector drops, reorders and corrupts MTU-sized packets, as a path would; it
    // neither takes super-segments nor finishes the partial checksums of the kernel's packets.
    offload: (options.offload ?? true) && impairSpec === undefined,
    mtu: options.mtu ?? 1500,
    configure: options.configure === false ? false : { hostCidr, hostCidr6, netns: options.deviceNetns, routes: options.routes },
    // TCP holds new data once 1 MiB waits in the TX ring (IpLayer.transmitQueueFull), so a ring
    // of 4 MiB each way leaves room for the last super-segment of many connections at once. The
    // rings are used round and round, so all their pages become resident: 16 MiB rings (before
    // that limit) held ~30 MB of RSS; restarting a drained ring at offset 0 saved it but counted
    // the skipped tail as queued and cost a third of the download rate. 2 MiB rings would save
    // 4 MiB of RSS, but measured slower (4 alternated runs: download 565 vs 781 MB/s, upload 339
    // vs 424).
    ringBytes: 4 * 1024 * 1024,
  });
  if (device.offloadRefused !== undefined) options.logger?.warn(`offloads are off: ${device.offloadRefused}`);
  let link: Link = device;
  let pcap: PcapWriter | undefined;
  let stack: Stack;
  try {
    if (options.pcap !== undefined) {
      const writer = PcapWriter.open(options.pcap);
      pcap = writer;
      link = tapLink(link, (_direction, packet) => writer.write(packet));
    }
    if (impairSpec !== undefined) link = impairLink(link, impairSpec);
    // The Stack refuses a configuration the link cannot carry (EINVAL): the device, its fd and
    // worker thread, and the pcap file must not outlive the refusal.
    stack = new Stack({
      link,
      address,
      address6,
      logger: options.logger,
      tcp: options.tcp,
      sockets: options.sockets,
      linkStats: () => device.stats(),
    });
  } catch (error) {
    pcap?.close();
    await device.close();
    throw error;
  }
  if (options.setDefault !== false) setDefaultStack(stack);
  let closing: Promise<void> | undefined;
  return {
    stack,
    device,
    close(graceMs = 1000) {
      closing ??= (async () => {
        await stack.close(graceMs);
        pcap?.close();
        setDefaultStack(undefined);
      })();
      return closing;
    },
  };
}
