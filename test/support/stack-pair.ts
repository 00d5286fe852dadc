/** Shared by the API tests: two stacks joined in memory, an assertion on typed errors, reading and waiting helpers. */
import { expect } from 'vitest';
import type { SocketOptions } from '../../src/api/socket-options.js';
import type { TcpConn } from '../../src/api/tcp.js';
import type { FakeClock } from '../../src/clock.js';
import { NetError } from '../../src/errors.js';
import { memoryLinkPair, type Link } from '../../src/link/link.js';
import { Stack } from '../../src/stack.js';
import type { TcpConfig } from '../../src/tcp/types.js';

export interface StackPairOptions {
  mtu?: number;
  /** With a fake clock, timers run only from `stack.runTimers()`. */
  clock?: FakeClock;
  /** Wrap stack A's side of the link (e.g. with impairLink). */
  wrap?: (link: Link) => Link;
  tcp?: Partial<TcpConfig>;
  /** The memory links take TCP super-segments (memoryLinkPair's tcpSegmentation). */
  tcpSegmentation?: boolean;
  /** Both stacks' defaults for the API's TCP connections. */
  sockets?: SocketOptions;
}

/** Stack A at 10.0.0.1 and stack B at 10.0.0.2, back to back. */
export function stackPair(options: StackPairOptions = {}): { a: Stack; b: Stack } {
  const [linkA, linkB] = memoryLinkPair(options.mtu ?? 1500, { tcpSegmentation: options.tcpSegmentation });
  const wrap = options.wrap ?? ((link: Link) => link);
  const common = { clock: options.clock, manualTimers: options.clock !== undefined, tcp: options.tcp, sockets: options.sockets };
  const a = new Stack({ link: wrap(linkA), address: '10.0.0.1', ...common });
  const b = new Stack({ link: linkB, address: '10.0.0.2', ...common });
  return { a, b };
}

/** Assert that `promise` rejects with a NetError of `code`, and return the error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<NetError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NetError);
    expect((error as NetError).code).toBe(code);
    return error as NetError;
  }
  throw new Error(`expected rejection with ${code}`);
}

/** Wait (polling every 5 ms, at most `timeoutMs`) until `condition` holds. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Read until the end of stream; everything read, in one buffer. */
export async function readAll(conn: TcpConn): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const buffer = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
}

/** `size` bytes of a pattern that differs by `seed`, so a misplaced byte shows. */
export function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}
