/**
 * Dial a UDP server from the stack and print its answer: Go's net.Dial("udp", ...).
 *
 *   sudo npx tsx scripts/examples/udp-client.ts --connect 10.0.0.1:9000 --message hi [stack flags]
 */
import { dial } from '../../src/api/net.js';
import { runExample } from '../stack-flags.js';

const flags = {
  connect: { type: 'string', default: '10.0.0.1:9000' },
  message: { type: 'string', default: 'hello' },
  timeout: { type: 'string', default: '5000' },
} as const;

await runExample('udp-client.ts [--connect ADDR] [--message TEXT] [--timeout MS]', flags, async (options) => {
  const conn = await dial('udp', options.connect as string);
  await conn.write(new TextEncoder().encode(options.message as string));
  const buffer = new Uint8Array(65536);
  const n = await conn.read(buffer, { signal: AbortSignal.timeout(Number(options.timeout)) });
  console.log(`Received data: ${Buffer.from(buffer.subarray(0, n)).toString()}`);
  conn.close();
});
