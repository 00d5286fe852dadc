/**
 * An HTTPS server on the stack: node:https over the stack's connections (each accepted TcpConn
 * handed to the server as a Duplex), with the test certificate in scripts/examples/tls (made for
 * these examples; its names include 10.0.0.2, 10.0.1.2 and server.test). Answers every request
 * with the TLS version and its path; stops after --requests N (default: never).
 *
 *   sudo npx tsx scripts/examples/tls-server.ts [--listen :8443] [--requests N] [stack flags]
 *   curl -k https://10.0.0.2:8443/hello           # from another terminal
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { toDuplex } from '../../src/api/duplex.js';
import { listen } from '../../src/api/net.js';
import { runExample } from '../stack-flags.js';

const flags = {
  listen: { type: 'string', default: ':8443' },
  requests: { type: 'string', default: '0' },
} as const;

await runExample('tls-server.ts [--listen ADDR] [--requests N]', flags, async (options) => {
  const certificates = new URL('tls/', import.meta.url);
  const limit = Number(options.requests);
  const listener = await listen('tcp', options.listen as string);
  let served = 0;
  const server = createServer(
    { cert: readFileSync(new URL('cert.pem', certificates)), key: readFileSync(new URL('key.pem', certificates)) },
    (req, res) => {
      // The TLS socket sits on a Duplex, not a kernel handle: Node cannot tell its remoteAddress.
      const secure = req.socket as TLSSocket;
      res.end(`hello over ${secure.getProtocol()}, ${req.url}\n`);
      served++;
      console.log(`served ${req.url}`);
      // The last response goes out before the listener closes: close() keeps open connections.
      if (served === limit) res.on('finish', () => listener.close());
    },
  );
  console.log(`listening on ${listener.addr}`);
  // allowHalfOpen as http.Server's own sockets have it: node:http answers a half-close itself.
  for await (const conn of listener) server.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
  server.close();
});
