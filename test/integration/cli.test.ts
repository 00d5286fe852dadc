/**
 * The CLI contract (docs/ARCHITECTURE.md, "The CLI contract"): flags, the ready line, --pcap,
 * --no-configure, --impair, exit codes, and clean shutdown that removes the device.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '../../src/pcap/pcap.js';
import { declareRootRequirement, isRoot } from './root.js';
import {
  createNamespace,
  projectRoot,
  run,
  runNodeUnprivileged,
  startStackInNamespace,
  uniqueName,
  waitForOutput,
  type Namespace,
} from './harness.js';

declareRootRequirement();

const tsx = `${projectRoot}node_modules/.bin/tsx`;
const cli = `${projectRoot}scripts/cli.ts`;

describe('CLI flag errors: one line, exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--mtu', '10'], /--mtu 10/],
    [['--mtu', '70000'], /--mtu 70000/],
    [['--bogus'], /bogus/],
    [['--addr', '10.0.0'], /--addr/],
    [['--host-addr', '10.0.0.1'], /--host-addr/],
    [['--log', 'loud'], /--log loud/],
    [['--impair', 'loss=2'], /--impair/],
    [['--tun', 'a-name-that-is-far-too-long'], /--tun/],
  ];
  for (const [args, pattern] of cases) {
    it(`rejects ${args.join(' ')}`, async () => {
      const result = await run(tsx, [cli, ...args], { timeoutMs: 30_000 });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(pattern);
      expect(result.stderr.trim().split('\n')[0]).toMatch(/^error: /);
    });
  }

  it.skipIf(!isRoot)('refuses to run without root, in one line with exit 2', async () => {
    const result = await runNodeUnprivileged((checkout) => ['--import', 'tsx', `${checkout}scripts/cli.ts`], { timeoutMs: 30_000 });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^error: must run as root/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.skipIf(!isRoot)('CLI lifecycle', () => {
  let pcapFile: string;
  beforeAll(() => {
    pcapFile = join(tmpdir(), `${uniqueName('tsn-cli-')}.pcap`);
  });
  afterAll(() => {
    rmSync(pcapFile, { force: true });
  });

  it('prints ready, records a pcap tcpdump reads, and removes its device on SIGTERM', async () => {
    const env = await startStackInNamespace({ extraFlags: ['--pcap', pcapFile] });
    try {
      expect(env.output().stdout).toMatch(/^ready tun=tsn0 host=10\.0\.0\.1\/24 addr=10\.0\.0\.2 mtu=1500/m);
      const link = await env.exec('ip', ['-j', 'addr', 'show', 'dev', env.tun]);
      expect(link.stdout).toContain('"local":"10.0.0.1"');
      const ping = await env.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', env.stackAddress]);
      expect(ping.stdout).toMatch(/2 received/);
      const stopped = await env.stopStack();
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).toMatch(/counters:\n(.*\n)*icmp: .*echo_replies=2/);
      const gone = await env.exec('ip', ['link', 'show', env.tun]);
      expect(gone.code).not.toBe(0);
      const records = readPcap(readFileSync(pcapFile));
      expect(records.filter((r) => r.data[9] === 1).length).toBeGreaterThanOrEqual(4);
      const dump = await run('tcpdump', ['-nr', pcapFile]);
      expect(dump.code).toBe(0);
      expect(dump.stdout).toMatch(/10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/);
      expect(dump.stdout).toMatch(/10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply/);
    } finally {
      await env.stop();
    }
  });

  it('applies --impair (dup=1 makes every reply arrive twice)', async () => {
    const env = await startStackInNamespace({ extraFlags: ['--impair', 'dup=1,seed=3'] });
    try {
      const ping = await env.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', env.stackAddress]);
      expect(ping.stdout).toMatch(/DUP!/);
      expect(ping.stdout).toMatch(/3 received, \+\d+ duplicates/);
    } finally {
      await env.stop();
    }
  });
});

describe.skipIf(!isRoot)('CLI --no-configure on a device made by ip tuntap', () => {
  let ns: Namespace;
  beforeAll(async () => {
    ns = await createNamespace();
    await ns.exec('ip', ['tuntap', 'add', 'mode', 'tun', 'name', 'tsnpre0']);
    await ns.exec('ip', ['addr', 'add', '10.9.0.1/24', 'dev', 'tsnpre0']);
    await ns.exec('ip', ['link', 'set', 'tsnpre0', 'up']);
  });
  afterAll(async () => {
    await ns?.stop();
  });

  it('attaches, answers ping, and leaves the device in place on exit', async () => {
    const child = ns.spawn(tsx, [
      cli,
      '--tun',
      'tsnpre0',
      '--no-configure',
      '--addr',
      '10.9.0.2',
      '--host-addr',
      '10.9.0.1/24',
      '--log',
      'warn',
    ]);
    await waitForOutput(child, /^ready /m, 30_000);
    const ping = await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.9.0.2']);
    expect(ping.stdout).toMatch(/2 received/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const still = await ns.exec('ip', ['link', 'show', 'tsnpre0']);
    expect(still.code).toBe(0);
  });
});
