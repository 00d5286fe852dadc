/**
 * Port of the Go TCP server (docs/ARCHITECTURE.md, "Example programs"): listen on :8080, accept
 * one connection, read a line, print it, answer "Hello, client!\n", close. It brings up its own
 * stack on a TUN device (the stack flags of `npm start`, defaults tun0 / 10.0.0.1/24 / 10.0.0.2).
 *
 *   sudo npx tsx scripts/examples/tcp-server.ts [--listen :8080] [stack flags]
 */
import { createInterface } from 'node:readline';
import { toDuplex } from '../../src/api/duplex.js';
import { listen } from '../../src/api/net.js';
import { runExample } from '../stack-flags.js';

await runExample('tcp-server.ts [--listen ADDR]', { listen: { type: 'string', default: ':8080' } }, async (options) => {
  // net.Listen("tcp", ":8080")
  const listener = await listen('tcp', options.listen as string);
  console.log(`listening on ${listener.addr}`);
  // listener.Accept()
  const conn = await listener.accept();
  listener.close();
  // bufio.NewReader(conn).ReadString('\n'): readline over the connection's Duplex stream, which
  // keeps our side open after the peer's FIN, as a Go conn does (allowHalfOpen)
  const lines = createInterface({ input: toDuplex(conn, { allowHalfOpen: true }), crlfDelay: Infinity });
  const first = await lines[Symbol.asyncIterator]().next();
  if (first.done) throw new Error('connection closed before a line arrived');
  console.log('Received data:', first.value);
  // conn.Write([]byte("Hello, client!\n"))
  await conn.write(new TextEncoder().encode('Hello, client!\n'));
  lines.close();
  conn.close();
});
