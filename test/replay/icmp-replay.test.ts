/**
 * Replay of test/fixtures/icmp-echo.pcap (real Linux: ping and ping -s 4000 between two
 * namespaces): the kernel's echo requests go to the stack, which must answer each exactly as the
 * kernel did (same id, sequence and payload, valid checksums), fragments included.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { flipBits } from '../support/bytes.js';
import { parseIPv4Address, readIPv4 } from '../../src/wire/address.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, parseIcmpMessage } from '../../src/wire/icmpv4.js';
import { PROTOCOL_ICMP } from '../../src/wire/ipv4.js';
import { readPcap } from '../../src/pcap/pcap.js';
import { Stack } from '../../src/stack.js';
import { datagramsOf, ReplayLink } from './replay-link.js';
import { copyBytes } from '../../src/bytes.js';

const CLIENT = parseIPv4Address('10.77.0.1')!;
const SERVER = parseIPv4Address('10.77.0.2')!;

describe('replay: icmp-echo.pcap', () => {
  const records = readPcap(readFileSync(new URL('../fixtures/icmp-echo.pcap', import.meta.url)));
  const packets = records.map((r) => r.data);
  const fromClient = packets.filter((p) => readIPv4(p, 12) === CLIENT);
  const kernelReplies = datagramsOf(packets.filter((p) => readIPv4(p, 12) === SERVER)).filter((d) => d.header.protocol === PROTOCOL_ICMP);

  it('holds requests (some fragmented) and the kernel replies', () => {
    expect(fromClient.length).toBeGreaterThan(5);
    expect(fromClient.some((p) => (p[6]! & 0x20) !== 0)).toBe(true);
    expect(kernelReplies.length).toBe(5);
  });

  it('answers every request exactly as the kernel did', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER, manualTimers: true });
    link.inject(fromClient);
    const sent = link.drain();
    // Every packet the stack sent is a well-formed IPv4 packet with a valid header checksum.
    for (const packet of sent) expect(internetChecksum(packet, 0, (packet[0]! & 0x0f) * 4)).toBe(0);
    // Large replies are fragmented to fit the MTU, as the kernel's were.
    expect(sent.every((p) => p.length <= 1500)).toBe(true);
    const ours = datagramsOf(sent);
    expect(ours.length).toBe(kernelReplies.length);
    ours.forEach((datagram, i) => {
      const kernel = kernelReplies[i]!;
      expect(datagram.header.destination).toBe(CLIENT);
      const mine = parseIcmpMessage(datagram.payload);
      const theirs = parseIcmpMessage(kernel.payload);
      expect(mine.ok && theirs.ok).toBe(true);
      if (!mine.ok || !theirs.ok) return;
      expect(mine.message.type).toBe(ICMP_ECHO_REPLY);
      expect(mine.message.identifier).toBe(theirs.message.identifier);
      expect(mine.message.sequence).toBe(theirs.message.sequence);
      expect(Buffer.compare(mine.message.body, theirs.message.body)).toBe(0);
      // The whole ICMP message is byte-identical to the kernel's, checksum included.
      expect(Buffer.compare(datagram.payload, kernel.payload)).toBe(0);
    });
    expect(stack.counters('icmp').get('echo_replies')).toBe(5);
  });

  it('drops a request whose IP checksum was damaged, and counts it', () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER, manualTimers: true });
    const request = fromClient.find((p) => p[9] === PROTOCOL_ICMP && p[20] === ICMP_ECHO_REQUEST && (p[6]! & 0x3f) === 0 && p[7] === 0)!;
    const damaged = copyBytes(request);
    flipBits(damaged, 10, 0x01);
    link.inject([damaged]);
    expect(link.drain()).toEqual([]);
    expect(stack.counters('ip').get('drop.bad_checksum')).toBe(1);
  });
});
