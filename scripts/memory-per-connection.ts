/**
 * What an idle established connection costs in memory, without root: two stacks joined in memory,
 * N connections from A to a discard service on B (each server connection parked in a read, as the
 * demo's TCP 9 does), then the heap and array-buffer growth after a full GC, per connection (both
 * ends counted: one client and one server connection per pair, so the figure is per end).
 *
 *   node --expose-gc --import tsx scripts/memory-per-connection.ts [N] [--breakdown]
 *
 * With --breakdown, also a heap snapshot before and after: the objects per connection end by kind
 * and constructor (count and bytes), and the boxed doubles (heap numbers) by the class holding them.
 *
 * The benchmark's `idle_conn_kib` measures the same through the TUN device against the kernel.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { listen, dial } from '../src/api/net.js';
import type { TcpConn } from '../src/api/tcp.js';
import { memoryLinkPair } from '../src/link/link.js';
import { Stack } from '../src/stack.js';

const args = process.argv.slice(2);
const breakdown = args.includes('--breakdown');
const count = Number(args.find((arg) => !arg.startsWith('--')) ?? 2000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || !Number.isInteger(count) || count <= 0) {
  console.error('usage: node --expose-gc --import tsx scripts/memory-per-connection.ts [N] [--breakdown]');
  process.exit(2);
}

/** Per "kind:constructor": objects and their bytes; per holding class: heap numbers. */
interface HeapTally {
  objects: Map<string, number>;
  bytes: Map<string, number>;
  heapNumbers: Map<string, number>;
}

/**
 * The heap's tally, as one JSON string: kept between the two snapshots as Maps, the first tally
 * would show in the second as per-connection arrays and strings of its own.
 */
function heapTally(): string {
  const file = writeHeapSnapshot(join(tmpdir(), `memory-per-connection-${process.pid}.heapsnapshot`));
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  rmSync(file);
  const { node_fields: nodeFields, node_types: nodeTypes, edge_fields: edgeFields } = snapshot.snapshot.meta;
  const { nodes, edges, strings } = snapshot;
  const [type, name, size, edgeCount] = ['type', 'name', 'self_size', 'edge_count'].map((field) => nodeFields.indexOf(field)) as [
    number,
    number,
    number,
    number,
  ];
  const to = edgeFields.indexOf('to_node');
  const tally: HeapTally = { objects: new Map(), bytes: new Map(), heapNumbers: new Map() };
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  let edge = 0;
  for (let node = 0; node < nodes.length; node += nodeFields.length) {
    const key = `${nodeTypes[0][nodes[node + type]!]}:${strings[nodes[node + name]!]}`;
    add(tally.objects, key, 1);
    add(tally.bytes, key, nodes[node + size]!);
    for (let i = 0; i < nodes[node + edgeCount]!; i++, edge += edgeFields.length) {
      if (nodeTypes[0][nodes[edges[edge + to]! + type]!] === 'number') add(tally.heapNumbers, strings[nodes[node + name]!]!, 1);
    }
  }
  return JSON.stringify([[...tally.objects], [...tally.bytes], [...tally.heapNumbers]]);
}

function parseTally(text: string): HeapTally {
  const [objects, bytes, heapNumbers] = JSON.parse(text) as Array<Array<[string, number]>>;
  return { objects: new Map(objects), bytes: new Map(bytes), heapNumbers: new Map(heapNumbers) };
}

function printBreakdown(beforeText: string, afterText: string, ends: number): void {
  const [before, after] = [parseTally(beforeText), parseTally(afterText)];
  const delta = (map: keyof HeapTally, key: string) => ((after[map].get(key) ?? 0) - (before[map].get(key) ?? 0)) / ends;
  const rows = [...after.bytes.keys()]
    .filter((key) => !key.includes('string:'))
    .map((key) => ({ key, bytes: delta('bytes', key), objects: delta('objects', key) }));
  console.log('bytes/end objects/end  kind:constructor (>= 16 B per end; strings left out: the tally itself is one)');
  for (const row of rows.filter((r) => r.bytes >= 16).sort((x, y) => y.bytes - x.bytes))
    console.log(`${row.bytes.toFixed(0).padStart(9)} ${row.objects.toFixed(2).padStart(11)}  ${row.key}`);
  console.log('heap numbers/end  held by');
  const numbers = [...after.heapNumbers.keys()].map((key) => ({ key, n: delta('heapNumbers', key) }));
  for (const row of numbers.filter((r) => r.n >= 0.25).sort((x, y) => y.n - x.n))
    console.log(`${row.n.toFixed(2).padStart(16)}  ${row.key}`);
}

function settle(): number {
  for (let i = 0; i < 4; i++) gc!();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const [linkA, linkB] = memoryLinkPair(1500);
const a = new Stack({ link: linkA, address: '10.0.0.1' });
const b = new Stack({ link: linkB, address: '10.0.0.2' });
const listener = await listen('tcp', ':9', { stack: b, backlog: count });
// One buffer for every reader: the bytes are thrown away, and a buffer per connection would be
// the service's memory, not the stack's.
const sink = new Uint8Array(16 * 1024);
const accepted: TcpConn[] = [];
void (async () => {
  for await (const conn of listener) {
    accepted.push(conn);
    void (async () => {
      try {
        while ((await conn.read(sink)) !== null);
      } catch {
        // closed at the end
      }
    })();
  }
})();

await new Promise((resolve) => setTimeout(resolve, 100));
const tallyBefore = breakdown ? heapTally() : undefined;
const before = settle();
const clients: TcpConn[] = [];
for (let i = 0; i < count; i++) {
  clients.push(await dial('tcp', '10.0.0.2:9', { stack: a }));
  if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
}
while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 20));
// A little traffic, as a real client sends a request: buffers that grew must shrink back once idle.
for (const conn of clients.slice(0, 16)) await conn.write(new Uint8Array(100));
await new Promise((resolve) => setTimeout(resolve, 500));
const after = settle();
const perEnd = (after - before) / (2 * count);
console.log(`connections ${count} bytes_per_connection_end ${Math.round(perEnd)} kib_per_connection_end ${(perEnd / 1024).toFixed(2)}`);
if (tallyBefore !== undefined) {
  settle();
  printBreakdown(tallyBefore, heapTally(), 2 * count);
}
for (const conn of clients) conn.destroy();
listener.close();
await a.close();
await b.close();
