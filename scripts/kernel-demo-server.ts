/**
 * The benchmark's kernel-side server: the same demo services as `npm start`, but on the Linux
 * kernel's own sockets, so `npm run bench` can drive both with the same clients.
 *
 *   tsx scripts/kernel-demo-server.ts [--addr IP] [--http-port N] [--echo-port N] [--log LEVEL]
 *
 * HTTP/1.1 on port 80 with exactly the stack's handler (createDemoHttpServer), TCP echo on
 * port 7, TCP discard on port 9. Prints one line beginning with `ready` once both are listening; SIGINT / SIGTERM close
 * the listeners and every open connection, then exit 0.
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { createDemoHttpServer } from '../src/demo/services.js';
import { createLogger, isLogLevel } from '../src/log.js';
import { MAX_PORT } from '../src/wire/address.js';

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

function parsePort(text: string, flag: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > MAX_PORT) fail(`${flag} ${text}: expected a port from 1 to ${MAX_PORT}`);
  return port;
}

function parseFlags() {
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      allowPositionals: false,
      options: {
        addr: { type: 'string', default: '0.0.0.0' },
        'http-port': { type: 'string', default: '80' },
        'echo-port': { type: 'string', default: '7' },
        log: { type: 'string', default: 'warn' },
      },
    });
    const log = values.log;
    if (!isLogLevel(log)) fail(`--log ${log}: expected error, warn, info or debug`);
    return {
      addr: values.addr,
      httpPort: parsePort(values['http-port'], '--http-port'),
      echoPort: parsePort(values['echo-port'], '--echo-port'),
      log,
    };
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
}

function listenOn(
  server: {
    listen(port: number, host: string, callback: () => void): unknown;
    once(event: 'error', listener: (error: Error) => void): unknown;
  },
  port: number,
  host: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const logger = createLogger(flags.log);
  const started = performance.now();
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  let requests = 0;
  const http = createDemoHttpServer(
    {
      addressText: `${flags.addr} (Linux kernel sockets)`,
      uptimeMs: () => performance.now() - started,
      stats: () => ({ server: 'kernel', requests, connections: sockets.size }),
      counterText: () => `kernel: requests=${requests} connections=${sockets.size}\n`,
    },
    logger,
  );
  http.on('request', () => requests++);
  http.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    track(socket);
  });

  const echo = createTcpServer((socket) => {
    socket.setNoDelay(true);
    track(socket);
    socket.on('error', (error) => logger.debug(`echo ${socket.remoteAddress}: ${error.message}`));
    socket.pipe(socket);
  });

  const discard = createTcpServer((socket) => {
    track(socket);
    socket.on('error', (error) => logger.debug(`discard ${socket.remoteAddress}: ${error.message}`));
    socket.resume();
  });

  try {
    await listenOn(http, flags.httpPort, flags.addr);
    await listenOn(echo, flags.echoPort, flags.addr);
    await listenOn(discard, 9, flags.addr);
  } catch (error) {
    fail(`listen: ${error instanceof Error ? error.message : String(error)}`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing`);
    http.close();
    echo.close();
    discard.close();
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  process.stdout.write(`ready kernel addr=${flags.addr} http=${flags.httpPort} echo=${flags.echoPort} pid=${process.pid}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
