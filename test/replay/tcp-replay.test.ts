/**
 * Replay of real Linux TCP sessions (test/fixtures/tcp-http.pcap: curl against a python HTTP
 * server; tcp-rst.pcap: a SYN to a closed port). The client's packets are fed to the stack,
 * which serves the same bytes the kernel's server did (tcp-session.ts, shared with the IPv6
 * replay in tcp6-replay.test.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIPv4Address, readIPv4 } from '../../src/wire/address.js';
import { parseIPv4Packet, PROTOCOL_TCP } from '../../src/wire/ipv4.js';
import { readPcap } from '../../src/pcap/pcap.js';
import { Stack } from '../../src/stack.js';
import { parseTcpSegment, TCP_SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { tcpPacket } from '../support/packets.js';
import { ReplayLink } from './replay-link.js';
import { httpSessionParts, replayHttpSession, replayResetToClosedPort, type CapturedSession, type TcpWire } from './tcp-session.js';

const CLIENT = parseIPv4Address('10.77.0.1')!;
const SERVER = parseIPv4Address('10.77.0.2')!;

function segmentsOf(file: string): CapturedSession {
  const packets = readPcap(readFileSync(new URL(`../fixtures/${file}`, import.meta.url))).map((r) => r.data);
  const out: CapturedSession = [];
  for (const packet of packets) {
    const ip = parseIPv4Packet(packet);
    if (!ip.ok || ip.header.protocol !== PROTOCOL_TCP) continue;
    const parsed = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
    if (!parsed.ok) throw new Error(`fixture segment does not parse: ${parsed.reason}`);
    out.push({ fromClient: ip.header.source === CLIENT, segment: { ...parsed.segment, payload: parsed.segment.payload.slice(0) } });
  }
  return out;
}

const wire: TcpWire = {
  packetOf: (segment) => tcpPacket(segment, { source: CLIENT, destination: SERVER }),
  segmentsIn: (packets) =>
    packets.map((packet): TcpSegment => {
      const ip = parseIPv4Packet(packet);
      if (!ip.ok) throw new Error(`stack sent a bad IPv4 packet: ${ip.reason}`);
      expect(readIPv4(packet, 16)).toBe(CLIENT);
      const parsed = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
      if (!parsed.ok) throw new Error(`stack sent a bad TCP segment: ${parsed.reason}`);
      return { ...parsed.segment, payload: parsed.segment.payload.slice(0) };
    }),
};

describe('replay: tcp-http.pcap (curl against a kernel HTTP server)', () => {
  const session = segmentsOf('tcp-http.pcap');

  it('holds a full session', () => {
    const { clientSyn, request, kernelStream } = httpSessionParts(session);
    expect(clientSyn.flags & TCP_SYN).toBe(TCP_SYN);
    expect(clientSyn.options.mss).toBe(1460);
    expect(request.toString()).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
    expect(kernelStream.toString('latin1')).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(kernelStream.length).toBeGreaterThan(5000);
  });

  it('answers the client as the kernel did, in its own sequence space', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER });
    await replayHttpSession(stack, link, wire, session, 1460);
  });
});

describe('replay: tcp-rst.pcap (SYN to a closed port)', () => {
  it('answers the SYN with the same RST+ACK the kernel sent', () => {
    const session = segmentsOf('tcp-rst.pcap');
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER, manualTimers: true });
    replayResetToClosedPort(stack, link, wire, session);
  });
});
