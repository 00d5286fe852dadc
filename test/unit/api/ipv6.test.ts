/**
 * The API over IPv6 between two stacks in memory (A at 10.0.0.1 and fd00::1, B at 10.0.0.2 and
 * fd00::2): dial to a bracketed literal, a "tcp" listener taking both families while "tcp4" /
 * "tcp6" take one, addresses as Go and Node write them, node:http over IPv6, UDP with IPv6
 * peers, the IPv6 loopback, and listeners or sockets sharing a port when their bindings do not
 * overlap (as Linux's bind allows without SO_REUSEADDR).
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

describe('sharing a port between bindings that do not overlap', () => {
  it('tcp4 and tcp6 listeners on one port each take their own family; closing one leaves the other', async () => {
    const { a, b } = dualStackPair();
    const v4 = await listen('tcp4', ':8080', { stack: b });
    const v6 = await listen('tcp6', ':8080', { stack: b });
    const overV6 = await dial('tcp', '[fd00::2]:8080', { stack: a });
    const overV4 = await dial('tcp', '10.0.0.2:8080', { stack: a });
    expect((await v4.accept()).remoteAddr.toString()).toBe(`10.0.0.1:${overV4.localAddr.port}`);
    expect((await v6.accept()).remoteAddr.toString()).toBe(`[fd00::1]:${overV6.localAddr.port}`);
    v4.close();
    await expectCode(dial('tcp', '10.0.0.2:8080', { stack: a }), 'ECONNREFUSED');
    const again = await dial('tcp', '[fd00::2]:8080', { stack: a });
    expect((await v6.accept()).remoteAddr.family).toBe('IPv6');
    // The port is free again for IPv4.
    const v4Again = await listen('tcp4', ':8080', { stack: b });
    const overV4Again = await dial('tcp', '10.0.0.2:8080', { stack: a });
    expect((await v4Again.accept()).localAddr.toString()).toBe('10.0.0.2:8080');
    for (const conn of [overV4, overV6, again, overV4Again]) conn.close();
  });

  it('listeners on 127.0.0.1:80 and 10.0.0.2:80 each take their own address', async () => {
    const { a, b } = dualStackPair();
    const loopback = await listen('tcp', '127.0.0.1:80', { stack: b });
    const external = await listen('tcp', '10.0.0.2:80', { stack: b });
    const fromA = await dial('tcp', '10.0.0.2:80', { stack: a });
    const fromB = await dial('tcp', '127.0.0.1:80', { stack: b });
    expect((await external.accept()).remoteAddr.address).toBe('10.0.0.1');
    expect((await loopback.accept()).remoteAddr.address).toBe('127.0.0.1');
    external.close();
    await expectCode(dial('tcp', '10.0.0.2:80', { stack: a }), 'ECONNREFUSED');
    const fromBAgain = await dial('tcp', '127.0.0.1:80', { stack: b });
    expect((await loopback.accept()).localAddr.toString()).toBe('127.0.0.1:80');
    for (const conn of [fromA, fromB, fromBAgain]) conn.close();
  });

  it('refuses overlapping listeners with EADDRINUSE, as Linux without SO_REUSEADDR', async () => {
    const { b } = dualStackPair();
    await listen('tcp', ':80', { stack: b });
    await expectCode(listen('tcp4', ':80', { stack: b }), 'EADDRINUSE');
    await expectCode(listen('tcp6', '[fd00::2]:80', { stack: b }), 'EADDRINUSE');
    await listen('tcp4', ':81', { stack: b });
    await expectCode(listen('tcp', ':81', { stack: b }), 'EADDRINUSE');
    await expectCode(listen('tcp4', '127.0.0.1:81', { stack: b }), 'EADDRINUSE');
    // A specific IPv6 address beside an IPv4 wildcard shares; beside an IPv6 wildcard it does not.
    await listen('tcp6', '[fd00::2]:81', { stack: b });
    await listen('tcp6', ':82', { stack: b });
    await expectCode(listen('tcp6', '[fd00::2]:82', { stack: b }), 'EADDRINUSE');
    await listen('tcp4', '10.0.0.2:82', { stack: b });
  });

  it('udp4 and udp6 sockets share a port, each receiving its family; closing one leaves the other', async () => {
    const { a, b } = dualStackPair();
    const v4 = await listenPacket('udp4', ':5000', { stack: b });
    const v6 = await listenPacket('udp6', ':5000', { stack: b });
    await expectCode(listenPacket('udp', ':5000', { stack: b }), 'EADDRINUSE');
    await expectCode(listenPacket('udp', '10.0.0.2:5000', { stack: b }), 'EADDRINUSE');
    const sender = await listenPacket('udp', ':0', { stack: a });
    await sender.writeTo(new Uint8Array([6]), '[fd00::2]:5000');
    await sender.writeTo(new Uint8Array([4]), '10.0.0.2:5000');
    const buffer = new Uint8Array(10);
    const toV4 = await v4.readFrom(buffer);
    expect([buffer[0], toV4.addr.family]).toEqual([4, 'IPv4']);
    const toV6 = await v6.readFrom(buffer);
    expect([buffer[0], toV6.addr.family]).toEqual([6, 'IPv6']);
    await v6.writeTo(new Uint8Array([60]), toV6.addr);
    expect((await sender.readFrom(buffer)).addr.toString()).toBe('[fd00::2]:5000');
    v4.close();
    await sender.writeTo(new Uint8Array([7]), '[fd00::2]:5000');
    const later = await v6.readFrom(buffer);
    expect([buffer[0], later.to.toString()]).toEqual([7, '[fd00::2]:5000']);
  });

  it('UDP sockets on 127.0.0.1:53 and 10.0.0.2:53 each receive on their own address', async () => {
    const { a, b } = dualStackPair();
    const loopback = await listenPacket('udp', '127.0.0.1:53', { stack: b });
    const external = await listenPacket('udp', '10.0.0.2:53', { stack: b });
    await expectCode(listenPacket('udp4', ':53', { stack: b }), 'EADDRINUSE');
    const remote = await listenPacket('udp', ':0', { stack: a });
    const local = await listenPacket('udp', ':0', { stack: b });
    await remote.writeTo(new Uint8Array([1]), '10.0.0.2:53');
    await local.writeTo(new Uint8Array([2]), '127.0.0.1:53');
    const buffer = new Uint8Array(10);
    const first = await external.readFrom(buffer);
    expect([buffer[0], first.to.toString()]).toEqual([1, '10.0.0.2:53']);
    const second = await loopback.readFrom(buffer);
    expect([buffer[0], second.to.toString()]).toEqual([2, '127.0.0.1:53']);
  });
});
