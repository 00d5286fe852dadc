/**
 * Replay of test/fixtures/icmp6-echo.pcap (real Linux: ping -6, and ping -6 -s 4000, between two
 * namespaces): the kernel's echo requests go to a stack at fd77::2, which must answer each exactly
 * as the kernel did (RFC 4443 4.2: same identifier, sequence and data; valid checksum), the
 * fragmented requests reassembled and the large replies fragmented to fit the link (RFC 8200 4.5).
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/stack.js';
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, parseIcmpv6Message } from '../../src/wire/icmpv6.js';
import { NEXT_HEADER_FRAGMENT, PROTOCOL_ICMPV6 } from '../../src/wire/ipv6.js';
import { flipBits } from '../support/bytes.js';
import { ReplayLink } from './replay-link.js';
import { CLIENT6, datagrams6Of, ipv6PacketsOf, isNeighbourDiscovery, packetsFrom, SERVER4, SERVER6 } from './replay6.js';

describe('replay: icmp6-echo.pcap', () => {
  const packets = ipv6PacketsOf('icmp6-echo.pcap');
  const fromClient = packetsFrom(packets, CLIENT6);
  const kernelReplies = datagrams6Of(packetsFrom(packets, SERVER6));
  const isFragment = (p: Uint8Array) => p[6] === NEXT_HEADER_FRAGMENT;

  function newStack(): { link: ReplayLink; stack: Stack } {
    const link = new ReplayLink(1500);
    return { link, stack: new Stack({ link, address: SERVER4, address6: 'fd77::2', manualTimers: true }) };
  }

  it('holds requests (some fragmented) and the kernel replies, neighbour discovery left out', () => {
    expect(packets.length).toBe(20);
    expect(fromClient.length).toBe(9);
    expect(fromClient.filter(isFragment).length).toBe(6);
    expect(kernelReplies.map((d) => [d.protocol, d.payload[0], d.payload.length, d.fragments])).toEqual([
      [PROTOCOL_ICMPV6, ICMPV6_ECHO_REPLY, 64, 1],
      [PROTOCOL_ICMPV6, ICMPV6_ECHO_REPLY, 64, 1],
      [PROTOCOL_ICMPV6, ICMPV6_ECHO_REPLY, 64, 1],
      [PROTOCOL_ICMPV6, ICMPV6_ECHO_REPLY, 4008, 3],
      [PROTOCOL_ICMPV6, ICMPV6_ECHO_REPLY, 4008, 3],
    ]);
  });

  it('answers every request exactly as the kernel did, the large replies fragmented to fit the MTU', () => {
    const { link, stack } = newStack();
    link.inject(fromClient);
    const sent = link.drain();
    expect(sent.every((p) => p.length <= 1500)).toBe(true);
    const ours = datagrams6Of(sent);
    expect(ours.length).toBe(kernelReplies.length);
    ours.forEach((datagram, i) => {
      const kernel = kernelReplies[i]!;
      expect(datagram.header.source).toBe(SERVER6);
      expect(datagram.header.destination).toBe(CLIENT6);
      expect(datagram.protocol).toBe(PROTOCOL_ICMPV6);
      expect(datagram.fragments > 1).toBe(kernel.fragments > 1);
      const mine = parseIcmpv6Message(datagram.payload, SERVER6, CLIENT6);
      const theirs = parseIcmpv6Message(kernel.payload, SERVER6, CLIENT6);
      if (!mine.ok || !theirs.ok) throw new Error(`reply ${i} does not parse (checksum over the IPv6 pseudo-header)`);
      expect(mine.message.type).toBe(ICMPV6_ECHO_REPLY);
      expect(mine.message.identifier).toBe(theirs.message.identifier);
      expect(mine.message.sequence).toBe(theirs.message.sequence);
      expect(Buffer.compare(mine.message.body, theirs.message.body)).toBe(0);
      // The whole ICMPv6 message is byte-identical to the kernel's, checksum included.
      expect(Buffer.compare(datagram.payload, kernel.payload)).toBe(0);
    });
    expect(stack.counters('icmpv6').get('echo_replies')).toBe(5);
    expect(stack.counters('ipv6').get('fragments_received')).toBe(6);
    expect(stack.counters('ipv6').get('fragments_sent')).toBe(sent.length - 3);
  });

  it('reassembles a fragmented request whose fragments arrive last first', () => {
    const { link } = newStack();
    const firstLarge = fromClient.filter(isFragment).slice(0, 3);
    link.inject([...firstLarge].reverse());
    const ours = datagrams6Of(link.drain());
    expect(ours.length).toBe(1);
    expect(Buffer.compare(ours[0]!.payload, kernelReplies[3]!.payload)).toBe(0);
  });

  it('answers nothing until the last fragment is in', () => {
    const { link } = newStack();
    const firstLarge = fromClient.filter(isFragment).slice(0, 3);
    link.inject(firstLarge.slice(0, 2));
    expect(link.drain()).toEqual([]);
    link.inject(firstLarge.slice(2));
    expect(datagrams6Of(link.drain()).length).toBe(1);
  });

  it('drops a request whose ICMPv6 checksum fails, without answering, and counts it', () => {
    const { link, stack } = newStack();
    const request = fromClient.find((p) => p[6] === PROTOCOL_ICMPV6 && p[40] === ICMPV6_ECHO_REQUEST)!;
    const damaged = Uint8Array.from(request);
    flipBits(damaged, damaged.length - 1, 0x01);
    link.inject([damaged]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('icmpv6').get('drop.bad_checksum')).toBe(1);
    // The same request undamaged is answered: the damage alone made the difference.
    link.inject([request]);
    expect(link.drain().length).toBe(1);
  });

  it('counts the kernel neighbour solicitation and sends nothing for it (a TUN device resolves no addresses)', () => {
    const { link, stack } = newStack();
    const solicitation = packets.filter(isNeighbourDiscovery).find((p) => p[40] === 135)!;
    expect(solicitation).toBeDefined();
    link.inject([solicitation]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('icmpv6').get('ignored_ndp')).toBe(1);
  });
});
