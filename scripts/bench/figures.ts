/**
 * The benchmark's figures (docs/ARCHITECTURE.md, "The benchmark contract"). Each one is measured
 * the same way on both sides, by real clients (ping, curl, a node TCP echo client) running in the
 * side's client namespace; a figure's `measure` resolves with the value or throws with a one-line
 * reason.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { nsRun, type LossyPath, type Side } from './netns.js';
import { statusKb, type RunResult } from './proc.js';

export interface BenchSettings {
  mtu: number;
  quick: boolean;
  downloadBytes: number;
  uploadBytes: number;
  uploadFile: string;
  uploadSha256: string;
  pingCount: number;
  rpsRequests: number;
  echoCount: number;
  /** Bytes each way of the loss figures' echo, and the most each transfer may take. */
  lossBytes: number;
  lossTimeoutMs: number;
  tsx: string;
  projectRoot: string;
  tmpDir: string;
}

export interface Figure {
  name: string;
  unit: string;
  /** How it is measured, for the output's header. */
  method: string;
  measure(side: Side, settings: BenchSettings): Promise<number | Reading>;
}

/** A figure's value with a few counts printed beside it (the loss figures' RTOs). */
export interface Reading {
  value: number;
  notes: Record<string, number>;
}

/** The figures measured on a side's lossy path (setUpLossyPath) instead of its clean one. */
export interface LossFigure extends Omit<Figure, 'measure'> {
  measure(side: Side, path: LossyPath, settings: BenchSettings): Promise<Reading>;
}

/** 1 MB = 10^6 bytes throughout. */
export const MB = 1e6;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function describeFailure(what: string, result: RunResult): string {
  const how = result.timedOut
    ? `timed out after ${(result.elapsedMs / 1000).toFixed(1)} s`
    : result.signal
      ? `killed by ${result.signal}`
      : `exit ${result.code}`;
  const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-2).join(' | ');
  return `${what} ${how}${detail ? `: ${detail.slice(0, 300)}` : ''}`;
}

function curl(side: Side, args: string[], timeoutMs: number, input?: string): Promise<RunResult> {
  return nsRun(side.clientNamespace, 'curl', ['-sS', ...args], { timeoutMs, input });
}

const pingRtt: Figure = {
  name: 'ping_rtt_us',
  unit: 'µs',
  method: 'median of the per-reply times of `ping -c N -i 0.01`',
  async measure(side, settings) {
    const result = await nsRun(
      side.clientNamespace,
      'ping',
      ['-n', '-c', String(settings.pingCount), '-i', '0.01', '-W', '2', '-w', '30', side.host],
      { timeoutMs: 40_000 },
    );
    const times = [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1]) * 1000);
    if (times.length < Math.ceil(settings.pingCount / 2))
      throw new Error(describeFailure(`ping got ${times.length}/${settings.pingCount} replies;`, result));
    return median(times);
  },
};

const download: Figure = {
  name: 'download_mb_s',
  unit: 'MB/s',
  method: "`curl -o /dev/null -w '%{speed_download}' http://HOST/bytes/N`, size checked",
  async measure(side, settings) {
    const n = settings.downloadBytes;
    // Enough for 4 MB/s; below 100 kB/s for 10 s is a stall.
    const maxTime = Math.max(30, Math.ceil(n / 4e6));
    const result = await curl(
      side,
      [
        '-o',
        '/dev/null',
        '--max-time',
        String(maxTime),
        '--speed-limit',
        '100000',
        '--speed-time',
        '10',
        '-w',
        '%{http_code} %{size_download} %{speed_download}',
        `http://${side.host}/bytes/${n}`,
      ],
      (maxTime + 10) * 1000,
    );
    const [status, size, speed] = result.stdout.trim().split(' ').map(Number);
    if (result.code !== 0) {
      const partial =
        size !== undefined && speed !== undefined && Number.isFinite(size)
          ? ` (${size} of ${n} bytes at ${(speed / MB).toFixed(2)} MB/s)`
          : '';
      throw new Error(describeFailure(`curl${partial}`, result));
    }
    if (status !== 200) throw new Error(`HTTP status ${status}`);
    if (size !== n) throw new Error(`received ${size} bytes, expected ${n}`);
    return speed! / MB;
  },
};

const upload: Figure = {
  name: 'upload_mb_s',
  unit: 'MB/s',
  method: "`curl --data-binary @file http://HOST/upload -w '%{speed_upload}'`, the server's byte count and sha256 checked",
  async measure(side, settings) {
    const n = settings.uploadBytes;
    const maxTime = Math.max(30, Math.ceil(n / 2e6));
    const result = await curl(
      side,
      [
        '--max-time',
        String(maxTime),
        '--speed-limit',
        '100000',
        '--speed-time',
        '10',
        '-H',
        'Expect:',
        '-H',
        'Content-Type: application/octet-stream',
        '--data-binary',
        `@${settings.uploadFile}`,
        '-w',
        '\n%{http_code} %{size_upload} %{speed_upload}',
        `http://${side.host}/upload`,
      ],
      (maxTime + 10) * 1000,
    );
    if (result.code !== 0) throw new Error(describeFailure('curl', result));
    const lines = result.stdout.trim().split('\n');
    const [status, , speed] = (lines.pop() ?? '').split(' ').map(Number);
    if (status !== 200) throw new Error(`HTTP status ${status}`);
    const reply = lines.join('\n').trim();
    const expected = `${n} ${settings.uploadSha256}`;
    if (reply !== expected)
      throw new Error(`server reported "${reply.slice(0, 100)}", expected "${n} ${settings.uploadSha256.slice(0, 16)}..."`);
    return speed! / MB;
  },
};

/**
 * One curl process fetching GET / `count` times: the URLs come from a config file on stdin, and
 * `-w '%{http_code} %{num_connects}'` shows for each transfer whether it opened a connection.
 */
async function httpRps(side: Side, settings: BenchSettings, newConnections: boolean): Promise<number> {
  const count = settings.rpsRequests;
  const config: string[] = [];
  if (newConnections) config.push('header = "Connection: close"');
  for (let i = 0; i < count; i++) config.push(`url = "http://${side.host}/"`, 'output = "/dev/null"');
  const result = await curl(
    side,
    ['--max-time', '10', '-w', '%{http_code} %{num_connects} %{time_total}\\n', '-K', '-'],
    120_000,
    config.join('\n') + '\n',
  );
  if (result.code !== 0) throw new Error(describeFailure('curl', result));
  const rows = result.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number));
  if (rows.length !== count) throw new Error(`curl reported ${rows.length} transfers, expected ${count}`);
  const bad = rows.filter(([status]) => status !== 200).length;
  if (bad > 0) throw new Error(`${bad} of ${count} responses were not 200`);
  const connects = rows.reduce((sum, row) => sum + (row[1] ?? 0), 0);
  if (newConnections && connects !== count) throw new Error(`curl opened ${connects} connections for ${count} requests, expected one each`);
  if (!newConnections && connects !== 1)
    throw new Error(`curl opened ${connects} connections for ${count} keep-alive requests, expected 1`);
  // curl's own per-transfer times, so the process's start-up and exit are not counted
  const seconds = rows.reduce((sum, row) => sum + (row[2] ?? 0), 0);
  if (!(seconds > 0)) throw new Error('curl reported no transfer times');
  return count / seconds;
}

const rpsKeepAlive: Figure = {
  name: 'http_rps_keepalive',
  unit: 'req/s',
  method:
    "one curl process, N x GET / on one keep-alive connection (num_connects checked = 1); requests / the sum of curl's per-transfer time_total",
  measure: (side, settings) => httpRps(side, settings, false),
};

const rpsNewConnection: Figure = {
  name: 'http_rps_new_conn',
  unit: 'req/s',
  method:
    "one curl process, N x GET / each with 'Connection: close' so the server closes and curl reconnects (num_connects checked = 1 per request); requests / the sum of time_total",
  measure: (side, settings) => httpRps(side, settings, true),
};

const echoRtt: Figure = {
  name: 'tcp_echo_rtt_us',
  unit: 'µs',
  method:
    'scripts/bench/echo-client.ts: one TCP_NODELAY connection to port 7, 64 bytes out and back, median of N rounds (after 50 warm-up rounds)',
  async measure(side, settings) {
    const result = await nsRun(
      side.clientNamespace,
      settings.tsx,
      [
        `${settings.projectRoot}scripts/bench/echo-client.ts`,
        '--host',
        side.host,
        '--port',
        '7',
        '--count',
        String(settings.echoCount),
        '--size',
        '64',
        '--timeout-ms',
        '60000',
      ],
      { timeoutMs: 75_000 },
    );
    if (result.code !== 0) throw new Error(describeFailure('echo client', result));
    const parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { medianUs?: number };
    if (typeof parsed.medianUs !== 'number') throw new Error(`echo client printed no result: ${result.stdout.slice(0, 200)}`);
    return parsed.medianUs;
  },
};

/** The server's node process (the CLI / the kernel demo server, not the tsx launcher). */
function serverPid(side: Side): number {
  const pid = side.server.scriptPid();
  if (pid === undefined) throw new Error(`the ${side.name} server's node process was not found`);
  return pid;
}

function rssKb(pid: number): number {
  const kb = statusKb(pid, 'VmRSS');
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return kb;
}

function echoClientArgs(side: Side, settings: BenchSettings, port: number, timeoutMs: number, mode: string[]): string[] {
  return [
    `${settings.projectRoot}scripts/bench/echo-client.ts`,
    '--host',
    side.host,
    '--port',
    String(port),
    '--timeout-ms',
    String(timeoutMs),
    ...mode,
  ];
}

const IDLE_CONNECTIONS = 5000;
const TIME_WAIT_CONNECTIONS = 3000;

const idleConnection: Figure = {
  name: 'idle_conn_kib',
  unit: 'KiB',
  method: `${IDLE_CONNECTIONS} connections to the discard service (port 9) held open and idle by one client (echo-client.ts --hold); the server's VmRSS with them open (after 1 s) minus before, / ${IDLE_CONNECTIONS}`,
  async measure(side, settings) {
    const pid = serverPid(side);
    const readyFile = join(settings.tmpDir, `hold-ready-${side.name}`);
    const releaseFile = join(settings.tmpDir, `hold-release-${side.name}`);
    rmSync(readyFile, { force: true });
    rmSync(releaseFile, { force: true });
    const before = rssKb(pid);
    const timeoutMs = 120_000;
    const client = nsRun(
      side.clientNamespace,
      settings.tsx,
      echoClientArgs(side, settings, 9, timeoutMs, [
        '--hold',
        String(IDLE_CONNECTIONS),
        '--ready-file',
        readyFile,
        '--release-file',
        releaseFile,
      ]),
      { timeoutMs: timeoutMs + 15_000 },
    );
    let exited: RunResult | undefined;
    void client.then((result) => (exited = result));
    let perConnection: number | undefined;
    let failure: string | undefined;
    try {
      while (!existsSync(readyFile) && exited === undefined) await sleep(100);
      if (exited === undefined) {
        // Let the server settle (accept queues drained) before reading its RSS.
        await sleep(1000);
        perConnection = (rssKb(pid) - before) / IDLE_CONNECTIONS;
      }
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    writeFileSync(releaseFile, '');
    const result = await client;
    if (result.code !== 0) throw new Error(describeFailure('hold client', result));
    if (perConnection === undefined) throw new Error(failure ?? 'the hold client exited before holding its connections');
    return perConnection;
  },
};

const timeWait: Figure = {
  name: 'time_wait_3000_mib',
  unit: 'MiB',
  method:
    `${TIME_WAIT_CONNECTIONS} x GET / over HTTP/1.0 one after the other (echo-client.ts --http10), each connection closed first by the server, ` +
    `so the server holds ${TIME_WAIT_CONNECTIONS} TIME-WAITs; its VmRSS right after minus before, measured on a second such run (the first warms ` +
    'the HTTP path up: code and heap reach their working size, as any server does in its first thousands of requests)',
  async measure(side, settings) {
    const pid = serverPid(side);
    const http10 = async (): Promise<void> => {
      const result = await nsRun(
        side.clientNamespace,
        settings.tsx,
        echoClientArgs(side, settings, 80, 120_000, ['--http10', String(TIME_WAIT_CONNECTIONS)]),
        { timeoutMs: 135_000 },
      );
      if (result.code !== 0) throw new Error(describeFailure('HTTP/1.0 client', result));
    };
    await http10();
    const before = rssKb(pid);
    await http10();
    return (rssKb(pid) - before) / 1024;
  },
};

const peakRss: Figure = {
  name: 'stack_peak_rss_mb',
  unit: 'MB',
  method:
    "VmHWM of the server's node process (the CLI / the kernel demo server, compiled, on plain node), read after all the other figures",
  async measure(side) {
    const pid = side.server.scriptPid();
    if (pid === undefined) throw new Error(`the ${side.name} server's node process was not found`);
    const kb = statusKb(pid, 'VmHWM');
    if (kb === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
    return (kb * 1024) / MB;
  },
};

// The memory figures come before the peak, so the peak covers the whole benchmark.
/**
 * In this order: the memory figures come right after the warm-up, before the transfers that grow
 * each server's heap with garbage its next collection gives back (measured after them, an RSS
 * difference could come out negative); the peak comes last, over everything.
 */
export const FIGURES: Figure[] = [pingRtt, idleConnection, timeWait, download, upload, rpsKeepAlive, rpsNewConnection, echoRtt, peakRss];

/**
 * A variant of the run's settings, measured after the clean-link figures so that the effect of
 * offloads and of the MTU shows in the same run (issue 10): the stack is restarted with it, the
 * kernel's veth pair gets its MTU, and VARIANT_FIGURES are measured again on both sides, each
 * figure named with the variant's suffix (`download_mb_s_offload_off`).
 */
export interface Variant {
  suffix: string;
  /** How it differs from the run, for the output's header. */
  method: string;
  /** The stack's settings in this variant, from the run's; undefined when they are the run's own (nothing to add). */
  settings(run: { mtu: number; offload: boolean }): { mtu: number; offload: boolean } | undefined;
}

/** The jumbo MTU of issue 10's figures: nearly a whole 64 KiB TCP segment per packet, without offloads. */
const JUMBO_MTU = 65520;

/**
 * In this order: the MTU one first, so that the stack is left at the run's MTU with offloads off,
 * which is what the loss figures run it with.
 */
export const VARIANTS: Variant[] = [
  {
    suffix: `mtu${JUMBO_MTU}`,
    method: `the stack at --mtu ${JUMBO_MTU} with the run's --offload, the kernel's veth pair at the same MTU`,
    settings: (run) => (run.mtu === JUMBO_MTU ? undefined : { mtu: JUMBO_MTU, offload: run.offload }),
  },
  {
    suffix: 'offload_off',
    method: "the stack with --offload off at the run's MTU (no virtio-net header: every packet MTU-sized both ways), the kernel as before",
    settings: (run) => (run.offload ? { mtu: run.mtu, offload: false } : undefined),
  },
];

/** What each variant measures again. */
export const VARIANT_FIGURES: Figure[] = [download, upload];

/** The figure of `variant` that measures `figure` again. */
export function variantFigure(figure: Figure, variant: Variant): Figure {
  return { ...figure, name: `${figure.name}_${variant.suffix}` };
}

/** The random loss rates of the loss figures, in % of the packets in each direction. */
export const LOSS_PERCENTS = [2, 5, 10, 20] as const;

/** Two lines of /proc/net/snmp or /proc/net/netstat (`Prefix: names` then `Prefix: values`) as a map. */
function procCounters(text: string, prefix: string): Map<string, number> {
  const lines = text.split('\n').filter((line) => line.startsWith(`${prefix}: `));
  const result = new Map<string, number>();
  if (lines.length < 2) return result;
  const names = lines[0]!.split(' ').slice(1);
  const values = lines[1]!.split(' ').slice(1).map(Number);
  names.forEach((name, i) => result.set(name, values[i]!));
  return result;
}

/**
 * The server's retransmission timeouts and segments sent so far: the stack's TCP counters from
 * its /stats (fetched from its own namespace, off the lossy path); the kernel's from its server
 * namespace's /proc/net/snmp and /proc/net/netstat (OutSegs + RetransSegs, TCPTimeouts).
 */
async function serverTcpCounts(side: Side): Promise<{ timeouts: number; segmentsSent: number }> {
  if (side.name === 'stack') {
    const result = await curl(side, ['--max-time', '10', `http://${side.host}/stats`], 15_000);
    if (result.code !== 0) throw new Error(describeFailure('curl /stats', result));
    const stats = JSON.parse(result.stdout) as { counters?: { tcp?: Record<string, number> } };
    const tcp = stats.counters?.tcp ?? {};
    return { timeouts: tcp.timeouts ?? 0, segmentsSent: tcp.segments_sent ?? 0 };
  }
  const result = await nsRun(side.serverNamespace, 'cat', ['/proc/net/snmp', '/proc/net/netstat'], { timeoutMs: 10_000 });
  if (result.code !== 0) throw new Error(describeFailure('reading /proc/net/snmp', result));
  const tcp = procCounters(result.stdout, 'Tcp');
  const tcpExt = procCounters(result.stdout, 'TcpExt');
  return { timeouts: tcpExt.get('TCPTimeouts') ?? 0, segmentsSent: (tcp.get('OutSegs') ?? 0) + (tcp.get('RetransSegs') ?? 0) };
}

/** How every loss figure is measured, for the output's header (N: the figure's loss rate). */
export const LOSS_ECHO_METHOD =
  'scripts/bench/echo-client.ts --bulk: the loss echo size written to port 7 while the echo is read, every byte checked, from a client namespace ' +
  'behind a router that drops N% of the packets in each direction at random (nftables numgen in its FORWARD hook); seconds from connect to the ' +
  "server's FIN; beside it the server's RTOs and TCP segments sent during the transfer";

function lossEcho(percent: number): LossFigure {
  return {
    name: `loss_echo_${percent}pct_s`,
    unit: 's',
    method: LOSS_ECHO_METHOD,
    async measure(side, path, settings) {
      const before = await serverTcpCounts(side);
      await path.setLoss(percent);
      let result: RunResult;
      try {
        result = await nsRun(
          path.clientNamespace,
          settings.tsx,
          [
            `${settings.projectRoot}scripts/bench/echo-client.ts`,
            '--host',
            path.host,
            '--port',
            '7',
            '--bulk',
            String(settings.lossBytes),
            '--timeout-ms',
            String(settings.lossTimeoutMs),
          ],
          { timeoutMs: settings.lossTimeoutMs + 15_000 },
        );
      } finally {
        await path.clearLoss();
      }
      const after = await serverTcpCounts(side);
      const timeouts = after.timeouts - before.timeouts;
      const segmentsSent = after.segmentsSent - before.segmentsSent;
      const notes = { rtos: timeouts, segments_sent: segmentsSent };
      if (result.code !== 0) {
        throw new Error(
          `${describeFailure('echo client', result)} [${timeouts} RTOs in ${segmentsSent} segments sent by the server meanwhile]`,
        );
      }
      const parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { bytes?: number; seconds?: number };
      if (parsed.bytes !== settings.lossBytes || typeof parsed.seconds !== 'number')
        throw new Error(`echo client printed no result: ${result.stdout.slice(0, 200)}`);
      return { value: parsed.seconds, notes };
    },
  };
}

export const LOSS_FIGURES: LossFigure[] = LOSS_PERCENTS.map(lossEcho);

/**
 * Requests each side serves before anything is measured, on one keep-alive connection and on a
 * new connection each. A server is judged by its steady state, as a load test of some seconds
 * sees it: each server's JavaScript (node:http on both sides, the stack's IP and TCP besides)
 * runs slowly until V8 has compiled its hot paths. Measured on one stack process, rounds of 3000
 * keep-alive requests went 3994, 5646, 7131, 9523 req/s and then held, and rounds of 1000 new
 * connections 1150, 1913, 4013 and then about 4400, so a measurement of 500 requests straight
 * after start-up saw mostly the compiler at work. Both sides get the same.
 */
export const WARM_UP_KEEPALIVE_REQUESTS = 6000;
export const WARM_UP_NEW_CONNECTIONS = 2000;

/**
 * Before measuring: requests and transfers until both servers have JIT-compiled their hot paths
 * (above), and a content check of /bytes/N (byte i = i % 251) that the speed figures themselves
 * skip.
 */
export async function warmUp(side: Side, settings: BenchSettings): Promise<void> {
  const requests = (n: number) => Array.from({ length: n }, () => `url = "http://${side.host}/"\noutput = "/dev/null"`).join('\n') + '\n';
  const keepAlive = await curl(side, ['--max-time', '60', '-K', '-'], 70_000, requests(settings.quick ? 20 : WARM_UP_KEEPALIVE_REQUESTS));
  if (keepAlive.code !== 0) throw new Error(describeFailure('warm-up GET / (keep-alive)', keepAlive));
  if (!settings.quick) {
    const newConnections = await curl(
      side,
      ['--max-time', '60', '-K', '-'],
      70_000,
      'header = "Connection: close"\n' + requests(WARM_UP_NEW_CONNECTIONS),
    );
    if (newConnections.code !== 0) throw new Error(describeFailure('warm-up GET / (new connections)', newConnections));
  }
  const n = 4 * 1024 * 1024 + 17;
  const file = `${settings.tmpDir}/warmup-${side.name}.bin`;
  const fetched = await curl(side, ['--max-time', '60', '-o', file, `http://${side.host}/bytes/${n}`], 70_000);
  if (fetched.code !== 0) throw new Error(describeFailure('warm-up download', fetched));
  const bytes = readFileSync(file);
  if (bytes.length !== n) throw new Error(`warm-up download: ${bytes.length} bytes, expected ${n}`);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== i % 251) throw new Error(`warm-up download: byte ${i} is ${bytes[i]}, expected ${i % 251}`);
  }
  if (!settings.quick) {
    // One transfer each way as the figures make them, for the bulk paths: a 256 MiB download
    // straight after start-up went 1.9, 2.4 and 2.8 GB/s in three runs on one stack process.
    await download.measure(side, settings);
    await upload.measure(side, settings);
  }
}
