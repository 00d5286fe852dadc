/**
 * Transparent listening (issue 12 point 1): a listener that accepts connections to every
 * destination that is not the stack's own, the original destination kept as the connection's
 * local address, while the stack's own address keeps answering as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dial, listen, listenPacket } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_TCP } from '../../../src/wire/ipv4.js';
import { parseTcpSegment, TCP_ACK, TCP_SYN } from '../../../src/wire/tcp.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { echoRequestPacket, tcpPacket, tcpSegment } from '../../support/packets.js';
import { expectCode, readAll, stackPair } from '../../support/stack-pair.js';

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close(0);
});

function pair(): { a: Stack; b: Stack } {
  const { a, b } = stackPair();
  stacks.push(a, b);
  return { a, b };
}

const CLIENT = parseIPv4Address('10.0.0.1')!;

/** An IPv4 packet carrying a SYN from CLIENT:`sourcePort` to `destination`:`port`. */
function synPacket(destination: string, port: number, sourcePort: number): Uint8Array {
  return tcpPacket(tcpSegment({ sourcePort, destinationPort: port, seq: 1000, ack: 0, flags: TCP_SYN }), {
    source: CLIENT,
    destination: parseIPv4Address(destination)!,
  });
}

describe('a transparent TCP listener', () => {
  it('accepts connections to many destinations, each with the destination as its local address', async () => {
    const { a, b } = pair();
    const listener = await listen('tcp', ':0', { stack: b, transparent: true });
    expect(listener.addr.toString()).toBe('0.0.0.0:0');
    for (const destination of ['192.0.2.5:80', '198.51.100.7:443', '203.0.113.9:22']) {
      const accepting = listener.accept();
      const client = await dial('tcp', destination, { stack: a });
      const server = await accepting;
      expect(server.localAddr.toString()).toBe(destination);
      expect(server.remoteAddr.toString()).toBe(client.localAddr.toString());
      expect(client.remoteAddr.toString()).toBe(destination);
      await client.write(new TextEncoder().encode(`to ${destination}`));
      client.closeWrite();
      expect((await readAll(server)).toString()).toBe(`to ${destination}`);
      server.close();
      client.close();
    }
    expect(b.counters('ip').get('transparent_delivered')).toBeGreaterThan(0);
    listener.close();
  });

  it('keeps the stack address as it was: its listeners answer, its closed ports refuse', async () => {
    const { a, b } = pair();
    const transparent = await listen('tcp', ':0', { stack: b, transparent: true });
    const own = await listen('tcp', ':7', { stack: b });
    const accepting = own.accept();
    await dial('tcp', '10.0.0.2:7', { stack: a });
    expect((await accepting).localAddr.toString()).toBe('10.0.0.2:7');
    await expectCode(dial('tcp', '10.0.0.2:9', { stack: a }), 'ECONNREFUSED');
    own.close();
    transparent.close();
  });

  it('tells apart two connections from one client port to two destinations', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', clock: new FakeClock(0), manualTimers: true });
    stacks.push(stack);
    stack.tcp.listenTransparent({ acceptQueueRoom: 8, maxHalfOpen: 8, enqueue: () => undefined });
    link.inject([synPacket('192.0.2.5', 80, 40000), synPacket('192.0.2.6', 80, 40000)]);
    const answers = link.drain().map((sent) => {
      const ip = parseIPv4Packet(sent);
      if (!ip.ok) throw new Error(ip.reason);
      const tcp = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
      if (!tcp.ok) throw new Error(tcp.reason);
      return { from: ip.header.source, flags: tcp.segment.flags & (TCP_SYN | TCP_ACK), ack: tcp.segment.ack };
    });
    expect(answers).toEqual([
      { from: parseIPv4Address('192.0.2.5'), flags: TCP_SYN | TCP_ACK, ack: 1001 },
      { from: parseIPv4Address('192.0.2.6'), flags: TCP_SYN | TCP_ACK, ack: 1001 },
    ]);
    expect(stack.tcp.connectionCount).toBe(2);
  });

  it('drops segments for foreign destinations when none listens, before and after', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', clock: new FakeClock(0), manualTimers: true });
    stacks.push(stack);
    link.inject([synPacket('192.0.2.5', 80, 40000)]);
    expect(link.drain()).toEqual([]);
    const listener = await listen('tcp', ':0', { stack, transparent: true });
    link.inject([synPacket('192.0.2.5', 80, 40001)]);
    expect(link.drain()).toHaveLength(1);
    listener.close();
    // Closing resets the handshake it left half open, and with it goes the transparent mode.
    expect(link.drain()).toHaveLength(1);
    expect(stack.counters('tcp').get('resets_sent')).toBe(1);
    link.inject([synPacket('192.0.2.5', 80, 40002), synPacket('224.0.0.5', 80, 40003)]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.not_for_us')).toBe(3);
  });

  it('counts a ping to another host while forwarding apart from other strays', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', clock: new FakeClock(0), manualTimers: true });
    stacks.push(stack);
    const ping = echoRequestPacket(1, 1, new Uint8Array(8), { source: CLIENT, destination: parseIPv4Address('192.0.2.5')! });
    link.inject([ping]);
    const listener = await listen('tcp', ':0', { stack, transparent: true });
    link.inject([ping]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.not_for_us')).toBe(1);
    expect(stack.counters('ip').get('drop.icmp_not_forwarded')).toBe(1);
    listener.close();
  });

  it('is one per stack, and listens on every port or none', async () => {
    const { b } = pair();
    const listener = await listen('tcp', ':0', { stack: b, transparent: true });
    await expectCode(listen('tcp', '0.0.0.0:0', { stack: b, transparent: true }), 'EADDRINUSE');
    await expectCode(listen('tcp', ':80', { stack: b, transparent: true }), 'EINVAL');
    listener.close();
    const again = await listen('tcp', '0.0.0.0:0', { stack: b, transparent: true });
    again.close();
  });

  it('never lets a transport that is not transparent send from a foreign address', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: '10.0.0.2', clock: new FakeClock(0), manualTimers: true });
    stacks.push(stack);
    const packet = new Uint8Array(IPV4_MIN_HEADER + 8);
    stack.ip.sendTransport(PROTOCOL_TCP, parseIPv4Address('192.0.2.5')!, CLIENT, packet);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.bad_source')).toBe(1);
  });
});

describe('a transparent UDP socket', () => {
  it('receives datagrams for every foreign destination, says where each was sent, and answers from there', async () => {
    const { a, b } = pair();
    const socket = await listenPacket('udp', ':0', { stack: b, transparent: true });
    const client = await dial('udp', '198.51.100.20:5353', { stack: a });
    await client.write(new Uint8Array([7, 7]));
    const buffer = new Uint8Array(16);
    const { n, addr, to } = await socket.readFrom(buffer);
    expect(n).toBe(2);
    expect(to.toString()).toBe('198.51.100.20:5353');
    expect(addr.toString()).toBe(client.localAddr.toString());
    await expectCode(socket.writeTo(buffer.subarray(0, n), addr), 'EINVAL');
    await socket.writeTo(new Uint8Array([8]), addr, { from: to });
    // The connected client takes it: it came from the address it dialled.
    expect(await client.read(buffer)).toBe(1);
    const plain = await listenPacket('udp', ':6000', { stack: b });
    await expectCode(plain.writeTo(new Uint8Array([1]), addr, { from: to }), 'EINVAL');
    await expectCode(listenPacket('udp', ':0', { stack: b, transparent: true }), 'EADDRINUSE');
    plain.close();
    client.close();
    socket.close();
  });
});
