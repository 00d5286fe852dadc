/**
 * UDP over IPv6 (issue 11) on a fake IP layer (test/support/fake-ip-layer.ts): delivery with the
 * IPv6 pseudo-header checksum, port unreachable for no socket or a socket of the other family
 * (Go's udp4 / udp6), the zero checksum refused, sending from our IPv6 address, and ICMPv6 errors
 * and packet too big found by their quote.
 */
import { describe, expect, it } from 'vitest';
import type { NetErrorCode } from '../../../src/errors.js';
import type { TransportQuote } from '../../../src/ip/transport-contract.js';
import { UdpLayer, type UdpEndpoint } from '../../../src/udp/udp-layer.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import type { IPAddress } from '../../../src/wire/address6.js';
import { PROTOCOL_UDP } from '../../../src/wire/ipv4.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../../src/wire/udp.js';
import { FakeIpLayer, ipv6 } from '../../support/fake-ip-layer.js';

const A4 = parseIPv4Address('10.0.0.1')!;
const B4 = parseIPv4Address('10.0.0.2')!;
const A6 = ipv6('fd00::a');
const B6 = ipv6('fd00::b');

interface Recorded {
  datagrams: Array<{ source: IPAddress; sourcePort: number; payload: number[]; destination: IPAddress }>;
  errors: Array<{ code: NetErrorCode; destination: IPAddress; port: number }>;
}

function endpoint(fields: Partial<Pick<UdpEndpoint, 'family' | 'boundAddress' | 'remote'>> = {}): UdpEndpoint & Recorded {
  const datagrams: Recorded['datagrams'] = [];
  const errors: Recorded['errors'] = [];
  return {
    remote: undefined,
    ...fields,
    datagrams,
    errors,
    deliver: (source, sourcePort, payload, destination) => datagrams.push({ source, sourcePort, payload: [...payload], destination }),
    deliverError: (code, destination, port) => errors.push({ code, destination, port }),
    shutdown: () => {},
  };
}

/** Our side B (10.0.0.2, fd00::b) with its UDP layer. */
function layer(): { ip: FakeIpLayer; udp: UdpLayer } {
  const [, ip] = FakeIpLayer.pair({ address: A4, address6: A6 }, { address: B4, address6: B6 });
  const udp = new UdpLayer(ip);
  ip.register(PROTOCOL_UDP, udp);
  return { ip, udp };
}

function datagram(from: IPAddress, to: IPAddress, destinationPort = 7, payload = [1, 2, 3]): Uint8Array {
  return encodeUdpDatagram(5000, destinationPort, Uint8Array.from(payload), from, to);
}

function quote(source: IPAddress, destination: IPAddress, sourcePort = 7): TransportQuote {
  return { protocol: PROTOCOL_UDP, source, destination, sourcePort, destinationPort: 5000, transport: new Uint8Array(8) };
}

describe('UDP over IPv6', () => {
  it('delivers a datagram checked over the IPv6 pseudo-header, with its IPv6 addresses', () => {
    const { ip, udp } = layer();
    const socket = endpoint();
    udp.bind(7, socket);
    ip.deliver(PROTOCOL_UDP, A6, B6, datagram(A6, B6));
    expect(socket.datagrams).toEqual([{ source: A6, sourcePort: 5000, payload: [1, 2, 3], destination: B6 }]);
    // The same bytes checked as if from another source fail: the pseudo-header covers 16-byte addresses.
    ip.deliver(PROTOCOL_UDP, ipv6('fd00::c'), B6, datagram(A6, B6));
    expect(udp.counters.get('drop.bad_checksum')).toBe(1);
    expect(socket.datagrams).toHaveLength(1);
  });

  it('drops a zero checksum over IPv6 (RFC 8200 8.1), which IPv4 takes as none', () => {
    const { ip, udp } = layer();
    const socket = endpoint();
    udp.bind(7, socket);
    const over6 = datagram(A6, B6);
    over6[6] = 0;
    over6[7] = 0;
    ip.deliver(PROTOCOL_UDP, A6, B6, over6);
    expect(socket.datagrams).toHaveLength(0);
    expect(udp.counters.get('dropped')).toBe(1);
    const over4 = datagram(A4, B4);
    over4[6] = 0;
    over4[7] = 0;
    ip.deliver(PROTOCOL_UDP, A4, B4, over4);
    expect(socket.datagrams).toHaveLength(1);
  });

  it('answers a datagram for a port nobody holds with a port unreachable about the IPv6 packet', () => {
    const { ip, udp } = layer();
    ip.deliver(PROTOCOL_UDP, A6, B6, datagram(A6, B6, 9));
    expect(udp.counters.get('drop.no_port')).toBe(1);
    expect(ip.portUnreachables).toHaveLength(1);
    expect(ip.portUnreachables[0]!.family).toBe(6);
    expect(ip.portUnreachables[0]!.header.source).toBe(A6);
  });

  describe('a socket`s family (Go`s udp4 / udp6) and bound address', () => {
    const cases: Array<{ name: string; fields: Partial<UdpEndpoint>; from: IPAddress; to: IPAddress; delivered: boolean }> = [
      { name: 'udp takes IPv6', fields: {}, from: A6, to: B6, delivered: true },
      { name: 'udp takes IPv4', fields: {}, from: A4, to: B4, delivered: true },
      { name: 'udp6 takes IPv6', fields: { family: 6 }, from: A6, to: B6, delivered: true },
      { name: 'udp6 refuses IPv4', fields: { family: 6 }, from: A4, to: B4, delivered: false },
      { name: 'udp4 refuses IPv6', fields: { family: 4 }, from: A6, to: B6, delivered: false },
      { name: 'bound to fd00::b refuses IPv4', fields: { boundAddress: B6 }, from: A4, to: B4, delivered: false },
      { name: 'bound to ::1 refuses fd00::b', fields: { boundAddress: ipv6('::1') }, from: A6, to: B6, delivered: false },
      { name: 'connected to fd00::a takes it', fields: { remote: { address: A6, port: 5000 } }, from: A6, to: B6, delivered: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const { ip, udp } = layer();
        const socket = endpoint(c.fields);
        udp.bind(7, socket);
        ip.deliver(PROTOCOL_UDP, c.from, c.to, datagram(c.from, c.to));
        expect(socket.datagrams).toHaveLength(c.delivered ? 1 : 0);
        expect(ip.portUnreachables).toHaveLength(c.delivered ? 0 : 1);
      });
    }

    it('a socket connected to an IPv4 peer does not take the same port from IPv6', () => {
      const { ip, udp } = layer();
      const socket = endpoint({ remote: { address: A4, port: 5000 } });
      udp.bind(7, socket);
      ip.deliver(PROTOCOL_UDP, A6, B6, datagram(A6, B6));
      expect(socket.datagrams).toHaveLength(0);
      expect(udp.counters.get('drop.not_from_connected_peer')).toBe(1);
    });
  });

  it('sends from our IPv6 address with the IPv6 pseudo-header checksum', () => {
    const { ip, udp } = layer();
    udp.send(7, A6, 5000, Uint8Array.from([9, 8, 7]));
    expect(ip.sent).toHaveLength(1);
    const [packet] = ip.sent;
    expect(packet!.source).toBe(B6);
    expect(packet!.destination).toBe(A6);
    const parsed = parseUdpDatagram(packet!.transport, B6, A6);
    expect(parsed.ok && [...parsed.datagram.payload]).toEqual([9, 8, 7]);
  });

  it('hands an ICMPv6 error to the socket whose port and family the quote names', () => {
    const { udp } = layer();
    const both = endpoint();
    const only4 = endpoint({ family: 4 });
    udp.bind(7, both);
    udp.bind(8, only4);
    udp.receiveIcmpError({ code: 'ECONNREFUSED', hard: true }, quote(B6, A6, 7));
    expect(both.errors).toEqual([{ code: 'ECONNREFUSED', destination: A6, port: 5000 }]);
    // A udp4 socket sent no IPv6 datagram: the error is nobody's.
    udp.receiveIcmpError({ code: 'ECONNREFUSED', hard: true }, quote(B6, A6, 8));
    expect(only4.errors).toHaveLength(0);
    expect(udp.counters.get('drop.icmp_no_socket')).toBe(1);
  });

  it('takes an ICMPv6 packet too big for a socket that could have sent the datagram, never IPv4 fragmentation needed', () => {
    const { udp } = layer();
    udp.bind(7, endpoint());
    udp.bind(8, endpoint({ family: 4 }));
    expect(udp.receivePathMtuReduced(quote(B6, A6, 7))).toBe(true);
    expect(udp.receivePathMtuReduced(quote(B6, A6, 8))).toBe(false);
    expect(udp.receivePathMtuReduced(quote(B6, A6, 9))).toBe(false);
    expect(udp.receivePathMtuReduced(quote(B4, A4, 7))).toBe(false);
  });
});
