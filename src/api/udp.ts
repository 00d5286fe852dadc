/**
 * Go-like UDP sockets. One class serves both of Go's shapes: an unconnected PacketConn
 * (readFrom / writeTo, from listenPacket) and a connected Conn (read / write, from dial), which
 * only receives from its peer and reports ICMP port unreachable as ECONNREFUSED on the next read
 * (as Linux does for connected UDP sockets).
 */
import { NetError, TimeoutError } from '../errors.js';
import { ANY_ADDRESS } from '../wire/address.js';
import type { IPAddress } from '../wire/address6.js';
import type { Stack } from '../stack.js';
import { UDP_MAX_PAYLOAD } from '../wire/udp.js';
import type { UdpEndpoint } from '../udp/udp-layer.js';
import { joinHostPort, makeAddr, parseHostPort, parseNetwork, type NetAddr } from './address.js';
import { checkFamilyOn, destinationFor, isUnspecified } from './destination.js';
import type { LocalBinding, ReadOptions } from './tcp.js';
import { formatIPAddress } from '../wire/ip.js';
import { deadlineToClock, Wakeup } from './wakeup.js';
import { copyBytes } from '../bytes.js';

/** Largest UDP payload in one IPv4 datagram (65507; defined with the UDP codec). */
export const MAX_UDP_PAYLOAD = UDP_MAX_PAYLOAD;

/** Options of `listenPacket()` and `dial('udp', ...)`: the receive queue's bounds. */
export interface UdpSocketOptions {
  /** Datagrams held for reading at most; more are dropped and counted. Default 1024. */
  receiveQueueLength?: number;
  /** Bytes held for reading at most. Default 4 MiB. */
  receiveQueueBytes?: number;
  /**
   * Forwarding: receive the datagrams for every destination that is not the stack's own (any
   * address, any port; `readFrom`'s `to` says which), and answer from any of them (`writeTo`'s
   * `from`). `listenPacket('udp', ':0', { transparent: true })`; one per stack.
   */
  transparent?: boolean;
}

interface QueuedDatagram {
  source: IPAddress;
  sourcePort: number;
  destination: IPAddress;
  destinationPort: number;
  payload: Uint8Array;
}

/**
 * A UDP socket: unconnected from `listenPacket()` (Go's PacketConn: `readFrom`, `writeTo`) or
 * connected from `dial('udp', ...)` (Go's Conn: `read`, `write`).
 */
export class UdpSocket implements UdpEndpoint {
  /** Our end: the stack's address and the bound port. */
  readonly localAddr: NetAddr;
  /** The address it is bound to (127.0.0.1, ::1 or one of the stack's); undefined for every address of the stack's. */
  readonly boundAddress: IPAddress | undefined;
  /** The one family it receives and sends ("udp4": 4, "udp6": 6); undefined for both ("udp"). */
  readonly family: 4 | 6 | undefined;
  /** The peer of a connected socket; undefined for an unconnected one. */
  readonly remoteAddr: NetAddr | undefined;
  /** @internal The peer of a connected socket. */
  readonly remote: { address: IPAddress; port: number } | undefined;
  private readonly queue: QueuedDatagram[] = [];
  private queuedBytes = 0;
  private readonly maxQueueLength: number;
  private readonly maxQueueBytes: number;
  private readonly wakeup: Wakeup;
  private readDeadline: number | undefined;
  private pendingError: NetError | undefined;
  private closed = false;
  /** Whether it takes the datagrams for every foreign destination (UdpSocketOptions.transparent). */
  readonly transparent: boolean = false;

  /** @internal Made by `listenPacket()` and `dial('udp', ...)`. */
  constructor(
    private readonly stack: Stack,
    local: LocalBinding | 'transparent',
    remote: { address: IPAddress; port: number } | undefined,
    options: UdpSocketOptions = {},
  ) {
    this.remote = remote;
    this.maxQueueLength = options.receiveQueueLength ?? 1024;
    this.maxQueueBytes = options.receiveQueueBytes ?? 4 * 1024 * 1024;
    this.wakeup = new Wakeup(stack.timers);
    if (local === 'transparent') {
      this.transparent = true;
      this.boundAddress = undefined;
      this.family = undefined;
      stack.udp.bindTransparent(this);
      this.localAddr = makeAddr('udp', ANY_ADDRESS, 0);
      this.remoteAddr = undefined;
      return;
    }
    this.boundAddress = local.address;
    this.family = local.family;
    const port = stack.udp.bind(local.port, this);
    // A connected socket's local address is the one its datagrams leave from (the loopback
    // address toward the loopback address).
    const localAddress =
      local.address ??
      (remote !== undefined
        ? stack.ip.localAddressFor(remote.address)
        : local.family === 6 && stack.address6 !== undefined
          ? stack.address6
          : stack.address);
    this.localAddr = makeAddr('udp', localAddress, port);
    this.remoteAddr = remote ? makeAddr('udp', remote.address, remote.port) : undefined;
  }

  /** @internal */
  deliver(source: IPAddress, sourcePort: number, payload: Uint8Array, destination: IPAddress, destinationPort: number): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueueLength || this.queuedBytes + payload.length > this.maxQueueBytes) {
      this.stack.udp.counters.drop('receive_queue_full');
      return;
    }
    this.queue.push({ source, sourcePort, destination, destinationPort, payload: copyBytes(payload) });
    this.queuedBytes += payload.length;
    this.wakeup.wakeAll();
  }

  /** @internal */
  deliverError(code: NetError['code'], destination: IPAddress, destinationPort: number): void {
    // Only connected sockets learn of ICMP errors (Linux: unconnected sockets need IP_RECVERR).
    if (this.remote === undefined || this.remote.address !== destination || this.remote.port !== destinationPort) return;
    this.pendingError = new NetError(
      code,
      `udp ${this.localAddr} -> ${joinHostPort(formatIPAddress(destination), destinationPort)}: ${code === 'ECONNREFUSED' ? 'connection refused (ICMP port unreachable)' : 'unreachable'}`,
    );
    this.wakeup.wakeAll();
  }

  /** @internal The stack is closing: close unless the caller did already. */
  shutdown(): void {
    if (!this.closed) this.close();
  }

  private async nextDatagram(options: ReadOptions): Promise<QueuedDatagram> {
    for (;;) {
      if (this.closed) throw new NetError('ECLOSED', `read on closed udp socket ${this.localAddr}`);
      if (this.pendingError) {
        const error = this.pendingError;
        this.pendingError = undefined;
        throw error;
      }
      const datagram = this.queue.shift();
      if (datagram !== undefined) {
        this.queuedBytes -= datagram.payload.length;
        return datagram;
      }
      if (this.readDeadline !== undefined && this.stack.clock.now() >= this.readDeadline) throw new TimeoutError();
      await this.wakeup.wait(this.readDeadline, options.signal);
    }
  }

  /**
   * Read one datagram into `buffer`: resolves to the bytes copied and the sender. A datagram
   * longer than `buffer` is truncated, as Go's ReadFrom does; `truncated` says so.
   */
  async readFrom(
    buffer: Uint8Array,
    options: ReadOptions = {},
  ): Promise<{
    /** Bytes copied into `buffer`. */
    n: number;
    /** The sender. */
    addr: NetAddr;
    /** The datagram was longer than `buffer`. */
    truncated: boolean;
    /** Where it was sent: our address and port, or any for a transparent socket. */
    to: NetAddr;
  }> {
    const datagram = await this.nextDatagram(options);
    const n = Math.min(buffer.length, datagram.payload.length);
    buffer.set(datagram.payload.subarray(0, n));
    return {
      n,
      addr: makeAddr('udp', datagram.source, datagram.sourcePort),
      truncated: n < datagram.payload.length,
      to: makeAddr('udp', datagram.destination, datagram.destinationPort),
    };
  }

  /** Connected sockets: read one datagram from the peer. */
  async read(buffer: Uint8Array, options: ReadOptions = {}): Promise<number> {
    return (await this.readFrom(buffer, options)).n;
  }

  /**
   * Send one datagram to `addr` ("ip:port", "[ipv6]:port" or a NetAddr). Resolves to the bytes
   * sent. A "udp4" / "udp6" socket (or one bound to an address) sends to its family only; an
   * IPv6 destination needs the stack's IPv6 on (ENETUNREACH). A transparent socket sends it
   * `from` the address and port given (the `to` of the datagram it answers); it must say which.
   */
  async writeTo(data: Uint8Array, addr: string | NetAddr, options: { from?: string | NetAddr } = {}): Promise<number> {
    if (this.remote !== undefined) throw new NetError('EINVAL', `writeTo on connected udp socket ${this.localAddr}: use write`);
    const text = addr.toString();
    const target = parseHostPort(text);
    if (target.port === 0) throw new NetError('EINVAL', `udp destination ${text} needs a port`);
    const what = `writeTo ${text}`;
    // A socket bound to an address has that address's family (bindingFor).
    const networkName = this.family === undefined ? 'udp' : `udp${this.family}`;
    const destination = destinationFor(this.stack, parseNetwork(networkName), networkName, target.address, what);
    checkFamilyOn(this.stack, destination, what);
    if (this.transparent !== (options.from !== undefined)) {
      throw new NetError(
        'EINVAL',
        this.transparent ? 'a transparent udp socket writes with { from }' : `{ from } needs a transparent udp socket`,
      );
    }
    if (options.from === undefined) return this.send(data, destination, target.port);
    const from = parseHostPort(options.from.toString());
    if (from.address === undefined || isUnspecified(from.address) || from.port === 0)
      throw new NetError('EINVAL', `udp source ${String(options.from)} needs an address and a port`);
    if (typeof from.address !== typeof destination)
      throw new NetError('EINVAL', `udp source ${String(options.from)} and destination ${text} are of different families`);
    return this.send(data, destination, target.port, { address: from.address, port: from.port });
  }

  /** Connected sockets: send one datagram to the peer. */
  async write(data: Uint8Array): Promise<number> {
    if (this.remote === undefined) throw new NetError('ENOTCONN', `write on unconnected udp socket ${this.localAddr}: use writeTo`);
    return this.send(data, this.remote.address, this.remote.port);
  }

  private send(data: Uint8Array, address: IPAddress, port: number, from?: { address: IPAddress; port: number }): number {
    if (this.closed) throw new NetError('ECLOSED', `write on closed udp socket ${this.localAddr}`);
    if (data.length > MAX_UDP_PAYLOAD) {
      throw new NetError('EMSGSIZE', `udp payload of ${data.length} bytes exceeds ${MAX_UDP_PAYLOAD}`);
    }
    this.stack.udp.send(from?.port ?? this.localAddr.port, address, port, data, from?.address);
    return data.length;
  }

  /** Go's SetReadDeadline: reads pending then or later reject with a `TimeoutError`; `null` for none. */
  setReadDeadline(when: Date | null): void {
    this.readDeadline = deadlineToClock(when, this.stack.clock.now());
    this.wakeup.wakeAll();
  }

  /** UDP writes never block, so the write deadline has nothing to interrupt. */
  setWriteDeadline(_when: Date | null): void {}

  /** Go's SetDeadline: the read deadline (writes never block). */
  setDeadline(when: Date | null): void {
    this.setReadDeadline(when);
  }

  /** Throws ECLOSED when already closed, by the caller or by the stack's close (as Go's Close). */
  close(): void {
    if (this.closed) throw new NetError('ECLOSED', `close of udp socket ${this.localAddr}: already closed`);
    this.closed = true;
    if (this.transparent) this.stack.udp.unbindTransparent(this);
    else this.stack.udp.unbind(this.localAddr.port, this);
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.wakeup.wakeAll();
  }
}
