/**
 * A Link over a packet file descriptor (a TUN device, or anything where one read is one packet,
 * such as a SOCK_SEQPACKET socket in tests), with the bulk of its writes on a worker thread.
 *
 * Receive: the event loop polls the fd with the process's other I/O (event-loop-reader.ts); when
 * a packet is readable, this thread reads everything queued and hands it to the receiver in one
 * call. One thread wake-up per received batch, as for a socket: the kernel waking this thread.
 * Where the runtime cannot poll the fd (or `receiveOn: 'worker'`), the worker reads packets
 * straight into a shared RX ring and bumps the ring's head, and this thread sleeps in
 * `Atomics.waitAsync` on that head: two wake-ups, the worker's and then this thread's.
 * Send: `send` copies the packet into a shared TX ring (dropping and counting when it is full);
 * the worker writes it out. The worker sleeps in poll() on the device and a wake pipe, and the
 * main thread writes one byte to the pipe only when the worker announced that it is asleep, at
 * most once per microtask checkpoint. Waking a thread costs the waker far more than a write
 * (measured: 15-30 µs against a fraction of one, and over 100 µs of the main thread's time per
 * HTTP request under load), so while the worker sleeps with nothing queued, the first few small
 * packets of a burst are written to the device by this thread itself: with the ring empty every
 * packet queued before them is already out, so the order on the wire is kept.
 *
 * With a virtio-net header (a TUN device opened with IFF_VNET_HDR), every record in both rings is
 * the header followed by the packet, exactly what one read or write on the fd carries, so the
 * worker stays byte-agnostic and moves records without a copy. This thread reads the header of
 * each received record (the receiver gets a view of the packet behind it and its RECEIVED_*
 * flags) and writes one in front of each packet it queues (a TCP super-segment's, or zeros).
 */
import { Worker } from 'node:worker_threads';
import { setBytes } from '../bytes.js';
import { RECEIVED_CHECKSUM_TRUSTED, type Link, type LinkReceiver } from '../link/link.js';
import { splitUdpSuperPacket } from '../link/udp-segmentation.js';
import {
  checksumNeedsNoVerification,
  parseVirtioNetHeader,
  tcpSuperSegmentHeader,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_GSO_ECN,
  writeVirtioNetHeader,
  type VirtioNetHeaderBytes,
} from '../wire/virtio-net.js';
import { readOnEventLoop, type EventLoopReader } from './event-loop-reader.js';
import { errnoNumbers, libc, O_CLOEXEC, O_NONBLOCK } from './libc.js';
import {
  Control,
  CONTROL_INTS,
  DEFAULT_RING_BYTES,
  MAX_PACKET,
  MIN_RING_BYTES,
  recordBytes,
  WRAP_MARKER,
  type WorkerConfig,
} from './ring-layout.js';
import { TunError } from './tun-error.js';

/** Packets handed to the receiver per call at most; more wait for the next turn of the event loop. */
const MAX_BATCH = 1024;
/**
 * Packets this thread writes to the device itself per burst (one microtask checkpoint) while the
 * worker sleeps: a request/response exchange sends one or two, and a longer burst is cheaper
 * handed to the worker with one wake-up.
 */
const DIRECT_WRITES_PER_BURST = 4;
/** Largest packet written directly: a big TSO super-segment would cost this thread the kernel's segmentation. */
const DIRECT_WRITE_MAX_BYTES = 4096;
/**
 * Bytes this thread reads one batch into when it reads the device itself: room for 15 records
 * of the largest size, or some 650 of 1500 bytes. What is still queued after that waits in the
 * device's own queue for the next turn of the event loop.
 */
const RECEIVE_BATCH_BYTES = 1 << 20;

export interface PacketFdLinkOptions {
  mtu: number;
  /** Bytes per ring (each direction); a power of two, at least 256 KiB. Default 4 MiB. */
  ringBytes?: number;
  /**
   * Copy each received packet out of the ring instead of handing out views into it. Views are
   * what the Link contract allows and are cheaper; copies survive the receiver call.
   */
  copyReceived?: boolean;
  /** Called once if the device reports an error or hang-up; the link stops reading from it. */
  onDeviceFailure?: (error: TunError) => void;
  /**
   * The size of the virtio-net header in front of every packet read and written (a TUN device
   * with IFF_VNET_HDR and TCP segmentation offload negotiated); none when absent.
   */
  virtioNetHeaderBytes?: VirtioNetHeaderBytes;
  /**
   * Let this thread write small packets itself while the worker sleeps with nothing queued
   * (default true). Off, every packet goes through the worker: tests of the hand-off use that.
   */
  directWrites?: boolean;
  /**
   * Which thread reads the fd: 'event-loop' (the default, where the runtime allows it) or
   * 'worker' (two thread wake-ups per batch instead of one; the fallback, and for tests).
   */
  receiveOn?: 'event-loop' | 'worker';
}

/** Statistics of a TUN device's rings (`TunDevice.stats()`). */
export interface PacketFdLinkStats {
  /** Packets handed to the receiver. */
  packetsIn: number;
  /** Packets accepted by send() into the TX ring. */
  packetsOut: number;
  /** Packets send() dropped because the TX ring was full. */
  dropsOutQueueFull: number;
  /** Packets send() dropped because they were empty or longer than 65535 bytes. */
  dropsOutInvalid: number;
  /** Receiver calls. */
  batchesIn: number;
  /** Received packets dropped for a virtio-net header the link cannot honour (short, or a segmentation it did not ask for). */
  dropsInBadOffload: number;
  /** Received packets dropped because they were longer than any packet the link takes (the read was cut short). */
  dropsInTooLong: number;
  /** TCP super-segments accepted by send() (TSO). */
  superSegmentsOut: number;
  /** UDP super-packets received (USO), each split into its datagrams. */
  udpSuperPacketsIn: number;
  /** Packets the device refused to take (write errors), dropped by the worker. */
  writeErrors: number;
  /** Times the worker found the RX ring full and waited for the main thread (only when the worker reads). */
  rxRingStalls: number;
  /** Wake bytes written to the sleeping worker (each costs the main thread a thread wake-up). */
  wakesSent: number;
  /** Packets the main thread wrote to the device itself, the worker asleep and the TX ring empty. */
  directWrites: number;
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
// Node 20 has Atomics.waitAsync; the ES2023 lib this project targets does not declare it.
const waitAsync = (Atomics as unknown as { waitAsync: (array: Int32Array, index: number, value: number) => WaitAsyncResult }).waitAsync;

const MAX_RING_BYTES = 1 << 30;
const EAGAIN = errnoNumbers['EAGAIN'];
const EINTR = errnoNumbers['EINTR'];

/** The ring size to use for `requested` (default when undefined); throws EINVAL when unusable. */
export function checkRingBytes(requested: number | undefined): number {
  const ringBytes = requested ?? DEFAULT_RING_BYTES;
  if (!Number.isInteger(ringBytes) || ringBytes < MIN_RING_BYTES || ringBytes > MAX_RING_BYTES || (ringBytes & (ringBytes - 1)) !== 0) {
    throw new TunError('EINVAL', `ring size ${ringBytes} must be a power of two between ${MIN_RING_BYTES} and ${MAX_RING_BYTES}`);
  }
  return ringBytes;
}

const workerUrl = new URL('./tun-worker.mjs', import.meta.url);

/** Write one word in every 4 KiB page of `buffer`, so the kernel backs all of it now. */
function commitPages(buffer: SharedArrayBuffer): void {
  const words = new Int32Array(buffer);
  for (let i = 0; i < words.length; i += 1024) words[i] = 0;
}

export class PacketFdLink implements Link {
  readonly mtu: number;
  /** send() copies each packet into the TX ring before it returns. */
  readonly copiesOnSend = true;
  /** Bytes of virtio-net header in front of every record's packet; 0 without. */
  private readonly headerBytes: 0 | VirtioNetHeaderBytes;
  /** RECEIVED_* flags of the batch being built, one per packet. */
  private readonly batchFlags: number[] = [];
  private readonly control: Int32Array;
  private readonly rxBytes: Uint8Array;
  private readonly rxWords: Int32Array;
  private readonly rxMask: number;
  private readonly txBytes: Uint8Array;
  private readonly txWords: Int32Array;
  private readonly txMask: number;
  private readonly copyReceived: boolean;
  private readonly wakeByte = new Uint8Array([1]);
  /** Header and packet of a direct write, contiguous as one write() needs them; only with a header. */
  private readonly directBuffer: Uint8Array | undefined;
  /** Direct writes left in this burst; refilled at the microtask checkpoint that ends it. */
  private directLeft: number;
  /** Direct writes per burst: DIRECT_WRITES_PER_BURST, or 0 when the options turned them off. */
  private readonly directPerBurst: number;
  /** A record went into the TX ring in this burst, so the worker may need waking. */
  private queuedInBurst = false;
  /** The largest record a read may return: the largest packet behind the header, if any. */
  private readonly maxRecord: number;
  /** Where this thread reads a batch when the event loop polls the fd; undefined when the worker reads. */
  private readonly receiveBatch: Uint8Array | undefined;
  private readonly reader: EventLoopReader | undefined;

  private rxTail = 0;
  private txHead = 0;
  /** Last TX tail seen; refreshed only when the ring looks full, to keep send() free of atomics. */
  private txTailSeen = 0;
  private receiver: LinkReceiver | undefined;
  private waiting = false;
  private wakeScheduled = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private readonly workerExited: Promise<void>;
  private readonly counts = {
    packetsIn: 0,
    packetsOut: 0,
    dropsOutQueueFull: 0,
    dropsOutInvalid: 0,
    batchesIn: 0,
    dropsInBadOffload: 0,
    dropsInTooLong: 0,
    superSegmentsOut: 0,
    udpSuperPacketsIn: 0,
    wakesSent: 0,
    directWrites: 0,
  };

  private constructor(
    private readonly fd: number,
    private readonly wakeReadFd: number,
    private readonly wakeWriteFd: number,
    worker: Worker,
    buffers: { control: SharedArrayBuffer; rx: SharedArrayBuffer; tx: SharedArrayBuffer },
    options: PacketFdLinkOptions,
    eventLoopReceive: { reader: EventLoopReader; batch: Uint8Array } | undefined,
  ) {
    this.mtu = options.mtu;
    this.headerBytes = options.virtioNetHeaderBytes ?? 0;
    this.maxRecord = MAX_PACKET + this.headerBytes;
    this.reader = eventLoopReceive?.reader;
    this.receiveBatch = eventLoopReceive?.batch;
    this.control = new Int32Array(buffers.control);
    this.rxBytes = new Uint8Array(buffers.rx);
    this.rxWords = new Int32Array(buffers.rx);
    this.rxMask = buffers.rx.byteLength - 1;
    this.txBytes = new Uint8Array(buffers.tx);
    this.txWords = new Int32Array(buffers.tx);
    this.txMask = buffers.tx.byteLength - 1;
    this.copyReceived = options.copyReceived ?? false;
    this.directPerBurst = options.directWrites === false ? 0 : DIRECT_WRITES_PER_BURST;
    this.directLeft = this.directPerBurst;
    if (this.headerBytes !== 0) this.directBuffer = new Uint8Array(this.headerBytes + DIRECT_WRITE_MAX_BYTES);
    this.workerExited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /**
   * Start moving packets for `fd` (non-blocking, one packet per read). The link owns the fd from
   * then on and closes it in close(), also when start-up fails.
   */
  static async start(fd: number, options: PacketFdLinkOptions): Promise<PacketFdLink> {
    const sys = libc();
    let ringBytes: number;
    try {
      ringBytes = checkRingBytes(options.ringBytes);
    } catch (error) {
      sys.close(fd);
      throw error;
    }
    const pipeFds = new Int32Array(2);
    if (sys.pipe2(pipeFds, O_NONBLOCK | O_CLOEXEC) !== 0) {
      const errno = sys.errno();
      sys.close(fd);
      throw new TunError('EIO', `pipe2 failed (errno ${errno})`);
    }
    const wakeReadFd = pipeFds[0]!;
    const wakeWriteFd = pipeFds[1]!;
    const maxRecord = MAX_PACKET + (options.virtioNetHeaderBytes ?? 0);
    let failureReported = false;
    const reportDeviceFailure = (error: TunError): void => {
      if (failureReported) return;
      failureReported = true;
      if (options.onDeviceFailure) options.onDeviceFailure(error);
      else process.emitWarning(error.message, 'TunWarning');
    };
    // The reader's callbacks reach the link, which is made after the reader (it is told about it).
    const late: { link?: PacketFdLink } = {};
    let eventLoopReceive: { reader: EventLoopReader; batch: Uint8Array } | undefined;
    if (options.receiveOn !== 'worker') {
      const batch = new Uint8Array(Math.min(RECEIVE_BATCH_BYTES, ringBytes));
      // libuv's read gets one byte more than the largest record, so that a longer one (the
      // device reports a packet's whole length when it had to cut it short) is told apart.
      const reader = readOnEventLoop(
        fd,
        batch.subarray(0, maxRecord + 1),
        (length) => late.link?.receiveFromEventLoop(length),
        (error) => {
          late.link?.stopReading();
          reportDeviceFailure(error);
        },
      );
      if (reader) eventLoopReceive = { reader, batch };
    }
    const buffers = {
      control: new SharedArrayBuffer(CONTROL_INTS * 4),
      // The worker's RX ring only when the worker reads.
      rx: new SharedArrayBuffer(eventLoopReceive ? 8 : ringBytes),
      tx: new SharedArrayBuffer(ringBytes),
    };
    // The rings are used round and round, so every page of them becomes resident within the
    // first few ring-fulls of traffic. Touch them now: the link's memory is committed when it
    // opens, and RSS does not creep up by the rings' size under the first load.
    if (!eventLoopReceive) commitPages(buffers.rx);
    commitPages(buffers.tx);
    const config: WorkerConfig = {
      fd,
      wakeFd: wakeReadFd,
      ...buffers,
      layout: Control,
      wrapMarker: WRAP_MARKER,
      maxPacket: maxRecord,
      readDevice: eventLoopReceive === undefined,
    };
    const closeFds = (): void => {
      // The event loop's handle owns the fd once it has one.
      if (eventLoopReceive) void eventLoopReceive.reader.close();
      else sys.close(fd);
      sys.close(wakeReadFd);
      sys.close(wakeWriteFd);
    };
    let worker: Worker;
    try {
      worker = new Worker(workerUrl, { workerData: config, name: 'tun-io' });
    } catch (error) {
      closeFds();
      throw new TunError('EIO', `cannot start the TUN worker thread: ${String(error)}`, { cause: error });
    }
    const link = new PacketFdLink(fd, wakeReadFd, wakeWriteFd, worker, buffers, options, eventLoopReceive);
    late.link = link;
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: { type: string; reason?: string }) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'device-failed')
          reportDeviceFailure(new TunError('EIO', `TUN device stopped working: ${message.reason ?? 'unknown reason'}`));
      });
      worker.once('error', (error) => reject(new TunError('EIO', `TUN worker thread failed: ${error.message}`, { cause: error })));
      worker.once('exit', (code) => reject(new TunError('EIO', `TUN worker thread exited during start-up (code ${code})`)));
    });
    try {
      await ready;
    } catch (error) {
      await link.close();
      throw error;
    }
    // An error after start-up is a bug in the worker; surface it instead of dying silently.
    worker.on('error', (error) => process.emitWarning(`TUN worker thread failed: ${error.message}`, 'TunWarning'));
    return link;
  }

  /** Whether the event loop polls the fd (one thread wake-up per received batch) rather than the worker. */
  get receivesOnEventLoop(): boolean {
    return this.reader !== undefined;
  }

  /** The kernel takes TCP super-segments: TSO was negotiated along with the header. */
  get tcpSegmentation(): boolean {
    return this.headerBytes > 0;
  }

  /** Bytes in the TX ring the worker has not written yet (wrap markers' padding included). */
  get queuedBytes(): number {
    return (this.txHead - Atomics.load(this.control, Control.txTail)) | 0;
  }

  get queueCapacity(): number {
    return this.txMask + 1;
  }

  setReceiver(receiver: LinkReceiver): void {
    this.receiver = receiver;
    if (this.closed) return;
    // Reading starts once the packets have somewhere to go; until then the device queues them.
    if (this.reader) this.reader.start();
    else if (!this.waiting) this.drain();
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.closed) return;
    const headerBytes = this.headerBytes;
    if (packet.length === 0 || packet.length > MAX_PACKET || (segmentSize !== undefined && headerBytes === 0)) {
      this.counts.dropsOutInvalid++;
      return;
    }
    const length = headerBytes + packet.length;
    if (!this.wakeScheduled) {
      this.wakeScheduled = true;
      queueMicrotask(this.flushWake);
    }
    if (this.directLeft > 0 && packet.length <= DIRECT_WRITE_MAX_BYTES && this.writeDirectly(packet, segmentSize)) {
      this.directLeft--;
      this.counts.packetsOut++;
      this.counts.directWrites++;
      return;
    }
    this.directLeft = 0;
    const size = recordBytes(length);
    const capacity = this.txMask + 1;
    let offset = this.txHead & this.txMask;
    const contiguous = capacity - offset;
    const needed = contiguous < size ? contiguous + size : size;
    if (capacity - ((this.txHead - this.txTailSeen) | 0) < needed) {
      this.txTailSeen = Atomics.load(this.control, Control.txTail);
      if (capacity - ((this.txHead - this.txTailSeen) | 0) < needed) {
        this.counts.dropsOutQueueFull++;
        return;
      }
    }
    if (contiguous < size) {
      this.txWords[offset >> 2] = WRAP_MARKER;
      this.txHead = (this.txHead + contiguous) | 0;
      offset = 0;
    }
    if (headerBytes !== 0) {
      const at = offset + 4;
      if (segmentSize === undefined) {
        this.txBytes.fill(0, at, at + headerBytes);
      } else {
        writeVirtioNetHeader(this.txBytes, at, tcpSuperSegmentHeader(packet, segmentSize), headerBytes);
        this.counts.superSegmentsOut++;
      }
    }
    setBytes(this.txBytes, offset + 4 + headerBytes, packet);
    this.txWords[offset >> 2] = length;
    this.txHead = (this.txHead + size) | 0;
    // Publishing at once lets a worker that is awake pick the packet up without a wake byte.
    Atomics.store(this.control, Control.txHead, this.txHead);
    this.counts.packetsOut++;
    this.queuedInBurst = true;
  }

  /**
   * Write `packet` to the device from this thread when that beats waking the worker: the worker
   * is asleep and has written everything queued (so nothing queued can be overtaken). False when
   * the packet must go through the ring instead (also when the device pushes back).
   */
  private writeDirectly(packet: Uint8Array, segmentSize: number | undefined): boolean {
    if (Atomics.load(this.control, Control.workerSleeping) !== 1) return false;
    if (Atomics.load(this.control, Control.txTail) !== this.txHead) return false;
    const headerBytes = this.headerBytes;
    let bytes = packet;
    if (headerBytes !== 0) {
      bytes = this.directBuffer!;
      if (segmentSize === undefined) bytes.fill(0, 0, headerBytes);
      else writeVirtioNetHeader(bytes, 0, tcpSuperSegmentHeader(packet, segmentSize), headerBytes);
      setBytes(bytes, headerBytes, packet);
    }
    const length = headerBytes + packet.length;
    const sys = libc();
    if (sys.write(this.fd, bytes, length) < 0) {
      const errno = sys.errno();
      // A full device queue (or a signal): the worker writes it once the device takes more.
      if (errno === EAGAIN || errno === EINTR) return false;
      // Refused (EIO while the interface is down, EINVAL...): dropped and counted as the worker does.
      Atomics.add(this.control, Control.txWriteErrors, 1);
      Atomics.store(this.control, Control.txLastErrno, errno);
    }
    if (segmentSize !== undefined) this.counts.superSegmentsOut++;
    return true;
  }

  stats(): PacketFdLinkStats {
    return {
      ...this.counts,
      writeErrors: Atomics.load(this.control, Control.txWriteErrors),
      rxRingStalls: Atomics.load(this.control, Control.rxStalls),
    };
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.receiver = undefined;
    this.reader?.stop();
    Atomics.store(this.control, Control.stop, 1);
    // Unconditionally: the worker may be about to poll without having announced it yet.
    libc().write(this.wakeWriteFd, this.wakeByte, 1);
    await this.workerExited;
    // Release a pending waitAsync so that it (and the rings it references) can be collected.
    Atomics.notify(this.control, Control.rxHead);
    // The worker is gone, so nothing uses the descriptors any more. Closing the last descriptor
    // of a non-persistent TUN device removes the interface (the event loop's handle closes its fd).
    const sys = libc();
    if (this.reader) await this.reader.close();
    else sys.close(this.fd);
    sys.close(this.wakeReadFd);
    sys.close(this.wakeWriteFd);
  }

  private readonly flushWake = (): void => {
    this.wakeScheduled = false;
    this.directLeft = this.directPerBurst;
    if (!this.queuedInBurst) return;
    this.queuedInBurst = false;
    this.wakeWorker();
  };

  private wakeWorker(): void {
    if (this.closed) return;
    if (
      Atomics.load(this.control, Control.workerSleeping) === 1 &&
      Atomics.compareExchange(this.control, Control.wakePending, 0, 1) === 0
    ) {
      // A full pipe (EAGAIN) already holds a wake byte, so a failed write needs no handling.
      libc().write(this.wakeWriteFd, this.wakeByte, 1);
      this.counts.wakesSent++;
    }
  }

  /** The device failed under the event loop's reader: read no more (the failure is reported). */
  private stopReading(): void {
    this.reader?.stop();
  }

  /**
   * The event loop read a packet of `firstLength` bytes into the start of the batch buffer: read
   * whatever else is queued behind it on this thread (the fd is non-blocking) and hand it all to
   * the receiver in one call, so that TCP acknowledges the batch once per connection.
   */
  private receiveFromEventLoop(firstLength: number): void {
    const receiver = this.receiver;
    const buffer = this.receiveBatch!;
    if (this.closed || !receiver) return;
    const batch: Uint8Array[] = [];
    const flags = this.batchFlags;
    flags.length = 0;
    let flagged = this.collect(buffer, 0, firstLength, batch, flags);
    const limit = this.maxRecord + 1;
    let offset = recordBytes(Math.min(firstLength, limit));
    const sys = libc();
    while (batch.length < MAX_BATCH && offset + limit <= buffer.length) {
      const length = sys.read(this.fd, buffer.subarray(offset, offset + limit), limit);
      if (length <= 0) {
        const errno = length < 0 ? sys.errno() : 0;
        if (errno === EINTR) continue;
        // EAGAIN: all read. Anything else the event loop's next read reports as a failure.
        break;
      }
      if (this.collect(buffer, offset, length, batch, flags)) flagged = true;
      offset += recordBytes(Math.min(length, limit));
    }
    this.deliver(receiver, batch, flags, flagged);
  }

  /**
   * Add the record at `start` (`length` bytes, as read) to `batch`: the packet behind its
   * virtio-net header, or each datagram of a UDP super-packet, with their RECEIVED_* flags in
   * `flags`. True when a flag was set. What cannot be honoured is counted and left out.
   */
  private collect(source: Uint8Array, start: number, length: number, batch: Uint8Array[], flags: number[]): boolean {
    if (length > this.maxRecord) {
      this.counts.dropsInTooLong++;
      return false;
    }
    const end = start + length;
    const headerBytes = this.headerBytes;
    if (headerBytes === 0) {
      batch.push(this.copyReceived ? source.slice(start, end) : source.subarray(start, end));
      return false;
    }
    const header = parseVirtioNetHeader(source.subarray(start, end), 0, headerBytes);
    const gsoType = header === undefined ? -1 : header.gsoType & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gsoType === VIRTIO_NET_HDR_GSO_UDP_L4) {
      // Several datagrams behind one header: they reach UDP one by one, checksums complete.
      const datagrams = splitUdpSuperPacket(source.subarray(start + headerBytes, end), header!.gsoSize);
      if (datagrams === undefined) {
        this.counts.dropsInBadOffload++;
      } else {
        this.counts.udpSuperPacketsIn++;
        for (const datagram of datagrams) {
          batch.push(datagram);
          flags.push(0);
        }
      }
      return false;
    }
    // Otherwise only what TUNSETOFFLOAD allowed comes (a TCP super-segment of either family
    // is one segment to TCP; UFO is no longer produced).
    if (
      header === undefined ||
      (gsoType !== VIRTIO_NET_HDR_GSO_NONE && gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 && gsoType !== VIRTIO_NET_HDR_GSO_TCPV6)
    ) {
      this.counts.dropsInBadOffload++;
      return false;
    }
    const packetStart = start + headerBytes;
    const trusted = checksumNeedsNoVerification(header);
    flags.push(trusted ? RECEIVED_CHECKSUM_TRUSTED : 0);
    batch.push(this.copyReceived ? source.slice(packetStart, end) : source.subarray(packetStart, end));
    return trusted;
  }

  private deliver(receiver: LinkReceiver, batch: Uint8Array[], flags: number[], flagged: boolean): void {
    if (batch.length === 0) return;
    this.counts.batchesIn++;
    this.counts.packetsIn += batch.length;
    receiver(batch, flagged ? Uint8Array.from(flags) : undefined);
  }

  /** Hand everything the worker has published to the receiver, then wait for more. */
  private readonly drain = (): void => {
    this.waiting = false;
    const receiver = this.receiver;
    if (this.closed || !receiver) return;
    const head = Atomics.load(this.control, Control.rxHead);
    const capacity = this.rxMask + 1;
    const batch: Uint8Array[] = [];
    const flags = this.batchFlags;
    flags.length = 0;
    let flagged = false;
    let tail = this.rxTail;
    while (tail !== head && batch.length < MAX_BATCH) {
      const offset = tail & this.rxMask;
      const length = this.rxWords[offset >> 2]!;
      if (length === WRAP_MARKER) {
        tail = (tail + (capacity - offset)) | 0;
        continue;
      }
      tail = (tail + recordBytes(length)) | 0;
      if (this.collect(this.rxBytes, offset + 4, length, batch, flags)) flagged = true;
    }
    try {
      this.deliver(receiver, batch, flags, flagged);
    } finally {
      // Only now may the worker overwrite the records the receiver was looking at.
      this.rxTail = tail;
      Atomics.store(this.control, Control.rxTail, tail);
      if (Atomics.load(this.control, Control.rxStalled) === 1) this.wakeWorker();
      this.waitForPackets(tail);
    }
  };

  private waitForPackets(consumedUpTo: number): void {
    if (this.closed || this.waiting) return;
    this.waiting = true;
    const result = waitAsync(this.control, Control.rxHead, consumedUpTo);
    if (result.async) {
      void result.value.then(this.drain);
    } else {
      // More arrived while the receiver ran: let timers and I/O run before the next batch.
      setImmediate(this.drain);
    }
  }
}
