/**
 * `npm run bench` (as root): the stack against the Linux kernel, same clients, same run
 * (docs/ARCHITECTURE.md, "The benchmark contract").
 *
 *   npm run bench -- [--mtu N] [--json FILE] [--quick] [--download-bytes N] [--upload-bytes N] [--loss-bytes N] [--no-loss]
 *                    [--only NAME[,NAME...]] [--kernel-cc NAME] [--offload on|off]
 *
 * The stack runs as the CLI on a TUN device in namespace `tsnbench-s-<rand>` (clients in the same
 * namespace, against 10.0.0.2); the kernel serves the same demo (scripts/kernel-demo-server.ts)
 * in `tsnbench-ks-<rand>`, reached over a veth pair of the same MTU from `tsnbench-kc-<rand>`.
 * Each figure is measured on the kernel, then on the stack, and printed as
 * `name value unit kernel value unit ratio stack/kernel`. The loss figures come last, after the
 * clean-link ones, each on the side's lossy path (setUpLossyPath), with the loss rules removed
 * after each transfer; for them the stack runs again with `--offload off`, so that each of its
 * segments is one packet for the drop rules, as `gso_max_segs 1` makes the kernel's. Everything made here is removed at the
 * end, on failure and on SIGINT / SIGTERM. Exit status: 0 when every figure was measured on both
 * sides, 1 when any failed, 2 for a usage error, 130 / 143 when interrupted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, writeSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FIGURES,
  LOSS_ECHO_METHOD,
  LOSS_FIGURES,
  LOSS_PERCENTS,
  MB,
  VARIANT_FIGURES,
  VARIANTS,
  variantFigure,
  warmUp,
  WARM_UP_KEEPALIVE_REQUESTS,
  WARM_UP_NEW_CONNECTIONS,
  type BenchSettings,
  type Figure,
  type LossFigure,
  type Reading,
  type Variant,
} from './bench/figures.js';
import {
  allowCongestionControl,
  compileServers,
  NamespaceSet,
  setUpKernel,
  setUpLossyPath,
  restartStack,
  setUpStack,
  setKernelMtu,
  STACK_ADDR,
  KERNEL_SERVER_ADDR,
  type LossyPath,
  type ServerProcess,
  type SetupContext,
  type Side,
  type SideName,
} from './bench/netns.js';
import { liveChildren, terminate } from './bench/proc.js';
import { formatTable, jsonReport, type FigureResult, type Measured } from './bench/report.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_MTU } from '../src/wire/ipv4.js';

const USAGE =
  'usage: npm run bench -- [--mtu N] [--json FILE] [--quick] [--download-bytes N] [--upload-bytes N] [--loss-bytes N] [--no-loss] ' +
  '[--only NAME[,NAME...]] [--kernel-cc NAME] [--offload on|off]';
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

function usageError(message: string): never {
  process.stderr.write(`error: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function byteCount(text: string, flag: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) usageError(`${flag} ${text}: expected an integer from 1 to ${max}`);
  return value;
}

function parseFlags() {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        mtu: { type: 'string', default: '1500' },
        json: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'download-bytes': { type: 'string' },
        'upload-bytes': { type: 'string' },
        'loss-bytes': { type: 'string' },
        'no-loss': { type: 'boolean', default: false },
        only: { type: 'string' },
        'kernel-cc': { type: 'string', default: 'cubic' },
        offload: { type: 'string', default: 'on' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    usageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const mtuText = values.mtu;
  const mtu = Number(mtuText);
  if (!/^\d+$/.test(mtuText) || mtu < IPV4_MIN_MTU || mtu > IPV4_MAX_DATAGRAM)
    usageError(`--mtu ${mtuText}: expected an integer from ${IPV4_MIN_MTU} to ${IPV4_MAX_DATAGRAM}`);
  const quick = values.quick;
  const variantNames = VARIANTS.flatMap((variant) => VARIANT_FIGURES.map((figure) => variantFigure(figure, variant).name));
  const known = new Set([...FIGURES.map((figure) => figure.name), ...variantNames, ...LOSS_FIGURES.map((figure) => figure.name), 'loss']);
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').filter((name) => name !== ''));
  for (const name of only ?? []) if (!known.has(name)) usageError(`--only ${name}: not a figure (${[...known].join(', ')})`);
  const kernelCc = values['kernel-cc'];
  if (!/^[a-z0-9_]+$/.test(kernelCc)) usageError(`--kernel-cc ${kernelCc}: expected an algorithm name such as cubic, reno or bbr`);
  if (values.offload !== 'on' && values.offload !== 'off') usageError(`--offload ${values.offload}: expected on or off`);
  return {
    only,
    kernelCc,
    offload: values.offload === 'on',
    mtu,
    quick,
    json: values.json,
    downloadBytes:
      values['download-bytes'] !== undefined
        ? byteCount(values['download-bytes'], '--download-bytes', 2 ** 34)
        : quick
          ? 16 * MiB
          : 256 * MiB,
    uploadBytes:
      values['upload-bytes'] !== undefined
        ? byteCount(values['upload-bytes'], '--upload-bytes', 4 * 1024 * MiB)
        : quick
          ? 8 * MiB
          : 64 * MiB,
    lossBytes: values['loss-bytes'] !== undefined ? byteCount(values['loss-bytes'], '--loss-bytes', 1024 * MiB) : quick ? 2 * MiB : 8 * MiB,
    loss: !values['no-loss'] && (only === undefined || only.has('loss') || LOSS_FIGURES.some((figure) => only.has(figure.name))),
  };
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Random bytes to a file, returning their sha256. */
function writeUploadFile(path: string, size: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    for (let left = size; left > 0;) {
      const chunk = randomBytes(Math.min(left, 4 * MiB));
      hash.update(chunk);
      writeSync(fd, chunk);
      left -= chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

let namespaces = new NamespaceSet('cubic');
const servers: ServerProcess[] = [];
let tmpDir: string | undefined;
let interrupted = false;
/** Puts the machine's tcp_allowed_congestion_control back when the run had to extend it. */
let restoreAllowedCongestionControl = (): void => {};
let cleanupPromise: Promise<void> | undefined;

/** Stop our servers and in-flight clients (by PID), delete our namespaces and temp files. Idempotent. */
function cleanup(): Promise<void> {
  cleanupPromise ??= (async () => {
    await Promise.all([...servers.map((server) => server.stop()), ...liveChildren().map((child) => terminate(child, 2000))]);
    for (const problem of await namespaces.removeAll()) progress(`cleanup: ${problem}`);
    if (tmpDir !== undefined) rmSync(tmpDir, { recursive: true, force: true });
    restoreAllowedCongestionControl();
  })();
  return cleanupPromise;
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(code));
  });
}

/** Measure one figure on one side, turning every failure into a one-line reason. */
async function measureOne(side: Side | string, measure: (side: Side) => Promise<number | Reading>): Promise<Measured> {
  if (typeof side === 'string') return { error: side };
  if (side.server.exitReason() !== undefined) return { error: side.server.exitReason() };
  try {
    const reading = await measure(side);
    return typeof reading === 'number' ? { value: reading } : reading;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const exit = side.server.exitReason();
    return { error: exit !== undefined ? `${reason}; ${exit}` : reason };
  }
}

/** The figures `--only` selects (all without it; `loss` selects every loss figure). */
function selected<T extends { name: string }>(figures: readonly T[], only: ReadonlySet<string> | undefined, loss: boolean): T[] {
  if (only === undefined) return [...figures];
  return figures.filter((figure) => only.has(figure.name) || (loss && only.has('loss')));
}

async function measureAll(
  sides: Record<SideName, Side | string>,
  settings: BenchSettings,
  figures: readonly Figure[],
): Promise<FigureResult[]> {
  const results: FigureResult[] = [];
  for (const figure of figures) {
    const result: FigureResult = { figure, stack: {}, kernel: {} };
    for (const name of ['kernel', 'stack'] as const) {
      if (interrupted) throw new Error('interrupted');
      if (typeof sides[name] !== 'string') progress(`${figure.name} on ${name}`);
      result[name] = await measureOne(sides[name], (side) => figure.measure(side, settings));
    }
    results.push(result);
  }
  return results;
}

/**
 * The variant rows, after the clean-link figures (whose peak RSS is the run's stack's): for each
 * variant with selected figures, the stack restarts with its settings and the kernel's veth pair
 * takes its MTU, both warm up, and its figures are measured on both sides. The kernel's MTU is
 * put back afterwards; the stack stays as the last variant left it (measureLoss restarts it when
 * it needs to).
 */
async function measureVariants(
  sides: Record<SideName, Side | string>,
  context: SetupContext,
  settings: BenchSettings,
  variants: ReadonlyArray<{ variant: Variant; figures: Figure[] }>,
): Promise<FigureResult[]> {
  const results: FigureResult[] = [];
  const run = { mtu: context.mtu, offload: context.offload };
  for (const { variant, figures } of variants) {
    const stackSettings = variant.settings(run)!;
    const prepared: Record<SideName, Side | string> = { ...sides };
    for (const name of ['kernel', 'stack'] as const) {
      const side = sides[name];
      if (typeof side === 'string') continue;
      progress(`setting up the ${name} side for ${variant.suffix}`);
      try {
        const changed = name === 'stack' ? await restartStack(context, side, stackSettings) : await setKernelMtu(side, stackSettings.mtu);
        sides[name] = changed;
        await warmUp(changed, settings);
        prepared[name] = changed;
      } catch (error) {
        prepared[name] = `${variant.suffix} setup failed: ${error instanceof Error ? error.message : String(error)}`;
        progress(prepared[name]);
        // A stack that did not come back is gone for the figures after this too.
        if (name === 'stack') sides.stack = prepared[name];
      }
    }
    results.push(...(await measureAll(prepared, settings, figures)));
  }
  const kernel = sides.kernel;
  if (typeof kernel !== 'string' && kernel.mtu !== context.mtu) sides.kernel = await setKernelMtu(kernel, context.mtu);
  return results;
}

/** The loss figures, after the clean ones: each side's lossy path is built first. */
async function measureLoss(
  sides: Record<SideName, Side | string>,
  context: SetupContext,
  settings: BenchSettings,
  figures: readonly LossFigure[],
): Promise<FigureResult[]> {
  const paths: Record<SideName, LossyPath | string> = { kernel: 'not started', stack: 'not started' };
  for (const name of ['kernel', 'stack'] as const) {
    const side = sides[name];
    if (typeof side === 'string') {
      paths[name] = side;
      continue;
    }
    progress(`setting up the ${name} side's lossy path`);
    try {
      // With offloads the stack's TCP sends super-segments, which the drop rules would see as
      // one packet each: the loss figures measure it without, one segment per packet.
      if (name === 'stack' && (side.offload || side.mtu !== context.mtu)) {
        const restarted = await restartStack(context, side, { mtu: context.mtu, offload: false });
        sides.stack = restarted;
        await warmUp(restarted, settings);
      }
      paths[name] = await setUpLossyPath(context, sides[name] as Side);
    } catch (error) {
      paths[name] = `lossy path setup failed: ${error instanceof Error ? error.message : String(error)}`;
      progress(paths[name]);
    }
  }
  const results: FigureResult[] = [];
  for (const figure of figures) {
    const result: FigureResult = { figure, stack: {}, kernel: {} };
    for (const name of ['kernel', 'stack'] as const) {
      if (interrupted) throw new Error('interrupted');
      const path = paths[name];
      if (typeof path === 'string') {
        result[name] = { error: path };
        continue;
      }
      progress(`${figure.name} on ${name}`);
      result[name] = await measureOne(sides[name], (side) => figure.measure(side, path, settings));
      if (result[name].error !== undefined) progress(`${figure.name} on ${name}: ${result[name].error}`);
    }
    results.push(result);
  }
  return results;
}

async function main(): Promise<number> {
  const flags = parseFlags();
  if (process.getuid?.() !== 0) usageError('must run as root (sudo npm run bench): it creates network namespaces and a TUN device');
  const started = performance.now();
  namespaces = new NamespaceSet(flags.kernelCc);
  let allowed: { added: boolean; restore: () => void };
  try {
    allowed = allowCongestionControl(flags.kernelCc);
  } catch (error) {
    usageError(`--kernel-cc ${flags.kernelCc}: ${error instanceof Error ? error.message : String(error)}`);
  }
  restoreAllowedCongestionControl = allowed.restore;
  const suffix = randomBytes(3).toString('hex');
  tmpDir = mkdtempSync(join(tmpdir(), 'tsnbench-'));
  const tsx = `${projectRoot}node_modules/.bin/tsx`;

  progress(`writing a ${flags.uploadBytes}-byte upload file`);
  const uploadFile = join(tmpDir, 'upload.bin');
  const uploadSha256 = writeUploadFile(uploadFile, flags.uploadBytes);
  const settings: BenchSettings = {
    mtu: flags.mtu,
    quick: flags.quick,
    downloadBytes: flags.downloadBytes,
    uploadBytes: flags.uploadBytes,
    uploadFile,
    uploadSha256,
    pingCount: flags.quick ? 20 : 50,
    rpsRequests: flags.quick ? 100 : 500,
    echoCount: flags.quick ? 200 : 1000,
    lossBytes: flags.lossBytes,
    lossTimeoutMs: flags.quick ? 30_000 : 90_000,
    tsx,
    projectRoot,
    tmpDir,
  };

  progress('compiling the servers (tsconfig.bench.json): they run on plain node');
  const compiledRoot = `${projectRoot}build/bench/`;
  await compileServers(projectRoot, compiledRoot);
  const context: SetupContext = { namespaces, suffix, mtu: flags.mtu, offload: flags.offload, projectRoot, compiledRoot, servers };
  const sides: Record<SideName, Side | string> = { kernel: 'not started', stack: 'not started' };
  const setUps: Array<[SideName, () => Promise<Side>]> = [
    ['kernel', () => setUpKernel(context)],
    ['stack', () => setUpStack(context)],
  ];
  for (const [name, setUp] of setUps) {
    progress(`setting up the ${name} side`);
    try {
      const side = await setUp();
      progress(`warming up the ${name} side`);
      await warmUp(side, settings);
      sides[name] = side;
    } catch (error) {
      sides[name] = `setup failed: ${error instanceof Error ? error.message : String(error)}`;
      progress(sides[name]);
    }
    if (interrupted) throw new Error('interrupted');
  }

  const figures = selected(FIGURES, flags.only, false);
  const lossFigures = flags.loss ? selected(LOSS_FIGURES, flags.only, true) : [];
  const variants = VARIANTS.filter((variant) => variant.settings(context) !== undefined)
    .map((variant) => ({
      variant,
      figures: selected(
        VARIANT_FIGURES.map((figure) => variantFigure(figure, variant)),
        flags.only,
        false,
      ),
    }))
    .filter(({ figures: chosen }) => chosen.length > 0);
  const results = await measureAll(sides, settings, figures);
  if (variants.length > 0) results.push(...(await measureVariants(sides, context, settings, variants)));
  if (lossFigures.length > 0) results.push(...(await measureLoss(sides, context, settings, lossFigures)));
  const elapsed = (performance.now() - started) / 1000;

  const lines = [
    `# tsnet-stack benchmark: mtu ${flags.mtu}, stack offloads ${flags.offload ? 'on' : 'off'}${lossFigures.length > 0 ? ' (off for the loss figures)' : ''}${flags.quick ? ' (--quick)' : ''}, ${elapsed.toFixed(0)} s; 1 MB = 10^6 bytes; ratio = stack/kernel`,
    `# stack: the CLI on TUN ${STACK_ADDR}, clients in its namespace; kernel: Linux sockets over a veth pair (${KERNEL_SERVER_ADDR}), same MTU, same node:http handler`,
    '# both servers run compiled by tsc (tsconfig.bench.json, into build/bench) on plain node, as a deployment runs them; the clients run under tsx',
    `# kernel TCP congestion control in the bench's namespaces (servers and clients): ${flags.kernelCc} (--kernel-cc; the stack's default is cubic)` +
      (allowed.added ? `, added to the machine's tcp_allowed_congestion_control for the run` : ''),
    ...figures.map((figure) => `#   ${figure.name}: ${figure.method}`),
    ...variants.map(
      ({ variant, figures: chosen }) =>
        `#   ${chosen.map((figure) => figure.name).join(', ')}: measured again after the figures above: ${variant.method}`,
    ),
    ...(lossFigures.length > 0
      ? [
          `#   loss_echo_Npct_s (N = ${LOSS_PERCENTS.join(', ')}): ${LOSS_ECHO_METHOD}`,
          `#   loss figures: each bounded at ${settings.lossTimeoutMs / 1000} s (a transfer not done by then is reported as failed); GSO limited to one segment per packet on the lossy path`,
        ]
      : []),
    ...(flags.quick
      ? []
      : [
          `#   warm-up, before any figure: each side serves ${WARM_UP_KEEPALIVE_REQUESTS} x GET / on one keep-alive connection and ${WARM_UP_NEW_CONNECTIONS} on a new connection each, and one download and one upload of the figures' sizes, so that V8 has compiled both servers' hot paths`,
        ]),
    `#   sizes: download ${settings.downloadBytes} B, upload ${settings.uploadBytes} B, ping ${settings.pingCount}, http ${settings.rpsRequests} requests, echo ${settings.echoCount} rounds` +
      (lossFigures.length > 0 ? `, loss echo ${settings.lossBytes} B each way` : ''),
    ...(['stack', 'kernel'] as const).flatMap((name) => (typeof sides[name] === 'string' ? [`# ${name}: failed (${sides[name]})`] : [])),
    ...formatTable(results, {
      stack: typeof sides.stack === 'string' ? sides.stack : undefined,
      kernel: typeof sides.kernel === 'string' ? sides.kernel : undefined,
    }),
  ];
  process.stdout.write(lines.join('\n') + '\n');

  if (flags.json !== undefined) {
    const report = jsonReport(
      flags.mtu,
      flags.quick,
      {
        downloadBytes: settings.downloadBytes,
        uploadBytes: settings.uploadBytes,
        pingCount: settings.pingCount,
        httpRequests: settings.rpsRequests,
        echoRounds: settings.echoCount,
        kernelCongestionControl: flags.kernelCc,
        stackOffload: flags.offload,
        ...(variants.length > 0 ? { variants: variants.map(({ variant }) => variant.suffix).join(',') } : {}),
        ...(lossFigures.length > 0 ? { lossEchoBytes: settings.lossBytes, lossTimeoutMs: settings.lossTimeoutMs } : {}),
        mb: `${MB} bytes`,
      },
      results,
    );
    writeFileSync(flags.json, JSON.stringify(report, null, 2) + '\n');
    progress(`wrote ${flags.json}`);
  }
  const failed = results.filter((result) => result.stack.error !== undefined || result.kernel.error !== undefined).length;
  if (failed > 0) progress(`${failed} of ${results.length} figures could not be measured on both sides`);
  return failed > 0 ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    if (!interrupted) process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    await cleanup();
    if (!interrupted) process.exit(1);
  });
