/**
 * The stack's loopback address, 127.0.0.1 (issue 13 point 3: `localhost` is the stack's own
 * loopback). Only the stack's own sockets reach it, as with Linux's `lo`: from the link it is not
 * ours (RFC 1122 3.2.1.3 (g)). A connection's local address follows from its remote one, so
 * both ends of a loopback connection say 127.0.0.1, and a socket bound to 127.0.0.1 is
 * reachable through it alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dial, listen, listenPacket } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { TCP_SYN } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { tcpPacket, tcpSegment } from '../../support/packets.js';
import { expectCode, readAll, stackPair } from '../../support/stack-pair.js';

const LOOPBACK = parseIPv4Address('127.0.0.1')!;
const HOST = parseIPv4Address('10.0.0.1')!;

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close(0);
});

/** A stack at 10.0.0.2 on a link that records what it sends and takes crafted packets. */
function stackOnReplayLink(): { link: ReplayLink; stack: Stack } {
  const link = new ReplayLink(1500);
  const stack = new Stack({ link, address: '10.0.0.2', clock: new FakeClock(0), manualTimers: true });
  stacks.push(stack);
  return { link, stack };
}

describe('TCP over the loopback address', () => {
  it('connects localhost to a listener on every address, both ends on 127.0.0.1, nothing on the link', async () => {
    const { link, stack } = stackOnReplayLink();
    const listener = await listen('tcp', ':7', { stack });
    const accepting = listener.accept();
    const client = await dial('tcp', 'localhost:7', { stack });
    const server = await accepting;
    expect(client.remoteAddr.toString()).toBe('127.0.0.1:7');
    expect(client.localAddr.address).toBe('127.0.0.1');
    expect(server.localAddr.toString()).toBe('127.0.0.1:7');
    expect(server.remoteAddr.toString()).toBe(client.localAddr.toString());
    await client.write(new TextEncoder().encode('over lo'));
    client.closeWrite();
    expect((await readAll(server)).toString()).toBe('over lo');
    server.close();
    client.close();
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('looped_back')).toBeGreaterThan(0);
    listener.close();
  });

  it('reaches a listener bound to 127.0.0.1 from inside the stack only', async () => {
    const { a, b } = stackPair();
    stacks.push(a, b);
    const listener = await listen('tcp', '127.0.0.1:8080', { stack: b });
    expect(listener.addr.toString()).toBe('127.0.0.1:8080');
    const accepting = listener.accept();
    const inside = await dial('tcp', '127.0.0.1:8080', { stack: b });
    await accepting;
    // The stack's link address and the peer across the link find nobody on that port.
    await expectCode(dial('tcp', '10.0.0.2:8080', { stack: b }), 'ECONNREFUSED');
    await expectCode(dial('tcp', '10.0.0.2:8080', { stack: a }), 'ECONNREFUSED');
    inside.close();
    listener.close();
  });

  it('drops a segment for 127.0.0.1 that comes from the link, and answers nothing', () => {
    const { link, stack } = stackOnReplayLink();
    stack.tcp.listen(80, { acceptQueueRoom: 8, maxHalfOpen: 8, enqueue: () => undefined });
    const packet = tcpPacket(tcpSegment({ sourcePort: 40000, destinationPort: 80, seq: 1, ack: 0, flags: TCP_SYN }), {
      source: HOST,
      destination: LOOPBACK,
    });
    link.inject([packet]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.not_for_us')).toBe(1);
    expect(stack.counters('tcp').get('segments_received')).toBe(0);
  });
});

describe('UDP over the loopback address', () => {
  it('echoes between a socket bound to 127.0.0.1 and a connected one, both saying 127.0.0.1', async () => {
    const { stack } = stackOnReplayLink();
    const server = await listenPacket('udp', '127.0.0.1:53', { stack });
    expect(server.localAddr.toString()).toBe('127.0.0.1:53');
    const client = await dial('udp', 'localhost:53', { stack });
    expect(client.localAddr.address).toBe('127.0.0.1');
    await client.write(new Uint8Array([1, 2, 3]));
    const buffer = new Uint8Array(16);
    const { n, addr } = await server.readFrom(buffer);
    expect(n).toBe(3);
    expect(addr.toString()).toBe(client.localAddr.toString());
    await server.writeTo(buffer.subarray(0, n), addr);
    expect(await client.read(buffer)).toBe(3);
    client.close();
    server.close();
  });

  it('refuses a datagram to the stack address on a port bound to 127.0.0.1, with ICMP port unreachable', async () => {
    const { stack } = stackOnReplayLink();
    const server = await listenPacket('udp', '127.0.0.1:5353', { stack });
    const client = await dial('udp', '10.0.0.2:5353', { stack });
    await client.write(new Uint8Array([9]));
    await expectCode(client.read(new Uint8Array(16)), 'ECONNREFUSED');
    expect(stack.counters('udp').get('drop.no_port')).toBe(1);
    client.close();
    server.close();
  });

  it('turns ICMP port unreachable over loopback into ECONNREFUSED for a connected socket', async () => {
    const { stack } = stackOnReplayLink();
    const client = await dial('udp', '127.0.0.1:9', { stack });
    await client.write(new Uint8Array([1]));
    await expectCode(client.read(new Uint8Array(16)), 'ECONNREFUSED');
    expect(stack.counters('icmp').get('drop.bad_error_quote')).toBe(0);
    client.close();
  });
});

describe('addresses that are not ours or cannot be reached', () => {
  it('refuses to bind an address that is not the stack’s, and to dial one nothing can be sent to', async () => {
    const { stack } = stackOnReplayLink();
    await expectCode(listen('tcp', '10.0.0.9:80', { stack }), 'EADDRNOTAVAIL');
    await expectCode(listenPacket('udp', '127.0.0.2:53', { stack }), 'EADDRNOTAVAIL');
    const otherLoopback = await expectCode(dial('tcp', '127.0.0.2:80', { stack }), 'ENETUNREACH');
    expect(otherLoopback.message).toContain('127.0.0.1 alone');
    await expectCode(dial('tcp', '224.0.0.1:80', { stack }), 'ENETUNREACH');
    await expectCode(dial('udp', '255.255.255.255:53', { stack }), 'ENETUNREACH');
  });
});
