/**
 * Replay of real Linux TCP sessions (test/fixtures/tcp-http.pcap: curl against a python HTTP
 * server; tcp-rst.pcap: a SYN to a closed port). The client's packets are fed to the stack,
 * which serves the same bytes the kernel's server did. The stack picks its own ISN, so each
 * client packet's acknowledgment number (and timestamp echo) is rewritten to the stack's
 * sequence space before it is injected.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listen } from '../../src/api/net.js';
import { parseIPv4Address, readIPv4 } from '../../src/wire/address.js';
import { parseIPv4Packet, PROTOCOL_TCP } from '../../src/wire/ipv4.js';
import { readPcap } from '../../src/pcap/pcap.js';
import { Stack } from '../../src/stack.js';
import { parseTcpSegment, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../../src/wire/tcp.js';
import { seqAdd, seqDiff } from '../../src/tcp/seq.js';
import { tcpPacket } from '../support/packets.js';
import { ReplayLink } from './replay-link.js';

const CLIENT = parseIPv4Address('10.77.0.1')!;
const SERVER = parseIPv4Address('10.77.0.2')!;

function segmentsOf(file: string): Array<{ from: number; segment: TcpSegment }> {
  const packets = readPcap(readFileSync(new URL(`../fixtures/${file}`, import.meta.url))).map((r) => r.data);
  const out: Array<{ from: number; segment: TcpSegment }> = [];
  for (const packet of packets) {
    const ip = parseIPv4Packet(packet);
    if (!ip.ok || ip.header.protocol !== PROTOCOL_TCP) continue;
    const parsed = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
    if (!parsed.ok) throw new Error(`fixture segment does not parse: ${parsed.reason}`);
    out.push({ from: ip.header.source, segment: { ...parsed.segment, payload: parsed.segment.payload.slice(0) } });
  }
  return out;
}

/** A client packet: `segment` from CLIENT to SERVER. */
function packetOf(segment: TcpSegment): Uint8Array {
  return tcpPacket(segment, { source: CLIENT, destination: SERVER });
}

function sentSegments(packets: Uint8Array[]): TcpSegment[] {
  return packets.map((packet) => {
    const ip = parseIPv4Packet(packet);
    if (!ip.ok) throw new Error(`stack sent a bad IPv4 packet: ${ip.reason}`);
    expect(readIPv4(packet, 16)).toBe(CLIENT);
    const parsed = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
    if (!parsed.ok) throw new Error(`stack sent a bad TCP segment: ${parsed.reason}`);
    return { ...parsed.segment, payload: parsed.segment.payload.slice(0) };
  });
}

async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('replay: tcp-http.pcap (curl against a kernel HTTP server)', () => {
  const session = segmentsOf('tcp-http.pcap');
  const fromClient = session.filter((s) => s.from === CLIENT).map((s) => s.segment);
  const fromKernel = session.filter((s) => s.from === SERVER).map((s) => s.segment);
  const kernelSynAck = fromKernel.find((s) => (s.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK))!;
  const kernelIss = kernelSynAck.seq;
  const clientSyn = fromClient[0]!;
  // The kernel server's byte stream, in sequence order.
  const kernelStream = (() => {
    const bytes: number[] = [];
    for (const s of fromKernel) {
      const offset = seqDiff(s.seq, seqAdd(kernelIss, 1));
      s.payload.forEach((b, i) => (bytes[offset + i] = b));
    }
    return Buffer.from(bytes);
  })();
  const request = Buffer.concat(fromClient.map((s) => Buffer.from(s.payload)));

  it('holds a full session', () => {
    expect(clientSyn.flags & TCP_SYN).toBe(TCP_SYN);
    expect(clientSyn.options.mss).toBe(1460);
    expect(request.toString()).toMatch(/^GET \/ HTTP\/1\.1\r\n/);
    expect(kernelStream.toString('latin1')).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    expect(kernelStream.length).toBeGreaterThan(5000);
  });

  it('answers the client as the kernel did, in its own sequence space', async () => {
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER });
    const listener = await listen('tcp', ':80', { stack });
    const serving = (async () => {
      const conn = await listener.accept();
      const buffer = new Uint8Array(4096);
      let got = '';
      while (!got.includes('\r\n\r\n')) {
        const n = await conn.read(buffer);
        if (n === null) break;
        got += Buffer.from(buffer.subarray(0, n)).toString('latin1');
      }
      await conn.write(kernelStream);
      conn.close();
      return got;
    })();

    const sent: TcpSegment[] = [];
    let stackIss: number | undefined;
    let latestTsval = 0;
    const collect = () => {
      for (const segment of sentSegments(link.drain())) {
        sent.push(segment);
        if (segment.flags & TCP_SYN) stackIss = segment.seq;
        if (segment.options.timestamp) latestTsval = segment.options.timestamp.value;
      }
    };
    /** Highest sequence the stack has sent so far, relative to its ISN. */
    const sentUpTo = () =>
      sent.reduce(
        (max, s) =>
          Math.max(max, seqDiff(seqAdd(s.seq, s.payload.length + (s.flags & TCP_FIN ? 1 : 0) + (s.flags & TCP_SYN ? 1 : 0)), stackIss!)),
        0,
      );

    for (const original of fromClient) {
      const segment = { ...original, options: { ...original.options } };
      if (segment.flags & TCP_ACK) {
        const relativeAck = seqDiff(original.ack, kernelIss);
        // Wait for the stack to have sent what this packet acknowledges (it runs at its own pace).
        for (let i = 0; i < 200 && (stackIss === undefined || sentUpTo() < relativeAck); i++) {
          await turns(1);
          collect();
        }
        expect(stackIss).toBeDefined();
        segment.ack = seqAdd(stackIss!, relativeAck);
        if (segment.options.timestamp) segment.options.timestamp = { value: segment.options.timestamp.value, echo: latestTsval };
      }
      link.inject([packetOf(segment)]);
      await turns(3);
      collect();
    }
    await turns(10);
    collect();

    expect(await serving).toBe(request.toString('latin1'));

    // The SYN-ACK: acknowledges the client's SYN and offers the options the client offered.
    const synAck = sent.find((s) => s.flags & TCP_SYN)!;
    expect(synAck.flags & (TCP_SYN | TCP_ACK)).toBe(TCP_SYN | TCP_ACK);
    expect(synAck.ack).toBe(seqAdd(clientSyn.seq, 1));
    expect(synAck.options.mss).toBe(1460);
    expect(synAck.options.sackPermitted).toBe(true);
    expect(synAck.options.windowScale).toBeDefined();
    expect(synAck.options.timestamp?.echo).toBe(clientSyn.options.timestamp?.value);

    // The byte stream is the kernel's, segments fit the client's MSS, and a FIN follows it.
    const stream: number[] = [];
    for (const s of sent) s.payload.forEach((b, i) => (stream[seqDiff(s.seq, seqAdd(stackIss!, 1)) + i] = b));
    expect(Buffer.compare(Buffer.from(stream), kernelStream)).toBe(0);
    expect(Math.max(...sent.map((s) => s.payload.length))).toBeLessThanOrEqual(1460 - 12);
    const fin = sent.find((s) => s.flags & TCP_FIN)!;
    expect(seqDiff(seqAdd(fin.seq, fin.payload.length), stackIss!)).toBe(1 + kernelStream.length);
    expect(sent.some((s) => s.flags & TCP_RST)).toBe(false);

    // Every byte and the FIN of the client were acknowledged.
    const clientEnd = seqAdd(clientSyn.seq, 1 + request.length + 1);
    expect(sent.some((s) => s.flags & TCP_ACK && s.ack === clientEnd)).toBe(true);
    // We closed first, so we end in TIME-WAIT (RFC 9293 3.6), like the kernel did.
    expect(stack.tcp.tableStats().states).toEqual({ 'TIME-WAIT': 1 });
    listener.close();
  });
});

describe('replay: tcp-rst.pcap (SYN to a closed port)', () => {
  it('answers the SYN with the same RST+ACK the kernel sent', () => {
    const session = segmentsOf('tcp-rst.pcap');
    const syn = session.find((s) => s.from === CLIENT)!.segment;
    const kernelRst = session.find((s) => s.from === SERVER)!.segment;
    const link = new ReplayLink(1500);
    const stack = new Stack({ link, address: SERVER, manualTimers: true });
    link.inject([packetOf(syn)]);
    const [rst] = sentSegments(link.drain());
    expect(rst).toBeDefined();
    expect(rst!.flags).toBe(kernelRst.flags);
    expect(rst!.seq).toBe(kernelRst.seq);
    expect(rst!.ack).toBe(kernelRst.ack);
    expect(rst!.sourcePort).toBe(kernelRst.sourcePort);
    expect(rst!.destinationPort).toBe(kernelRst.destinationPort);
    expect(stack.counters('tcp').get('resets_sent')).toBe(1);
  });
});
