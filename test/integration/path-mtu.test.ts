/**
 * Path MTU discovery end to end (RFC 1191): the stack's namespace routes to a second namespace
 * over a veth pair whose route is locked to MTU 1000, and curl there downloads from the stack. The
 * stack's first full-size segments (1500 bytes, DF) cannot be forwarded: the kernel router answers
 * with ICMP fragmentation needed, the stack resizes its segments, and the download completes byte
 * for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternDownloadScript } from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import { createNamespace, run, startStackInNamespace, uniqueName, type Namespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

const ROUTER_SIDE = '10.0.1.1';
const CLIENT = '10.0.1.2';
const PATH_MTU = 1000;
const DOWNLOAD_BYTES = 4 * 1024 * 1024;

async function mustRun(command: string, args: string[]): Promise<void> {
  const result = await run(command, args, { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
}

describe.skipIf(!isRoot)('path MTU discovery behind a kernel router', () => {
  let env: StackInNamespace | undefined;
  let client: Namespace | undefined;

  beforeAll(async () => {
    env = await startStackInNamespace();
    client = await createNamespace('tsnpm-');
    const routerEnd = uniqueName('pmr');
    const clientEnd = uniqueName('pmc');
    // The veth pair is made straight into the two namespaces, and goes away with them.
    await mustRun('ip', [
      'link',
      'add',
      routerEnd,
      'netns',
      env.namespace,
      'type',
      'veth',
      'peer',
      'name',
      clientEnd,
      'netns',
      client.name,
    ]);
    const inRouter = (args: string[]) => mustRun('ip', ['netns', 'exec', env!.namespace, ...args]);
    const inClient = (args: string[]) => mustRun('ip', ['netns', 'exec', client!.name, ...args]);
    await inRouter(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await inRouter(['ip', 'addr', 'add', `${ROUTER_SIDE}/24`, 'dev', routerEnd]);
    await inRouter(['ip', 'link', 'set', routerEnd, 'up']);
    // Both ends of the veth keep MTU 1500 (so curl's SYN offers MSS 1460), but the route to the
    // client is locked to 1000: the kernel forwards nothing larger and answers DF datagrams with
    // fragmentation needed, next-hop MTU 1000.
    await inRouter(['ip', 'route', 'replace', '10.0.1.0/24', 'dev', routerEnd, 'mtu', 'lock', String(PATH_MTU)]);
    await inClient(['ip', 'addr', 'add', `${CLIENT}/24`, 'dev', clientEnd]);
    await inClient(['ip', 'link', 'set', clientEnd, 'up']);
    await inClient(['ip', 'route', 'add', 'default', 'via', ROUTER_SIDE]);
  }, 40_000);

  afterAll(async () => {
    await client?.stop();
    await env?.stop();
  });

  it('resizes its segments on fragmentation needed and serves a 4 MiB download byte for byte', async () => {
    const download = await client!.exec('sh', ['-c', patternDownloadScript(env!.stackAddress, DOWNLOAD_BYTES, 15)], { timeoutMs: 18_000 });
    expect(download.stderr).toBe('');
    expect(download.stdout.trim()).toBe(`${DOWNLOAD_BYTES} ok`);
    const counters = (await env!.stats()).counters;
    expect(counters.ip?.pmtu_reduced).toBeGreaterThanOrEqual(1);
    expect(counters.tcp?.pmtu_mss_reduced).toBeGreaterThanOrEqual(1);
  }, 20_000);
});
