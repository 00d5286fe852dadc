/**
 * Issue 3 end to end: real UDP clients on the kernel side against the stack's UDP echo service,
 * ICMP port unreachable for closed ports, and the stack dialling a kernel UDP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedUdpPortClientPy, udpEchoClientPy } from '../support/kernel-clients.js';
import { declareRootRequirement, isRoot } from './root.js';
import { createNamespace, startStackInNamespace, waitForOutput, type Namespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

describe.skipIf(!isRoot)('UDP over a TUN device', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('echoes a small datagram to nc -u', async () => {
    const result = await env.exec('nc', ['-u', '-w', '2', env.stackAddress, '7'], { input: 'hello over udp\n', timeoutMs: 10_000 });
    expect(result.stdout).toBe('hello over udp\n');
  });

  it('echoes an 8000-byte datagram byte for byte (fragmented both ways)', async () => {
    const result = await env.exec('python3', ['-c', udpEchoClientPy('10.0.0.2'), '8000'], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('8000 same');
  });

  it('echoes the largest datagram IPv4 carries (65507 bytes)', async () => {
    const result = await env.exec('python3', ['-c', udpEchoClientPy('10.0.0.2'), '65507'], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('65507 same');
  });

  it('answers a datagram to a closed port with ICMP port unreachable (ECONNREFUSED)', async () => {
    const result = await env.exec('python3', ['-c', closedUdpPortClientPy('10.0.0.2')], { timeoutMs: 10_000 });
    expect(result.stdout.trim()).toBe('refused');
  });
});

describe.skipIf(!isRoot)('the stack dialling a kernel UDP server', () => {
  let ns: Namespace;
  beforeAll(async () => {
    ns = await createNamespace();
  });
  afterAll(async () => {
    await ns?.stop();
  });

  it('gets the answer of a UDP server on the kernel side', async () => {
    const server = ns.spawn('python3', [
      '-u',
      '-c',
      `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9000))
print('listening', flush=True)
data, addr = s.recvfrom(65535)
s.sendto(b'kernel says: ' + data, addr)
print('answered', addr, flush=True)`,
    ]);
    await waitForOutput(server, /listening/);
    const result = await ns.tsx(
      'scripts/examples/udp-client.ts',
      ['--tun', 'tsnu0', '--log', 'warn', '--connect', '10.0.0.1:9000', '--message', 'hi from the stack'],
      {
        timeoutMs: 30_000,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Received data: kernel says: hi from the stack');
    await waitForOutput(server, /answered \('10\.0\.0\.2', \d+\)/);
  });
});
