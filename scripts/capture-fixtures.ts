/**
 * Capture the pcap fixtures in test/fixtures from real Linux traffic (run as root:
 * `npx tsx scripts/capture-fixtures.ts`).
 *
 * Two network namespaces, tsnfix-a (10.77.0.1) and tsnfix-b (10.77.0.2), are joined by a veth
 * pair with MTU 1500. tcpdump listens on b's end while Linux tools in a talk to small servers in
 * b; each scenario goes to its own file. What each file holds is described in
 * test/fixtures/README.md.
 *
 * The IPv6 scenarios (the files named *6*) run on the same veth pair, with IPv6 switched on for it
 * only once the IPv4 ones are done (fd77::1 in a, fd77::2 in b). Name scenarios to capture only
 * those, e.g. `npx tsx scripts/capture-fixtures.ts icmp6-echo tcp6-http`: a fixture already
 * in use stays byte for byte as it is unless it is captured again on purpose.
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
const ADDRESS6_A = 'fd77::1';
const ADDRESS6_B = 'fd77::2';
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

/** The Python socket family and the address of b for one IP version. */
interface Family {
  socketFamily: 'AF_INET' | 'AF_INET6';
  serverAddress: string;
}

const IPV4: Family = { socketFamily: 'AF_INET', serverAddress: ADDRESS_B };
const IPV6: Family = { socketFamily: 'AF_INET6', serverAddress: ADDRESS6_B };

function udpEchoServerPy({ socketFamily, serverAddress }: Family): string {
  return `
import socket
sock = socket.socket(socket.${socketFamily}, socket.SOCK_DGRAM)
sock.bind(('${serverAddress}', 7))
print('ready', flush=True)
while True:
    data, peer = sock.recvfrom(65535)
    sock.sendto(data, peer)
`;
}

function udpClientPy({ socketFamily, serverAddress }: Family): string {
  return `
import socket, sys
echo = socket.socket(socket.${socketFamily}, socket.SOCK_DGRAM)
echo.settimeout(3)
echo.connect(('${serverAddress}', 7))
for payload in (b'hello', bytes(i % 251 for i in range(1000)), bytes(i % 251 for i in range(3000))):
    echo.send(payload)
    if echo.recv(65535) != payload:
        sys.exit('echo of %d bytes came back different' % len(payload))
closed = socket.socket(socket.${socketFamily}, socket.SOCK_DGRAM)
closed.settimeout(3)
closed.connect(('${serverAddress}', 9999))
closed.send(b'anyone there?')
try:
    closed.recv(100)
    sys.exit('port 9999 answered')
except ConnectionRefusedError:
    print('echoed 3 datagrams; port 9999 refused')
`;
}

/**
 * The body is the digits 0-9 repeated, 5000 bytes: easy to recognise in a hex dump. There is no
 * Content-Length on purpose: curl then reads until the server's FIN, so the server always closes
 * first; with a length, curl may close as soon as the body is in, and the FIN order would vary.
 */
function httpServerPy({ socketFamily, serverAddress }: Family): string {
  return `
import socket
body = bytes(48 + i % 10 for i in range(5000))
server = socket.socket(socket.${socketFamily}, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('${serverAddress}', 80))
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
}

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
 * Switch IPv6 on for the veth pair only (the IPv4 files were captured without it): no link-local
 * address (addr_gen_mode 1), so no duplicate address detection, no router solicitations and no
 * MLD reports for a link-local group; fd77::1 and fd77::2 added with nodad, usable at once. What
 * is left of the kernel's own traffic is neighbour discovery, which each file keeps (as the
 * IPv4 files keep ARP), and the MLD reports for the addresses' solicited-node groups, which the
 * capture filter leaves out (capture()).
 */
function enableIPv6(): void {
  for (const [namespace, device, address] of [
    [NAMESPACE_A, VETH_A, ADDRESS6_A],
    [NAMESPACE_B, VETH_B, ADDRESS6_B],
  ] as const) {
    runSync(
      inNamespace(namespace, [
        'sysctl',
        '-qw',
        `net.ipv6.conf.${device}.addr_gen_mode=1`,
        `net.ipv6.conf.${device}.accept_dad=0`,
        `net.ipv6.conf.${device}.accept_ra=0`,
        `net.ipv6.conf.${device}.router_solicitations=0`,
        `net.ipv6.conf.${device}.disable_ipv6=0`,
      ]),
    );
    runSync(['ip', '-n', namespace, '-6', 'addr', 'add', `${address}/64`, 'dev', device, 'nodad']);
  }
}

/**
 * tcpdump filter of the IPv6 captures: every packet but those with a hop-by-hop header, which
 * here are only the kernel's MLD reports (RFC 3810 5: sent with a router alert option). They are
 * sent on timers of their own after an address is added, so whether one fell into a file would
 * be chance; the stack (on a TUN device, no multicast) has nothing to do with them.
 */
const WITHOUT_MLD = ['not', '(ip6', 'and', 'ip6[6]', '==', '0)'];

/**
 * Capture whatever `traffic` makes into test/fixtures/`name`. Neighbour caches (ARP and NDP) are
 * flushed first so each file starts with address resolution, as a fresh link would. `filter` is a
 * tcpdump filter expression (none: every packet).
 */
async function capture(name: string, traffic: () => Promise<void>, filter: string[] = []): Promise<void> {
  runSync(['ip', '-n', NAMESPACE_A, 'neigh', 'flush', 'dev', VETH_A]);
  runSync(['ip', '-n', NAMESPACE_B, 'neigh', 'flush', 'dev', VETH_B]);
  const file = join(fixturesDirectory, name);
  // --immediate-mode: without it packets still in the capture ring when SIGINT arrives are lost.
  const tcpdump = await startAndWaitFor(
    inNamespace(NAMESPACE_B, ['tcpdump', '-i', VETH_B, '-n', '-s', '0', '-U', '--immediate-mode', '-w', file, ...filter]),
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
  // IPv6: the payload length excludes the 40-byte fixed header.
  for (const match of decoded.matchAll(/payload length: (\d+)/g)) {
    if (40 + Number(match[1]) > MTU) throw new Error(`${name} contains a ${40 + Number(match[1])}-byte IPv6 packet, larger than the MTU`);
  }
  const packetCount = runSync(['tcpdump', '-nr', file])
    .split('\n')
    .filter((line) => line.trim() !== '').length;
  console.log(`wrote ${file}: ${packetCount} packets, ${size} bytes`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ping: three echoes of 56 data bytes, then two of 4000 (fragmented both ways at MTU 1500). */
async function captureIcmpEcho(name: string, family: 4 | 6, filter: string[]): Promise<void> {
  const target = family === 4 ? ADDRESS_B : ADDRESS6_B;
  await capture(
    name,
    async () => {
      await runExpectingSuccess(inNamespace(NAMESPACE_A, ['ping', `-${family}`, '-n', '-c', '3', '-i', '0.2', '-W', '2', target]));
      await runExpectingSuccess(
        inNamespace(NAMESPACE_A, ['ping', `-${family}`, '-n', '-c', '2', '-i', '0.2', '-W', '2', '-s', '4000', target]),
      );
    },
    filter,
  );
}

async function captureUdpEcho(name: string, family: Family, filter: string[]): Promise<void> {
  const server = await startAndWaitFor(inNamespace(NAMESPACE_B, ['python3', '-u', '-c', udpEchoServerPy(family)]), /ready/, 'stdout');
  try {
    await capture(
      name,
      async () => {
        await runExpectingSuccess(inNamespace(NAMESPACE_A, ['python3', '-c', udpClientPy(family)]));
      },
      filter,
    );
  } finally {
    await stop(server, 'SIGTERM');
  }
}

/** An IPv6 literal goes in brackets in a URL (RFC 3986 3.2.2). */
function urlHost(family: Family): string {
  return family === IPV6 ? `[${family.serverAddress}]` : family.serverAddress;
}

async function captureTcpHttp(name: string, family: Family, filter: string[]): Promise<void> {
  const server = await startAndWaitFor(inNamespace(NAMESPACE_B, ['python3', '-u', '-c', httpServerPy(family)]), /ready/, 'stdout');
  try {
    await capture(
      name,
      async () => {
        // -g: the brackets of an IPv6 literal are not a curl glob.
        const result = await runExpectingSuccess(
          inNamespace(NAMESPACE_A, [
            'curl',
            '-g',
            '-s',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code} %{size_download}',
            `http://${urlHost(family)}/`,
          ]),
        );
        if (result.trim() !== '200 5000') throw new Error(`curl got "${result.trim()}", expected "200 5000"`);
      },
      filter,
    );
  } finally {
    await stop(server, 'SIGTERM');
  }
}

async function captureTcpRst(name: string, family: Family, filter: string[]): Promise<void> {
  await capture(
    name,
    async () => {
      const result = await run(
        inNamespace(NAMESPACE_A, ['curl', '-g', '-s', '-o', '/dev/null', '--connect-timeout', '3', `http://${urlHost(family)}:81/`]),
      );
      // curl's exit code 7: "Failed to connect", which is what a RST to the SYN gives.
      if (result.code !== 7) throw new Error(`curl to closed port 81 exited ${result.code}, expected 7 (connection refused)`);
    },
    filter,
  );
}

interface Scenario {
  /** The file in test/fixtures, without .pcap. */
  name: string;
  ipv6: boolean;
  capture: (name: string) => Promise<void>;
}

/** In capture order: the IPv4 scenarios first, since IPv6 stays on once enableIPv6 has run. */
const SCENARIOS: readonly Scenario[] = [
  { name: 'icmp-echo', ipv6: false, capture: (name) => captureIcmpEcho(name, 4, []) },
  { name: 'udp-echo', ipv6: false, capture: (name) => captureUdpEcho(name, IPV4, []) },
  { name: 'tcp-http', ipv6: false, capture: (name) => captureTcpHttp(name, IPV4, []) },
  { name: 'tcp-rst', ipv6: false, capture: (name) => captureTcpRst(name, IPV4, []) },
  { name: 'icmp6-echo', ipv6: true, capture: (name) => captureIcmpEcho(name, 6, WITHOUT_MLD) },
  { name: 'udp6-echo', ipv6: true, capture: (name) => captureUdpEcho(name, IPV6, WITHOUT_MLD) },
  { name: 'tcp6-http', ipv6: true, capture: (name) => captureTcpHttp(name, IPV6, WITHOUT_MLD) },
  { name: 'tcp6-rst', ipv6: true, capture: (name) => captureTcpRst(name, IPV6, WITHOUT_MLD) },
];

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
  const wanted = process.argv.slice(2).map((arg) => arg.replace(/\.pcap$/, ''));
  const unknown = wanted.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    console.error(`capture-fixtures: no scenario ${unknown.join(', ')}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const chosen = wanted.length === 0 ? SCENARIOS : SCENARIOS.filter((scenario) => wanted.includes(scenario.name));
  mkdirSync(fixturesDirectory, { recursive: true });
  try {
    setUpNamespaces();
    let ipv6On = false;
    for (const scenario of chosen) {
      if (scenario.ipv6 && !ipv6On) {
        enableIPv6();
        ipv6On = true;
      }
      await scenario.capture(`${scenario.name}.pcap`);
    }
  } finally {
    cleanUp();
  }
}

main().catch((error: unknown) => {
  console.error(`capture-fixtures: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
