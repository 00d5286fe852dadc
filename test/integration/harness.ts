/**
 * Integration harness: a fresh network namespace per test file, with the stack's CLI running
 * inside it on a TUN device, so real ping / curl / nc talk to the stack without touching the
 * machine's own network. Everything made here is removed in `stop()`, which tests call from
 * afterAll (and which is safe to call twice).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLI_NODE_FLAGS } from '../../scripts/cli-node-flags.js';
import { run as runCommand } from '../../scripts/bench/proc.js';

const execFileAsync = promisify(execFile);
export const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
export const tsxBin = `${projectRoot}node_modules/.bin/tsx`;

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Run a command; never throws for a non-zero exit (the result carries the code; 128 after a signal). */
export async function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  const result = await runCommand(command, args, { timeoutMs: options.timeoutMs ?? 60_000, input: options.input, env: options.env });
  return { stdout: result.stdout, stderr: result.stderr, code: result.code ?? 128 };
}

/** The user "nobody": no capabilities, no groups, no file of ours. */
const UNPRIVILEGED_ID = '65534';

/**
 * Run node as an unprivileged user (uid and gid 65534, no groups, no capabilities) on this
 * checkout's files, wherever the checkout lives.
 *
 * A clone under /root or in a `mktemp -d` folder (mode 700) is out of that user's reach, and node
 * would fail to load even tsx. So the command runs in a private mount namespace (it disappears
 * with the process) in which the checkout is bind-mounted onto a folder that everyone can
 * traverse, and it runs from there, so `--import tsx` resolves from the checkout's node_modules.
 * The process is as unprivileged as any user and runs the checkout's real files; nothing outside
 * the namespace changes. The checkout itself must be readable by others, as git clone makes it.
 *
 * `nodeArgs` receives the checkout's path as the process sees it (with a trailing slash).
 */
export async function runNodeUnprivileged(
  nodeArgs: (checkout: string) => string[],
  options: { timeoutMs?: number } = {},
): Promise<ExecResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsn-unprivileged-'));
  try {
    chmodSync(dir, 0o755);
    const checkout = join(dir, 'checkout');
    mkdirSync(checkout);
    // In the new mount namespace: show the checkout at `checkout`, work from there, then drop to
    // the unprivileged user and exec node.
    const bindCheckout = ['sh', '-c', 'mount --bind "$1" "$2" && cd "$2" && shift 2 && exec "$@"', 'sh', projectRoot, checkout];
    const dropPrivileges = ['setpriv', `--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, '--clear-groups', '--'];
    const command = [...bindCheckout, ...dropPrivileges, process.execPath, ...nodeArgs(`${checkout}/`)];
    // The user's own HOME (/root) is out of its reach too.
    const env = { ...process.env, HOME: dir };
    return await run('unshare', ['--mount', '--propagation', 'private', '--', ...command], { timeoutMs: options.timeoutMs, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface StackInNamespace {
  namespace: string;
  tun: string;
  hostAddress: string;
  stackAddress: string;
  /** Output of the CLI so far. */
  output(): { stdout: string; stderr: string };
  /** PID of the process spawned for the CLI (`ip netns exec`, which execs tsx); see stackProcessId. */
  cliPid: number;
  /** Run a command inside the namespace. */
  exec: (command: string, args: string[], options?: { timeoutMs?: number; input?: string | Buffer }) => Promise<ExecResult>;
  /** Run a command inside the namespace and return a handle to the process (the caller ends it). */
  spawn: (command: string, args: string[]) => ChildProcess;
  /** Fetch /stats from the stack's HTTP service. */
  stats(): Promise<{ counters: Record<string, Record<string, number>>; tcp: { connections: number } }>;
  /** SIGTERM the CLI and wait for it to exit; returns its exit code and output. */
  stopStack(): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Stop the stack if running and delete the namespace. */
  stop(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

export interface Namespace {
  name: string;
  exec: (command: string, args: string[], options?: { timeoutMs?: number; input?: string | Buffer }) => Promise<ExecResult>;
  /** Start a long-running process inside the namespace; `stop()` ends it if still running. */
  spawn: (command: string, args: string[]) => ChildProcess;
  /** Run a project script with tsx inside the namespace. */
  tsx(script: string, args: string[], options?: { timeoutMs?: number; input?: string | Buffer }): Promise<ExecResult>;
  /** End every process spawned here and delete the namespace. Safe to call twice. */
  stop(): Promise<void>;
}

/** A fresh, empty network namespace (loopback up) for one test file. */
export async function createNamespace(prefix = 'tsnit-'): Promise<Namespace> {
  const name = uniqueName(prefix);
  await execFileAsync('ip', ['netns', 'add', name]);
  await execFileAsync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  const children: ChildProcess[] = [];
  const exec = (command: string, args: string[], options?: { timeoutMs?: number; input?: string | Buffer }) =>
    run('ip', ['netns', 'exec', name, command, ...args], options);
  return {
    name,
    exec,
    spawn(command, args) {
      const child = spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: projectRoot });
      children.push(child);
      recordOutput(child);
      return child;
    },
    tsx: (script, args, options) => exec(tsxBin, [`${projectRoot}${script}`, ...args], options),
    async stop() {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(killer);
        }
      }
      await run('ip', ['netns', 'del', name]);
    },
  };
}

/** Everything each spawned process printed so far (stdout and stderr interleaved). */
const outputs = new WeakMap<ChildProcess, { text: string }>();

function recordOutput(child: ChildProcess): void {
  const record = { text: '' };
  outputs.set(child, record);
  child.stdout?.on('data', (chunk: Buffer) => (record.text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (record.text += chunk.toString()));
}

/** Wait until `child` (spawned through this harness) has printed something matching `pattern`. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const record = outputs.get(child);
  if (record === undefined) throw new Error('waitForOutput: process was not spawned through the harness');
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(record.text)) return false;
      cleanup();
      resolve(record.text);
      return true;
    };
    const onExit = (code: number | null) => {
      setImmediate(() => {
        if (!check()) {
          cleanup();
          reject(new Error(`process exited (${code}) before ${pattern}; output: ${record.text}`));
        }
      });
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output: ${record.text}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    if (check()) return;
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode);
    else child.once('exit', onExit);
  });
}

export interface StartOptions {
  mtu?: number;
  extraFlags?: string[];
}

/** Create a namespace, start the CLI inside it and wait for its `ready` line. */
export async function startStackInNamespace(options: StartOptions = {}): Promise<StackInNamespace> {
  const ns = await createNamespace();
  const tun = 'tsn0';
  const hostAddress = '10.0.0.1';
  const stackAddress = '10.0.0.2';
  const cli = ns.spawn(tsxBin, [
    ...CLI_NODE_FLAGS,
    `${projectRoot}scripts/cli.ts`,
    '--tun',
    tun,
    '--host-addr',
    `${hostAddress}/24`,
    '--addr',
    stackAddress,
    '--mtu',
    String(options.mtu ?? 1500),
    '--log',
    'warn',
    ...(options.extraFlags ?? []),
  ]);
  // Kept apart (the shared record interleaves them): the ready line is on stdout, the shutdown
  // counters on stderr.
  let stdout = '';
  let stderr = '';
  cli.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  cli.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
  try {
    await waitForOutput(cli, /^ready /m, 30_000);
  } catch (error) {
    await ns.stop();
    throw error;
  }

  const stopStack = async () => {
    if (cli.exitCode === null && cli.signalCode === null) {
      cli.kill('SIGTERM');
      const killer = setTimeout(() => cli.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    return { code: await exited, stdout, stderr };
  };

  return {
    namespace: ns.name,
    tun,
    hostAddress,
    stackAddress,
    output: () => ({ stdout, stderr }),
    cliPid: cli.pid!,
    exec: ns.exec,
    spawn: ns.spawn,
    async stats() {
      const result = await ns.exec('curl', ['-sS', '--max-time', '10', `http://${stackAddress}/stats`]);
      if (result.code !== 0) throw new Error(`curl /stats failed: ${result.stderr}`);
      return JSON.parse(result.stdout) as { counters: Record<string, Record<string, number>>; tcp: { connections: number } };
    },
    stopStack,
    async stop() {
      await stopStack();
      await ns.stop();
    },
  };
}

/** Parse the counters the CLI prints on shutdown ("layer: key=value ..."). */
export function parseShutdownCounters(stderr: string): Record<string, Record<string, number>> {
  const result: Record<string, Record<string, number>> = {};
  const start = stderr.indexOf('counters:\n');
  if (start < 0) return result;
  for (const line of stderr.slice(start + 'counters:\n'.length).split('\n')) {
    const match = /^(\w+): (.*)$/.exec(line);
    if (!match) continue;
    const values: Record<string, number> = {};
    for (const pair of match[2]!.split(' ')) {
      const [key, value] = pair.split('=');
      if (key && value !== undefined) values[key] = Number(value);
    }
    result[match[1]!] = values;
  }
  return result;
}

/**
 * The PID of the stack's own node process: tsx runs the CLI in a child node process, so it is the
 * deepest process under the CLI's spawn.
 */
export function stackProcessId(env: StackInNamespace): number {
  let pid = env.cliPid;
  for (;;) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    if (children === '') return pid;
    pid = Number(children.split(/\s+/)[0]);
  }
}

/** VmRSS of a process in KiB (/proc/PID/status). */
export function residentKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}
