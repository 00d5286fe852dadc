/**
 * The cost of the stack's connection path, without a device (issue 10's "cheap connections"
 * micro-benchmark, to guide work on it; never a test):
 *
 *   npm run bench:conn -- [--requests N] [--connections N]
 *
 * Two stacks in one process, back to back on the in-memory link (memoryLinkPair, TCP
 * super-segments on as with the TUN device's offloads): the server stack, 10.0.0.1, runs the demo
 * services exactly as the CLI does (startDemoServices: accepted connections reach node:http's
 * server through toDuplex and emit('connection')); the client stack, 10.0.0.2, dials it with the
 * stack's own API (dial, TcpConn) and writes raw HTTP/1.1 request bytes, reading each response
 * to its end by its Content-Length. Two phases, each after a warm-up of a quarter of its count
 * (so that V8 has compiled both sides before any figure):
 *
 *   - keep_alive: `GET /` requests one after another on one connection;
 *   - new_conn: per connection, dial (handshake), `GET /` with `Connection: close`, read to the
 *     server's FIN, close, and wait until the client's end is CLOSED (the server's is then in
 *     TIME-WAIT): handshake, request and teardown of both sides.
 *
 * Printed per request (keep_alive) or per connection (new_conn):
 *   - wall_us: elapsed time over the phase / count. Everything runs on this thread and the link
 *     hands packets over on setImmediate, so it is the CPU cost of both stacks, node:http and the
 *     client together, unless something waits on a timer;
 *   - p50_us: the median of the elapsed times of single requests / connections: steadier than
 *     wall_us on a shared machine, where another process taking this core inflates the mean, but
 *     blind to the occasional garbage collection that the mean includes;
 *   - cpu_us: process CPU time (user + system, every thread: V8's concurrent GC helpers too) /
 *     count: about wall_us when nothing waits and the helpers find no idle core;
 *   - heap_bytes: V8 heap allocated per request / connection by everything in the process (both
 *     stacks, node:http, the client): the growth of the heap's used size (heapUsed, read with
 *     v8.getHeapStatistics, which costs a fraction of a µs where process.memoryUsage() reads
 *     /proc for ~10 µs) across each one, over those during which no garbage collection ran (the
 *     used size did not fall; with 64 MiB of young generation, as `npm run bench:conn` runs it,
 *     nearly all; heap_from is their share), less what the two readings themselves allocate (the
 *     median growth across two readings in a row). Buffers' backing stores outside the V8 heap
 *     are not counted.
 * The figures vary with the machine and from run to run (+-30% on a shared machine); compare
 * medians of runs made one after the other.
 */
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { dial } from '../src/api/net.js';
import type { TcpConn } from '../src/api/tcp.js';
import { startDemoServices } from '../src/demo/services.js';
import { memoryLinkPair } from '../src/link/link.js';
import { silentLogger } from '../src/log.js';
import { Stack } from '../src/stack.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '20000' }, connections: { type: 'string', default: '2000' } },
  strict: true,
});
const requestCount = Number(values.requests);
const connectionCount = Number(values.connections);
// The client's ephemeral ports to one destination cycle through the range (RFC 6056 algorithm 4
// with random increments of 1..8, src/ports.ts) in about 3600 connections; beyond that new SYNs
// start meeting the server's TIME-WAIT records of earlier connections, a different path.
if (
  !Number.isInteger(requestCount) ||
  requestCount < 100 ||
  !Number.isInteger(connectionCount) ||
  connectionCount < 100 ||
  connectionCount > 2800
) {
  console.error('usage: npm run bench:conn -- [--requests N >= 100] [--connections N, 100..2800]');
  process.exit(2);
}

const SERVER = '10.0.0.1';
const CLIENT = '10.0.0.2';
const keepAliveRequest = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${SERVER}\r\n\r\n`);
const closeRequest = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${SERVER}\r\nConnection: close\r\n\r\n`);

const [serverLink, clientLink] = memoryLinkPair(1500, { tcpSegmentation: true });
const server = new Stack({ link: serverLink, address: SERVER });
const client = new Stack({ link: clientLink, address: CLIENT });
const services = await startDemoServices(server, silentLogger);

/** One buffer for every response: the client keeps nothing of what it reads. */
const buffer = new Uint8Array(64 * 1024);
const CR = 13;
const LF = 10;
const CONTENT_LENGTH = 'content-length:';

/** The Content-Length of the header block in buffer[0, end) (undefined when it has none). */
function contentLength(end: number): number | undefined {
  for (let line = 0; line < end;) {
    let next = line;
    while (next < end && buffer[next] !== LF) next++;
    let matches = next - line > CONTENT_LENGTH.length;
    for (let i = 0; matches && i < CONTENT_LENGTH.length; i++) matches = (buffer[line + i]! | 0x20) === CONTENT_LENGTH.charCodeAt(i);
    if (matches) {
      let value = 0;
      for (let i = line + CONTENT_LENGTH.length; i < next; i++) {
        const digit = buffer[i]! - 48;
        if (digit >= 0 && digit <= 9) value = value * 10 + digit;
      }
      return value;
    }
    line = next + 1;
  }
  return undefined;
}

/**
 * Read one response to its end (headers, then Content-Length bytes of body); the status must be
 * 200. The server sends nothing beyond it, so what one read returns is never part of the next.
 */
async function readResponse(conn: TcpConn): Promise<void> {
  let filled = 0;
  let total: number | undefined;
  while (total === undefined || filled < total) {
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) throw new Error(`the server ended the connection after ${filled} bytes of a response`);
    const scanFrom = Math.max(0, filled - 3);
    filled += n;
    if (total !== undefined) continue;
    for (let i = scanFrom; i + 3 < filled; i++) {
      if (buffer[i] === CR && buffer[i + 1] === LF && buffer[i + 2] === CR && buffer[i + 3] === LF) {
        const length = contentLength(i);
        if (length === undefined) throw new Error('a response without Content-Length');
        total = i + 4 + length;
        break;
      }
    }
    if (filled === buffer.length) throw new Error('a response larger than the read buffer');
  }
  // "HTTP/1.1 200"
  if (buffer[9] !== 50 || buffer[10] !== 48 || buffer[11] !== 48)
    throw new Error(`status ${new TextDecoder().decode(buffer.subarray(0, 12))}`);
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const heapUsed = () => getHeapStatistics().used_heap_size;

/** What reading heapUsed before and after a step adds to the growth between them (its result object). */
function readingBytes(): number {
  const growth = new Float64Array(101);
  for (let i = 0; i < growth.length; i++) {
    const before = heapUsed();
    growth[i] = heapUsed() - before;
  }
  return growth.sort()[growth.length >> 1]!;
}

/** Time, CPU and heap over `count` runs of `step` after `warmUp` unmeasured ones. */
async function measure(warmUp: number, count: number, step: () => Promise<void>) {
  for (let i = 0; i < warmUp; i++) await step();
  const overhead = readingBytes();
  let heapBytes = 0;
  let heapSteps = 0;
  const stepMs = new Float64Array(count);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const heapBefore = heapUsed();
    const stepStarted = performance.now();
    await step();
    stepMs[i] = performance.now() - stepStarted;
    const heapAfter = heapUsed();
    if (heapAfter >= heapBefore) {
      heapBytes += heapAfter - heapBefore;
      heapSteps++;
    }
  }
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  stepMs.sort();
  return {
    wallUs: (wallMs * 1000) / count,
    p50Us: stepMs[count >> 1]! * 1000,
    cpuUs: (cpu.user + cpu.system) / count,
    heapBytes: heapSteps > 0 ? heapBytes / heapSteps - overhead : Number.NaN,
    heapShare: heapSteps / count,
  };
}

const target = `${SERVER}:80`;
const keepAliveConn = await dial('tcp', target, { stack: client });
const keepAlive = await measure(Math.floor(requestCount / 4), requestCount, async () => {
  await keepAliveConn.write(keepAliveRequest);
  await readResponse(keepAliveConn);
});
keepAliveConn.close();

const newConnection = await measure(Math.floor(connectionCount / 4), connectionCount, async () => {
  const conn = await dial('tcp', target, { stack: client });
  await conn.write(closeRequest);
  await readResponse(conn);
  if ((await conn.read(buffer)) !== null) throw new Error('data after the response to Connection: close');
  conn.close();
  while (conn.state !== 'CLOSED') await turn();
});

const row = (name: string, count: number, figures: Awaited<ReturnType<typeof measure>>) =>
  [
    name.padEnd(10),
    String(count).padStart(6),
    figures.wallUs.toFixed(1).padStart(8),
    figures.p50Us.toFixed(1).padStart(8),
    figures.cpuUs.toFixed(1).padStart(8),
    String(Math.round(figures.heapBytes)).padStart(10),
    `${Math.round(figures.heapShare * 100)}%`.padStart(9),
  ].join(' ');
console.log(['phase     ', ' count', ' wall_us', '  p50_us', '  cpu_us', 'heap_bytes', 'heap_from'].join(' '));
console.log(row('keep_alive', requestCount, keepAlive));
console.log(row('new_conn', connectionCount, newConnection));

await services.close();
await client.close();
await server.close();
