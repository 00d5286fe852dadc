/**
 * A kernel-side TCP client for integration tests (runs with node:net, inside the test's
 * namespace): opens connections to an echo server, sends a pattern, checks what comes back.
 *
 *   tsx echo-load.ts HOST PORT --parallel N --bytes B     N connections at once, B bytes each
 *   tsx echo-load.ts HOST PORT --sequential N             N connections one after another, 100 bytes each (60 s at most)
 * Prints one JSON line: { ok, failed, bytes, errors[], slow, slowest[] }.
 */
import { connect, type Socket } from 'node:net';

const [host, portText, mode, countText, , bytesText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);

function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buffer[i] = (i * 13 + seed) & 0xff;
  return buffer;
}

function echoOnce(size: number, seed: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const expected = pattern(size, seed);
    const socket: Socket = connect({ host: host!, port });
    const received: Buffer[] = [];
    let receivedBytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection ${seed}: timed out after ${receivedBytes}/${size} bytes`));
    }, timeoutMs);
    socket.on('connect', () => {
      socket.setNoDelay(true);
      socket.end(expected);
    });
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      receivedBytes += chunk.length;
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`connection ${seed}: ${error.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(received);
      if (all.length !== size || !all.equals(expected))
        reject(new Error(`connection ${seed}: got ${all.length} bytes, content ${all.equals(expected) ? 'same' : 'different'}`));
      else resolve(size);
    });
  });
}

async function main(): Promise<void> {
  const errors: string[] = [];
  /** Connections that took over 200 ms (a lost SYN costs a 1 s retransmission). */
  const slow: string[] = [];
  let ok = 0;
  let bytes = 0;
  if (mode === '--parallel') {
    const size = Number(bytesText);
    const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => echoOnce(size, i, 120_000)));
    for (const result of results) {
      if (result.status === 'fulfilled') {
        ok++;
        bytes += result.value;
      } else errors.push(String(result.reason instanceof Error ? result.reason.message : result.reason));
    }
  } else {
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < count && Date.now() < deadline; i++) {
      try {
        const started = Date.now();
        bytes += await echoOnce(100, i, 10_000);
        const took = Date.now() - started;
        if (took > 200) slow.push(`connection ${i}: ${took} ms`);
        ok++;
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
        if (errors.length > 3) break;
      }
    }
  }
  process.stdout.write(
    JSON.stringify({ ok, failed: errors.length, bytes, errors: errors.slice(0, 10), slow: slow.length, slowest: slow.slice(0, 10) }) + '\n',
  );
}

void main();
