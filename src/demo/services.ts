/**
 * The demo services `npm start` runs on the stack's addresses, IPv4 and IPv6 (docs/ARCHITECTURE.md,
 * "The demo services"; each listens on ':port', which takes both families): TCP 7 echo, TCP 9 discard, TCP 80 HTTP/1.1 via node:http, UDP 7 echo. Every other
 * TCP port gets a RST and every other UDP port an ICMP port unreachable, which the stack does by
 * itself. The UDP echo does not answer well-known ports, so it cannot loop with another service.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { toDuplex } from '../api/duplex.js';
import { listen, listenPacket } from '../api/net.js';
import type { TcpConn, TcpListener } from '../api/tcp.js';
import type { UdpSocket } from '../api/udp.js';
import { NetError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Stack } from '../stack.js';

/**
 * The UDP echo answers no datagram from a port below this: the well-known ports (RFC 6335 6) are
 * where services live, and an echo answering one (its own port 7, chargen 19, another echo) can
 * start a loop between two services that never ends. Classic inetd refuses them the same way
 * (BSD's dg_badinput); port 0 means "no reply" (RFC 768) and is refused too.
 */
const UDP_ECHO_LOWEST_PEER_PORT = 1024;

/** Largest N for GET /bytes/N (2^34). */
const MAX_BYTES_DOWNLOAD = 2 ** 34;

/** Byte i of /bytes/N is i % 251; this block is a whole number of periods, so every chunk starts at phase 0. */
const PATTERN_BLOCK = (() => {
  const block = Buffer.allocUnsafe(251 * 256);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  return block;
})();

export interface DemoServices {
  close(): Promise<void>;
}

export async function startDemoServices(stack: Stack, logger: Logger): Promise<DemoServices> {
  const listeners: TcpListener[] = [];
  const sockets: UdpSocket[] = [];
  const openConns = new Set<TcpConn>();

  const serve = async (listener: TcpListener, handler: (conn: TcpConn) => Promise<void>) => {
    for await (const conn of listener) {
      openConns.add(conn);
      handler(conn)
        .catch((error: unknown) =>
          logger.debug(`${listener.addr.port} ${conn.remoteAddr}: ${error instanceof Error ? error.message : String(error)}`),
        )
        .finally(() => {
          openConns.delete(conn);
          conn.close();
        });
    }
  };

  const echo = await listen('tcp', ':7', { stack });
  listeners.push(echo);
  void serve(echo, async (conn) => {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      await conn.write(buffer.subarray(0, n));
    }
  });

  const discard = await listen('tcp', ':9', { stack });
  listeners.push(discard);
  // One buffer for every discard connection: the bytes are thrown away, and a buffer each would
  // cost an idle connection 64 KiB.
  const discardBuffer = new Uint8Array(64 * 1024);
  void serve(discard, async (conn) => {
    while ((await conn.read(discardBuffer)) !== null);
  });

  const http = createDemoHttpServer(
    {
      addressText: stack.addressText,
      address6Text: stack.address6Text,
      uptimeMs: () => stack.uptimeMs,
      stats: () => stack.stats(),
      counterText: () => stack.counterSet.format() + '\n',
    },
    logger,
  );
  const web = await listen('tcp', ':80', { stack });
  listeners.push(web);
  void (async () => {
    for await (const conn of web) {
      conn.setNoDelay(true);
      // As http.Server's own sockets: node:http answers a client's half-close itself.
      http.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
    }
  })();

  const udpEcho = await listenPacket('udp', ':7', { stack });
  sockets.push(udpEcho);
  void (async () => {
    const buffer = new Uint8Array(65536);
    for (;;) {
      try {
        const { n, addr } = await udpEcho.readFrom(buffer);
        if (addr.port < UDP_ECHO_LOWEST_PEER_PORT) {
          stack.counters('udp').drop('echo_to_well_known_port');
          continue;
        }
        await udpEcho.writeTo(buffer.subarray(0, n), addr);
      } catch (error) {
        if (error instanceof NetError && error.code === 'ECLOSED') return;
        logger.debug(`udp echo: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  })();

  return {
    async close() {
      for (const listener of listeners) listener.close();
      for (const socket of sockets) socket.close();
      http.close();
    },
  };
}

/** What the HTTP demo shows about whoever serves it (the stack, or the kernel in benchmarks). */
export interface DemoHttpInfo {
  addressText: string;
  /** The IPv6 address, when there is one. */
  address6Text?: string;
  uptimeMs(): number;
  stats(): unknown;
  /** The counters for GET /: one line each, every line ending with a newline. */
  counterText(): string;
}

/**
 * The HTTP/1.1 demo (GET /, /bytes/N, /stats, POST /upload) as a node:http server. The stack
 * feeds it connections with `emit('connection', duplex)`; the benchmark also runs it on the
 * kernel's own sockets so both sides serve exactly the same thing.
 */
export function createDemoHttpServer(info: DemoHttpInfo, logger: Logger): Server {
  const fail = (response: ServerResponse, error: unknown) => {
    logger.debug(`http: ${error instanceof Error ? error.message : String(error)}`);
    response.destroy();
  };
  const http = createServer({ keepAlive: true }, (request, response) => {
    try {
      handleHttp(info, request, response, fail);
    } catch (error) {
      fail(response, error);
    }
  });
  http.keepAliveTimeout = 30_000;
  return http;
}

/**
 * One request. Not an async function: GET / and /stats answer at once, and a promise (with its
 * microtasks) per request is a measurable part of a keep-alive request's cost; only /bytes and
 * /upload wait, and they report their own failures to `fail`.
 */
function handleHttp(
  info: DemoHttpInfo,
  request: IncomingMessage,
  response: ServerResponse,
  fail: (response: ServerResponse, error: unknown) => void,
): void {
  const method = request.method;
  const target = request.url ?? '/';
  // The common request needs no URL parser: a WHATWG URL per request costs more than the page.
  const path = target === '/' ? '/' : new URL(target, 'http://stack').pathname;
  if (method === 'GET' && path === '/') {
    sendText(response, 200, homePage(info));
    return;
  }
  if (method === 'GET' && path === '/stats') {
    const body = JSON.stringify(info.stats(), null, 2) + '\n';
    response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    response.end(body);
    return;
  }
  const bytesMatch = (method === 'GET' || method === 'HEAD') && path.startsWith('/bytes/') ? /^\/bytes\/(\d+)$/.exec(path) : null;
  if (bytesMatch) {
    const total = Number(bytesMatch[1]);
    if (!Number.isSafeInteger(total) || total > MAX_BYTES_DOWNLOAD) {
      sendText(response, 400, `N must be between 0 and ${MAX_BYTES_DOWNLOAD}\n`);
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(total) });
    if (method === 'HEAD') {
      response.end();
      return;
    }
    streamPattern(response, total).catch((error: unknown) => fail(response, error));
    return;
  }
  if (method === 'POST' && path === '/upload') {
    upload(request, response).catch((error: unknown) => fail(response, error));
    return;
  }
  sendText(response, 404, 'not found\n');
}

/** GET /: what serves it, its uptime and its counters, built as one string. */
function homePage(info: DemoHttpInfo): string {
  const address6 = info.address6Text !== undefined ? `address6: ${info.address6Text}\n` : '';
  return (
    `tsnet-stack: a userspace TCP/IP stack in TypeScript\naddress: ${info.addressText}\n${address6}` +
    `uptime: ${(info.uptimeMs() / 1000).toFixed(1)} s\n${info.counterText()}`
  );
}

/** POST /upload: answer with the byte count and SHA-256 of the body. */
async function upload(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const hash = createHash('sha256');
  let count = 0;
  for await (const chunk of request) {
    const bytes = chunk as Buffer;
    count += bytes.length;
    hash.update(bytes);
  }
  sendText(response, 200, `${count} ${hash.digest('hex')}\n`);
}

function sendText(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

/** Write `total` pattern bytes with backpressure. */
async function streamPattern(response: ServerResponse, total: number): Promise<void> {
  let remaining = total;
  while (remaining > 0) {
    if (response.destroyed) return;
    const size = Math.min(remaining, PATTERN_BLOCK.length);
    remaining -= size;
    if (!response.write(PATTERN_BLOCK.subarray(0, size))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off('drain', done);
          response.off('close', done);
          resolve();
        };
        response.on('drain', done);
        response.on('close', done);
      });
    }
  }
  response.end();
}
