/**
 * The UDP forwarder (issue 12): stack B forwards datagrams stack A sends to foreign addresses,
 * its kernel sockets' sends redirected to an echo server on 127.0.0.1; the answers come back to A
 * from the address A sent to. Flows expire when idle, and the flow cap drops what is beyond.
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from '../../../src/api/net.js';
import { UdpForwarder } from '../../../src/forward/udp-forwarder.js';
import type { Stack } from '../../../src/stack.js';
import { stackPair, waitFor } from '../../support/stack-pair.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A kernel UDP echo server on 127.0.0.1 that prefixes its answers with "echo:"; its port. */
async function kernelEcho(): Promise<number> {
  const server = createSocket('udp4');
  server.on('message', (message, remote) => server.send(Buffer.concat([Buffer.from('echo:'), message]), remote.port, remote.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server.address().port;
}

async function forwarding(
  options: { maxFlows?: number; idleTimeoutMs?: number } = {},
): Promise<{ a: Stack; b: Stack; forwarder: UdpForwarder }> {
  const port = await kernelEcho();
  const { a, b } = stackPair();
  const forwarder = await UdpForwarder.start(b, { ...options, redirect: () => ({ address: '127.0.0.1', port }) });
  cleanups.push(async () => {
    forwarder.close();
    await a.close(0);
    await b.close(0);
  });
  return { a, b, forwarder };
}

describe('UdpForwarder', () => {
  it('relays a request and its answer, the answer coming from the address it was sent to', async () => {
    const { a, b, forwarder } = await forwarding();
    const socket = await dial('udp', '192.0.2.53:53', { stack: a });
    await socket.write(new TextEncoder().encode('query'));
    const buffer = new Uint8Array(100);
    // A connected socket only takes datagrams from its peer: this answer came from 192.0.2.53:53.
    const n = await socket.read(buffer);
    expect(Buffer.from(buffer.subarray(0, n)).toString()).toBe('echo:query');
    expect(forwarder.openFlows).toBe(1);
    const counters = b.counters('forward');
    expect(counters.get('udp_flows_opened')).toBe(1);
    expect(counters.get('bytes_to_server')).toBe(5);
    expect(counters.get('bytes_to_client')).toBe(10);
    socket.close();
  });

  it('closes a flow after its idle time', async () => {
    const { a, b, forwarder } = await forwarding({ idleTimeoutMs: 40 });
    const socket = await dial('udp', '192.0.2.53:53', { stack: a });
    await socket.write(new Uint8Array([1]));
    await socket.read(new Uint8Array(16));
    await waitFor(() => forwarder.openFlows === 0, 2000);
    expect(b.counters('forward').get('udp_flows_expired')).toBe(1);
    expect(b.counters('forward').get('udp_flows_open')).toBe(0);
    socket.close();
  });

  it('drops datagrams that would open a flow beyond the cap', async () => {
    const { a, b, forwarder } = await forwarding({ maxFlows: 1 });
    const first = await dial('udp', '192.0.2.53:53', { stack: a });
    await first.write(new Uint8Array([1]));
    await first.read(new Uint8Array(16));
    const second = await dial('udp', '192.0.2.54:53', { stack: a });
    await second.write(new Uint8Array([2]));
    await waitFor(() => b.counters('forward').get('udp_over_limit') === 1);
    expect(forwarder.openFlows).toBe(1);
    first.close();
    second.close();
  });
});
