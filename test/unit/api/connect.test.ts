/**
 * connect(), the stack's net.connect, over two stacks in memory: the events arrive in the order
 * net.connect gives them (recorded side by side with a real net.connect on the kernel's
 * loopback), writes wait for the handshake, and the socket serves http.request,
 * tls.connect({ socket }), the stack's http and https Agents (keep-alive on one connection) and
 * fetch through an undici Agent.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, get as httpGet, request as httpRequest, type Agent as HttpAgent, type Server } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer as createNetServer, connect as netConnect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../../src/api/connect.js';
import { toDuplex } from '../../../src/api/duplex.js';
import { stackConnector } from '../../../src/api/fetch.js';
import { createHttpAgent, createHttpsAgent } from '../../../src/api/http.js';
import { listen } from '../../../src/api/net.js';
import { NetError } from '../../../src/errors.js';
import { impairLink } from '../../../src/link/impair.js';
import type { Stack } from '../../../src/stack.js';
import { stackPair } from '../../support/stack-pair.js';

const tlsFiles = new URL('../../../scripts/examples/tls/', import.meta.url);
const cert = readFileSync(new URL('cert.pem', tlsFiles));
const key = readFileSync(new URL('key.pem', tlsFiles));

const RECORDED_EVENTS = ['connect', 'ready', 'data', 'end', 'error', 'close'] as const;

/** The events of `socket` in order ('data' once per chunk), until 'close'. */
function recordEvents(socket: Duplex): Promise<{ events: string[]; error: unknown }> {
  const events: string[] = [];
  let error: unknown;
  return new Promise((resolve) => {
    for (const name of RECORDED_EVENTS) {
      socket.on(name, (arg: unknown) => {
        if (events.at(-1) !== name || name !== 'data') events.push(name);
        if (name === 'error') error = arg;
        if (name === 'close') resolve({ events, error });
      });
    }
  });
}

/** Serve node:http (or any 'connection' server) on port `port` of `stack`. */
async function serveOn(stack: Stack, port: number, server: { emit(event: 'connection', socket: Duplex): boolean }): Promise<() => void> {
  const listener = await listen('tcp', `:${port}`, { stack });
  void (async () => {
    for await (const conn of listener) server.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
  })();
  return () => listener.close();
}

/** An HTTP server counting its connections and answering with the path and that count. */
function countingHttpServer(): { server: Server; connections: () => number } {
  let connections = 0;
  const server = createHttpServer((req, res) => res.end(`${req.url} on connection ${connections}`));
  server.on('connection', () => connections++);
  return { server, connections: () => connections };
}

function body(response: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.on('data', (chunk: Buffer) => (text += chunk.toString()));
    response.on('end', () => resolve(text));
    response.on('error', reject);
  });
}

const kernelServers: Array<{ close(): void }> = [];
afterAll(() => kernelServers.forEach((server) => server.close()));

/** A kernel TCP server on 127.0.0.1 that writes `greeting` and closes each connection. */
async function kernelGreeter(greeting: string): Promise<number> {
  const server = createNetServer((socket) => socket.end(greeting));
  kernelServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A kernel port with nobody listening (bound and closed again). */
async function kernelClosedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('connect(): a net.Socket that connects in the background', () => {
  it('emits connect, ready, data, end, close in the order net.connect does', async () => {
    const kernelPort = await kernelGreeter('hello');
    const kernel = recordEvents(netConnect(kernelPort, '127.0.0.1'));
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    void listener.accept().then(async (conn) => {
      await conn.write(new TextEncoder().encode('hello'));
      conn.close();
    });
    const socket = connect('10.0.0.2:7', { stack: a });
    expect(socket.connecting).toBe(true);
    expect(socket.address()).toEqual({});
    const ours = recordEvents(socket);
    expect((await ours).events).toEqual((await kernel).events);
    expect((await ours).events).toEqual(['connect', 'ready', 'data', 'end', 'close']);
  });

  it('emits error and close, never connect, when refused, as net.connect does', async () => {
    const kernel = recordEvents(netConnect(await kernelClosedPort(), '127.0.0.1'));
    const { a } = stackPair();
    const ours = recordEvents(connect('10.0.0.2:9', { stack: a }));
    const [kernelResult, ourResult] = await Promise.all([kernel, ours]);
    expect(ourResult.events).toEqual(kernelResult.events);
    expect(ourResult.events).toEqual(['error', 'close']);
    expect(ourResult.error).toBeInstanceOf(NetError);
    expect((ourResult.error as NetError).code).toBe('ECONNREFUSED');
    expect((kernelResult.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('fails a name it cannot resolve with ENOTFOUND through the error event', async () => {
    const { a } = stackPair();
    const result = await recordEvents(connect('nowhere.example:80', { stack: a }));
    expect(result.events).toEqual(['error', 'close']);
    expect((result.error as NetError).code).toBe('ENOTFOUND');
  });

  it('holds writes made while connecting and sends them once connected; settings made early apply', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const socket = connect('10.0.0.2:7', { stack: a });
    socket.setNoDelay(false).setKeepAlive(true, 30_000);
    socket.setTimeout(60_000);
    expect(socket.timeout).toBe(60_000);
    socket.end('written before the handshake');
    const server = await accepting;
    const buffer = new Uint8Array(100);
    const n = await server.read(buffer);
    expect(Buffer.from(buffer.subarray(0, n!)).toString()).toBe('written before the handshake');
    expect(await server.read(buffer)).toBeNull();
    expect(socket.remoteAddress).toBe('10.0.0.2');
    expect(socket.bytesWritten).toBe('written before the handshake'.length);
  });

  it('destroyed while connecting, it ends the handshake and fails the queued writes', async () => {
    const { a } = stackPair({ wrap: (link) => impairLink(link, { loss: 1, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 }) });
    const socket = connect('10.0.0.2:7', { stack: a });
    const writeError = new Promise<Error | null | undefined>((resolve) => socket.write('never sent', resolve));
    const events = recordEvents(socket);
    socket.destroy();
    expect((await events).events).toEqual(['close']);
    expect(((await writeError) as NetError).code).toBe('ECLOSED');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(a.tcp.connectionCount).toBe(0);
  });

  it('serves http.request as its createConnection', async () => {
    const { a, b } = stackPair();
    const { server } = countingHttpServer();
    const stop = await serveOn(b, 80, server);
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '10.0.0.2', path: '/hello', createConnection: () => connect('10.0.0.2:80', { stack: a }) }, (res) => {
        body(res).then(resolve, reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(text).toBe('/hello on connection 1');
    stop();
  });

  it('carries TLS with tls.connect({ socket }), both ends on the stack', async () => {
    const { a, b } = stackPair();
    const tlsServer = createTlsServer({ cert, key }, (secure) => secure.end(`secured ${secure.getProtocol()}`));
    const stop = await serveOn(b, 443, tlsServer);
    const secure = tlsConnect({ socket: connect('10.0.0.2:443', { stack: a }), ca: cert, servername: 'server.test' });
    const text = await body(secure);
    expect(secure.authorized).toBe(true);
    expect(text).toMatch(/^secured TLSv1\.[23]$/);
    stop();
  });
});

describe('createHttpAgent and createHttpsAgent', () => {
  async function twoGets(agent: HttpAgent, get: typeof httpGet, base: string): Promise<string[]> {
    const texts: string[] = [];
    for (const path of ['/first', '/second']) {
      texts.push(
        await new Promise<string>((resolve, reject) => {
          get(`${base}${path}`, { agent, ca: cert } as Parameters<typeof httpGet>[1], (res) => {
            body(res).then(resolve, reject);
          }).on('error', reject);
        }),
      );
    }
    return texts;
  }

  it('makes two keep-alive requests on one connection', async () => {
    const { a, b } = stackPair();
    const { server, connections } = countingHttpServer();
    const stop = await serveOn(b, 80, server);
    const agent = createHttpAgent({ stack: a });
    expect(await twoGets(agent, httpGet, 'http://10.0.0.2')).toEqual(['/first on connection 1', '/second on connection 1']);
    expect(connections()).toBe(1);
    agent.destroy();
    stop();
  });

  it('does the same over TLS, and looks names up through the resolver', async () => {
    const { a, b } = stackPair();
    const { server, connections } = countingHttpServer();
    const tlsServer = createTlsServer({ cert, key }, (secure) => server.emit('connection', secure));
    const stop = await serveOn(b, 443, tlsServer);
    const agent = createHttpsAgent({ stack: a, resolver: async () => ['10.0.0.2'] });
    expect(await twoGets(agent, httpsGet, 'https://server.test')).toEqual(['/first on connection 1', '/second on connection 1']);
    expect(connections()).toBe(1);
    agent.destroy();
    stop();
  });
});

describe('fetch through the stack', () => {
  it('sends fetch through an undici Agent whose connect is stackConnector()', async () => {
    const { a, b } = stackPair();
    const { server } = countingHttpServer();
    const stop = await serveOn(b, 80, server);
    const dispatcher = new UndiciAgent({ connect: stackConnector({ stack: a }) });
    const first = await undiciFetch('http://10.0.0.2/one', { dispatcher });
    expect(await first.text()).toBe('/one on connection 1');
    // Node's global fetch takes the same dispatcher (undici 6, as Node 20 bundles). Whether it
    // reuses the first connection is undici's choice: right after a response it opens a second
    // one, over the kernel's sockets too.
    const second = await fetch('http://10.0.0.2/two', { dispatcher });
    expect(await second.text()).toMatch(/^\/two on connection [12]$/);
    await dispatcher.close();
    stop();
  });

  it('fetches https: with the TLS options given', async () => {
    const { a, b } = stackPair();
    const { server } = countingHttpServer();
    const stop = await serveOn(
      b,
      443,
      createTlsServer({ cert, key }, (secure) => server.emit('connection', secure)),
    );
    const dispatcher = new UndiciAgent({ connect: stackConnector({ stack: a, tls: { ca: cert } }) });
    const response = await undiciFetch('https://10.0.0.2/secure', { dispatcher });
    expect(await response.text()).toBe('/secure on connection 1');
    await dispatcher.close();
    stop();
  });
});
