/**
 * Process helpers for the benchmark: run a command with a hard timeout, keep track of every
 * process the benchmark started (so cleanup can end exactly those, by PID), and read a process
 * tree's peak RSS from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  elapsedMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  input?: string | Buffer;
  /** The child's environment; this process's when absent. */
  env?: NodeJS.ProcessEnv;
}

/** Every child we spawned that has not exited yet. */
const live = new Set<ChildProcess>();

export function liveChildren(): ChildProcess[] {
  return [...live];
}

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Run a command to completion; never throws for a non-zero exit. SIGKILLs its process group at the timeout. */
export function run(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // Its own process group, so a timeout also ends grandchildren (tsx runs node as a child, and
    // `ip netns exec` becomes the command): killing only the direct child would leave them holding
    // the pipes open, and 'close' would never come.
    const child = track(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: options.env }));
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
        signal,
        timedOut,
        elapsedMs: performance.now() - started,
      });
    });
    child.stdin!.on('error', () => {});
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
  });
}

/** The direct children of a process (every thread's `children` list). */
function childrenOf(pid: number): number[] {
  const result = new Set<number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const task of tasks) {
    try {
      for (const word of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(/\s+/)) {
        if (word !== '') result.add(Number(word));
      }
    } catch {
      // the thread ended while we looked
    }
  }
  return [...result];
}

/** The process and all its descendants, parents before children. */
function processTree(pid: number): number[] {
  const result: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (result.includes(next)) continue;
    result.push(next);
    queue.push(...childrenOf(next));
  }
  return result;
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((word) => word !== '');
  } catch {
    return [];
  }
}

/** A field of /proc/PID/status in kB (VmHWM, VmRSS), or undefined if the process is gone. */
export function statusKb(pid: number, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * The node process that actually runs `script` under a launcher (`ip netns exec` execs tsx,
 * and tsx's CLI runs the script in a child node process): the deepest process in the tree whose
 * command line names the script.
 */
export function findScriptProcess(rootPid: number, script: string): number | undefined {
  const tree = processTree(rootPid);
  let found: number | undefined;
  for (const pid of tree) {
    if (commandLine(pid).some((word) => word.endsWith(script))) found = pid;
  }
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * End a long-running child we started: SIGTERM to it (tsx relays it to the script's process),
 * wait up to `graceMs`, then SIGKILL it and every descendant it still has, each by PID.
 */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Remember the tree (and each command line, so a reused PID is never hit) now: once the
  // launcher is gone, its orphans are re-parented.
  const tree = processTree(pid).map((member) => ({ pid: member, command: commandLine(member).join(' ') }));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
  for (const member of tree.reverse()) {
    if (member.command === '' || !isAlive(member.pid)) continue;
    if (commandLine(member.pid).join(' ') !== member.command) continue;
    try {
      process.kill(member.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (timedOut) await Promise.race([exited, sleep(2000)]);
}
