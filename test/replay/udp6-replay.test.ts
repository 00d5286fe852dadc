/**
 * Replay of test/fixtures/udp6-echo.pcap (real Linux: a python client and a UDP echo server on
 * port 7 over IPv6, plus one datagram to closed port 9999). A stack at fd77::2 running a UDP echo
 * service on port 7 must answer the client's datagrams as the kernel's server did (the 3000-byte
 * one reassembled, and its echo fragmented), and the datagram to the closed port with the same
 * ICMPv6 port unreachable (RFC 4443 3.1), quoting the same bytes.
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/stack.js';
import { ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, parseIcmpv6Message } from '../../src/wire/icmpv6.js';
import { PROTOCOL_UDP } from '../../src/wire/ipv4.js';
import { PROTOCOL_ICMPV6 } from '../../src/wire/ipv6.js';
import { parseUdpDatagram } from '../../src/wire/udp.js';
import { answersOfUdpEcho, ReplayLink } from './replay-link.js';
import { CLIENT6, datagrams6Of, ipv6PacketsOf, packetsFrom, SERVER4, SERVER6 } from './replay6.js';

describe('replay: udp6-echo.pcap', () => {
  const packets = ipv6PacketsOf('udp6-echo.pcap');
  const fromClient = packetsFrom(packets, CLIENT6);
  const kernelAnswers = datagrams6Of(packetsFrom(packets, SERVER6));

  it('answers the client exactly as the kernel did', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER4, address6: 'fd77::2' });
    const sent = await answersOfUdpEcho(stack, link, fromClient);
    const ours = datagrams6Of(sent);
    expect(sent.every((p) => p.length <= 1500)).toBe(true);
    for (const datagram of ours) {
      expect(datagram.header.source).toBe(SERVER6);
      expect(datagram.header.destination).toBe(CLIENT6);
    }

    const kernelUdp = kernelAnswers.filter((d) => d.protocol === PROTOCOL_UDP);
    const ourUdp = ours.filter((d) => d.protocol === PROTOCOL_UDP);
    expect(kernelUdp.map((d) => d.payload.length)).toEqual([8 + 5, 8 + 1000, 8 + 3000]);
    expect(ourUdp.length).toBe(kernelUdp.length);
    ourUdp.forEach((datagram, i) => {
      const kernel = kernelUdp[i]!;
      // The 3000-byte echo does not fit in one 1500-byte packet: fragmented, as the kernel's was.
      expect(datagram.fragments).toBe(kernel.fragments);
      const mine = parseUdpDatagram(datagram.payload, SERVER6, CLIENT6);
      const theirs = parseUdpDatagram(kernel.payload, SERVER6, CLIENT6);
      if (!mine.ok || !theirs.ok) throw new Error(`echo ${i} does not parse (checksum over the IPv6 pseudo-header)`);
      expect(mine.datagram.sourcePort).toBe(theirs.datagram.sourcePort);
      expect(mine.datagram.destinationPort).toBe(theirs.datagram.destinationPort);
      expect(Buffer.compare(mine.datagram.payload, theirs.datagram.payload)).toBe(0);
      // RFC 8200 8.1: a UDP checksum over IPv6 is never zero.
      expect(datagram.payload[6]! | datagram.payload[7]!).not.toBe(0);
    });

    const kernelIcmp = kernelAnswers.filter((d) => d.protocol === PROTOCOL_ICMPV6);
    const ourIcmp = ours.filter((d) => d.protocol === PROTOCOL_ICMPV6);
    expect(kernelIcmp.length).toBe(1);
    expect(ourIcmp.length).toBe(1);
    const mine = parseIcmpv6Message(ourIcmp[0]!.payload, SERVER6, CLIENT6);
    const theirs = parseIcmpv6Message(kernelIcmp[0]!.payload, SERVER6, CLIENT6);
    if (!mine.ok || !theirs.ok) throw new Error('port unreachable does not parse');
    expect([mine.message.type, mine.message.code]).toEqual([ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE]);
    expect([theirs.message.type, theirs.message.code]).toEqual([ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE]);
    // Both quote the whole offending packet (61 bytes: RFC 4443 2.4 (c), as much as fits in 1280).
    expect(theirs.message.body.length).toBe(61);
    expect(Buffer.compare(mine.message.body, theirs.message.body)).toBe(0);
    // The whole message is the kernel's, checksum included.
    expect(Buffer.compare(ourIcmp[0]!.payload, kernelIcmp[0]!.payload)).toBe(0);
    expect(stack.counters('udp').get('drop.no_port')).toBe(1);
  });
});
