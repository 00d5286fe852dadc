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
    // Measured on 2 shared cores: +10 to +15 MiB with the CLI's former 2 MiB semi-space, when
    // each TIME-WAIT record (built by spreading the connection's state) had its own V8 hidden
    // class; +1.4 to +2.2 MiB (three runs, 2026-12-02) with records of one shape and the CLI's
    // 1 MiB semi-space and 10% heap growth (CLI_NODE_FLAGS). Whole connections held in TIME-WAIT
    // added +137 MiB. The bound is issue 9's.
    expect(grewMiB).toBeLessThan(16);
  }, 180_000);
});
