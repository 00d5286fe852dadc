/**
 * Port of the seed's Go TCP server (../shared/seed): listen on :8080, accept one connection,
 * read a line, print it, answer "Hello, client!\n", close. It brings up its own stack on a TUN
 * device (the stack flags of `npm start`, defaults tun0 / 10.0.0.1/24 / 10.0.0.2).
 *
 *   sudo npx tsx scripts/examples/tcp-server.ts [--listen :8080] [stack flags]
 */
import { createInterface } from 'node:readline';
import { toDuplex } from '../../src/api/duplex.js';
import { listen } from '../../src/api/net.js';
import { openStack } from '../../src/open.js';
import { checkPrivileges, parseStackFlags, STACK_FLAGS_USAGE } from '../stack-flags.js';

const { flags, extra } = parseStackFlags(process.argv.slice(2), `tcp-server.ts [--listen ADDR] ${STACK_FLAGS_USAGE}`, {
  listen: { type: 'string', default: ':8080' },
});
checkPrivileges();
const running = await openStack({ tun: flags.tun, hostCidr: flags.hostCidr, address: flags.addr, mtu: flags.mtu, configure: flags.configure });
let exitCode = 0;
try {
  // net.Listen("tcp", ":8080")
  const listener = await listen('tcp', extra.listen as string);
  console.log(`listening on ${listener.addr}`);
  // listener.Accept()
  const conn = await listener.accept();
  listener.close();
  // bufio.NewReader(conn).ReadString('\n') — readline over the connection's Duplex stream
  const stream = toDuplex(conn);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new Error('connection closed before a line arrived');
  console.log('Received data:', first.value);
  // conn.Write([]byte("Hello, client!\n"))
  await conn.write(new TextEncoder().encode('Hello, client!\n'));
  lines.close();
  conn.close();
} catch (error) {
  console.error('Error:', error instanceof Error ? error.message : String(error));
  exitCode = 1;
} finally {
  await running.close();
}
process.exit(exitCode);
