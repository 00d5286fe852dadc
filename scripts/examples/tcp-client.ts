/**
 * Port of the seed's Go TCP client (../shared/seed): dial the server, send a line, read the
 * answer line, print it, close. It brings up its own stack on a TUN device (the stack flags of
 * `npm start`).
 *
 *   sudo npx tsx scripts/examples/tcp-client.ts --connect 10.0.0.1:8080 [stack flags]
 */
import { createInterface } from 'node:readline';
import { toDuplex } from '../../src/api/duplex.js';
import { dial } from '../../src/api/net.js';
import { openStack } from '../../src/open.js';
import { checkPrivileges, parseStackFlags, STACK_FLAGS_USAGE } from '../stack-flags.js';

const { flags, extra } = parseStackFlags(process.argv.slice(2), `tcp-client.ts [--connect ADDR] [--message TEXT] ${STACK_FLAGS_USAGE}`, {
  connect: { type: 'string', default: '10.0.0.1:8080' },
  message: { type: 'string', default: 'Hello, server!' },
});
checkPrivileges();
const running = await openStack({ tun: flags.tun, hostCidr: flags.hostCidr, address: flags.addr, mtu: flags.mtu, configure: flags.configure });
let exitCode = 0;
try {
  // net.Dial("tcp", address)
  const conn = await dial('tcp', extra.connect as string, { timeout: 10_000 });
  console.log('Sending data to server...');
  // conn.Write([]byte("Hello, server!\n"))
  await conn.write(new TextEncoder().encode(`${extra.message as string}\n`));
  // bufio.NewReader(conn).ReadString('\n')
  const lines = createInterface({ input: toDuplex(conn), crlfDelay: Infinity });
  const first = await lines[Symbol.asyncIterator]().next();
  if (first.done) throw new Error('connection closed before the answer arrived');
  console.log('Received data:', first.value);
  lines.close();
  conn.close();
} catch (error) {
  console.error('Error:', error instanceof Error ? error.message : String(error));
  exitCode = 1;
} finally {
  await running.close();
}
process.exit(exitCode);
