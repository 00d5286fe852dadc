/**
 * What the kernel does with a TCP super-segment written to a TUN device with offloads
 * (tcp_gso_segment in net/ipv4/tcp_offload.c, after virtio_net_hdr_to_skb): cut the payload into
 * `segmentSize` pieces behind copies of the headers, advance the sequence number, count the IPv4
 * identification up, keep FIN and PSH on the last segment only, and finish each TCP checksum from
 * the partial one in the field: the pseudo-header sum with the whole super-segment's length,
 * adjusted to each segment's length (the kernel's `delta`). A wrong seed gives wrong checksums,
 * which parseTcpSegment then rejects.
 */
import { readUint16, writeUint16 } from '../../src/bytes.js';
import { finishChecksum, sumWords } from '../../src/wire/checksum.js';
import { writeIPv4Header, parseIPv4Packet, headerFieldsOf } from '../../src/wire/ipv4.js';
import { TCP_FIN, TCP_PSH } from '../../src/wire/tcp.js';

export function segmentLikeTheKernel(superSegment: Uint8Array, segmentSize: number): Uint8Array[] {
  const parsed = parseIPv4Packet(superSegment);
  if (!parsed.ok) throw new Error(`not an IPv4 packet: ${parsed.reason}`);
  const { header, payload: tcp } = parsed;
  const ipHeaderBytes = header.headerLength;
  const tcpHeaderBytes = (tcp[12]! >>> 4) * 4;
  const seed = readUint16(tcp, 16);
  const data = tcp.subarray(tcpHeaderBytes);
  const firstSeq = ((tcp[4]! << 24) | (tcp[5]! << 16) | (tcp[6]! << 8) | tcp[7]!) >>> 0;
  const segments: Uint8Array[] = [];
  for (let at = 0, index = 0; at < data.length; at += segmentSize, index++) {
    const piece = data.subarray(at, Math.min(at + segmentSize, data.length));
    const last = at + piece.length === data.length;
    const segmentLength = tcpHeaderBytes + piece.length;
    const packet = new Uint8Array(ipHeaderBytes + segmentLength);
    writeIPv4Header(packet, 0, { ...headerFieldsOf(header, segmentLength), identification: (header.identification + index) & 0xffff });
    const out = packet.subarray(ipHeaderBytes);
    out.set(tcp.subarray(0, tcpHeaderBytes));
    out.set(piece, tcpHeaderBytes);
    const seq = (firstSeq + at) >>> 0;
    out[4] = seq >>> 24;
    out[5] = (seq >>> 16) & 0xff;
    out[6] = (seq >>> 8) & 0xff;
    out[7] = seq & 0xff;
    if (!last) out[13] = out[13]! & ~(TCP_FIN | TCP_PSH);
    // One's complement: take the whole length out of the seed, put this segment's in.
    const adjusted = seed + (~tcp.length & 0xffff) + segmentLength;
    writeUint16(out, 16, 0);
    writeUint16(out, 16, finishChecksum(sumWords(out, 0, out.length, adjusted)));
    segments.push(packet);
  }
  return segments;
}
