/**
 * Replay of real Linux TCP sessions over IPv6 (test/fixtures/tcp6-http.pcap: curl -6 against a
 * python HTTP server; tcp6-rst.pcap: a SYN to a closed port), as tcp-replay.test.ts does for
 * IPv4: the client's segments are fed to a stack at fd77::2 serving the kernel server's bytes
 * (tcp-session.ts), and its answers are checked against the kernel's.
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/stack.js';
import { parseIPv6Packet, PROTOCOL_ICMPV6 } from '../../src/wire/ipv6.js';
import { parseTcpSegment, TCP_SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { PROTOCOL_TCP } from '../../src/wire/ipv4.js';
import { tcp6Packet } from '../support/packets6.js';
import { ReplayLink } from './replay-link.js';
import { CLIENT6, datagrams6Of, ipv6PacketsOf, SERVER4, SERVER6 } from './replay6.js';
import { httpSessionParts, replayHttpSession, replayResetToClosedPort, type CapturedSession, type TcpWire } from './tcp-session.js';

/** MSS over IPv6 at MTU 1500: 1500 - 40 (IPv6) - 20 (TCP), RFC 8200 8.3. */
const MSS6 = 1440;

function segmentsOf(file: string): CapturedSession {
  const out: CapturedSession = [];
  for (const datagram of datagrams6Of(ipv6PacketsOf(file))) {
    if (datagram.protocol === PROTOCOL_ICMPV6) continue; // neighbour discovery
    expect(datagram.protocol).toBe(PROTOCOL_TCP);
    const { source, destination } = datagram.header;
    const parsed = parseTcpSegment(datagram.payload, source, destination);
    if (!parsed.ok) throw new Error(`fixture segment does not parse: ${parsed.reason}`);
    out.push({ fromClient: source === CLIENT6, segment: { ...parsed.segment, payload: parsed.segment.payload.slice(0) } });
  }
  return out;
}

const wire: TcpWire = {
  packetOf: (segment) => tcp6Packet(segment, CLIENT6, SERVER6),
  segmentsIn: (packets) =>
    packets.map((packet): TcpSegment => {
      const ip = parseIPv6Packet(packet);
      if (!ip.ok) throw new Error(`stack sent a bad IPv6 packet: ${ip.reason}`);
      expect(ip.header.source).toBe(SERVER6);
      expect(ip.header.destination).toBe(CLIENT6);
      // No extension headers: a segment never needs fragmenting (it fits the MSS).
      expect(ip.header.nextHeader).toBe(PROTOCOL_TCP);
      const parsed = parseTcpSegment(ip.packet.subarray(40), ip.header.source, ip.header.destination);
      if (!parsed.ok) throw new Error(`stack sent a bad TCP segment: ${parsed.reason}`);
      return { ...parsed.segment, payload: parsed.segment.payload.slice(0) };
    }),
};

describe('replay: tcp6-http.pcap (curl -6 against a kernel HTTP server)', () => {
  const session = segmentsOf('tcp6-http.pcap');

  it('holds a full session', () => {
    const { clientSyn, request, kernelStream } = httpSessionParts(session);
    expect(clientSyn.flags & TCP_SYN).toBe(TCP_SYN);
    expect(clientSyn.options.mss).toBe(MSS6);
    expect(request.toString()).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: \[fd77::2\]\r\n/);
    expect(kernelStream.toString('latin1')).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(kernelStream.length).toBeGreaterThan(5000);
  });

  it('answers the client as the kernel did (handshake, data, FIN), in its own sequence space', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER4, address6: 'fd77::2' });
    await replayHttpSession(stack, link, wire, session, MSS6);
  });
});

describe('replay: tcp6-rst.pcap (SYN to a closed port over IPv6)', () => {
  it('answers the SYN with the same RST+ACK the kernel sent', () => {
    const session = segmentsOf('tcp6-rst.pcap');
    expect(session.length).toBe(2);
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER4, address6: 'fd77::2', manualTimers: true });
    replayResetToClosedPort(stack, link, wire, session);
  });
});
