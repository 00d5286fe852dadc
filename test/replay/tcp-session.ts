/**
 * The replay of a captured curl-against-a-kernel-HTTP-server session (tcp-http.pcap over IPv4,
 * tcp6-http.pcap over IPv6), the same for both families: the client's segments are fed to a
 * stack serving the kernel server's bytes on port 80. The stack picks its own ISN, so each client
 * segment's acknowledgment number (and timestamp echo) is rewritten to the stack's sequence
 * space before it is injected. The family's part is only how a segment becomes a packet and back.
 */
import { expect } from 'vitest';
import { listen } from '../../src/api/net.js';
import type { Stack } from '../../src/stack.js';
import { seqAdd, seqDiff } from '../../src/tcp/seq.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from '../../src/wire/tcp.js';
import type { ReplayLink } from './replay-link.js';

/** A captured session: each segment and whether the client (rather than the kernel server) sent it. */
export type CapturedSession = Array<{ fromClient: boolean; segment: TcpSegment }>;

/** How segments of one family travel: as packets from the client to the stack, and back. */
export interface TcpWire {
  /** A client packet carrying `segment`, with a valid checksum. */
  packetOf(segment: TcpSegment): Uint8Array;
  /** The segments in the packets the stack sent (checked to be addressed to the client). */
  segmentsIn(packets: Uint8Array[]): TcpSegment[];
}

async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** The session's parts the tests check against. */
export function httpSessionParts(session: CapturedSession) {
  const fromClient = session.filter((s) => s.fromClient).map((s) => s.segment);
  const fromKernel = session.filter((s) => !s.fromClient).map((s) => s.segment);
  const kernelSynAck = fromKernel.find((s) => (s.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK))!;
  const kernelIss = kernelSynAck.seq;
  // The kernel server's byte stream, in sequence order.
  const bytes: number[] = [];
  for (const s of fromKernel) {
    const offset = seqDiff(s.seq, seqAdd(kernelIss, 1));
    s.payload.forEach((b, i) => (bytes[offset + i] = b));
  }
  return {
    fromClient,
    kernelIss,
    clientSyn: fromClient[0]!,
    kernelStream: Buffer.from(bytes),
    request: Buffer.concat(fromClient.map((s) => Buffer.from(s.payload))),
  };
}

/**
 * Replay `session` against `stack` (on `link`) and check that it answered as the kernel did, in
 * its own sequence space: `mss` is what the SYN-ACK must offer (the client's, which the link's
 * MTU allows), and no segment may carry more than it less the 12 bytes of timestamps.
 */
export async function replayHttpSession(
  stack: Stack,
  link: ReplayLink,
  wire: TcpWire,
  session: CapturedSession,
  mss: number,
): Promise<void> {
  const { fromClient, kernelIss, clientSyn, kernelStream, request } = httpSessionParts(session);
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
    for (const segment of wire.segmentsIn(link.drain())) {
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
    link.inject([wire.packetOf(segment)]);
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
  expect(synAck.options.mss).toBe(mss);
  expect(synAck.options.sackPermitted).toBe(true);
  expect(synAck.options.windowScale).toBeDefined();
  expect(synAck.options.timestamp?.echo).toBe(clientSyn.options.timestamp?.value);

  // The byte stream is the kernel's, segments fit the client's MSS, and a FIN follows it.
  const stream: number[] = [];
  for (const s of sent) s.payload.forEach((b, i) => (stream[seqDiff(s.seq, seqAdd(stackIss!, 1)) + i] = b));
  expect(Buffer.compare(Buffer.from(stream), kernelStream)).toBe(0);
  expect(Math.max(...sent.map((s) => s.payload.length))).toBeLessThanOrEqual(mss - 12);
  const fin = sent.find((s) => s.flags & TCP_FIN)!;
  expect(seqDiff(seqAdd(fin.seq, fin.payload.length), stackIss!)).toBe(1 + kernelStream.length);
  expect(sent.some((s) => s.flags & TCP_RST)).toBe(false);

  // Every byte and the FIN of the client were acknowledged.
  const clientEnd = seqAdd(clientSyn.seq, 1 + request.length + 1);
  expect(sent.some((s) => s.flags & TCP_ACK && s.ack === clientEnd)).toBe(true);
  // We closed first, so we end in TIME-WAIT (RFC 9293 3.6), like the kernel did.
  expect(stack.tcp.tableStats().states).toEqual({ 'TIME-WAIT': 1 });
  listener.close();
}

/**
 * Replay the SYN of a captured SYN-to-a-closed-port session (tcp-rst.pcap, tcp6-rst.pcap) and
 * check that `stack` answers with the RST+ACK the kernel sent (RFC 9293 3.10.7.1: seq 0, ack =
 * SYN + 1), and counts it.
 */
export function replayResetToClosedPort(stack: Stack, link: ReplayLink, wire: TcpWire, session: CapturedSession): void {
  const syn = session.find((s) => s.fromClient)!.segment;
  const kernelRst = session.find((s) => !s.fromClient)!.segment;
  link.inject([wire.packetOf(syn)]);
  const [rst] = wire.segmentsIn(link.drain());
  expect(rst).toBeDefined();
  expect(rst!.flags).toBe(kernelRst.flags);
  expect(rst!.seq).toBe(kernelRst.seq);
  expect(rst!.ack).toBe(kernelRst.ack);
  expect(rst!.sourcePort).toBe(kernelRst.sourcePort);
  expect(rst!.destinationPort).toBe(kernelRst.destinationPort);
  expect(stack.counters('tcp').get('resets_sent')).toBe(1);
}
