/** Shared by the API tests: two stacks joined in memory, and an assertion on typed errors. */
import { expect } from 'vitest';
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
}

/** Stack A at 10.0.0.1 and stack B at 10.0.0.2, back to back. */
export function stackPair(options: StackPairOptions = {}): { a: Stack; b: Stack } {
  const [linkA, linkB] = memoryLinkPair(options.mtu ?? 1500, { tcpSegmentation: options.tcpSegmentation });
  const wrap = options.wrap ?? ((link: Link) => link);
  const common = { clock: options.clock, manualTimers: options.clock !== undefined, tcp: options.tcp };
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
