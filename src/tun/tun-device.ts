/**
 * Open a Linux TUN device (IFF_TUN | IFF_NO_PI: one read or write is one raw IP packet), optionally
 * configure the kernel side with iproute2, and expose it as a Link whose I/O runs on a worker
 * thread (see packet-fd-link.ts).
 *
 * Offloads (on unless `offload: false`): the device is opened with IFF_VNET_HDR, so a 12-byte
 * virtio-net header (src/wire/virtio-net.ts) rides with every packet, and TUNSETOFFLOAD lets the
 * kernel hand us packets with partial checksums and TCP super-packets (its GSO) and take ours
 * (TSO), as wireguard-go's tun_linux.go and gVisor's fdbased endpoint do. When the kernel refuses
 * any step, the device is opened again without the header, and everything is MTU-sized.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { promisify } from 'node:util';
import { parseCidr } from '../wire/address.js';
import { parseIPv6Cidr } from '../wire/address6.js';
import { IPV6_MIN_MTU } from '../wire/ipv6.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_MTU } from '../wire/ipv4.js';
import type { Link, LinkReceiver } from '../link/link.js';
import {
  errnoName,
  errnoNumbers,
  IFF_NO_PI,
  IFF_TUN,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_SIZE,
  libc,
  type LibcBindings,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
} from './libc.js';
import { VIRTIO_NET_HDR_MRG_RXBUF_BYTES } from '../wire/virtio-net.js';
import { checkRingBytes, PacketFdLink, type PacketFdLinkStats } from './packet-fd-link.js';
import { TunError } from './tun-error.js';

const execFileAsync = promisify(execFile);

const DEFAULT_TUN_PATH = '/dev/net/tun';
const DEFAULT_MTU = 1500;
/**
 * Packets the kernel queues for the device before dropping (`txqueuelen`; the TUN default is
 * 500). Measured here with a 200k-datagram flood on 2 cores: at 500 the kernel dropped 7-43% of
 * the packets whenever the worker thread was descheduled for a moment, although the average read
 * rate kept up with the sender; at 5000 and above it dropped none.
 */
export const DEFAULT_TX_QUEUE_LENGTH = 4096;

/** Options of `openTun()`. */
export interface TunOptions {
  /** Interface name, 1..15 bytes; a `%d` lets the kernel pick the number (`tun%d`). */
  name: string;
  /** 68..65535; default 1500, or the interface's current MTU when `configure` is off. */
  mtu?: number;
  /**
   * When set: `ip addr replace <hostCidr> dev <name>` and
   * `ip link set <name> mtu <mtu> txqueuelen <txQueueLength> up`; with `hostCidr6`, IPv6 turned
   * on for the device and `ip -6 addr replace <hostCidr6> dev <name> nodad`.
   */
  configure?:
    | {
        /** The kernel side's address and prefix, e.g. 10.0.0.1/24. */
        hostCidr: string;
        /** The kernel side's IPv6 address and prefix, e.g. fd00::1/64; none when absent. */
        hostCidr6?: string;
        /** The device's transmit queue length in packets. Default 4096. */
        txQueueLength?: number;
        /**
         * Move the device into this existing network namespace first and configure it there
         * (the process, and the fd, stay where they are): `ip link set <name> netns <netns>`.
         */
        netns?: string;
        /** Routes via the device (`ip route replace <cidr> dev <name>`), `default` allowed. */
        routes?: string[];
      }
    | false;
  /** The clone device; default /dev/net/tun (injectable for tests). */
  devicePath?: string;
  /** Bytes per ring (each direction), a power of two >= 256 KiB; default 4 MiB. */
  ringBytes?: number;
  /** Hand the receiver copies instead of views into the ring (see PacketFdLinkOptions). */
  copyReceived?: boolean;
  /** Called if the device fails after opening (e.g. deleted underneath); default: a process warning. */
  onDeviceFailure?: (error: TunError) => void;
  /** Negotiate checksum and TCP segmentation offloads with the kernel (default true), falling back when refused. */
  offload?: boolean;
  /**
   * @internal The libc calls that open the device and negotiate its offloads; default the
   * process's own (a test seam, like devicePath: an ioctl made to fail walks the fallback).
   */
  libc?: LibcBindings;
}

type TunStats = PacketFdLinkStats;

export interface TunDevice extends Link {
  /** The interface name the kernel gave the device. */
  readonly name: string;
  /** Whether this process created the interface (it disappears on close) rather than attaching to a persistent one. */
  readonly created: boolean;
  readonly mtu: number;
  /** Whether offloads are on: virtio-net headers, partial checksums and TCP segmentation both ways. */
  readonly offload: boolean;
  /** Why offloads are off although they were asked for (the step the kernel refused). */
  readonly offloadRefused: string | undefined;
  /** Packets and bytes through the device's rings, and what was dropped. */
  stats(): TunStats;
  close(): Promise<void>;
}

/** What the kernel's dev_valid_name accepts (plus a byte-length limit of IFNAMSIZ - 1). */
function validateName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes >= IFNAMSIZ) throw new TunError('EINVAL', `interface name "${name}" must be 1 to ${IFNAMSIZ - 1} bytes long`);
  if (name === '.' || name === '..' || /[/:\s]/.test(name))
    throw new TunError('EINVAL', `interface name "${name}" contains characters the kernel refuses`);
}

function validateMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > IPV4_MAX_DATAGRAM)
    throw new TunError('EINVAL', `MTU ${mtu} is outside ${IPV4_MIN_MTU}..${IPV4_MAX_DATAGRAM}`);
}

function openError(path: string, errno: number): TunError {
  const name = errnoName(errno);
  if (errno === errnoNumbers.ENOENT || errno === errnoNumbers.ENODEV || errno === errnoNumbers.ENXIO) {
    return new TunError(
      'ENOENT',
      `${path} does not exist (${name}): this kernel has no TUN support, or the device node is missing (modprobe tun)`,
    );
  }
  if (errno === errnoNumbers.EACCES || errno === errnoNumbers.EPERM) {
    return new TunError('EPERM', `cannot open ${path} (${name}): run as root (or with CAP_NET_ADMIN)`);
  }
  return new TunError('EIO', `cannot open ${path}: ${name}`);
}

function attachError(name: string, errno: number): TunError {
  const errname = errnoName(errno);
  if (errno === errnoNumbers.EPERM || errno === errnoNumbers.EACCES) {
    return new TunError(
      'EPERM',
      `cannot create or attach TUN device ${name} (${errname}): run as root (or with CAP_NET_ADMIN), or the persistent device belongs to another user`,
    );
  }
  if (errno === errnoNumbers.EBUSY) {
    return new TunError('EBUSY', `TUN device ${name} is busy: another file descriptor (maybe in this process) is attached to it`);
  }
  if (errno === errnoNumbers.EINVAL) {
    return new TunError(
      'EINVAL',
      `cannot attach to ${name} (${errname}): the name belongs to a non-TUN interface, or a persistent device with other flags (it needs tun mode without packet information)`,
    );
  }
  return new TunError('EIO', `TUNSETIFF for ${name} failed: ${errname}`);
}

async function runIp(args: string[]): Promise<void> {
  try {
    await execFileAsync('ip', args, { timeout: 10_000 });
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    const detail =
      typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : error instanceof Error ? error.message : String(error);
    throw new TunError('EIO', `ip ${args.join(' ')} failed: ${detail}`, { cause: error });
  }
}

/**
 * Turn IPv6 on for device `name` (net.ipv6.conf.NAME.disable_ipv6=0), in `netns` or the process's
 * own namespace: a namespace or host that disables IPv6 by default (conf/default/disable_ipv6)
 * would otherwise refuse the address, or keep it without using it.
 */
async function enableIPv6(name: string, netns: string | undefined): Promise<void> {
  const setting = `net.ipv6.conf.${name}.disable_ipv6=0`;
  const hint = 'IPv6 may be off in this kernel (ipv6.disable=1); run with --no-ipv6';
  if (netns !== undefined) {
    try {
      await execFileAsync('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', setting], { timeout: 10_000 });
    } catch (error) {
      throw new TunError(
        'EIO',
        `sysctl ${setting} in netns ${netns} failed: ${error instanceof Error ? error.message : String(error)} (${hint})`,
        { cause: error },
      );
    }
    return;
  }
  try {
    await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '0');
  } catch (error) {
    throw new TunError('EIO', `cannot turn IPv6 on for ${name}: ${error instanceof Error ? error.message : String(error)} (${hint})`, {
      cause: error,
    });
  }
}

/**
 * Open the clone device and attach it to interface `name` (with a virtio-net header on every
 * packet when `virtioNetHeader`); returns the fd and the kernel's name for the interface.
 */
function attachTun(sys: LibcBindings, devicePath: string, name: string, virtioNetHeader: boolean): { fd: number; name: string } {
  const fd = sys.open(devicePath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw openError(devicePath, sys.errno());
  const ifreq = new Uint8Array(IFREQ_SIZE);
  ifreq.set(Buffer.from(name));
  // ifr_flags: a native-endian short right after the 16-byte name.
  new Int16Array(ifreq.buffer, IFNAMSIZ, 1)[0] = IFF_TUN | IFF_NO_PI | (virtioNetHeader ? IFF_VNET_HDR : 0);
  if (sys.ioctlPointer(fd, TUNSETIFF, ifreq) !== 0) {
    const errno = sys.errno();
    sys.close(fd);
    throw attachError(name, errno);
  }
  const nameEnd = ifreq.indexOf(0);
  return { fd, name: Buffer.from(ifreq.subarray(0, nameEnd < 0 || nameEnd > IFNAMSIZ ? IFNAMSIZ : nameEnd)).toString() };
}

/**
 * The offloads asked of the kernel: partial checksums (NEEDS_CSUM) and TCP segmentation both ways
 * for IPv4 and IPv6 (TSO6 only so that the device keeps the kernel's IPv6 TCP unsegmented too; the
 * stack drops IPv6); then, when the kernel has it (Linux 6.2), UDP segmentation (USO) too: the
 * kernel hands over UDP super-packets, which the TUN link splits (src/link/udp-segmentation.ts).
 */
const TUN_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
const TUN_UDP_OFFLOADS = TUN_F_USO4 | TUN_F_USO6;

/**
 * Set the header size and the offloads on a device opened with IFF_VNET_HDR; returns why not
 * when the kernel refuses a step. The header is 12 bytes (with num_buffers, the virtio 1.x size)
 * and little-endian, so a big-endian host (where the TUN default is host order) goes without.
 */
function negotiateOffloads(sys: LibcBindings, fd: number): string | undefined {
  if (endianness() !== 'LE') return 'the host is big-endian';
  const size = new Int32Array([VIRTIO_NET_HDR_MRG_RXBUF_BYTES]);
  if (sys.ioctlPointer(fd, TUNSETVNETHDRSZ, size) !== 0) return `TUNSETVNETHDRSZ refused: ${errnoName(sys.errno())}`;
  // An older kernel refuses the USO bits with EINVAL: then the rest alone.
  if (sys.ioctlValue(fd, TUNSETOFFLOAD, TUN_OFFLOADS | TUN_UDP_OFFLOADS) === 0) return undefined;
  if (sys.ioctlValue(fd, TUNSETOFFLOAD, TUN_OFFLOADS) !== 0) return `TUNSETOFFLOAD refused: ${errnoName(sys.errno())}`;
  return undefined;
}

/**
 * Attach with offloads when asked, or without: a refused IFF_VNET_HDR, header size or offload
 * set means the device is opened again plainly (closing a device we created removes it first).
 */
function attachWithOffloads(
  sys: LibcBindings,
  devicePath: string,
  name: string,
  offload: boolean,
): { fd: number; name: string; offloadRefused?: string } {
  if (!offload) return attachTun(sys, devicePath, name, false);
  let attached: { fd: number; name: string };
  try {
    attached = attachTun(sys, devicePath, name, true);
  } catch (error) {
    // The kernel may refuse the flag for a persistent device made without it; try plainly (and
    // throw what that gives, if it fails for another reason).
    return {
      ...attachTun(sys, devicePath, name, false),
      offloadRefused: `IFF_VNET_HDR refused: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const refused = negotiateOffloads(sys, attached.fd);
  if (refused === undefined) return attached;
  sys.close(attached.fd);
  return { ...attachTun(sys, devicePath, attached.name, false), offloadRefused: refused };
}

/** The interface's MTU as the kernel has it, or the default when it cannot be read. */
function currentMtu(name: string): number {
  try {
    const value = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    if (Number.isInteger(value) && value >= IPV4_MIN_MTU && value <= IPV4_MAX_DATAGRAM) return value;
  } catch {
    // fall through: e.g. sysfs not mounted
  }
  return DEFAULT_MTU;
}

class Tun implements TunDevice {
  constructor(
    readonly name: string,
    readonly created: boolean,
    private readonly link: PacketFdLink,
    readonly offloadRefused: string | undefined,
  ) {}

  get mtu(): number {
    return this.link.mtu;
  }

  get offload(): boolean {
    return this.link.tcpSegmentation;
  }

  get tcpSegmentation(): boolean {
    return this.link.tcpSegmentation;
  }

  get queuedBytes(): number {
    return this.link.queuedBytes;
  }

  get queueCapacity(): number {
    return this.link.queueCapacity;
  }

  get copiesOnSend(): boolean {
    return this.link.copiesOnSend;
  }

  setReceiver(receiver: LinkReceiver): void {
    this.link.setReceiver(receiver);
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    this.link.send(packet, segmentSize);
  }

  stats(): TunStats {
    return this.link.stats();
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

/**
 * Open (create, or attach to) a TUN device and bring it up: the link a stack runs on. Rejects
 * with a `TunError` (ENOENT, EPERM, EBUSY, EINVAL, EIO) saying what to do about it.
 */
export async function openTun(options: TunOptions): Promise<TunDevice> {
  validateName(options.name);
  if (options.mtu !== undefined) validateMtu(options.mtu);
  const configure = options.configure || undefined;
  if (configure && !parseCidr(configure.hostCidr)) throw new TunError('EINVAL', `host address "${configure.hostCidr}" is not a.b.c.d/len`);
  if (configure?.hostCidr6 !== undefined) {
    if (!parseIPv6Cidr(configure.hostCidr6))
      throw new TunError('EINVAL', `host IPv6 address "${configure.hostCidr6}" is not like fd00::1/64`);
    // RFC 8200 5: every IPv6 link carries 1280-byte packets; Linux turns IPv6 off on a smaller one.
    if (options.mtu !== undefined && options.mtu < IPV6_MIN_MTU)
      throw new TunError(
        'EINVAL',
        `MTU ${options.mtu} is below IPv6's minimum of ${IPV6_MIN_MTU} (RFC 8200 5): raise it or configure no IPv6 address`,
      );
  }
  const txQueueLength = configure?.txQueueLength ?? DEFAULT_TX_QUEUE_LENGTH;
  if (!Number.isInteger(txQueueLength) || txQueueLength < 1 || txQueueLength > 1_000_000) {
    throw new TunError('EINVAL', `txQueueLength ${txQueueLength} is outside 1..1000000`);
  }
  checkRingBytes(options.ringBytes);
  const devicePath = options.devicePath ?? DEFAULT_TUN_PATH;

  // Racy by nature (someone could create the name in between), but it is what decides whether
  // closing will remove the interface, and a TUNSETIFF on a non-TUN name fails anyway.
  const existed = !options.name.includes('%') && existsSync(`/sys/class/net/${options.name}`);
  const { fd, name, offloadRefused } = attachWithOffloads(options.libc ?? libc(), devicePath, options.name, options.offload ?? true);

  let mtu = options.mtu;
  if (mtu === undefined) {
    mtu = configure ? DEFAULT_MTU : currentMtu(name);
  }

  const starting = PacketFdLink.start(fd, {
    mtu,
    virtioNetHeaderBytes: offloadRefused === undefined && (options.offload ?? true) ? VIRTIO_NET_HDR_MRG_RXBUF_BYTES : undefined,
    ringBytes: options.ringBytes,
    copyReceived: options.copyReceived,
    onDeviceFailure: options.onDeviceFailure,
  });
  // Configure the kernel side while the worker thread boots.
  const configuring = configure
    ? (async () => {
        // `ip -n NS ...` runs the command in that namespace, where the device now lives.
        const inNetns = configure.netns !== undefined ? ['-n', configure.netns] : [];
        if (configure.netns !== undefined) await runIp(['link', 'set', name, 'netns', configure.netns]);
        await runIp([...inNetns, 'addr', 'replace', configure.hostCidr, 'dev', name]);
        await runIp([...inNetns, 'link', 'set', name, 'mtu', String(mtu), 'txqueuelen', String(txQueueLength), 'up']);
        if (configure.hostCidr6 !== undefined) {
          await enableIPv6(name, configure.netns);
          // nodad: a TUN device has no link layer on which a duplicate could answer (RFC 4862 5.4
          // DAD would only hold the address tentative, unusable, for a second or more).
          await runIp([...inNetns, '-6', 'addr', 'replace', configure.hostCidr6, 'dev', name, 'nodad']);
        }
        for (const route of configure.routes ?? []) await runIp([...inNetns, 'route', 'replace', route, 'dev', name]);
      })()
    : Promise.resolve();
  const [linkResult, configureResult] = await Promise.allSettled([starting, configuring]);
  if (linkResult.status === 'rejected') throw linkResult.reason;
  if (configureResult.status === 'rejected') {
    await linkResult.value.close();
    throw configureResult.reason;
  }
  return new Tun(name, !existed, linkResult.value, offloadRefused);
}
