/**
 * TCP and UDP over IPv6 between two stacks in memory (issue 11), through the real IP layers: UDP
 * both ways and ICMPv6 port unreachable reaching the sender's socket as ECONNREFUSED, a RST for a
 * port nobody listens on, and ICMPv6 Packet Too Big from a router on a 1280-byte path finding the
 * connection it quotes, whose data then arrives intact in segments that fit the path. (Through the
 * layers: the API does not dial IPv6 yet.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { NetErrorCode } from '../../../src/errors.js';
import { memoryLinkPair, type Link, type LinkReceiver } from '../../../src/link/link.js';
import { Stack } from '../../../src/stack.js';
import type { TcpConnection } from '../../../src/tcp/connection.js';
import type { UdpEndpoint } from '../../../src/udp/udp-layer.js';
import type { IPAddress } from '../../../src/wire/address6.js';
import { encodeIcmpv6Error, ICMPV6_PACKET_TOO_BIG } from '../../../src/wire/icmpv6.js';
import { IPV6_HEADER_LENGTH, PROTOCOL_ICMPV6, writeIPv6Header } from '../../../src/wire/ipv6.js';
import { ipv6 } from '../../support/fake-ip-layer.js';
import { pattern, waitFor } from '../../support/stack-pair.js';

const A6 = ipv6('fd00::1');
const B6 = ipv6('fd00::2');
const ROUTER6 = ipv6('fd00::fe');

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close();
});

/** Stacks A (10.0.0.1, fd00::1) and B (10.0.0.2, fd00::2); `wrap` sits on A's side of the link. */
function dualStackPair(wrap: (link: Link) => Link = (link) => link): { a: Stack; b: Stack } {
  const [linkA, linkB] = memoryLinkPair(1500);
  const a = new Stack({ link: wrap(linkA), address: '10.0.0.1', address6: A6 });
  const b = new Stack({ link: linkB, address: '10.0.0.2', address6: B6 });
  stacks.push(a, b);
  return { a, b };
}

function udpEndpoint(): UdpEndpoint & { datagrams: Array<{ source: IPAddress; payload: number[] }>; errors: NetErrorCode[] } {
  const datagrams: Array<{ source: IPAddress; payload: number[] }> = [];
  const errors: NetErrorCode[] = [];
  return {
    remote: undefined,
    datagrams,
    errors,
    deliver: (source, _port, payload) => datagrams.push({ source, payload: [...payload] }),
    deliverError: (code) => errors.push(code),
    shutdown: () => {},
  };
}

/**
 * A router on A's side with a 1280-byte next hop: an IPv6 packet from A larger than that is
 * dropped and answered with Packet Too Big (RFC 4443 3.2), counted in `reports`.
 */
function narrowPath(link: Link): Link & { reports: number } {
  let receiver: LinkReceiver = () => {};
  const path = {
    reports: 0,
    get mtu() {
      return link.mtu;
    },
    setReceiver(next: LinkReceiver) {
      receiver = next;
      link.setReceiver(next);
    },
    send(packet: Uint8Array, segmentSize?: number) {
      if (packet[0]! >> 4 !== 6 || packet.length <= 1280) {
        link.send(packet, segmentSize);
        return;
      }
      path.reports++;
      const body = encodeIcmpv6Error(ICMPV6_PACKET_TOO_BIG, 0, 1280, packet, ROUTER6, A6, IPV6_HEADER_LENGTH);
      writeIPv6Header(body, 0, {
        source: ROUTER6,
        destination: A6,
        nextHeader: PROTOCOL_ICMPV6,
        payloadLength: body.length - IPV6_HEADER_LENGTH,
      });
      setImmediate(() => receiver([body]));
    },
    close: () => link.close(),
  };
  return path;
}

/** A listener endpoint on the TCP layer that keeps what it accepts. */
function tcpListener(): { acceptQueueRoom: number; maxHalfOpen: number; enqueue(c: TcpConnection): void; accepted: TcpConnection[] } {
  const accepted: TcpConnection[] = [];
  return { acceptQueueRoom: 8, maxHalfOpen: 8, accepted, enqueue: (c) => accepted.push(c) };
}

describe('UDP and TCP over IPv6 between two stacks', () => {
  it('carries UDP both ways and turns an ICMPv6 port unreachable into ECONNREFUSED at the sender', async () => {
    const { a, b } = dualStackPair();
    const atA = udpEndpoint();
    const atB = udpEndpoint();
    a.udp.bind(5000, atA);
    b.udp.bind(7, atB);
    a.udp.send(5000, B6, 7, Uint8Array.from([1, 2, 3]));
    await waitFor(() => atB.datagrams.length === 1);
    expect(atB.datagrams[0]).toEqual({ source: A6, payload: [1, 2, 3] });
    b.udp.send(7, A6, 5000, Uint8Array.from([4, 5]));
    await waitFor(() => atA.datagrams.length === 1);
    expect(atA.datagrams[0]!.source).toBe(B6);
    a.udp.send(5000, B6, 9, Uint8Array.from([6]));
    await waitFor(() => atA.errors.length === 1);
    expect(atA.errors).toEqual(['ECONNREFUSED']);
    expect(b.counters('udp').get('drop.no_port')).toBe(1);
  });

  it('a dial to an IPv6 port nobody listens on is refused by a RST', async () => {
    const { a, b } = dualStackPair();
    const client = a.tcp.connect(B6, 81);
    let closedWith: NetErrorCode | undefined;
    client.events = { onClosed: (error) => (closedWith = error) };
    await waitFor(() => closedWith !== undefined);
    expect(closedWith).toBe('ECONNREFUSED');
    expect(b.counters('tcp').get('drop.no_connection')).toBe(1);
  });

  it('a Packet Too Big from a router on the path finds the connection it quotes; the data then arrives intact within 1280', async () => {
    let path: ReturnType<typeof narrowPath> | undefined;
    const { a, b } = dualStackPair((link) => (path = narrowPath(link)));
    const listener = tcpListener();
    b.tcp.listen(80, listener);
    const client = a.tcp.connect(B6, 80);
    await waitFor(() => listener.accepted.length === 1);
    expect(client.maxSegmentSize.send).toBe(1428);
    const data = pattern(200_000, 6);
    let written = 0;
    const received: Buffer[] = [];
    let have = 0;
    const server = listener.accepted[0]!;
    await waitFor(() => {
      written += client.write(data.subarray(written));
      const chunk = new Uint8Array(server.readableLength);
      server.read(chunk);
      received.push(Buffer.from(chunk));
      have += chunk.length;
      return have === data.length;
    }, 20_000);
    expect(Buffer.concat(received)).toEqual(Buffer.from(data));
    expect(path!.reports).toBeGreaterThan(0);
    expect(a.counters('tcp').get('pmtu_mss_reduced')).toBe(1);
    // RFC 8200 8.3: 1280 - 60, less 12 bytes of timestamps.
    expect(client.maxSegmentSize.send).toBe(1208);
    // Not left for the stacks' graceful close to wait on.
    client.abort();
    server.abort();
  });
});
