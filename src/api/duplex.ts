/**
 * A Node Duplex stream over a TcpConn that behaves as a net.Socket where node:http, tls, undici
 * and http.Agent look: the 'connect' / 'ready' events of a socket still connecting (connect()),
 * writes held until then, setTimeout / setNoDelay / setKeepAlive, address(), remoteAddress,
 * bytesRead / bytesWritten, destroy() that closes gracefully and resetAndDestroy() that resets.
 *
 * As net.Socket: `allowHalfOpen` is false unless asked for, so the peer's FIN ends our side too;
 * destroy(err) closes the connection with a FIN after the bytes the connection already accepted
 * (a RST only if received data was left unread, as Linux's close); bytes still queued in the
 * stream's own buffer are dropped, as net.Socket drops them.
 */
import { Duplex } from 'node:stream';
import { NetError } from '../errors.js';
import type { AddressFamily } from './address.js';
import type { TcpConn } from './tcp.js';

const READ_CHUNK = 64 * 1024;

/** Options of `toDuplex()` (and of `connect()`). */
export interface DuplexOptions {
  /** Keep writing after the peer's FIN (Go's semantics, half-close). Default false, as net.Socket. */
  allowHalfOpen?: boolean;
}

/** What address() answers, as net.Socket's. */
export interface SocketAddress {
  /** Dotted-quad IPv4 address, or IPv6 text without brackets (RFC 5952). */
  address: string;
  /** `IPv4` or `IPv6`. */
  family: AddressFamily;
  /** The port. */
  port: number;
}

/**
 * A TCP connection of the stack as a Node `Duplex` that acts as a `net.Socket` (events, `setTimeout`,
 * `setNoDelay`, `setKeepAlive`, `address()`, `remoteAddress`, `bytesRead`, ...), from `toDuplex()`
 * or, still connecting, from `connect()`.
 */
export class TcpDuplex extends Duplex {
  /** True until the connection is established (or fails): net.Socket's `connecting`. */
  connecting: boolean;
  private connection: TcpConn | undefined;
  private reading = false;
  /** pull() again once the connection has something: made on the first wait, kept for the next. */
  private resumePull: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The `ms` idleTimer was made with; it may run on after setTimeout(0), see setTimeout. */
  private idleTimerMs = 0;
  private idleMs = 0;
  private received = 0;
  private accepted = 0;
  /** setNoDelay / setKeepAlive before the connection exists: applied when it does. */
  private pendingSettings: Array<(conn: TcpConn) => void> = [];
  /** Ends a connect() still in its handshake when the stream is destroyed first. */
  private readonly abortConnect: AbortController | undefined;

  /**
   * `toDuplex(conn)` and `connect()` make these.
   * @param conn the connection, or undefined while connect() establishes it (see attach)
   */
  constructor(conn: TcpConn | undefined, options: DuplexOptions & { abortConnect?: AbortController } = {}) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false });
    this.connection = conn;
    this.connecting = conn === undefined;
    this.abortConnect = options.abortConnect;
  }

  /** The connection underneath; undefined while connecting. */
  get conn(): TcpConn | undefined {
    return this.connection;
  }

  /** @internal connect(): the handshake completed. Emits 'connect' then 'ready', as net.Socket does. */
  attach(conn: TcpConn): void {
    if (this.destroyed) {
      conn.close();
      return;
    }
    this.connection = conn;
    this.connecting = false;
    for (const apply of this.pendingSettings.splice(0)) apply(conn);
    this.touch();
    this.emit('connect');
    this.emit('ready');
  }

  /** The peer's address (dotted quad, or IPv6 text without brackets); undefined while connecting. */
  get remoteAddress(): string | undefined {
    return this.connection?.remoteAddr.address;
  }

  /** net.Socket's `remoteFamily`: `IPv4` or `IPv6`; undefined while connecting. */
  get remoteFamily(): AddressFamily | undefined {
    return this.connection?.remoteAddr.family;
  }

  /** net.Socket's `localFamily`: `IPv4` or `IPv6`; undefined while connecting. */
  get localFamily(): AddressFamily | undefined {
    return this.connection?.localAddr.family;
  }

  /** The peer's port; undefined while connecting. */
  get remotePort(): number | undefined {
    return this.connection?.remoteAddr.port;
  }

  /** The stack's address (dotted quad, or IPv6 text without brackets); undefined while connecting. */
  get localAddress(): string | undefined {
    return this.connection?.localAddr.address;
  }

  /** Our port; undefined while connecting. */
  get localPort(): number | undefined {
    return this.connection?.localAddr.port;
  }

  /** net.Socket#address(): the local end; {} while connecting. */
  address(): SocketAddress | Record<string, never> {
    const conn = this.connection;
    return conn === undefined ? {} : { address: conn.localAddr.address, family: conn.localAddr.family, port: conn.localAddr.port };
  }

  /** Bytes received and handed to the stream. */
  get bytesRead(): number {
    return this.received;
  }

  /** Bytes written: those the connection accepted plus those still queued here (as net.Socket counts). */
  get bytesWritten(): number {
    return this.accepted + this.writableLength;
  }

  /** net.Socket's readyState. */
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** net.Socket's `pending`: not connected yet. */
  get pending(): boolean {
    return this.connection === undefined;
  }

  /** The idle timeout set with setTimeout, in ms (0: none); http.Agent reads it. */
  get timeout(): number {
    return this.idleMs;
  }

  /** @internal Node's stream hook. */
  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    const conn = this.connection;
    if (conn === undefined) {
      this.once('connect', () => {
        this.reading = false;
        this._read();
      });
      return;
    }
    this.pull(conn);
  }

  /**
   * Push what the connection already holds, synchronously, until the stream wants no more or
   * the connection holds nothing; then wait for it with a callback (whenReadable). A request
   * that arrived whole costs no promise and no microtask chain. `reading` stays true meanwhile,
   * so a _read from inside push() (a consumer reading in its 'data' handler) leaves the pushing
   * to this loop.
   */
  private pull(conn: TcpConn): void {
    try {
      for (;;) {
        // close() (destroy) ends the reading quietly, without an ECLOSED error per stream.
        if (conn.closed) break;
        const chunk = conn.readChunkNow(READ_CHUNK);
        if (chunk === undefined) {
          conn.whenReadable((this.resumePull ??= () => this.pull(conn)));
          return;
        }
        this.touch();
        if (chunk === null) {
          this.push(null);
          break;
        }
        this.received += chunk.length;
        if (!this.push(chunk)) break;
      }
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
    this.reading = false;
  }

  /** @internal Node's stream hook. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const conn = this.connection;
    if (conn === undefined) {
      this.whenConnected((ready) => ready._write(chunk, _encoding, callback), callback);
      return;
    }
    // An empty write asks nothing of the connection, as TcpConn.write() of nothing.
    const taken = chunk.length === 0 ? 0 : this.writeNow(conn, chunk, callback);
    if (taken === chunk.length) callback();
    else if (taken >= 0) void this.writeRest(conn, [chunk.subarray(taken)], callback);
  }

  /** @internal Node's stream hook: the chunks go into the connection as they are, not concatenated. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const conn = this.connection;
    if (conn === undefined) {
      this.whenConnected((ready) => ready._writev(chunks, callback), callback);
      return;
    }
    const data: Buffer[] = [];
    let total = 0;
    for (const { chunk } of chunks) {
      // node:http's end() comes as its last bytes and an empty chunk.
      if (chunk.length === 0) continue;
      data.push(chunk);
      total += chunk.length;
    }
    let taken = total === 0 ? 0 : this.writeNow(conn, data.length === 1 ? data[0]! : data, callback);
    if (taken === total) {
      callback();
      return;
    }
    if (taken < 0) return;
    // The send buffer is full: what it did not take waits for room, chunk by chunk.
    let first = 0;
    while (taken >= data[first]!.length) taken -= data[first++]!.length;
    const rest = data.slice(first);
    rest[0] = rest[0]!.subarray(taken);
    void this.writeRest(conn, rest, callback);
  }

  /**
   * Put what the connection takes now (TcpConn.writeNow, no promise): the bytes taken, or -1
   * after failing `callback` with the error.
   */
  private writeNow(conn: TcpConn, data: Buffer | Buffer[], callback: (error?: Error | null) => void): number {
    this.touch();
    let taken: number;
    try {
      taken = conn.writeNow(data);
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)));
      return -1;
    }
    this.accepted += taken;
    return taken;
  }

  /** Under backpressure: write() each chunk, waiting for room, then `callback`. */
  private async writeRest(conn: TcpConn, chunks: Uint8Array[], callback: (error?: Error | null) => void): Promise<void> {
    try {
      for (const chunk of chunks) this.accepted += await conn.write(chunk);
    } catch (error) {
      if (error instanceof NetError) this.accepted += error.bytesWritten ?? 0;
      callback(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    callback();
  }

  /** @internal Node's stream hook. */
  override _final(callback: (error?: Error | null) => void): void {
    const conn = this.connection;
    if (conn === undefined) {
      this.whenConnected((ready) => ready._final(callback), callback);
      return;
    }
    conn.closeWrite();
    callback();
  }

  /**
   * Run `then` once connected; if the stream closes first, fail `callback` as net.Socket fails
   * writes queued while connecting.
   */
  private whenConnected(then: (socket: this) => void, callback: (error?: Error | null) => void): void {
    const onClose = () => {
      this.off('connect', onConnect);
      callback(new NetError('ECLOSED', 'socket closed before the connection was established'));
    };
    const onConnect = () => {
      this.off('close', onClose);
      then(this);
    };
    this.once('connect', onConnect);
    this.once('close', onClose);
  }

  /** @internal Node's stream hook. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const conn = this.connection;
    if (conn === undefined) this.abortConnect?.abort();
    else if (!conn.closed) conn.close();
    callback(error);
  }

  /** net.Socket#resetAndDestroy: end the connection with a RST, then destroy the stream. */
  resetAndDestroy(): this {
    this.connection?.destroy();
    return this.destroy();
  }

  /** Graceful end used by node:http: flush, FIN, close. */
  destroySoon(): void {
    this.end(() => this.destroy());
  }

  /** net.Socket#setTimeout: emit 'timeout' after `ms` of inactivity (0 disables). */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleMs = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    // 0 leaves a running timer to run out unheeded (its expiry checks idleMs) so that the same
    // `ms` again restarts it: node:http turns the timeout off as each request arrives and back on
    // after its response, and a Timeout made and cleared each time costs more than one that
    // runs out idle at most once per `ms`.
    if (ms === 0 || this.destroyed) return this;
    if (this.idleTimer !== undefined && this.idleTimerMs === ms) {
      this.idleTimer.refresh();
      return this;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.idleMs > 0) this.emit('timeout');
    }, ms);
    this.idleTimer.unref();
    this.idleTimerMs = ms;
    return this;
  }

  /**
   * Activity: restart the idle timer. `refresh()` moves the one Timeout (as net.Socket's
   * _unrefTimer does) instead of clearing it and making another on every read and write.
   */
  private touch(): void {
    if (this.idleMs > 0) this.idleTimer?.refresh();
  }

  /** net.Socket#setNoDelay: Nagle's algorithm off (true, already the default as in Go) or on. */
  setNoDelay(noDelay = true): this {
    this.apply((conn) => conn.setNoDelay(noDelay));
    return this;
  }

  /** net.Socket#setKeepAlive: `initialDelay` 0 keeps the connection's current idle time. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.apply((conn) => conn.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined));
    return this;
  }

  private apply(setting: (conn: TcpConn) => void): void {
    if (this.connection === undefined) this.pendingSettings.push(setting);
    else if (!this.connection.closed) setting(this.connection);
  }

  /** The stack's timers do not hold the process open per socket, so there is nothing to ref. */
  ref(): this {
    return this;
  }

  /** As `ref()`: nothing to do. */
  unref(): this {
    return this;
  }
}

/** Wrap a connected TcpConn as a Node Duplex stream. */
export function toDuplex(conn: TcpConn, options: DuplexOptions = {}): TcpDuplex {
  return new TcpDuplex(conn, options);
}
