/**
 * What the integration tests run on the kernel side against the stack's demo services (src/demo/services.ts),
 * for either address family: shell lines around curl for GET /bytes/N and POST /upload, python
 * UDP clients, and reading ping's summary. A host with a ':' is IPv6 (a python AF_INET6 socket;
 * in a URL, in brackets with curl -g so the brackets are no glob).
 */

/** Reads stdin and checks byte i == i % 251 (what GET /bytes/N serves); prints "<length> ok|bad". */
const PATTERN_CHECK_PY = `
import sys
data = sys.stdin.buffer.read()
period = bytes(range(251))
expected = (period * (len(data) // 251 + 1))[:len(data)]
print(len(data), 'ok' if data == expected else 'bad')
`;

function isIPv6(host: string): boolean {
  return host.includes(':');
}

/** `http://host` with an IPv6 literal in brackets (RFC 3986 3.2.2). */
export function httpUrl(host: string, path = '/'): string {
  return `http://${isIPv6(host) ? `[${host}]` : host}${path}`;
}

/** A shell line: GET /bytes/`bytes` from `host` with curl into a pattern check; prints "<length> ok|bad". */
export function patternDownloadScript(host: string, bytes: number, maxSeconds: number): string {
  return `curl -g -sS --max-time ${maxSeconds} ${httpUrl(host, `/bytes/${bytes}`)} | python3 -c "${PATTERN_CHECK_PY.replace(/"/g, '\\"')}"`;
}

/**
 * A shell line: POST `bytes` random bytes to `host`'s /upload with curl; prints "want <bytes>
 * <sha256>" (what was sent) and "got <answer>" (the server's "<bytes> <sha256>"). Read it with
 * uploadOutcome.
 */
export function uploadScript(host: string, bytes: number, maxSeconds: number): string {
  return (
    `f=$(mktemp) && head -c ${bytes} /dev/urandom > $f && want=$(sha256sum $f | cut -d' ' -f1) && ` +
    `got=$(curl -g -sS --max-time ${maxSeconds} --data-binary @$f -H 'Content-Type: application/octet-stream' ${httpUrl(host, '/upload')}); ` +
    `rm -f $f; echo "want ${bytes} $want" && echo "got $got"`
  );
}

/** What uploadScript printed: what was sent and what the server counted, each "<bytes> <sha256>" (undefined if missing). */
export function uploadOutcome(stdout: string): { want: string | undefined; got: string | undefined } {
  return { want: /want (\d+ [0-9a-f]{64})/.exec(stdout)?.[1], got: /got (\d+ [0-9a-f]{64})/.exec(stdout)?.[1] };
}

function socketFamily(host: string): string {
  return isIPv6(host) ? 'socket.AF_INET6' : 'socket.AF_INET';
}

/** Python: send argv[1] bytes to `host`'s UDP echo (port 7) and print "<length> same|different" for the answer. */
export function udpEchoClientPy(host: string): string {
  return `
import socket, sys
size = int(sys.argv[1])
payload = bytes((i * 7 + 3) % 256 for i in range(size))
s = socket.socket(${socketFamily(host)}, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('${host}', 7))
s.send(payload)
data = s.recv(65535)
print(len(data), 'same' if data == payload else 'different')
`;
}

/**
 * Python: one datagram to closed port 9999 of `host` from a connected socket; prints "refused"
 * when the ICMP (or ICMPv6) port unreachable came back as ECONNREFUSED, else "answered" or
 * "timeout".
 */
export function closedUdpPortClientPy(host: string): string {
  return `
import socket
s = socket.socket(${socketFamily(host)}, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('${host}', 9999))
s.send(b'anyone there?')
try:
    s.recv(100)
    print('answered')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('timeout')
`;
}

/** ping's summary line: packets transmitted and received. */
export function lossOf(pingOutput: string): { transmitted: number; received: number } {
  const match = /(\d+) packets transmitted, (\d+) received/.exec(pingOutput);
  if (!match) throw new Error(`unexpected ping output: ${pingOutput}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

/**
 * The Go example server (docs/ARCHITECTURE.md, "Example programs") in python on a kernel socket
 * of the family of `wildcard` ('0.0.0.0' or '::'): print `listening`, read one line from one
 * client, print it with the client's address, answer `answer` and a newline, close.
 */
export function lineServerPy(wildcard: '0.0.0.0' | '::', port: number, answer: string): string {
  const family = wildcard === '::' ? 'socket.AF_INET6' : 'socket.AF_INET';
  return `import socket
s = socket.socket(${family}, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${wildcard}', ${port}))
s.listen(1)
print('listening', flush=True)
c, addr = s.accept()
line = c.makefile('rb').readline()
print('Received data:', line.decode().strip(), 'from', addr[0], flush=True)
c.sendall(${JSON.stringify(answer + '\n')}.encode())
c.close()`;
}
