/**
 * Go-style request rounds through the stack on a TUN device: dial once, then per round write a
 * header and a body as two writes and read the answer line. With Nagle on, the second write of
 * each round would wait for the ACK of the first (held back by the peer's delayed ACK); Go and
 * this API turn it off by default. Prints "<rounds> rounds ok" when every answer is right.
 *
 *   tsx write-write-read.ts --connect 10.0.0.1:9000 --rounds 50 [stack flags]
 */
import { createInterface } from 'node:readline';
import { toDuplex } from '../../../src/api/duplex.js';
import { dial } from '../../../src/api/net.js';
import { runExample } from '../../../scripts/stack-flags.js';

const flags = {
  connect: { type: 'string', default: '10.0.0.1:9000' },
  rounds: { type: 'string', default: '50' },
} as const;

await runExample('write-write-read.ts [--connect ADDR] [--rounds N]', flags, async (options) => {
  const rounds = Number(options.rounds);
  const conn = await dial('tcp', options.connect as string, { timeout: 10_000 });
  const socket = toDuplex(conn, { allowHalfOpen: true });
  const lines = createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  for (let round = 1; round <= rounds; round++) {
    await conn.write(encoder.encode(`round ${round} `));
    await conn.write(encoder.encode(`body ${round}\n`));
    const answer = await lines.next();
    if (answer.done || answer.value !== `ok round ${round} body ${round}`) {
      throw new Error(`round ${round}: answer ${JSON.stringify(answer.value)}`);
    }
  }
  console.log(`${rounds} rounds ok`);
  socket.destroy();
});
