/**
 * Capture the pcap fixtures in test/fixtures from real Linux traffic (run as root:
 * `npx tsx scripts/capture-fixtures.ts`).
 *
 * Two network namespaces, tsnfix-a (10.77.0.1) and tsnfix-b (10.77.0.2), are joined by a veth
 * pair with MTU 1500. tcpdump listens on b's end while Linux tools in a talk to small servers in
 * b; each scenario goes to its own file. What each file holds is described in
 * test/fixtures/README.md.
 *
 * veth offloads are switched off first: with them on, the capture shows TCP segments far larger
 * than the MTU and checksums left for hardware that never computes them, which is not what a
 * wire (or a TUN device) carries.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAMESPACE_A = 'tsnfix-a';
const NAMESPACE_B = 'tsnfix-b';
const VETH_A = 'tsnfix-va';
const VETH_B = 'tsnfix-vb';
const ADDRESS_A = '10.77.0.1';
const ADDRESS_B = '10.77.0.2';
const MTU = 1500;
const FIXTURE_SIZE_LIMIT = 100 * 1024;
/** How long any one step (a server starting, a client finishing) may take before we give up. */
const STEP_TIMEOUT_MS = 15_000;

const fixturesDirectory = fileURLToPath(new URL('../test/fixtures/', import.meta.url));

/** Every process we start, so that a failure anywhere still ends each of them (by PID). */
const children = new Set<ChildProcess>();

// Legacy ethtool ioctls (SIOCETHTOOL with struct ethtool_value): ethtool itself is not installed
// here. Turning off tx checksumming also turns off TSO, which depends on it; GSO and GRO go too
// so that every captured packet fits the MTU.
const DISABLE_OFFLOADS_PY = `
import array, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
SET_COMMANDS = {'tx-checksum': 0x17, 'tso': 0x1f, 'gso': 0x24, 'gro': 0x2c}
GET_TX_CHECKSUM = 0x16
device = sys.argv[1].encode()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ethtool(command, value):
    data = array.array('I', [command, value])
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, struct.pack('16sP16x', device, data.buffer_info()[0]))
    return data[1]
for name, command in SET_COMMANDS.items():
    ethtool(command, 0)
if ethtool(GET_TX_CHECKSUM, 0) != 0:
    sys.exit('tx checksum offload is still on for ' + sys.argv[1])
`;

const UDP_ECHO_SERVER_PY = `
import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(('${ADDRESS_B}', 7))
print('ready', flush=True)
while True:
    data, peer = sock.recvfrom(65535)
    sock.sendto(data, peer)
`;

const UDP_CLIENT_PY = `
import socket, sys
echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
echo.settimeout(3)
echo.connect(('${ADDRESS_B}', 7))
for payload in (b'hello', bytes(i % 251 for i in range(1000)), bytes(i % 251 for i in range(3000))):
    echo.send(payload)
    if echo.recv(65535) != payload:
        sys.exit('echo of %d bytes came back different' % len(payload))
closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
closed.settimeout(3)
closed.connect(('${ADDRESS_B}', 9999))
closed.send(b'anyone there?')
try:
    closed.recv(100)
    sys.exit('port 9999 answered')
except ConnectionRefusedError:
    print('echoed 3 datagrams; port 9999 refused')
`;

/**
 * The body is the digits 0-9 repeated, 5000 bytes: easy to recognise in a hex dump. There is no
 * Content-Length on purpose: curl then reads until the server's FIN, so the server always closes
 * first; with a length, curl may close as soon as the body is in, and the FIN order would vary.
 */
const HTTP_SERVER_PY = `
import socket
body = bytes(48 + i % 10 for i in range(5000))
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('${ADDRESS_B}', 80))
server.listen(1)
print('ready', flush=True)
conn, _ = server.accept()
request = b''
while b'\\r\\n\\r\\n' not in request:
    chunk = conn.recv(4096)
    if not chunk:
        break
    request += chunk
status = b'200 OK' if request.startswith(b'GET / ') else b'404 Not Found'
head = b'HTTP/1.1 ' + status + b'\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\n\\r\\n'
conn.sendall(head + body)
conn.close()
server.close()
`;

function inNamespace(namespace: string, command: string[]): string[] {
  return ['ip', 'netns', 'exec', namespace, ...command];
}

/** Run a command to completion, synchronously; its stderr becomes part of the error. */
function runSync(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${argv.join(' ')} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

/** Run a command to completion without blocking the event loop (tcpdump must keep draining). */
function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: STEP_TIMEOUT_MS }, (error, stdout, stderr) => {
      children.delete(child);
      if (error && typeof error.code !== 'number') reject(new Error(`${argv.join(' ')}: ${error.message}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
    children.add(child);
  });
}

async function runExpectingSuccess(argv: string[]): Promise<string> {
  const result = await run(argv);
  if (result.code !== 0) throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Start a long-running process and resolve once `ready` matches its stdout or stderr. */
async function startAndWaitFor(argv: string[], ready: RegExp, stream: 'stdout' | 'stderr'): Promise<ChildProcess> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${argv.join(' ')}: no ${ready} within ${STEP_TIMEOUT_MS} ms; output: ${output}`)),
      STEP_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', stream === 'stdout' ? onData : () => {});
    child.stderr.on('data', stream === 'stderr' ? onData : (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code ?? signal}) before it was ready; output: ${output}`));
    });
  });
  return child;
}

/** Send `signal` to a child we started (by its PID) and wait until it has exited. */
async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid !== undefined) process.kill(child.pid, signal);
  const timeout = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }, STEP_TIMEOUT_MS);
  await exited;
  clearTimeout(timeout);
}

function removeNamespaces(): void {
  for (const namespace of [NAMESPACE_A, NAMESPACE_B]) {
    try {
      execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' });
    } catch {
      // It did not exist: nothing to remove.
    }
  }
}

function setUpNamespaces(): void {
  removeNamespaces(); // leftovers of an interrupted run
  runSync(['ip', 'netns', 'add', NAMESPACE_A]);
  runSync(['ip', 'netns', 'add', NAMESPACE_B]);
  runSync(['ip', 'link', 'add', VETH_A, 'type', 'veth', 'peer', 'name', VETH_B]);
  runSync(['ip', 'link', 'set', VETH_A, 'netns', NAMESPACE_A]);
  runSync(['ip', 'link', 'set', VETH_B, 'netns', NAMESPACE_B]);
  for (const [namespace, device, address] of [
    [NAMESPACE_A, VETH_A, ADDRESS_A],
    [NAMESPACE_B, VETH_B, ADDRESS_B],
  ] as const) {
    // No IPv6: router solicitations and neighbour discovery would only add noise to the files.
    if (existsSync('/proc/sys/net/ipv6')) {
      runSync(inNamespace(namespace, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']));
    }
    runSync(['ip', '-n', namespace, 'addr', 'add', `${address}/24`, 'dev', device]);
    runSync(['ip', '-n', namespace, 'link', 'set', device, 'mtu', String(MTU), 'up']);
    runSync(['ip', '-n', namespace, 'link', 'set', 'lo', 'up']);
    runSync(inNamespace(namespace, ['python3', '-c', DISABLE_OFFLOADS_PY, device]));
  }
}

/**
 * Capture whatever `traffic` makes into test/fixtures/`name`. Neighbour caches are flushed first
 * so each file starts with the ARP exchange, as a fresh link would.
 */
async function capture(name: string, traffic: () => Promise<void>): Promise<void> {
  runSync(['ip', '-n', NAMESPACE_A, 'neigh', 'flush', 'dev', VETH_A]);
  runSync(['ip', '-n', NAMESPACE_B, 'neigh', 'flush', 'dev', VETH_B]);
  const file = join(fixturesDirectory, name);
  // --immediate-mode: without it packets still in the capture ring when SIGINT arrives are lost.
  const tcpdump = await startAndWaitFor(
    inNamespace(NAMESPACE_B, ['tcpdump', '-i', VETH_B, '-n', '-s', '0', '-U', '--immediate-mode', '-w', file]),
    /listening on/,
    'stderr',
  );
  let tcpdumpReport = '';
  tcpdump.stderr!.on('data', (chunk: Buffer) => (tcpdumpReport += chunk.toString('utf8')));
  try {
    await traffic();
    await sleep(300); // let the last replies reach the capture
  } finally {
    await stop(tcpdump, 'SIGINT');
  }
  // tcpdump drops to its own user before writing; hand the file to whoever owns the directory.
  const directory = statSync(fixturesDirectory);
  chownSync(file, directory.uid, directory.gid);
  const dropped = /(\d+) packets? dropped by kernel/.exec(tcpdumpReport);
  if (dropped && dropped[1] !== '0') throw new Error(`${name}: tcpdump reports ${dropped[1]} packets dropped by the kernel`);
  verify(name, file);
}

/** Read the file back with tcpdump: bad checksums or oversized packets mean offloads leaked in. */
function verify(name: string, file: string): void {
  const size = statSync(file).size;
  if (size > FIXTURE_SIZE_LIMIT) throw new Error(`${name} is ${size} bytes, over the ${FIXTURE_SIZE_LIMIT}-byte limit`);
  const decoded = runSync(['tcpdump', '-nvvr', file]);
  if (/incorrect|bad (udp |tcp |icmp )?cksum/i.test(decoded)) throw new Error(`${name} contains packets with bad checksums:\n${decoded}`);
  for (const match of decoded.matchAll(/proto \w+ \(\d+\), length (\d+)/g)) {
    if (Number(match[1]) > MTU) throw new Error(`${name} contains a ${match[1]}-byte packet, larger than the MTU`);
  }
  const packetCount = runSync(['tcpdump', '-nr', file])
    .split('\n')
    .filter((line) => line.trim() !== '').length;
  console.log(`wrote ${file}: ${packetCount} packets, ${size} bytes`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function captureIcmpEcho(): Promise<void> {
  await capture('icmp-echo.pcap', async () => {
    await runExpectingSuccess(inNamespace(NAMESPACE_A, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', ADDRESS_B]));
    await runExpectingSuccess(inNamespace(NAMESPACE_A, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-s', '4000', ADDRESS_B]));
  });
}

async function captureUdpEcho(): Promise<void> {
  const server = await startAndWaitFor(inNamespace(NAMESPACE_B, ['python3', '-u', '-c', UDP_ECHO_SERVER_PY]), /ready/, 'stdout');
  try {
    await capture('udp-echo.pcap', async () => {
      await runExpectingSuccess(inNamespace(NAMESPACE_A, ['python3', '-c', UDP_CLIENT_PY]));
    });
  } finally {
    await stop(server, 'SIGTERM');
  }
}

async function captureTcpHttp(): Promise<void> {
  const server = await startAndWaitFor(inNamespace(NAMESPACE_B, ['python3', '-u', '-c', HTTP_SERVER_PY]), /ready/, 'stdout');
  try {
    await capture('tcp-http.pcap', async () => {
      const result = await runExpectingSuccess(
        inNamespace(NAMESPACE_A, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://${ADDRESS_B}/`]),
      );
      if (result.trim() !== '200 5000') throw new Error(`curl got "${result.trim()}", expected "200 5000"`);
    });
  } finally {
    await stop(server, 'SIGTERM');
  }
}

async function captureTcpRst(): Promise<void> {
  await capture('tcp-rst.pcap', async () => {
    const result = await run(
      inNamespace(NAMESPACE_A, ['curl', '-s', '-o', '/dev/null', '--connect-timeout', '3', `http://${ADDRESS_B}:81/`]),
    );
    // curl's exit code 7: "Failed to connect", which is what a RST to the SYN gives.
    if (result.code !== 7) throw new Error(`curl to closed port 81 exited ${result.code}, expected 7 (connection refused)`);
  });
}

function cleanUp(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  removeNamespaces();
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('capture-fixtures: must run as root (it creates network namespaces and runs tcpdump)');
    process.exit(2);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
  mkdirSync(fixturesDirectory, { recursive: true });
  try {
    setUpNamespaces();
    await captureIcmpEcho();
    await captureUdpEcho();
    await captureTcpHttp();
    await captureTcpRst();
  } finally {
    cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(`capture-fixtures: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
