/**
 * TCP echo client for the benchmark (run inside the client namespace):
 *
 *   tsx scripts/bench/echo-client.ts --host IP [--port 7] [--count 1000] [--size 64] [--warmup 50] [--timeout-ms 60000]
 *   tsx scripts/bench/echo-client.ts --host IP [--port 7] --bulk BYTES [--timeout-ms 60000]
 *
 * Round trips (the default): one connection with TCP_NODELAY; `warmup + count` times: send `size`
 * bytes, wait until the same `size` bytes have come back (checked), and time it. Prints one JSON
 * line `{"count", "medianUs", "p90Us", "minUs", "maxUs"}` over the timed rounds.
 *
 * Bulk (`--bulk BYTES`): one connection; writes BYTES of random data (as fast as the socket
 * takes them) while reading the echo at the same time, checks every echoed byte against what was
 * sent, half-closes, and waits for the server's FIN. Prints one JSON line `{"bytes", "seconds"}`:
 * the time from the connect call to the FIN after the last byte.
 *
 * Hold (`--hold N --ready-file F --release-file G`, for idle_conn_kib): opens N connections to the
 * port (100 connecting at a time), writes F once all are established, keeps them open and idle
 * until G exists, then closes them. Prints `{"held"}`.
 *
 * HTTP/1.0 (`--http10 N`, for time_wait_3000_mib): N requests `GET /` one after the other, each on
 * a new connection that the server closes first (HTTP/1.0 without keep-alive), every status
 * checked to be 200. Prints `{"requests", "seconds"}`.
 *
 * Exits 1 on any error, on a byte that differs, and when not done within `--timeout-ms`.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

function fail(message: string): never {
  process.stderr.write(`echo-client: ${message}\n`);
  process.exit(1);
}

function positive(text: string | undefined, flag: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text ?? '') || value < min) fail(`${flag} ${text}: expected an integer >= ${min}`);
  return value;
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '7' },
    count: { type: 'string', default: '1000' },
    size: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '50' },
    'timeout-ms': { type: 'string', default: '60000' },
    bulk: { type: 'string' },
    hold: { type: 'string' },
    'ready-file': { type: 'string' },
    'release-file': { type: 'string' },
    http10: { type: 'string' },
  },
});
if (!values.host) fail('--host is required');
const host = values.host;
const port = positive(values.port, '--port', 1);
const count = positive(values.count, '--count', 1);
const size = positive(values.size, '--size', 1);
const warmup = positive(values.warmup, '--warmup', 0);
const timeoutMs = positive(values['timeout-ms'], '--timeout-ms', 1);
const bulkBytes = values.bulk === undefined ? undefined : positive(values.bulk, '--bulk', 1);
const holdCount = values.hold === undefined ? undefined : positive(values.hold, '--hold', 1);
const http10Count = values.http10 === undefined ? undefined : positive(values.http10, '--http10', 1);
if (holdCount !== undefined && (values['ready-file'] === undefined || values['release-file'] === undefined)) {
  fail('--hold needs --ready-file and --release-file');
}

let progressText = '';
const deadline = setTimeout(() => fail(`not done within ${timeoutMs} ms${progressText}`), timeoutMs);

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Bulk mode: `total` bytes out while the echo comes back, every byte compared. */
async function bulk(total: number): Promise<void> {
  const data = randomBytes(total);
  const started = performance.now();
  const socket = await open();
  let written = 0;
  let received = 0;
  const report = () => (progressText = ` (${written} of ${total} bytes written, ${received} echoed)`);
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const failWith = (error: Error) => {
      if (failed) return;
      failed = true;
      socket.destroy();
      reject(error);
    };
    socket.on('data', (chunk: Buffer) => {
      if (received + chunk.length > total) return failWith(new Error(`got ${received + chunk.length} bytes back, sent ${total}`));
      if (!chunk.equals(data.subarray(received, received + chunk.length))) {
        let at = 0;
        while (chunk[at] === data[received + at]) at++;
        return failWith(new Error(`echoed byte ${received + at} differs from what was sent`));
      }
      received += chunk.length;
      report();
    });
    socket.on('end', () => {
      if (received === total) resolve();
      else failWith(new Error(`the server closed after echoing ${received} of ${total} bytes`));
    });
    socket.on('error', failWith);
    const CHUNK = 64 * 1024;
    const writeMore = () => {
      while (written < total) {
        const chunk = data.subarray(written, Math.min(total, written + CHUNK));
        written += chunk.length;
        report();
        if (!socket.write(chunk)) return socket.once('drain', writeMore);
      }
      socket.end();
    };
    writeMore();
  });
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  process.stdout.write(JSON.stringify({ bytes: total, seconds }) + '\n');
  clearTimeout(deadline);
}

/** Hold mode: `count` idle connections, open until the release file appears. */
async function hold(count: number, readyFile: string, releaseFile: string): Promise<void> {
  const sockets: Socket[] = [];
  let closedEarly = 0;
  for (let opened = 0; opened < count;) {
    const batch = Math.min(100, count - opened);
    const batchSockets = await Promise.all(Array.from({ length: batch }, () => open()));
    for (const socket of batchSockets) {
      socket.on('close', () => closedEarly++);
      socket.on('error', () => {});
      sockets.push(socket);
    }
    opened += batch;
    progressText = ` (${opened} of ${count} connections open)`;
  }
  writeFileSync(readyFile, `${count}\n`);
  while (!existsSync(releaseFile)) await sleep(100);
  if (closedEarly > 0) fail(`${closedEarly} of ${count} held connections were closed by the server`);
  for (const socket of sockets) socket.destroy();
  process.stdout.write(JSON.stringify({ held: count }) + '\n');
  clearTimeout(deadline);
}

/** One HTTP/1.0 GET / on a new connection; resolves once the server has closed it. */
function http10Request(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const head = Buffer.concat(chunks).subarray(0, 12).toString('latin1');
      socket.destroy();
      if (/^HTTP\/1\.[01] 200$/.test(head)) resolve();
      else reject(new Error(`unexpected response ${JSON.stringify(head)}`));
    });
  });
}

async function http10(count: number): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    progressText = ` (${i} of ${count} requests done)`;
    await http10Request();
  }
  process.stdout.write(JSON.stringify({ requests: count, seconds: (performance.now() - started) / 1000 }) + '\n');
  clearTimeout(deadline);
}

async function main(): Promise<void> {
  if (bulkBytes !== undefined) return bulk(bulkBytes);
  if (holdCount !== undefined) return hold(holdCount, values['ready-file']!, values['release-file']!);
  if (http10Count !== undefined) return http10(http10Count);
  const socket = await open();
  socket.setNoDelay(true);
  const message = Buffer.alloc(size);
  const received = Buffer.alloc(size);
  let have = 0;
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  socket.on('data', (chunk: Buffer) => {
    if (have + chunk.length > size) {
      failure = new Error(`got ${have + chunk.length} bytes back for a ${size}-byte message`);
    } else {
      chunk.copy(received, have);
      have += chunk.length;
    }
    if (waiter && (have === size || failure)) waiter();
  });
  const ended = (reason: string) => {
    failure ??= new Error(reason);
    waiter?.();
  };
  socket.on('error', (error) => ended(error.message));
  socket.on('end', () => ended('connection closed by the server'));

  const timesNs: bigint[] = [];
  for (let round = 0; round < warmup + count; round++) {
    for (let i = 0; i < size; i++) message[i] = (round + i) & 0xff;
    have = 0;
    const done = new Promise<void>((resolve) => (waiter = resolve));
    const start = process.hrtime.bigint();
    socket.write(message);
    await done;
    const elapsed = process.hrtime.bigint() - start;
    waiter = undefined;
    if (failure) throw failure;
    if (!received.equals(message)) throw new Error(`round ${round}: the echo differs from what was sent`);
    if (round >= warmup) timesNs.push(elapsed);
  }
  socket.end();
  socket.destroy();

  const sorted = timesNs.map((ns) => Number(ns) / 1000).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const median =
    sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  process.stdout.write(
    JSON.stringify({ count: sorted.length, medianUs: median, p90Us: at(0.9), minUs: sorted[0]!, maxUs: sorted[sorted.length - 1]! }) + '\n',
  );
  clearTimeout(deadline);
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
