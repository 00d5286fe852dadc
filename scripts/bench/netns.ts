/**
 * The benchmark's two worlds, each in network namespaces it creates and removes itself:
 *  - stack:  `tsnbench-s-<rand>`, the CLI on a TUN device (kernel side 10.0.0.1, stack 10.0.0.2);
 *            clients run in the same namespace.
 *  - kernel: `tsnbench-kc-<rand>` (client, 10.0.1.1) and `tsnbench-ks-<rand>` (server, 10.0.1.2)
 *            joined by a veth pair of the same MTU; scripts/kernel-demo-server.ts in the server one.
 * For the loss figures each side gains a lossy path (setUpLossyPath): a client namespace
 * `tsnbench-sl-<rand>` / `tsnbench-kl-<rand>` behind the side's client namespace, which forwards
 * and drops packets at random in its FORWARD hook (nftables table `tsnbench_loss`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CLI_NODE_FLAGS } from '../cli-node-flags.js';
import { findScriptProcess, run, terminate, track, type RunOptions, type RunResult } from './proc.js';

const STACK_TUN = 'tsnbench0';
const STACK_HOST_ADDR = '10.0.0.1';
export const STACK_ADDR = '10.0.0.2';
const KERNEL_CLIENT_ADDR = '10.0.1.1';
export const KERNEL_SERVER_ADDR = '10.0.1.2';
const VETH_CLIENT = 'tsnbench-c';
const VETH_SERVER = 'tsnbench-s';
const VETH_LOSSY_CLIENT = 'tsnbench-lc';
const VETH_LOSSY_ROUTER = 'tsnbench-lr';
const LOSS_TABLE = 'tsnbench_loss';

export type SideName = 'stack' | 'kernel';

/** Run a command inside a namespace (with a timeout, like every client here). */
export function nsRun(namespace: string, command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return run('ip', ['netns', 'exec', namespace, command, ...args], options);
}

const ALLOWED_CONGESTION_CONTROL = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';

/**
 * A namespace other than the machine's own may only pick a congestion control from the machine's
 * `tcp_allowed_congestion_control` (Linux tcp_set_default_congestion_control; this machine allows
 * reno and bbr only). When `name` is not in it, it is added for the run; the returned function puts
 * the list back (cleanup calls it), and `added` tells the report.
 */
export function allowCongestionControl(name: string): { added: boolean; restore: () => void } {
  const before = readFileSync(ALLOWED_CONGESTION_CONTROL, 'utf8').trim();
  if (before.split(/\s+/).includes(name)) return { added: false, restore: () => {} };
  writeFileSync(ALLOWED_CONGESTION_CONTROL, `${before} ${name}`);
  return { added: true, restore: () => writeFileSync(ALLOWED_CONGESTION_CONTROL, before) };
}

/**
 * The namespaces this run made, so cleanup removes exactly those. Each gets the kernel TCP
 * congestion control `congestionControl` (a per-namespace sysctl; the machine's own setting is not
 * touched): every kernel sender of the run (the kernel server, and the clients on both sides) uses
 * the same algorithm, the stack's default, so that a ratio compares the TCP implementations and
 * not the machine's choice of algorithm (this machine's default is bbr, which ignores random loss).
 */
export class NamespaceSet {
  private readonly names: string[] = [];

  constructor(readonly congestionControl: string) {}

  async add(name: string): Promise<void> {
    const result = await run('ip', ['netns', 'add', name], { timeoutMs: 10_000 });
    if (result.code !== 0) throw new Error(`ip netns add ${name}: ${result.stderr.trim()}`);
    this.names.push(name);
    await must(nsRun(name, 'ip', ['link', 'set', 'lo', 'up'], { timeoutMs: 10_000 }), `lo up in ${name}`);
    await must(
      nsRun(name, 'sysctl', ['-qw', `net.ipv4.tcp_congestion_control=${this.congestionControl}`], { timeoutMs: 10_000 }),
      `kernel congestion control ${this.congestionControl} in ${name} (available: /proc/sys/net/ipv4/tcp_available_congestion_control)`,
    );
  }

  async removeAll(): Promise<string[]> {
    const problems: string[] = [];
    while (this.names.length > 0) {
      const name = this.names.pop()!;
      const result = await run('ip', ['netns', 'del', name], { timeoutMs: 10_000 });
      if (result.code !== 0) problems.push(`ip netns del ${name}: ${result.stderr.trim()}`);
    }
    return problems;
  }
}

async function must(pending: Promise<RunResult>, what: string): Promise<RunResult> {
  const result = await pending;
  if (result.code !== 0)
    throw new Error(`${what} failed (${result.timedOut ? 'timed out' : `exit ${result.code}`}): ${result.stderr.trim()}`);
  return result;
}

/** The informative part of a server's stderr: its first error line, else its last lines. */
function summarize(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const errorLine = lines.find((line) => /^error\b|^\w*Error\b|Error \[|Error:/.test(line));
  const kept = errorLine ?? lines.slice(-3).join(' | ');
  return kept.length > 300 ? `${kept.slice(0, 300)}...` : kept;
}

/** A long-running server (the stack's CLI or the kernel demo server) started under `ip netns exec`. */
export class ServerProcess {
  private stdout = '';
  private stderr = '';
  private exitText: string | undefined;
  private scriptPidCache: number | undefined;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    private readonly script: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-20_000)));
    child.on('exit', (code, signal) => {
      this.exitText = `${label} exited (${signal ?? `code ${code}`})${this.stderr.trim() ? `: ${summarize(this.stderr)}` : ''}`;
    });
  }

  /** Start `runner script args` in the namespace and wait for a line starting with `ready`. */
  static async start(
    label: string,
    namespace: string,
    runner: string,
    script: string,
    args: string[],
    cwd: string,
    readyTimeoutMs: number,
    nodeFlags: readonly string[] = [],
  ): Promise<ServerProcess> {
    const child = track(
      spawn('ip', ['netns', 'exec', namespace, runner, ...nodeFlags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd }),
    );
    const server = new ServerProcess(label, child, script);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `${label} printed no ready line within ${readyTimeoutMs / 1000} s${server.stderr ? `: ${summarize(server.stderr)}` : ''}`,
              ),
            ),
          readyTimeoutMs,
        );
        const check = () => {
          if (/^ready/m.test(server.stdout)) {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            resolve();
          }
        };
        child.stdout!.on('data', check);
        child.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        child.once('exit', () => {
          clearTimeout(timer);
          // let the stderr pipe drain before quoting it
          setImmediate(() => reject(new Error(server.exitReason() ?? `${label} exited`)));
        });
      });
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** Why the server is gone, or undefined while it runs. */
  exitReason(): string | undefined {
    if (this.exitText === undefined && (this.child.exitCode !== null || this.child.signalCode !== null)) {
      this.exitText = `${this.label} exited (${this.child.signalCode ?? `code ${this.child.exitCode}`})`;
    }
    return this.exitText;
  }

  /** The node process that runs the script (not a launcher in front of it), for its peak RSS. */
  scriptPid(): number | undefined {
    if (this.scriptPidCache === undefined && this.child.pid !== undefined && this.exitReason() === undefined) {
      this.scriptPidCache = findScriptProcess(this.child.pid, this.script);
    }
    return this.scriptPidCache;
  }

  async stop(): Promise<void> {
    await terminate(this.child, 10_000);
  }
}

export interface Side {
  name: SideName;
  /** Where clients run. */
  clientNamespace: string;
  /** The server's address, as clients see it. */
  host: string;
  /** Where the server runs (the client namespace for the stack, whose TUN device it owns). */
  serverNamespace: string;
  server: ServerProcess;
  /** The MTU of the server's device (the TUN device, or the kernel's veth pair). */
  mtu: number;
  /** The stack's --offload (the kernel side has its veth's offloads, always on). */
  offload: boolean;
}

/** What the stack is started with: the run's settings, or a variant's (scripts/bench.ts). */
export interface StackSettings {
  mtu: number;
  offload: boolean;
}

export interface SetupContext {
  namespaces: NamespaceSet;
  suffix: string;
  mtu: number;
  /** The stack's --offload. */
  offload: boolean;
  projectRoot: string;
  /**
   * Where the servers' compiled JavaScript is (compileServers): they run on plain node, as a
   * deployment would, not under tsx, whose loader thread alone adds about 30 MB of RSS.
   */
  compiledRoot: string;
  /** Servers started, so cleanup can stop them even when setup fails half way. */
  servers: ServerProcess[];
}

export async function setUpKernel(context: SetupContext): Promise<Side> {
  const client = `tsnbench-kc-${context.suffix}`;
  const server = `tsnbench-ks-${context.suffix}`;
  await context.namespaces.add(client);
  await context.namespaces.add(server);
  const timeout = { timeoutMs: 10_000 };
  // Made inside the client namespace with the peer put straight into the server namespace:
  // the pair never appears in the machine's own namespace.
  await must(
    run('ip', ['-n', client, 'link', 'add', VETH_CLIENT, 'type', 'veth', 'peer', 'name', VETH_SERVER, 'netns', server], timeout),
    'veth pair',
  );
  for (const [namespace, device, address] of [
    [client, VETH_CLIENT, KERNEL_CLIENT_ADDR],
    [server, VETH_SERVER, KERNEL_SERVER_ADDR],
  ] as const) {
    await must(run('ip', ['-n', namespace, 'link', 'set', device, 'mtu', String(context.mtu)], timeout), `mtu ${context.mtu} on ${device}`);
    await must(run('ip', ['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', device], timeout), `address on ${device}`);
    await must(run('ip', ['-n', namespace, 'link', 'set', device, 'up'], timeout), `${device} up`);
  }
  const serverProcess = await ServerProcess.start(
    'kernel demo server',
    server,
    process.execPath,
    `${context.compiledRoot}scripts/kernel-demo-server.js`,
    ['--addr', KERNEL_SERVER_ADDR, '--log', 'warn'],
    context.projectRoot,
    30_000,
  );
  context.servers.push(serverProcess);
  return {
    name: 'kernel',
    clientNamespace: client,
    host: KERNEL_SERVER_ADDR,
    serverNamespace: server,
    server: serverProcess,
    mtu: context.mtu,
    offload: true,
  };
}

/** Set the MTU of the kernel side's veth pair (both ends); the demo server keeps running. */
export async function setKernelMtu(side: Side, mtu: number): Promise<Side> {
  for (const [namespace, device] of [
    [side.clientNamespace, VETH_CLIENT],
    [side.serverNamespace, VETH_SERVER],
  ] as const) {
    await must(run('ip', ['-n', namespace, 'link', 'set', device, 'mtu', String(mtu)], { timeoutMs: 10_000 }), `mtu ${mtu} on ${device}`);
  }
  return { ...side, mtu };
}

export async function setUpStack(context: SetupContext): Promise<Side> {
  const namespace = `tsnbench-s-${context.suffix}`;
  await context.namespaces.add(namespace);
  return startStack(context, namespace, { mtu: context.mtu, offload: context.offload });
}

/** Stop the stack's CLI (its device goes with it) and start it again in its namespace with `settings`. */
export async function restartStack(context: SetupContext, side: Side, settings: StackSettings): Promise<Side> {
  await side.server.stop();
  return startStack(context, side.serverNamespace, settings);
}

async function startStack(context: SetupContext, namespace: string, { mtu, offload }: StackSettings): Promise<Side> {
  const serverProcess = await ServerProcess.start(
    'stack CLI',
    namespace,
    process.execPath,
    `${context.compiledRoot}scripts/cli.js`,
    [
      '--tun',
      STACK_TUN,
      '--host-addr',
      `${STACK_HOST_ADDR}/24`,
      '--addr',
      STACK_ADDR,
      '--mtu',
      String(mtu),
      '--offload',
      offload ? 'on' : 'off',
      '--log',
      'warn',
    ],
    context.projectRoot,
    30_000,
    CLI_NODE_FLAGS,
  );
  context.servers.push(serverProcess);
  return { name: 'stack', clientNamespace: namespace, host: STACK_ADDR, serverNamespace: namespace, server: serverProcess, mtu, offload };
}

/**
 * Compile src and scripts (tsconfig.bench.json) into `compiledRoot` under the project, where
 * node finds the project's node_modules, with the runtime files tsc does not copy (the TUN
 * worker, plain JavaScript).
 */
export async function compileServers(projectRoot: string, compiledRoot: string): Promise<void> {
  rmSync(compiledRoot, { recursive: true, force: true });
  await must(
    run(`${projectRoot}node_modules/.bin/tsc`, ['-p', `${projectRoot}tsconfig.bench.json`], { timeoutMs: 180_000 }),
    'tsc -p tsconfig.bench.json',
  );
  copyFileSync(`${projectRoot}src/tun/tun-worker.mjs`, `${compiledRoot}src/tun/tun-worker.mjs`);
}

/**
 * A path on which packets are lost at random, in both directions, where neither end can see it.
 *
 * The client runs in its own namespace and reaches the server through the side's client namespace,
 * which forwards; the nftables rules drop in that namespace's FORWARD hook, on the server's device
 * (the TUN device for the stack, the veth for the kernel). A drop in the sender's own OUTPUT hook
 * would not do: the kernel reports it to the sending socket as a local error, and TCP just sends
 * again, without any loss recovery. GSO is limited to one segment per packet on the devices that
 * carry TCP data (`gso_max_segs 1`), so each rule decision is one wire packet, not a 64 KB burst.
 */
export interface LossyPath {
  /** Where the client runs. */
  clientNamespace: string;
  /** The server's address, as the client sees it. */
  host: string;
  /** Drop `percent` % of the packets in each direction from now on (replaces the previous rate). */
  setLoss(percent: number): Promise<void>;
  /** Remove the rules: nothing is dropped any more. */
  clearLoss(): Promise<void>;
}

function lossRules(device: string, percent: number): string {
  return [
    `table inet ${LOSS_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    oifname "${device}" numgen random mod 100 < ${percent} counter drop`,
    `    iifname "${device}" numgen random mod 100 < ${percent} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Build the lossy path of `side` (see LossyPath); everything lives in namespaces `context` removes. */
export async function setUpLossyPath(context: SetupContext, side: Side): Promise<LossyPath> {
  const router = side.clientNamespace;
  const client = `tsnbench-${side.name === 'stack' ? 'sl' : 'kl'}-${context.suffix}`;
  const subnet = side.name === 'stack' ? '10.0.2' : '10.0.3';
  const serverDevice = side.name === 'stack' ? STACK_TUN : VETH_CLIENT;
  const timeout = { timeoutMs: 10_000 };
  await context.namespaces.add(client);
  await must(
    run(
      'ip',
      ['-n', client, 'link', 'add', VETH_LOSSY_CLIENT, 'type', 'veth', 'peer', 'name', VETH_LOSSY_ROUTER, 'netns', router],
      timeout,
    ),
    'lossy veth pair',
  );
  for (const [namespace, device, address] of [
    [client, VETH_LOSSY_CLIENT, `${subnet}.1`],
    [router, VETH_LOSSY_ROUTER, `${subnet}.2`],
  ] as const) {
    await must(
      run('ip', ['-n', namespace, 'link', 'set', device, 'mtu', String(context.mtu), 'gso_max_segs', '1'], timeout),
      `mtu and gso on ${device}`,
    );
    await must(run('ip', ['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', device], timeout), `address on ${device}`);
    await must(run('ip', ['-n', namespace, 'link', 'set', device, 'up'], timeout), `${device} up`);
  }
  const serverSubnet = side.host.replace(/\.\d+$/, '.0/24');
  await must(run('ip', ['-n', client, 'route', 'add', serverSubnet, 'via', `${subnet}.2`], timeout), 'route to the server');
  await must(nsRun(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'], timeout), `forwarding in ${router}`);
  if (side.name === 'kernel') {
    // The kernel server answers the lossy client through the router, with one segment per packet.
    const server = side.serverNamespace;
    await must(run('ip', ['-n', server, 'route', 'add', `${subnet}.0/24`, 'via', KERNEL_CLIENT_ADDR], timeout), 'route back to the client');
    await must(run('ip', ['-n', server, 'link', 'set', VETH_SERVER, 'gso_max_segs', '1'], timeout), `gso on ${VETH_SERVER}`);
    await must(run('ip', ['-n', router, 'link', 'set', VETH_CLIENT, 'gso_max_segs', '1'], timeout), `gso on ${VETH_CLIENT}`);
  }
  // The stack runs with --offload off here (measureLoss in scripts/bench.ts), so it sends one
  // segment per packet, and the kernel gives its TUN device no GSO packets either; replies to any
  // address go into its TUN device, where the router's kernel forwards them.
  const clearLoss = async () => {
    const listed = await nsRun(router, 'nft', ['list', 'tables'], timeout);
    if (!listed.stdout.includes(`inet ${LOSS_TABLE}`)) return;
    await must(nsRun(router, 'nft', ['delete', 'table', 'inet', LOSS_TABLE], timeout), `nft delete table in ${router}`);
  };
  return {
    clientNamespace: client,
    host: side.host,
    async setLoss(percent) {
      await clearLoss();
      await must(nsRun(router, 'nft', ['-f', '-'], { ...timeout, input: lossRules(serverDevice, percent) }), `nft loss rules in ${router}`);
    },
    clearLoss,
  };
}
