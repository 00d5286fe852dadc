/**
 * What an idle established connection costs in memory, without root: two stacks joined in memory,
 * N connections from A to a discard service on B (each server connection parked in a read, as the
 * demo's TCP 9 does), then the heap and array-buffer growth after a full GC, per connection (both
 * ends counted: one client and one server connection per pair, so the figure is per end).
 *
 *   node --expose-gc --import tsx scripts/memory-per-connection.ts [N]
 *
 * The benchmark's `idle_conn_kib` measures the same through the TUN device against the kernel.
 */
import { listen, dial } from '../src/api/net.js';
import type { TcpConn } from '../src/api/tcp.js';
import { memoryLinkPair } from '../src/link/link.js';
import { Stack } from '../src/stack.js';

const count = Number(process.argv[2] ?? 2000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined || !Number.isInteger(count) || count <= 0) {
  console.error('usage: node --expose-gc --import tsx scripts/memory-per-connection.ts [N]');
  process.exit(2);
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
for (const conn of clients) conn.destroy();
listener.close();
await a.close();
await b.close();
