/** Stack options a caller gets wrong are refused with a typed error when the stack is made. */
import { describe, expect, it } from 'vitest';
import { NetError } from '../../src/errors.js';
import { memoryLinkPair } from '../../src/link/link.js';
import { Stack } from '../../src/stack.js';
import type { TcpConfig } from '../../src/tcp/types.js';

describe('Stack options', () => {
  it('refuses an unknown congestion controller with EINVAL and accepts the two it has', async () => {
    const [link] = memoryLinkPair();
    const make = (congestionControl: string): Stack =>
      new Stack({ link, address: '10.0.0.2', tcp: { congestionControl } as unknown as Partial<TcpConfig> });
    let caught: unknown;
    try {
      make('bbr');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NetError);
    expect((caught as NetError).code).toBe('EINVAL');
    expect((caught as NetError).message).toContain('"bbr"');
    for (const name of ['cubic', 'newreno']) await make(name).close();
  });

  it('refuses a tcp.maxTimeWait that is not a whole number of records with EINVAL', async () => {
    const [link] = memoryLinkPair();
    const make = (maxTimeWait: number): Stack => new Stack({ link, address: '10.0.0.2', tcp: { maxTimeWait } });
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => make(bad)).toThrow(/EINVAL: tcp.maxTimeWait/);
    await make(0).close();
  });
});
