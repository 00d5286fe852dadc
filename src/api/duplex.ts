/**
 * A Node Duplex stream over a TcpConn, so node:http, readline and stream.pipeline run over the
 * stack. It also carries the few net.Socket members node:http touches (setTimeout,
 * setNoDelay, setKeepAlive, remoteAddress, ...).
 */
import { Duplex } from 'node:stream';
import { NetError } from '../errors.js';
import type { TcpConn } from './tcp.js';

const READ_CHUNK = 64 * 1024;

export class TcpDuplex extends Duplex {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteFamily = 'IPv4';
  private reading = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleMs = 0;

  constructor(readonly conn: TcpConn) {
    super({ allowHalfOpen: true });
    this.remoteAddress = conn.remoteAddr.address;
    this.remotePort = conn.remoteAddr.port;
    this.localAddress = conn.localAddr.address;
    this.localPort = conn.localAddr.port;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.conn.readChunk(READ_CHUNK);
        this.touch();
        if (chunk === null) {
          this.push(null);
          return;
        }
        if (!this.push(chunk)) break;
      }
    } catch (error) {
      if (error instanceof NetError && error.code === 'ECLOSED') this.push(null);
      else this.destroy(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.reading = false;
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch();
    this.conn.write(chunk).then(
      () => callback(),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.conn.closeWrite();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (error) this.conn.destroy();
    else this.conn.close();
    callback(error);
  }

  /** Graceful end used by node:http: flush, FIN, close. */
  destroySoon(): void {
    this.end(() => this.destroy());
  }

  /** net.Socket#setTimeout: emit 'timeout' after `ms` of inactivity (0 disables). */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleMs = ms;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.idleMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
      this.idleTimer.unref();
    }
  }

  setNoDelay(noDelay = true): this {
    this.conn.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.conn.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** Wrap a connection as a Node Duplex stream. */
export function toDuplex(conn: TcpConn): TcpDuplex {
  return new TcpDuplex(conn);
}
