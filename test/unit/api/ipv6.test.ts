/**
 * The API over IPv6 between two stacks in memory (A at 10.0.0.1 and fd00::1, B at 10.0.0.2 and
 * fd00::2): dial to a bracketed literal, a "tcp" listener taking both families while "tcp4" /
 * "tcp6" take one, addresses as Go and Node write them, node:http over IPv6, UDP with IPv6
 * peers, and the IPv6 loopback.
 */
import { request as httpRequest, createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { toDuplex } from '../../../src/api/duplex.js';
import { createHttpAgent } from '../../../src/api/http.js';
import { dial, listen, listenPacket } from '../../../src/api/net.js';
import { memoryLinkPair } from '../../../src/link/link.js';
import { Stack } from '../../../src/stack.js';
import { expectCode, readAll } from '../../support/stack-pair.js';

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close(0);
});

function dualStackPair(): { a: Stack; b: Stack } {
  const [linkA, linkB] = memoryLinkPair(1500);
  const a = new Stack({ link: linkA, address: '10.0.0.1', address6: 'fd00::1' });
  const b = new Stack({ link: linkB, address: '10.0.0.2', address6: 'fd00::2' });
  stacks.push(a, b);
  return { a, b };
}

describe('TCP over IPv6 through the API', () => {
  it('dials [fd00::2]:port and moves bytes both ways, addresses formatted as Go does', async () => {
    const { a, b } = dualStackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '[fd00::2]:7', { stack: a });
    const server = await accepting;
    expect(client.remoteAddr.toString()).toBe('[fd00::2]:7');
    expect(client.localAddr.family).toBe('IPv6');
    expect(client.localAddr.address).toBe('fd00::1');
    expect(server.remoteAddr.toString()).toBe(`[fd00::1]:${client.localAddr.port}`);
    expect(server.localAddr.toString()).toBe('[fd00::2]:7');
    const message = new TextEncoder().encode('hello over IPv6');
    await client.write(message);
    client.closeWrite();
    const received = await readAll(server);
    expect(received.toString()).toBe('hello over IPv6');
    await server.write(received);
    server.close();
    expect((await readAll(client)).toString()).toBe('hello over IPv6');
    client.close();
  });

  it('a "tcp" listener accepts both families; "tcp4" refuses IPv6 and "tcp6" refuses IPv4', async () => {
    const { a, b } = dualStackPair();
    const both = await listen('tcp', ':80', { stack: b });
    const v4only = await listen('tcp4', ':81', { stack: b });
    const v6only = await listen('tcp6', ':82', { stack: b });
    const overV4 = await dial('tcp', '10.0.0.2:80', { stack: a });
    const overV6 = await dial('tcp', '[fd00::2]:80', { stack: a });
    expect((await both.accept()).remoteAddr.family).toBe('IPv4');
    expect((await both.accept()).remoteAddr.family).toBe('IPv6');
    await expectCode(dial('tcp', '[fd00::2]:81', { stack: a }), 'ECONNREFUSED');
    await expectCode(dial('tcp', '10.0.0.2:82', { stack: a }), 'ECONNREFUSED');
    const v4 = await dial('tcp4', '10.0.0.2:81', { stack: a });
    const v6 = await dial('tcp6', '[fd00::2]:82', { stack: a });
    expect((await v4only.accept()).localAddr.toString()).toBe('10.0.0.2:81');
    expect((await v6only.accept()).localAddr.toString()).toBe('[fd00::2]:82');
    for (const conn of [overV4, overV6, v4, v6]) conn.close();
  });

  it('a listener bound to [fd00::2] takes IPv6 connections alone', async () => {
    const { a, b } = dualStackPair();
    const listener = await listen('tcp', '[fd00::2]:80', { stack: b });
    await expectCode(dial('tcp', '10.0.0.2:80', { stack: a }), 'ECONNREFUSED');
    const client = await dial('tcp', '[fd00::2]:80', { stack: a });
    expect((await listener.accept()).localAddr.address).toBe('fd00::2');
    client.close();
  });

  it('dials the IPv6 address a resolver answers, and localhost as ::1 for tcp6', async () => {
    const { a, b } = dualStackPair();
    const listener = await listen('tcp', ':80', { stack: b });
    const client = await dial('tcp', 'b.test:80', { stack: a, resolver: async () => ['fd00::2'] });
    expect(client.remoteAddr.toString()).toBe('[fd00::2]:80');
    await listener.accept();
    client.close();

    const local = await listen('tcp', '[::1]:0', { stack: a });
    const loopback = await dial('tcp6', `localhost:${local.addr.port}`, { stack: a });
    const accepted = await local.accept();
    expect(loopback.localAddr.address).toBe('::1');
    expect(accepted.remoteAddr.address).toBe('::1');
    expect(local.addr.toString()).toBe(`[::1]:${local.addr.port}`);
    loopback.close();
  });

  it('toDuplex says IPv6 as net.Socket does, and node:http serves over it', async () => {
    const { a, b } = dualStackPair();
    const listener = await listen('tcp', ':80', { stack: b });
    const http = createServer((request, response) => {
      const socket = request.socket as unknown as { remoteAddress: string; remoteFamily: string };
      response.end(`${socket.remoteFamily} ${socket.remoteAddress}`);
    });
    void (async () => {
      for await (const conn of listener) http.emit('connection', toDuplex(conn, { allowHalfOpen: true }));
    })();
    const agent = createHttpAgent({ stack: a });
    const body = await new Promise<string>((resolve, reject) => {
      // As node:http hands an IPv6 URL's host over: without brackets.
      const outgoing = httpRequest({ host: 'fd00::2', port: 80, path: '/', agent }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
      });
      outgoing.on('error', reject);
      outgoing.end();
    });
    expect(body).toBe('IPv6 fd00::1');
    const client = toDuplex(await dial('tcp', '[fd00::2]:80', { stack: a }));
    expect(client.remoteFamily).toBe('IPv6');
    expect(client.remoteAddress).toBe('fd00::2');
    expect(client.address()).toEqual({ address: 'fd00::1', family: 'IPv6', port: client.localPort });
    client.destroy();
    agent.destroy();
    http.close();
  });
});

describe('UDP over IPv6 through the API', () => {
  it('readFrom gives the IPv6 sender, writeTo answers it, a connected socket reads the answer', async () => {
    const { a, b } = dualStackPair();
    const server = await listenPacket('udp', ':53', { stack: b });
    const client = await dial('udp', '[fd00::2]:53', { stack: a });
    expect(client.localAddr.toString()).toBe(`[fd00::1]:${client.localAddr.port}`);
    await client.write(new TextEncoder().encode('query'));
    const buffer = new Uint8Array(100);
    const { n, addr, to } = await server.readFrom(buffer);
    expect(new TextDecoder().decode(buffer.subarray(0, n))).toBe('query');
    expect(addr.toString()).toBe(`[fd00::1]:${client.localAddr.port}`);
    expect(to.toString()).toBe('[fd00::2]:53');
    await server.writeTo(new TextEncoder().encode('answer'), addr);
    const m = await client.read(buffer);
    expect(new TextDecoder().decode(buffer.subarray(0, m))).toBe('answer');
  });

  it('a udp4 socket does not receive IPv6 datagrams, a udp6 one does', async () => {
    const { a, b } = dualStackPair();
    const v4 = await listenPacket('udp4', ':5000', { stack: b });
    const sender = await listenPacket('udp', ':0', { stack: a });
    await sender.writeTo(new Uint8Array([6]), '[fd00::2]:5000');
    await sender.writeTo(new Uint8Array([4]), '10.0.0.2:5000');
    const buffer = new Uint8Array(10);
    const first = await v4.readFrom(buffer);
    expect(buffer[0]).toBe(4);
    expect(first.addr.family).toBe('IPv4');
  });
});
