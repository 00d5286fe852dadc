/**
 * Issue 4 end to end: real curl, nc and node:net clients against the stack's TCP services on a
 * TUN device in a fresh namespace, and the stack dialling kernel servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineServerPy, patternDownloadScript, uploadOutcome, uploadScript } from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import { createNamespace, run, startStackInNamespace, waitForOutput, type Namespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

function sh(env: { exec: StackInNamespace['exec'] }, script: string, timeoutMs = 120_000) {
  return env.exec('sh', ['-c', script], { timeoutMs });
}

describe.skipIf(!isRoot)('TCP over a TUN device', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('serves GET / to curl', async () => {
    const result = await env.exec('curl', ['-sS', '--max-time', '10', `http://${env.stackAddress}/`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('address: 10.0.0.2');
  });

  it('serves a 64 MiB download byte for byte', async () => {
    const result = await sh(env, patternDownloadScript(env.stackAddress, 67108864, 100));
    expect(result.stdout.trim()).toBe('67108864 ok');
  });

  it('receives a 32 MiB upload and reports the right sha256', async () => {
    const { want, got } = uploadOutcome((await sh(env, uploadScript(env.stackAddress, 33554432, 100))).stdout);
    expect(want).toMatch(/^33554432 /);
    expect(got).toBe(want);
  });

  it('echoes a line through nc', async () => {
    const result = await env.exec('nc', ['-q', '1', '-w', '5', env.stackAddress, '7'], { input: 'hi\n', timeoutMs: 15_000 });
    expect(result.stdout).toBe('hi\n');
  });

  it('refuses a closed port with RST (curl: connection refused)', async () => {
    const started = Date.now();
    const result = await env.exec('curl', ['-sS', '--max-time', '5', `http://${env.stackAddress}:81/`]);
    // Exit 7 is "failed to connect"; a lost SYN would instead time out (exit 28) after 5 s.
    expect(result.code).toBe(7);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('echoes 1 MiB on each of 200 parallel connections', async () => {
    const result = await env.exec(
      `${process.cwd()}/node_modules/.bin/tsx`,
      [`${process.cwd()}/test/integration/clients/echo-load.ts`, env.stackAddress, '7', '--parallel', '200', '--bytes', '1048576'],
      {
        timeoutMs: 150_000,
      },
    );
    const summary = JSON.parse(result.stdout) as { ok: number; failed: number; errors: string[] };
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(200);
  }, 200_000);

  it('opens and closes 2000 connections in a row and leaks nothing', async () => {
    const result = await env.exec(
      `${process.cwd()}/node_modules/.bin/tsx`,
      [`${process.cwd()}/test/integration/clients/echo-load.ts`, env.stackAddress, '7', '--sequential', '2000'],
      {
        timeoutMs: 100_000,
      },
    );
    const summary = JSON.parse(result.stdout) as { ok: number; failed: number; errors: string[]; slowest: string[] };
    if (summary.ok !== 2000) console.log('2000 connections:', summary, JSON.stringify(await env.stats()), env.output().stderr);
    expect(summary.errors).toEqual([]);
    expect(summary.ok).toBe(2000);
    expect(result.stderr).toBe('');
    // The stack closed second on every connection (the client sent FIN first), so nothing is left
    // in TIME-WAIT on our side; only the /stats request's own connection remains.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stats = await env.stats();
    expect(stats.tcp.connections).toBeLessThanOrEqual(1);
  }, 150_000);
});

describe.skipIf(!isRoot)('the stack dialling kernel TCP servers, and the seed programs', () => {
  let ns: Namespace;
  beforeAll(async () => {
    ns = await createNamespace();
    // Two stacks in one namespace, each on its own TUN device; the kernel routes between them.
    await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  });
  afterAll(async () => {
    await ns?.stop();
  });

  it('tcp-client.ts dials a kernel TCP server and reads its answer', async () => {
    const server = ns.spawn('python3', ['-u', '-c', lineServerPy('0.0.0.0', 8080, 'Hello from the kernel')]);
    await waitForOutput(server, /listening/);
    const result = await ns.tsx('scripts/examples/tcp-client.ts', ['--tun', 'tsnc0', '--log', 'warn', '--connect', '10.0.0.1:8080'], {
      timeoutMs: 30_000,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Received data: Hello from the kernel');
    await waitForOutput(server, /Received data: Hello, server! from 10\.0\.0\.2/);
  });

  it('tcp-server.ts answers a kernel nc client', async () => {
    const server = ns.spawn(`${process.cwd()}/node_modules/.bin/tsx`, [
      `${process.cwd()}/scripts/examples/tcp-server.ts`,
      '--tun',
      'tsns0',
      '--host-addr',
      '10.0.2.1/24',
      '--addr',
      '10.0.2.2',
      '--log',
      'warn',
    ]);
    await waitForOutput(server, /listening on/, 20_000);
    const result = await ns.exec('nc', ['-q', '2', '-w', '5', '10.0.2.2', '8080'], { input: 'Hello from nc\n', timeoutMs: 15_000 });
    expect(result.stdout).toBe('Hello, client!\n');
    await waitForOutput(server, /Received data: Hello from nc/);
  });

  it('the seed server and client talk to each other, each over its own stack', async () => {
    const server = ns.spawn(`${process.cwd()}/node_modules/.bin/tsx`, [
      `${process.cwd()}/scripts/examples/tcp-server.ts`,
      '--tun',
      'tsns1',
      '--host-addr',
      '10.0.3.1/24',
      '--addr',
      '10.0.3.2',
      '--log',
      'warn',
    ]);
    await waitForOutput(server, /listening on/, 20_000);
    const result = await ns.tsx(
      'scripts/examples/tcp-client.ts',
      ['--tun', 'tsnc1', '--host-addr', '10.0.4.1/24', '--addr', '10.0.4.2', '--log', 'warn', '--connect', '10.0.3.2:8080'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(result.stdout).toContain('Received data: Hello, client!');
    await waitForOutput(server, /Received data: Hello, server!/);
  });
});

const MiB = 1024 * 1024;

/**
 * Random loss rates (% of the packets in each direction) and the bytes moved each way. At 20% the
 * transfer is 512 KiB: 16 MiB at 20% does not yet finish within the bound (issue 8 is open on it).
 */
const LOSS_RATES: ReadonlyArray<{ percent: number; bytes: number }> = [
  { percent: 5, bytes: 16 * MiB },
  { percent: 10, bytes: 16 * MiB },
  { percent: 20, bytes: MiB / 2 },
];

/** The most one direction's transfer may take (curl --max-time), in seconds. */
const LOSSY_TRANSFER_MAX_S = 120;

/**
 * Drops `percent` % of the packets each way between the stack's TUN device and a client in its
 * own namespace, in the FORWARD hook of the stack's namespace: neither end sees the drops. (A
 * drop in the client's OUTPUT hook would be reported to its TCP as a local error and resent at
 * once, so that direction would lose nothing.)
 */
function forwardLossRules(tun: string, percent: number): string {
  return `
table inet tsnloss {
  chain forward {
    type filter hook forward priority 0; policy accept;
    oifname "${tun}" numgen random mod 100 < ${percent} counter drop
    iifname "${tun}" numgen random mod 100 < ${percent} counter drop
  }
}
`;
}

/**
 * A client namespace behind the stack's namespace: a veth pair (10.0.2.1 in the client, 10.0.2.2
 * beside the TUN device), forwarding on, GSO limited to one segment per packet so that each rule
 * decision is one packet on the wire. Deleted by the returned namespace's stop().
 */
async function lossyClient(env: StackInNamespace): Promise<Namespace> {
  const client = await createNamespace('tsnitl-');
  try {
    const steps: Array<[string, string[]]> = [
      ['ip', ['-n', client.name, 'link', 'add', 'tsnlc', 'type', 'veth', 'peer', 'name', 'tsnlr', 'netns', env.namespace]],
      ['ip', ['-n', client.name, 'link', 'set', 'tsnlc', 'gso_max_segs', '1', 'up']],
      ['ip', ['-n', client.name, 'addr', 'add', '10.0.2.1/24', 'dev', 'tsnlc']],
      ['ip', ['-n', client.name, 'route', 'add', '10.0.0.0/24', 'via', '10.0.2.2']],
      ['ip', ['-n', env.namespace, 'link', 'set', 'tsnlr', 'gso_max_segs', '1', 'up']],
      ['ip', ['-n', env.namespace, 'addr', 'add', '10.0.2.2/24', 'dev', 'tsnlr']],
      ['ip', ['netns', 'exec', env.namespace, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']],
    ];
    for (const [command, args] of steps) {
      const result = await run(command, args, { timeoutMs: 10_000 });
      if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr.trim()}`);
    }
  } catch (error) {
    await client.stop();
    throw error;
  }
  return client;
}

/** `bytes` down (checked against the pattern) and `bytes` up (checked by sha256), from `client`. */
async function transferBothWays(
  client: { exec: StackInNamespace['exec'] },
  stackAddress: string,
  bytes = 16 * 1024 * 1024,
  maxSeconds = 150,
): Promise<void> {
  const down = await sh(client, patternDownloadScript(stackAddress, bytes, maxSeconds), (maxSeconds + 10) * 1000);
  expect(down.stderr).toBe('');
  expect(down.stdout.trim()).toBe(`${bytes} ok`);
  const up = await sh(client, uploadScript(stackAddress, bytes, maxSeconds), (maxSeconds + 10) * 1000);
  const { want, got } = uploadOutcome(up.stdout);
  expect(want).toMatch(new RegExp(`^${bytes} `));
  expect(got).toBe(want);
}

describe.skipIf(!isRoot)('TCP recovery on a lossy path', () => {
  for (const { percent, bytes } of LOSS_RATES) {
    it(
      `moves ${bytes / MiB} MiB each way intact with ${percent}% random loss in both directions (nftables)`,
      async () => {
        // Without offloads: each of the stack's segments is one packet for the drop rules, as
        // gso_max_segs 1 makes the kernel client's (a super-segment would be dropped whole).
        const env = await startStackInNamespace({ extraFlags: ['--offload', 'off'] });
        let client: Namespace | undefined;
        try {
          client = await lossyClient(env);
          const rules = await env.exec('nft', ['-f', '-'], { input: forwardLossRules(env.tun, percent) });
          expect(rules.stderr).toBe('');
          await transferBothWays(client, env.stackAddress, bytes, LOSSY_TRANSFER_MAX_S);
          // The rules really dropped packets both ways, and the stack really retransmitted.
          const list = await env.exec('nft', ['list', 'table', 'inet', 'tsnloss']);
          const dropped = [...list.stdout.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
          expect(dropped).toHaveLength(2);
          // Each way carried at least bytes / 1500 data packets, `percent` % of them dropped: half
          // of that is a floor no honest run falls under.
          const minimumDrops = Math.floor(((bytes / 1500) * percent) / 100 / 2);
          expect(Math.min(...dropped)).toBeGreaterThan(minimumDrops);
          const stats = await env.stats();
          expect(stats.counters.tcp?.retransmissions).toBeGreaterThan(minimumDrops);
        } finally {
          await client?.stop();
          await env.stop();
        }
      },
      2 * (LOSSY_TRANSFER_MAX_S + 10) * 1000 + 30_000,
    );
  }

  it(
    'moves 16 MiB each way intact with offloads on and 5% random loss, super-segments dropped whole (nftables)',
    async () => {
      const env = await startStackInNamespace();
      let client: Namespace | undefined;
      try {
        client = await lossyClient(env);
        const rules = await env.exec('nft', ['-f', '-'], { input: forwardLossRules(env.tun, 5) });
        expect(rules.stderr).toBe('');
        await transferBothWays(client, env.stackAddress, 16 * MiB, LOSSY_TRANSFER_MAX_S);
        const stats = await env.stats();
        expect(stats.counters.tcp?.super_segments_sent).toBeGreaterThan(0);
        expect(stats.counters.tcp?.retransmissions).toBeGreaterThan(0);
      } finally {
        await client?.stop();
        await env.stop();
      }
    },
    2 * (LOSSY_TRANSFER_MAX_S + 10) * 1000 + 30_000,
  );

  it('moves 16 MiB each way intact under --impair reordering and duplication', async () => {
    const env = await startStackInNamespace({ extraFlags: ['--impair', 'reorder=0.05,dup=0.02,seed=11'] });
    try {
      await transferBothWays(env, env.stackAddress);
    } finally {
      await env.stop();
    }
  }, 400_000);
});
