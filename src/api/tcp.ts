/**
 * Go-like TCP sockets over a TcpConnection: Conn (read/write/close with deadlines and
 * AbortSignal) and Listener (accept, async iteration). Reads resolve to a byte count or null at
 * end of stream, as Deno's Conn does; writes resolve once the bytes are in the send buffer, and
 * a failed write's error carries how many were (Go's `n, err`). Every call after close()
 * rejects with ECLOSED (Go's net.ErrClosed), a second close() included.
 */
import { NetError, TimeoutError, withBytesWritten, type NetErrorCode } from '../errors.js';
import type { Stack } from '../stack.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpListenerEndpoint } from '../tcp/tcp-layer.js';
import type { TcpConnectionEvents } from '../tcp/types.js';
import { ANY_ADDRESS } from '../wire/address.js';
import type { IPAddress } from '../wire/address6.js';
import { makeAddr, type NetAddr } from './address.js';
import { resolveSocketOptions, type SocketOptions } from './socket-options.js';
import { deadlineToClock, Wakeup } from './wakeup.js';

/** Options of one `read`, `write` or `accept` call. */
export interface ReadOptions {
  /** Aborting it rejects the call with `ABORT_ERR`. */
  signal?: AbortSignal;
}

/**
 * A TCP connection (Go's net.TCPConn), from `dial()` or `TcpListener.accept()`: `read`,
 * `write`, `close`, `closeWrite`, deadlines, socket options. `toDuplex(conn)` makes it a Node
 * stream.
 *
 * Memory: servers hold many idle connections, so a socket is its connection's events handler (no
 * closure per event) and makes its address records only when asked for them.
 */
export class TcpConn implements TcpConnectionEvents {
  private local: NetAddr | undefined;
  private remote: NetAddr | undefined;
  /**
   * Where read, write and the handshake wait park, each made on its first wait: an idle server
   * connection parked in a read needs only the first (~70 B per Wakeup and its array). Waking
   * one not made yet wakes nobody, as waking one without waiters.
   */
  private readWakeup: Wakeup | undefined;
  private writeWakeup: Wakeup | undefined;
  private stateWakeup: Wakeup | undefined;
  private readDeadline: number | undefined;
  private writeDeadline: number | undefined;
  private error: NetError | undefined;
  private closedLocally = false;
  private established: boolean;
  private ended = false;

  /**
   * @internal Made by `dial()` and `TcpListener.accept()`.
   * @param options what the connection starts with (resolveSocketOptions: Go's defaults, the stack's, the call's)
   */
  constructor(
    private readonly stack: Stack,
    /** @internal The protocol state machine underneath. */
    readonly connection: TcpConnection,
    options: Required<SocketOptions>,
  ) {
    this.established = connection.state !== 'SYN-SENT' && connection.state !== 'SYN-RECEIVED';
    connection.events = this;
    if (connection.state === 'CLOSED') this.ended = true;
    connection.setNoDelay(options.noDelay);
    connection.setKeepAlive(options.keepAlive, options.keepAliveInitialDelay);
  }

  /** close() or destroy() was called: every call but destroy() now rejects with ECLOSED. */
  get closed(): boolean {
    return this.closedLocally;
  }

  /** Our end: the stack's address and the local port. */
  get localAddr(): NetAddr {
    const tuple = this.connection.tuple;
    return (this.local ??= makeAddr('tcp', tuple.localAddress, tuple.localPort));
  }

  /** The peer's end: its address and port. */
  get remoteAddr(): NetAddr {
    const tuple = this.connection.tuple;
    return (this.remote ??= makeAddr('tcp', tuple.remoteAddress, tuple.remotePort));
  }

  // TcpConnectionEvents: called by the connection only.

  /** @internal */
  onEstablished(): void {
    this.established = true;
    this.stateWakeup?.wakeAll();
    this.writeWakeup?.wakeAll();
  }

  /** @internal */
  onReadable(): void {
    this.readWakeup?.wakeAll();
  }

  /** @internal */
  onWritable(): void {
    this.writeWakeup?.wakeAll();
  }

  /** @internal */
  onClosed(code: NetErrorCode | undefined): void {
    this.ended = true;
    if (code !== undefined && this.error === undefined) this.error = errorFor(code, this.remoteAddr);
    this.readWakeup?.wakeAll();
    this.writeWakeup?.wakeAll();
    this.stateWakeup?.wakeAll();
  }

  /** @internal Resolves when the handshake completes; rejects with ECONNREFUSED / ETIMEDOUT / abort. */
  async waitEstablished(deadline: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    while (!this.established) {
      if (this.error) throw this.error;
      if (this.ended) throw new NetError('ECONNRESET', `connection to ${this.remoteAddr} closed during the handshake`);
      if (deadline !== undefined && this.stack.clock.now() >= deadline) {
        throw new TimeoutError(`dial ${this.remoteAddr}: i/o timeout`);
      }
      await (this.stateWakeup ??= new Wakeup(this.stack.timers)).wait(deadline, signal);
    }
  }

  /**
   * Read into `buffer`. Resolves to the number of bytes read (> 0), or null at end of stream
   * (the peer's FIN). Rejects with ECONNRESET, ETIMEDOUT (deadline), ABORT_ERR, or ECLOSED after
   * close().
   */
  read(buffer: Uint8Array, options: ReadOptions = {}): Promise<number | null> {
    if (buffer.length === 0) return Promise.resolve(0);
    // Not an async function: a read parked on an idle connection keeps one suspended frame
    // (waitReadable's), not two (about 270 B each).
    return this.waitReadable(options).then((readable) => (readable ? this.connection.read(buffer) : null));
  }

  /**
   * Read whatever is available (at most `maxBytes`) into a buffer of exactly that size, or null
   * at end of stream. For stream adapters, which must hand out a fresh buffer per chunk anyway.
   */
  async readChunk(maxBytes = 64 * 1024, options: ReadOptions = {}): Promise<Buffer | null> {
    if (!(await this.waitReadable(options))) return null;
    return this.takeChunk(maxBytes);
  }

  /**
   * readChunk without waiting: the bytes already received (at most `maxBytes`) in a buffer of
   * their own, null at end of stream, or undefined when there is nothing yet (wait with
   * `whenReadable`). Throws where readChunk rejects: ECLOSED after close(), the connection's
   * error, ETIMEDOUT past the read deadline. For stream adapters (toDuplex): a request that
   * arrived whole costs no promise.
   */
  readChunkNow(maxBytes = 64 * 1024): Buffer | null | undefined {
    const readable = this.readableNow();
    return readable === undefined ? undefined : readable ? this.takeChunk(maxBytes) : null;
  }

  /**
   * Call `callback` once (from a microtask) when readChunkNow may answer something new: bytes
   * or the end of stream arrived, the connection failed or was closed, or the read deadline
   * changed or passed. It may find nothing yet; it then waits again.
   */
  whenReadable(callback: () => void): void {
    (this.readWakeup ??= new Wakeup(this.stack.timers)).onWake(callback, this.readDeadline);
  }

  private takeChunk(maxBytes: number): Buffer {
    const chunk = Buffer.allocUnsafe(Math.min(this.connection.readableLength, maxBytes));
    const n = this.connection.read(chunk);
    return n === chunk.length ? chunk : chunk.subarray(0, n);
  }

  /**
   * Bytes can be read now (true), the stream has ended (false), or neither yet (undefined);
   * throws ECLOSED after close(), the connection's error, ETIMEDOUT past the read deadline.
   */
  private readableNow(): boolean | undefined {
    if (this.closedLocally) throw new NetError('ECLOSED', 'read on a closed connection');
    if (this.connection.readableLength > 0) return true;
    if (this.connection.receivedFin) return false;
    if (this.error) throw this.error;
    if (this.ended) return false;
    if (this.readDeadline !== undefined && this.stack.clock.now() >= this.readDeadline) throw new TimeoutError();
    return undefined;
  }

  /** Wait until bytes can be read (true) or the stream has ended (false); throws on errors. */
  private async waitReadable(options: ReadOptions): Promise<boolean> {
    for (;;) {
      const readable = this.readableNow();
      if (readable !== undefined) return readable;
      await (this.readWakeup ??= new Wakeup(this.stack.timers)).wait(this.readDeadline, options.signal);
    }
  }

  /**
   * Write all of `data`. Resolves to data.length when every byte is in the send buffer
   * (backpressure: waits for the peer to acknowledge when the buffer is full). A rejection's
   * NetError carries `bytesWritten`, the bytes that did go in (Go's `n, err`): they will be sent
   * unless the connection is reset. Rejects with EPIPE after closeWrite,
   * ECONNRESET if the peer reset, ETIMEDOUT at the write deadline.
   */
  async write(data: Uint8Array, options: ReadOptions = {}): Promise<number> {
    if (this.closedLocally) throw new NetError('ECLOSED', 'write on a closed connection', { bytesWritten: 0 });
    let offset = 0;
    try {
      while (offset < data.length) {
        this.checkWritable();
        const accepted = this.connection.write(offset === 0 ? data : data.subarray(offset));
        offset += accepted;
        if (offset >= data.length) break;
        if (this.writeDeadline !== undefined && this.stack.clock.now() >= this.writeDeadline) throw new TimeoutError();
        await (this.writeWakeup ??= new Wakeup(this.stack.timers)).wait(this.writeDeadline, options.signal);
      }
    } catch (error) {
      throw error instanceof NetError ? withBytesWritten(error, offset) : error;
    }
    return offset;
  }

  /**
   * write() without waiting, for stream adapters: puts in the send buffer what it takes now of
   * `data` (of the chunks in order, sent as one write of them all would be, without
   * concatenating them) and returns how many bytes that was; the rest is the caller's to write
   * later, with write(). Throws, with `bytesWritten` 0, where write() would reject before taking
   * anything: ECLOSED after close(), the connection's error, EPIPE once it has ended or after
   * closeWrite().
   */
  writeNow(data: Uint8Array | readonly Uint8Array[]): number {
    try {
      this.checkWritable();
      return data instanceof Uint8Array ? this.connection.write(data) : this.connection.writev(data);
    } catch (error) {
      throw error instanceof NetError ? withBytesWritten(error, 0) : error;
    }
  }

  /** Throws what a write meets before the send buffer: ECLOSED after close(), the connection's error, EPIPE once ended. */
  private checkWritable(): void {
    if (this.closedLocally) throw new NetError('ECLOSED', 'write on a closed connection');
    if (this.error) throw this.error;
    if (this.ended) throw new NetError('EPIPE', 'write on a connection that has ended');
  }

  /** Bytes the application has written that the peer has not acknowledged yet. */
  get bufferedAmount(): number {
    return this.connection.writableLength;
  }

  /** Half-close: send FIN after pending data; reading continues (Go's CloseWrite). */
  closeWrite(): void {
    if (this.closedLocally || this.ended) return;
    this.connection.shutdownWrite();
  }

  /**
   * Close: FIN after pending data, the close handshake finishes in the background; unread
   * received data makes it a RST instead, as Linux does (RFC 2525 2.17). Throws ECLOSED when
   * already closed or destroyed (Go's Close returns net.ErrClosed).
   */
  close(): void {
    if (this.closedLocally) throw new NetError('ECLOSED', `close of connection to ${this.remoteAddr}: already closed`);
    this.closedLocally = true;
    if (!this.ended) this.connection.close();
    this.readWakeup?.wakeAll();
    this.writeWakeup?.wakeAll();
    this.stateWakeup?.wakeAll();
  }

  /**
   * Abortive close: RST, the send buffer discarded (Go's SetLinger(0) then Close). Allowed after
   * close(), to end a close handshake still in progress; never throws.
   */
  destroy(): void {
    this.closedLocally = true;
    if (!this.ended) this.connection.abort();
    this.readWakeup?.wakeAll();
    this.writeWakeup?.wakeAll();
  }

  /** Nagle's algorithm off (true, the default for every connection, as Go) or on (false). */
  setNoDelay(noDelay = true): void {
    this.connection.setNoDelay(noDelay);
  }

  /**
   * Keepalive probes (RFC 1122 section 4.2.3.6) after `idleMs` without traffic, then at that
   * interval (default 15 s, as Go); `false` stops them.
   */
  setKeepAlive(enable: boolean, idleMs?: number): void {
    this.connection.setKeepAlive(enable, idleMs);
  }

  /** Go's SetDeadline: both read and write. A Date in the past makes pending calls time out. */
  setDeadline(when: Date | null): void {
    this.setReadDeadline(when);
    this.setWriteDeadline(when);
  }

  /** Go's SetReadDeadline: `read()` calls pending then or later reject with a `TimeoutError`; `null` for none. */
  setReadDeadline(when: Date | null): void {
    this.readDeadline = deadlineToClock(when, this.stack.clock.now());
    this.readWakeup?.wakeAll();
  }

  /** Go's SetWriteDeadline: `write()` calls pending then or later reject with a `TimeoutError`; `null` for none. */
  setWriteDeadline(when: Date | null): void {
    this.writeDeadline = deadlineToClock(when, this.stack.clock.now());
    this.writeWakeup?.wakeAll();
  }

  /** The TCP state (RFC 9293 section 3.3.2): `ESTABLISHED`, `FIN-WAIT-1`, ... */
  get state(): string {
    return this.connection.state;
  }
}

function errorFor(code: NetErrorCode, remote: NetAddr): NetError {
  switch (code) {
    case 'ECONNREFUSED':
      return new NetError(code, `connection to ${remote} refused`);
    case 'ECONNRESET':
      return new NetError(code, `connection to ${remote} reset by peer`);
    case 'ETIMEDOUT':
      return new NetError(code, `connection to ${remote} timed out`);
    default:
      return new NetError(code, `connection to ${remote} failed`);
  }
}

/** Options of `listen()`; the socket options are those of the accepted connections. */
export interface ListenOptions extends SocketOptions {
  /** Accept queue length (established, not yet accepted). Default 128, like Linux's somaxconn. */
  backlog?: number;
  /**
   * Most half-open (SYN-RECEIVED) connections held at once; SYNs beyond it are answered with SYN
   * cookies (or dropped with `tcp.synCookies: false`). Default max(backlog, 256), in the range of
   * Linux's tcp_max_syn_backlog (128 and up).
   */
  maxHalfOpen?: number;
  /**
   * Forwarding (like Linux's IP_TRANSPARENT with a TPROXY rule): accept connections to every
   * destination that is not the stack's own, whatever the address and port, as they arrive on the
   * device; each accepted connection's `localAddr` is the destination the client asked for. Listen
   * on ':0' (or '0.0.0.0:0'); one transparent listener per stack.
   */
  transparent?: boolean;
}

/**
 * @internal Where a listener or UDP socket is bound: `address` undefined for every address of
 * the stack's (of `family`, or of both when that is undefined too).
 */
export interface LocalBinding {
  address: IPAddress | undefined;
  family: 4 | 6 | undefined;
  port: number;
}

/** The smallest default half-open bound (see ListenOptions.maxHalfOpen). */
const DEFAULT_MAX_HALF_OPEN = 256;

/**
 * A TCP listener (Go's net.TCPListener), from `listen()`: `accept()` or `for await` over it for
 * each connection; `close()` stops listening.
 */
export class TcpListener implements TcpListenerEndpoint, AsyncIterable<TcpConn> {
  /**
   * The address it listens on: the address bound, else the stack's address (its IPv6 address for
   * "tcp6"), and the port (the one picked for port 0).
   */
  readonly addr: NetAddr;
  /** The address it is bound to (127.0.0.1, ::1 or one of the stack's); undefined for every address of the stack's. */
  readonly boundAddress: IPAddress | undefined;
  /** The one family it accepts ("tcp4": 4, "tcp6": 6); undefined for both ("tcp"). */
  readonly family: 4 | 6 | undefined;
  /** Whether it accepts connections for every foreign destination (ListenOptions.transparent). */
  readonly transparent: boolean = false;
  /** Most half-open connections held at once (`ListenOptions.maxHalfOpen`). */
  readonly maxHalfOpen: number;
  private readonly queue: TcpConnection[] = [];
  private readonly wakeup: Wakeup;
  private readonly socketOptions: Required<SocketOptions>;
  private closed = false;

  /**
   * @internal Made by `listen()`.
   * @param local where it listens: `address` undefined for every address of the stack's;
   *   'transparent' for every destination that is not (ListenOptions.transparent)
   * @param socketOptions what accepted connections start with (Go's ListenConfig.KeepAlive; NoDelay)
   */
  constructor(
    private readonly stack: Stack,
    local: LocalBinding | 'transparent',
    private readonly backlog: number,
    maxHalfOpen = Math.max(backlog, DEFAULT_MAX_HALF_OPEN),
    socketOptions: SocketOptions = {},
  ) {
    if (!Number.isInteger(maxHalfOpen) || maxHalfOpen < 0)
      throw new NetError('EINVAL', `maxHalfOpen ${maxHalfOpen} is not a whole number >= 0`);
    this.maxHalfOpen = maxHalfOpen;
    this.socketOptions = resolveSocketOptions(stack.socketDefaults, socketOptions);
    this.wakeup = new Wakeup(stack.timers);
    if (local === 'transparent') {
      this.transparent = true;
      this.family = undefined;
      stack.tcp.listenTransparent(this);
      this.addr = makeAddr('tcp', ANY_ADDRESS, 0);
      return;
    }
    this.boundAddress = local.address;
    this.family = local.family;
    const bound = stack.tcp.listen(local.port, this);
    this.addr = makeAddr(
      'tcp',
      local.address ?? (local.family === 6 && stack.address6 !== undefined ? stack.address6 : stack.address),
      bound,
    );
  }

  /** @internal */
  get acceptQueueRoom(): number {
    return this.closed ? 0 : this.backlog - this.queue.length;
  }

  /** @internal */
  enqueue(connection: TcpConnection): void {
    this.queue.push(connection);
    this.wakeup.wakeAll();
  }

  /** Wait for the next connection. Rejects with ECLOSED once the listener is closed. */
  async accept(options: ReadOptions = {}): Promise<TcpConn> {
    for (;;) {
      if (this.closed) throw new NetError('ECLOSED', `listener ${this.addr} is closed`);
      const connection = this.queue.shift();
      if (connection !== undefined) {
        if (connection.state === 'CLOSED') continue;
        return new TcpConn(this.stack, connection, this.socketOptions);
      }
      await this.wakeup.wait(undefined, options.signal);
    }
  }

  /** Each accepted connection in turn, until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<TcpConn> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (error instanceof NetError && error.code === 'ECLOSED') return;
        throw error;
      }
    }
  }

  /** Stop listening; connections not yet accepted are reset. Throws ECLOSED when already closed (as Go). */
  close(): void {
    if (this.closed) throw new NetError('ECLOSED', `close of listener ${this.addr}: already closed`);
    this.closed = true;
    if (this.transparent) this.stack.tcp.unlistenTransparent(this);
    else this.stack.tcp.unlisten(this.addr.port, this);
    for (const connection of this.queue.splice(0)) connection.abort();
    this.wakeup.wakeAll();
  }
}
