/**
 * A WebSocket-style upgrade over node:http, through the stack at both ends: a node:http server on
 * the stack answers the opening handshake in its 'upgrade' event (RFC 6455 section 4.2.2), and a
 * client sends the Upgrade request with http.request and the stack's agent (createHttpAgent),
 * checks the 101 and its Sec-WebSocket-Accept, sends one masked text frame, reads the unmasked
 * echo, and closes with the closing handshake (section 7). The frame codec is the minimal one
 * such an exchange needs (section 5.2: unfragmented frames, payloads up to 64 KiB); a real
 * application would use a WebSocket library over the same agent or socket.
 *
 * By default the client talks to the server on its own stack (`localhost` is the stack's loopback,
 * 127.0.0.1); `--mode server` or `--mode client` runs one end only, e.g. on two stacks:
 *
 *   sudo npx tsx scripts/examples/websocket-upgrade.ts [--message TEXT] [stack flags]
 *   sudo npx tsx scripts/examples/websocket-upgrade.ts --mode server [--listen :8081] [--upgrades N] [stack flags]
 *   sudo npx tsx scripts/examples/websocket-upgrade.ts --mode client --connect 10.0.1.2:8081 [--key BASE64] [stack flags]
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { toDuplex } from '../../src/api/duplex.js';
import { createHttpAgent } from '../../src/api/http.js';
import { listen } from '../../src/api/net.js';
import { fail, runExample } from '../stack-flags.js';

const flags = {
  mode: { type: 'string', default: 'both' },
  listen: { type: 'string', default: ':8081' },
  connect: { type: 'string', default: 'localhost:8081' },
  message: { type: 'string', default: 'Hello, WebSocket!' },
  key: { type: 'string' },
  upgrades: { type: 'string', default: '0' },
} as const;

/** RFC 6455 section 1.3: the GUID the server appends to the client's key. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.2.2 item 5.4: base64(SHA-1(key + GUID)), the value that proves the server read the key. */
function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/** Section 5.2 opcodes this example sends or answers; anything else fails the connection. */
const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;
/** Section 7.4.1: normal closure; 1002: protocol error. */
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;
/** Payloads this codec handles: the 7-bit and 16-bit length forms of section 5.2. */
const MAX_PAYLOAD = 0xffff;

interface Frame {
  opcode: number;
  /** Whether the sender masked it: clients must, servers must not (section 5.1). */
  masked: boolean;
  /** Unmasked payload. */
  payload: Buffer;
}

/**
 * One unfragmented frame (FIN set, RSV bits 0), masked with a fresh random key when the client
 * sends it (section 5.3: the key must be unpredictable to the page's script).
 */
function encodeFrame(opcode: number, payload: Uint8Array, mask: boolean): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new Error(`frame payload ${payload.length} bytes: this codec sends at most ${MAX_PAYLOAD}`);
  const lengthBytes = payload.length < 126 ? 0 : 2;
  const maskBytes = mask ? 4 : 0;
  const frame = Buffer.alloc(2 + lengthBytes + maskBytes + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? payload.length : 126);
  if (lengthBytes === 2) frame.writeUInt16BE(payload.length, 2);
  const payloadStart = 2 + lengthBytes + maskBytes;
  if (mask) {
    const key = randomBytes(4);
    key.copy(frame, 2 + lengthBytes);
    for (let i = 0; i < payload.length; i++) frame[payloadStart + i] = payload[i]! ^ key[i & 3]!;
  } else {
    frame.set(payload, payloadStart);
  }
  return frame;
}

/** A close frame's body (section 5.5.1): the status code, then an optional UTF-8 reason. */
function closePayload(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return payload;
}

/** The first frame in `bytes` and its length on the wire, or undefined until all of it is there. */
function decodeFrame(bytes: Buffer): { frame: Frame; length: number } | undefined {
  if (bytes.length < 2) return undefined;
  const first = bytes[0]!;
  const second = bytes[1]!;
  if ((first & 0x70) !== 0) throw new Error('RSV bits set without an extension that defines them (section 5.2)');
  if ((first & 0x80) === 0 || (first & 0x0f) === 0) throw new Error('fragmented message: this codec reads unfragmented frames only');
  const masked = (second & 0x80) !== 0;
  const shortLength = second & 0x7f;
  if (shortLength === 127) throw new Error('64-bit payload length: this codec reads at most 64 KiB');
  const lengthBytes = shortLength === 126 ? 2 : 0;
  const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
  if (bytes.length < headerLength) return undefined;
  const payloadLength = lengthBytes === 2 ? bytes.readUInt16BE(2) : shortLength;
  if (bytes.length < headerLength + payloadLength) return undefined;
  const payload = Buffer.from(bytes.subarray(headerLength, headerLength + payloadLength));
  if (masked) {
    const key = bytes.subarray(2 + lengthBytes, headerLength);
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
  }
  return { frame: { opcode: first & 0x0f, masked, payload }, length: headerLength + payloadLength };
}

/** Frames from a socket, starting with the bytes node:http read past the handshake (`head`). */
class FrameReader {
  private buffered: Buffer;
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(socket: Duplex, head: Buffer) {
    this.buffered = head;
    this.chunks = socket[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next frame, or null when the connection ends between frames. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const decoded = decodeFrame(this.buffered);
      if (decoded !== undefined) {
        this.buffered = this.buffered.subarray(decoded.length);
        return decoded.frame;
      }
      const chunk = await this.chunks.next();
      if (chunk.done) {
        if (this.buffered.length > 0) throw new Error('connection ended in the middle of a frame');
        return null;
      }
      this.buffered = this.buffered.length === 0 ? chunk.value : Buffer.concat([this.buffered, chunk.value]);
    }
  }
}

/** Section 8.1: text frames carry UTF-8; invalid UTF-8 fails the connection. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The server's side of one upgraded connection: echo each text frame unmasked, answer pings,
 * and on the client's close frame answer with one and close the TCP connection first
 * (section 7.1.1: the server closes first, so the client does not hold TIME-WAIT).
 */
async function serveWebSocket(socket: Duplex, head: Buffer): Promise<void> {
  const frames = new FrameReader(socket, head);
  for (;;) {
    const frame = await frames.next();
    if (frame === null) {
      console.log('server: the client left without a closing handshake');
      return;
    }
    if (!frame.masked) {
      // Section 5.1: a server closes the connection on an unmasked frame from a client.
      socket.end(encodeFrame(OPCODE_CLOSE, closePayload(CLOSE_PROTOCOL_ERROR), false));
      throw new Error('unmasked frame from the client');
    }
    if (frame.opcode === OPCODE_TEXT) {
      const text = utf8.decode(frame.payload);
      socket.write(encodeFrame(OPCODE_TEXT, frame.payload, false));
      console.log(`server: echoed ${JSON.stringify(text)}`);
    } else if (frame.opcode === OPCODE_PING) {
      socket.write(encodeFrame(OPCODE_PONG, frame.payload, false));
    } else if (frame.opcode === OPCODE_CLOSE) {
      const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : CLOSE_NORMAL;
      socket.end(encodeFrame(OPCODE_CLOSE, closePayload(code), false));
      console.log(`server: closed by the client with ${code}`);
      return;
    } else if (frame.opcode !== OPCODE_PONG) {
      socket.end(encodeFrame(OPCODE_CLOSE, closePayload(CLOSE_PROTOCOL_ERROR), false));
      throw new Error(`opcode ${frame.opcode} is not handled by this example`);
    }
  }
}

/** Section 4.2.1: what makes a request a valid opening handshake; the reason when it is not. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return `method ${req.method}: the opening handshake is a GET`;
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Upgrade is not websocket';
  const connection = (req.headers.connection ?? '').toLowerCase().split(',');
  if (!connection.some((token) => token.trim() === 'upgrade')) return 'Connection does not name upgrade';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version is not 13';
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || Buffer.from(key, 'base64').length !== 16) return 'Sec-WebSocket-Key is not 16 bytes in base64';
  return undefined;
}

/**
 * A node:http server on the stack that upgrades GET requests to WebSocket and echoes. Plain
 * requests get 426 Upgrade Required. Resolves once `upgrades` connections are served (0: never).
 */
async function runServer(address: string, upgrades: number): Promise<void> {
  const listener = await listen('tcp', address);
  const sessions: Array<Promise<void>> = [];
  const server = createServer((_req, res) => {
    res.writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade' }).end('this server speaks WebSocket only\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const problem = handshakeProblem(req);
    if (problem !== undefined) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: ${problem.length + 1}\r\n\r\n${problem}\n`);
      return;
    }
    const accept = acceptFor(req.headers['sec-websocket-key']!);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    sessions.push(
      serveWebSocket(socket, head).catch((error: unknown) => {
        console.error(`server: ${error instanceof Error ? error.message : String(error)}`);
        socket.destroy();
      }),
    );
    if (sessions.length === upgrades) listener.close();
  });
  console.log(`server: listening on ${listener.addr}`);
  // allowHalfOpen as http.Server's own sockets have it: node:http answers a half-close itself.
  for await (const conn of listener) server.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
  await Promise.all(sessions);
  server.close();
}

/** The upgraded socket and what came after the 101, or the error: a non-101 answer, a wrong accept. */
function openWebSocket(address: string, key: string, agent: ReturnType<typeof createHttpAgent>): Promise<{ socket: Duplex; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${address}/echo`, {
      agent,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key },
    });
    req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Section 4.1, the client's checks of the server's handshake.
      const accept = res.headers['sec-websocket-accept'];
      const problem =
        res.statusCode !== 101
          ? `status ${res.statusCode}`
          : res.headers.upgrade?.toLowerCase() !== 'websocket'
            ? 'Upgrade is not websocket'
            : accept !== acceptFor(key)
              ? `Sec-WebSocket-Accept ${accept} is not ${acceptFor(key)}`
              : undefined;
      if (problem !== undefined) {
        socket.destroy();
        reject(new Error(`handshake failed: ${problem}`));
        return;
      }
      console.log(`client: ${res.statusCode} ${res.statusMessage}, Sec-WebSocket-Accept ${accept} for key ${key}`);
      resolve({ socket, head });
    });
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      reject(new Error(`handshake failed: the server answered ${res.statusCode} instead of 101`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The client: handshake, one text frame and its echo, the closing handshake. */
async function runClient(address: string, message: string, key: string): Promise<void> {
  const agent = createHttpAgent({ connectTimeout: 10_000 });
  try {
    const { socket, head } = await openWebSocket(address, key, agent);
    const frames = new FrameReader(socket, head);
    socket.write(encodeFrame(OPCODE_TEXT, Buffer.from(message), true));
    const echo = await frames.next();
    if (echo === null || echo.opcode !== OPCODE_TEXT) throw new Error('no text frame came back');
    // Section 5.1: a client fails the connection on a masked frame from the server.
    if (echo.masked) throw new Error('the server masked its frame');
    console.log(`client: echo ${JSON.stringify(utf8.decode(echo.payload))}`);
    socket.write(encodeFrame(OPCODE_CLOSE, closePayload(CLOSE_NORMAL), true));
    const close = await frames.next();
    if (close === null || close.opcode !== OPCODE_CLOSE) throw new Error('the server did not answer the close frame');
    const code = close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
    // Section 7.1.1: the server closes the TCP connection first; its FIN ends the stream here.
    if ((await frames.next()) !== null) throw new Error('data after the close frame');
    console.log(`client: closed cleanly with ${code}`);
  } finally {
    agent.destroy();
  }
}

await runExample(
  'websocket-upgrade.ts [--mode both|server|client] [--listen ADDR] [--connect ADDR] [--message TEXT] [--key BASE64] [--upgrades N]',
  flags,
  async (options) => {
    const mode = options.mode as string;
    if (mode !== 'both' && mode !== 'server' && mode !== 'client') fail(`--mode ${mode}: expected both, server or client`);
    const key = (options.key as string | undefined) ?? randomBytes(16).toString('base64');
    if (Buffer.from(key, 'base64').length !== 16) fail(`--key ${key}: expected 16 bytes in base64 (section 4.1)`);
    const upgrades = mode === 'both' ? 1 : Number(options.upgrades);
    const server = mode === 'client' ? undefined : runServer(options.listen as string, upgrades);
    try {
      if (mode !== 'server') await runClient(options.connect as string, options.message as string, key);
    } catch (error) {
      // The client's error is the one to report; the server then ends with the stack's close.
      server?.catch(() => undefined);
      throw error;
    }
    await server;
  },
);
