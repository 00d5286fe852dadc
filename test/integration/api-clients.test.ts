/**
 * Issue 13 end to end: the example programs of connect(), createHttpAgent, createHttpsAgent and
 * fetch, each bringing up its own stack on a TUN device in a fresh namespace, against kernel
 * servers (python3 on kernel sockets), curl -k against the stack's HTTPS server, the WebSocket
 * upgrade example against itself and against undici's WebSocket on kernel sockets, and Go-style
 * write-write-read rounds over one connection.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, projectRoot, tsxBin, waitForOutput, type Namespace } from './harness.js';
import { declareRootRequirement, isRoot } from './root.js';

declareRootRequirement();

const CERTIFICATE = `${projectRoot}scripts/examples/tls/cert.pem`;
const PRIVATE_KEY = `${projectRoot}scripts/examples/tls/key.pem`;

/**
 * HTTP/1.1 with keep-alive on :8080 and the same over TLS on :8444: each answer names the path
 * and the client's address and port, so a test sees which connection carried it.
 */
const KERNEL_HTTP_SERVERS = `
import http.server, ssl, threading
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = f'{self.path} from {self.client_address[0]}:{self.client_address[1]}\\n'.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
plain = http.server.ThreadingHTTPServer(('0.0.0.0', 8080), Handler)
secure = http.server.ThreadingHTTPServer(('0.0.0.0', 8444), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain('${CERTIFICATE}', '${PRIVATE_KEY}')
secure.socket = context.wrap_socket(secure.socket, server_side=True)
threading.Thread(target=secure.serve_forever, daemon=True).start()
print('listening', flush=True)
plain.serve_forever()
`;

/** Per line "round N body N": answers "ok round N body N". */
const KERNEL_ROUND_SERVER = `
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9000))
s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
f = c.makefile('rwb')
for line in f:
    f.write(b'ok ' + line)
    f.flush()
`;

describe.skipIf(!isRoot)('the API examples against kernel servers and clients', () => {
  let ns: Namespace;
  beforeAll(async () => {
    ns = await createNamespace();
    // Two stacks in one namespace, each on its own TUN device; the kernel routes between them.
    await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await waitForOutput(ns.spawn('python3', ['-u', '-c', KERNEL_HTTP_SERVERS]), /listening/);
    await waitForOutput(ns.spawn('python3', ['-u', '-c', KERNEL_ROUND_SERVER]), /listening/);
  });
  afterAll(async () => {
    await ns?.stop();
  });

  /** An example on its own stack (device tsnc0, 10.0.0.2, the kernel side 10.0.0.1). */
  const runClient = (example: string, args: string[]) =>
    ns.tsx(`scripts/examples/${example}`, ['--tun', 'tsnc0', '--log', 'warn', ...args], { timeoutMs: 40_000 });

  it('http-client.ts: http.get with the stack agent makes two keep-alive requests on one connection', async () => {
    const result = await runClient('http-client.ts', ['--url', 'http://10.0.0.1:8080/page', '--requests', '2']);
    expect(result.stderr).toBe('');
    const ports = [...result.stdout.matchAll(/response \d: 200 from local port (\d+): \/page from 10\.0\.0\.2:(\d+)/g)];
    expect(ports).toHaveLength(2);
    // The kernel saw the same client port both times, the one the stack's socket reports.
    expect(ports[0]![2]).toBe(ports[1]![2]);
    expect(ports[0]![1]).toBe(ports[0]![2]);
    expect(result.stdout).toContain('2 requests on 1 connection(s)');
  });

  it('fetch.ts: the global fetch through the stack', async () => {
    const result = await runClient('fetch.ts', ['--url', 'http://10.0.0.1:8080/fetched']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/status 200: \/fetched from 10\.0\.0\.2:\d+/);
  });

  it('tls-client.ts: https.get through the stack to a kernel TLS server, the certificate verified', async () => {
    const result = await runClient('tls-client.ts', ['--url', 'https://10.0.0.1:8444/secure']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/response: 200 \/secure from 10\.0\.0\.2:\d+/);
  });

  it('tls-server.ts: answers curl -k and the stack TLS client on another stack', async () => {
    const server = ns.spawn(tsxBin, [
      `${projectRoot}scripts/examples/tls-server.ts`,
      '--tun',
      'tsns0',
      '--host-addr',
      '10.0.1.1/24',
      '--addr',
      '10.0.1.2',
      '--log',
      'warn',
      '--requests',
      '2',
    ]);
    await waitForOutput(server, /listening on/, 20_000);
    const curl = await ns.exec('curl', ['-sSk', '--max-time', '10', 'https://10.0.1.2:8443/from-curl']);
    expect(curl.stdout).toMatch(/^hello over TLSv1\.[23], \/from-curl\n$/);
    const client = await ns.tsx(
      'scripts/examples/tls-client.ts',
      ['--tun', 'tsnc1', '--host-addr', '10.0.2.1/24', '--addr', '10.0.2.2', '--log', 'warn', '--url', 'https://10.0.1.2:8443/from-stack'],
      { timeoutMs: 40_000 },
    );
    expect(client.stderr).toBe('');
    expect(client.stdout).toMatch(/response: 200 hello over TLSv1\.[23], \/from-stack/);
    await waitForOutput(server, /served \/from-stack/);
  });

  it('websocket-upgrade.ts: client and server on one stack; the accept value is RFC 6455 section 1.3 own example', async () => {
    // The sample nonce of RFC 6455 section 1.3 and the Sec-WebSocket-Accept the RFC gives for it.
    const result = await runClient('websocket-upgrade.ts', ['--key', 'dGhlIHNhbXBsZSBub25jZQ==', '--message', 'héllo, stack']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('client: 101 Switching Protocols, Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo= for key');
    expect(result.stdout).toContain('server: echoed "héllo, stack"');
    expect(result.stdout).toContain('client: echo "héllo, stack"');
    expect(result.stdout).toContain('server: closed by the client with 1000');
    expect(result.stdout).toContain('client: closed cleanly with 1000');
  });

  it('websocket-upgrade.ts: the server on one stack answers undici WebSocket (kernel) and the client on another stack', async () => {
    const server = ns.spawn(tsxBin, [
      `${projectRoot}scripts/examples/websocket-upgrade.ts`,
      ...['--mode', 'server', '--upgrades', '2', '--tun', 'tswss0', '--host-addr', '10.0.3.1/24', '--addr', '10.0.3.2', '--log', 'warn'],
    ]);
    await waitForOutput(server, /listening on 10\.0\.3\.2:8081/, 20_000);
    // An independent implementation first: undici checks the accept value and the framing itself.
    const kernel = await ns.tsx('test/integration/clients/websocket-client.ts', ['ws://10.0.3.2:8081/', 'from the kernel'], {
      timeoutMs: 30_000,
    });
    expect(kernel.stderr).toBe('');
    expect(kernel.stdout).toBe('echo from the kernel\nclose 1000 clean=true\n');
    const client = await ns.tsx(
      'scripts/examples/websocket-upgrade.ts',
      // Its own device and subnet; the kernel routes between the two stacks (ip_forward above).
      [
        '--mode',
        'client',
        '--connect',
        '10.0.3.2:8081',
        '--message',
        'from a stack',
        '--tun',
        'tswsc0',
        '--host-addr',
        '10.0.4.1/24',
        '--addr',
        '10.0.4.2',
      ],
      { timeoutMs: 40_000 },
    );
    expect(client.stderr).toBe('');
    const handshake = /Sec-WebSocket-Accept (\S+) for key (\S+)/.exec(client.stdout);
    expect(handshake).not.toBeNull();
    const [, accept, key] = handshake!;
    expect(accept).toBe(createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64'));
    expect(client.stdout).toContain('client: echo "from a stack"');
    expect(client.stdout).toContain('client: closed cleanly with 1000');
    const output = await waitForOutput(server, /echoed "from a stack"[\s\S]*closed by the client with 1000/);
    expect(output).toContain('server: echoed "from the kernel"');
    // Two upgrades served: the server closes its listener and exits by itself, without an error.
    const exitCode = server.exitCode ?? ((await once(server, 'exit')) as [number | null])[0];
    expect(exitCode).toBe(0);
    expect(output).not.toMatch(/error/i);
  });

  it('completes 50 write-write-read rounds over one connection, every answer right', async () => {
    const result = await ns.tsx(
      'test/integration/clients/write-write-read.ts',
      ['--tun', 'tsnc0', '--log', 'warn', '--connect', '10.0.0.1:9000', '--rounds', '50'],
      { timeoutMs: 40_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('50 rounds ok');
  });
});
