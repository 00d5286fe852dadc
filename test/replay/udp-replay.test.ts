/**
 * Replay of test/fixtures/udp-echo.pcap (real Linux: a python client and a UDP echo server on
 * port 7 in another namespace, plus one datagram to closed port 9999). The stack, running a UDP
 * echo service on port 7, must answer the client's datagrams as the kernel's server did, and
 * the datagram to the closed port with the same ICMP port unreachable.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIPv4Address, readIPv4 } from '../../src/wire/address.js';
import { ICMP_DEST_UNREACHABLE, parseIcmpMessage, PORT_UNREACHABLE } from '../../src/wire/icmpv4.js';
import { PROTOCOL_ICMP, PROTOCOL_UDP } from '../../src/wire/ipv4.js';
import { readPcap } from '../../src/pcap/pcap.js';
import { Stack } from '../../src/stack.js';
import { parseUdpDatagram } from '../../src/wire/udp.js';
import { answersOfUdpEcho, datagramsOf, ReplayLink } from './replay-link.js';

const CLIENT = parseIPv4Address('10.77.0.1')!;
const SERVER = parseIPv4Address('10.77.0.2')!;

describe('replay: udp-echo.pcap', () => {
  const packets = readPcap(readFileSync(new URL('../fixtures/udp-echo.pcap', import.meta.url))).map((r) => r.data);
  const fromClient = packets.filter((p) => readIPv4(p, 12) === CLIENT);
  const kernelAnswers = datagramsOf(packets.filter((p) => readIPv4(p, 12) === SERVER));

  it('answers the client exactly as the kernel did', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER });
    const ours = datagramsOf(await answersOfUdpEcho(stack, link, fromClient));
    const kernelUdp = kernelAnswers.filter((d) => d.header.protocol === PROTOCOL_UDP);
    const ourUdp = ours.filter((d) => d.header.protocol === PROTOCOL_UDP);
    expect(kernelUdp.length).toBe(3);
    expect(ourUdp.length).toBe(kernelUdp.length);
    ourUdp.forEach((datagram, i) => {
      const mine = parseUdpDatagram(datagram.payload, SERVER, CLIENT);
      const theirs = parseUdpDatagram(kernelUdp[i]!.payload, SERVER, CLIENT);
      expect(mine.ok && theirs.ok).toBe(true);
      if (!mine.ok || !theirs.ok) return;
      expect(mine.datagram.sourcePort).toBe(theirs.datagram.sourcePort);
      expect(mine.datagram.destinationPort).toBe(theirs.datagram.destinationPort);
      expect(Buffer.compare(mine.datagram.payload, theirs.datagram.payload)).toBe(0);
    });

    const kernelIcmp = kernelAnswers.filter((d) => d.header.protocol === PROTOCOL_ICMP);
    const ourIcmp = ours.filter((d) => d.header.protocol === PROTOCOL_ICMP);
    expect(kernelIcmp.length).toBe(1);
    expect(ourIcmp.length).toBe(1);
    const mine = parseIcmpMessage(ourIcmp[0]!.payload);
    const theirs = parseIcmpMessage(kernelIcmp[0]!.payload);
    expect(mine.ok && theirs.ok).toBe(true);
    if (!mine.ok || !theirs.ok) return;
    expect([mine.message.type, mine.message.code]).toEqual([ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE]);
    expect([theirs.message.type, theirs.message.code]).toEqual([ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE]);
    // Both quote the offending datagram's IP header and (at least) its first 8 bytes identically.
    expect(Buffer.compare(mine.message.body.subarray(0, 28), theirs.message.body.subarray(0, 28))).toBe(0);
    expect(stack.counters('udp').get('drop.no_port')).toBe(1);
  });
});
