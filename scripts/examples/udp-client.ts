/**
 * Dial a UDP server from the stack and print its answer: Go's net.Dial("udp", ...).
 *
 *   sudo npx tsx scripts/examples/udp-client.ts --connect 10.0.0.1:9000 --message hi [stack flags]
 */
import { dial } from '../../src/api/net.js';
import { openStack } from '../../src/open.js';
import { checkPrivileges, parseStackFlags, STACK_FLAGS_USAGE } from '../stack-flags.js';

const { flags, extra } = parseStackFlags(process.argv.slice(2), `udp-client.ts [--connect ADDR] [--message TEXT] [--timeout MS] ${STACK_FLAGS_USAGE}`, {
  connect: { type: 'string', default: '10.0.0.1:9000' },
  message: { type: 'string', default: 'hello' },
  timeout: { type: 'string', default: '5000' },
});
checkPrivileges();
const running = await openStack({ tun: flags.tun, hostCidr: flags.hostCidr, address: flags.addr, mtu: flags.mtu, configure: flags.configure });
let exitCode = 0;
try {
  const conn = await dial('udp', extra.connect as string);
  await conn.write(new TextEncoder().encode(extra.message as string));
  const buffer = new Uint8Array(65536);
  const n = await conn.read(buffer, { signal: AbortSignal.timeout(Number(extra.timeout)) });
  console.log(`Received data: ${Buffer.from(buffer.subarray(0, n)).toString()}`);
  conn.close();
} catch (error) {
  console.error('Error:', error instanceof Error ? error.message : String(error));
  exitCode = 1;
} finally {
  await running.close();
}
process.exit(exitCode);
