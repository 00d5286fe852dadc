/**
 * Port of the Go TCP client (docs/ARCHITECTURE.md, "Example programs"): dial the server, send a
 * line, read the answer line, print it, close. It brings up its own stack on a TUN device (the
 * stack flags of `npm start`).
 *
 *   sudo npx tsx scripts/examples/tcp-client.ts --connect 10.0.0.1:8080 [stack flags]
 */
import { createInterface } from 'node:readline';
import { toDuplex } from '../../src/api/duplex.js';
import { dial } from '../../src/api/net.js';
import { runExample } from '../stack-flags.js';

const flags = {
  connect: { type: 'string', default: '10.0.0.1:8080' },
  message: { type: 'string', default: 'Hello, server!' },
} as const;

await runExample('tcp-client.ts [--connect ADDR] [--message TEXT]', flags, async (options) => {
  // net.Dial("tcp", address)
  const conn = await dial('tcp', options.connect as string, { timeout: 10_000 });
  console.log('Sending data to server...');
  // conn.Write([]byte("Hello, server!\n"))
  await conn.write(new TextEncoder().encode(`${options.message as string}\n`));
  // bufio.NewReader(conn).ReadString('\n')
  const lines = createInterface({ input: toDuplex(conn, { allowHalfOpen: true }), crlfDelay: Infinity });
  const first = await lines[Symbol.asyncIterator]().next();
  if (first.done) throw new Error('connection closed before the answer arrived');
  console.log('Received data:', first.value);
  lines.close();
  conn.close();
});
