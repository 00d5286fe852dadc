/**
 * Issue 9: TIME-WAIT costs a record, not a connection. ab sends HTTP/1.0 requests to the stack's
 * demo server, which closes each connection first and so holds it in TIME-WAIT for 2*MSL; the
 * stack's resident memory must grow by far less than whole connections would take (3000 of
 * them held for 60 s added about 137 MiB before). What remains is the records themselves (about
 * 2 MiB) and the garbage of the requests that V8 promotes to its old generation and has not
 * collected yet (the TUN rings' pages are committed when the device opens).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareRootRequirement, isRoot } from './root.js';
import { residentKiB, stackProcessId, startStackInNamespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

const REQUESTS = 3000;

describe.skipIf(!isRoot)('TIME-WAIT on a TUN device', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function ab(requests: number): Promise<void> {
    const result = await env.exec('ab', ['-q', '-n', String(requests), '-c', '20', '-s', '10', `http://${env.stackAddress}/bytes/100`], {
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`Complete requests:\\s+${requests}\\b`));
    expect(result.stdout, result.stdout).toMatch(/Failed requests:\s+0\b/);
  }

  it(`${REQUESTS} HTTP/1.0 requests closed by the server leave TIME-WAIT records and bounded RSS growth`, async () => {
    const pid = stackProcessId(env);
    // Warm up (code compiled, V8's young generation grown to its working size) before the baseline.
    await ab(REQUESTS);
    const before = await env.stats();
    const rssBefore = residentKiB(pid);
    await ab(REQUESTS);
    const rssAfter = residentKiB(pid);
    const after = await env.stats();
    const entered = (after.counters.tcp?.time_wait_entered ?? 0) - (before.counters.tcp?.time_wait_entered ?? 0);
    const grewMiB = (rssAfter - rssBefore) / 1024;
    console.log(
      `TIME-WAIT: ${entered} entered, RSS ${(rssBefore / 1024).toFixed(1)} -> ${(rssAfter / 1024).toFixed(1)} MiB (+${grewMiB.toFixed(1)})`,
    );
    // Each request's connection, closed by the server (and the /stats request of `before`).
    expect(entered).toBeGreaterThanOrEqual(REQUESTS);
    expect(entered).toBeLessThanOrEqual(REQUESTS + 1);
    expect(after.counters.tcp?.time_wait_overflow ?? 0).toBe(0);
    expect(after.tcp.connections).toBeLessThanOrEqual(1);
    // Measured on 2 shared cores with the CLI's 2 MiB semi-space (CLI_NODE_FLAGS): +9.8 to +10.3
    // MiB since timer entries stopped dragging connections into the old generation (+12 to +13.4
    // before; whole connections held in TIME-WAIT added +137 MiB). Issue 9 asks under 16. With
    // plain 4 MiB rings committed at open: +12.6 to +15.1. Since issue 13's socket API (Go's
    // defaults, the net.Socket-like TcpDuplex) the same runs measure +10.5 to +15.0 MiB (A/B on
    // this machine: base +10.3 to +11.5), about 1 KiB more per connection, not yet explained (not
    // the JS heap: two stacks in memory running the demo services promote less per request than
    // before); the bound is issue 9's until that is found.
    expect(grewMiB).toBeLessThan(16);
  }, 180_000);
});
