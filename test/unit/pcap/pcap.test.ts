import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readUint16, readUint32, writeUint16, writeUint32 } from '../../../src/bytes.js';
import { internetChecksum, pseudoHeaderSum, sumWords, finishChecksum } from '../../../src/wire/checksum.js';
import { memoryLinkPair } from '../../../src/link/link.js';
import { tapLink, type TapDirection } from '../../../src/link/tap.js';
import { PcapWriter, readPcap, type PcapRecord } from '../../../src/pcap/pcap.js';
import { parseIPv6Address } from '../../../src/wire/address6.js';
import { encodeIcmpv6EchoRequest } from '../../../src/wire/icmpv6.js';
import { IPV6_HEADER_LENGTH, PROTOCOL_ICMPV6, writeIPv6Header } from '../../../src/wire/ipv6.js';

const fixturesDirectory = fileURLToPath(new URL('../../fixtures/', import.meta.url));

function readFixture(name: string): PcapRecord[] {
  return readPcap(new Uint8Array(readFileSync(join(fixturesDirectory, name))));
}

/** A hand-built IPv4/UDP packet 10.0.0.1:1234 -> 10.0.0.2:7, with valid IP and UDP checksums. */
function udpPacket(payload: Uint8Array, identification = 1): Uint8Array {
  const packet = new Uint8Array(28 + payload.length);
  packet[0] = 0x45;
  writeUint16(packet, 2, packet.length);
  writeUint16(packet, 4, identification);
  packet[8] = 64;
  packet[9] = 17;
  writeUint32(packet, 12, 0x0a000001);
  writeUint32(packet, 16, 0x0a000002);
  writeUint16(packet, 10, internetChecksum(packet, 0, 20));
  writeUint16(packet, 20, 1234);
  writeUint16(packet, 22, 7);
  writeUint16(packet, 24, 8 + payload.length);
  packet.set(payload, 28);
  const sum = pseudoHeaderSum(0x0a000001, 0x0a000002, 17, 8 + payload.length);
  writeUint16(packet, 26, finishChecksum(sumWords(packet, 20, 8 + payload.length, sum)) || 0xffff);
  return packet;
}

/** The fields of an IPv4 header the fixture checks need, read by hand. */
function ipv4(packet: Uint8Array) {
  const headerLength = (packet[0]! & 0x0f) * 4;
  const totalLength = readUint16(packet, 2);
  const flagsFragment = readUint16(packet, 6);
  return {
    version: packet[0]! >> 4,
    headerLength,
    totalLength,
    identification: readUint16(packet, 4),
    moreFragments: (flagsFragment & 0x2000) !== 0,
    fragmentOffset: (flagsFragment & 0x1fff) * 8,
    protocol: packet[9]!,
    source: readUint32(packet, 12),
    destination: readUint32(packet, 16),
    headerChecksumOk: internetChecksum(packet, 0, headerLength) === 0,
    payload: packet.subarray(headerLength, totalLength),
  };
}

/** TCP option kinds in order (kind 0 ends the list; 1 is a one-byte NOP; others carry a length). */
function optionKinds(options: Uint8Array): number[] {
  const kinds: number[] = [];
  let offset = 0;
  while (offset < options.length && options[offset] !== 0) {
    const kind = options[offset]!;
    kinds.push(kind);
    offset += kind === 1 ? 1 : options[offset + 1]!;
  }
  return kinds;
}

const A = 0x0a4d0001; // 10.77.0.1
const B = 0x0a4d0002; // 10.77.0.2

/** Build a pcap file by hand, for reader cases PcapWriter never produces. */
function pcapFile(
  options: { littleEndian: boolean; magic: number; linkType: number; versionMajor?: number },
  frames: { seconds: number; fraction: number; data: Uint8Array }[],
): Uint8Array {
  const size = 24 + frames.reduce((total, frame) => total + 16 + frame.data.length, 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  const le = options.littleEndian;
  view.setUint32(0, options.magic, le);
  view.setUint16(4, options.versionMajor ?? 2, le);
  view.setUint16(6, 4, le);
  view.setUint32(16, 65535, le);
  view.setUint32(20, options.linkType, le);
  let offset = 24;
  for (const frame of frames) {
    view.setUint32(offset, frame.seconds, le);
    view.setUint32(offset + 4, frame.fraction, le);
    view.setUint32(offset + 8, frame.data.length, le);
    view.setUint32(offset + 12, frame.data.length, le);
    bytes.set(frame.data, offset + 16);
    offset += 16 + frame.data.length;
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

describe('PcapWriter', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'tsnfix-pcap-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('round-trips packets and timestamps through readPcap', () => {
    const path = join(directory, 'round.pcap');
    const packets = [
      udpPacket(new TextEncoder().encode('hello'), 1),
      udpPacket(new Uint8Array(1000).fill(7), 2),
      udpPacket(new Uint8Array(0), 3),
    ];
    const stamps = [1_700_000_000_123.456, 1_700_000_001_000, 5.5];
    const writer = PcapWriter.open(path);
    packets.forEach((packet, i) => writer.write(packet, stamps[i]));
    writer.close();
    writer.close(); // idempotent

    const bytes = new Uint8Array(readFileSync(path));
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(0xa1b2c3d4);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(16, true)).toBe(262144);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(20, true)).toBe(101);
    const records = readPcap(bytes);
    expect(records.map((r) => Array.from(r.data))).toEqual(packets.map((p) => Array.from(p)));
    records.forEach((record, i) => expect(record.timestampMs).toBeCloseTo(stamps[i]!, 3));
  });

  it('copies packets at write time, so the caller may reuse its buffer', () => {
    const path = join(directory, 'copy.pcap');
    const writer = PcapWriter.open(path);
    const packet = udpPacket(new Uint8Array([1, 2, 3]));
    const original = packet.slice();
    writer.write(packet, 0);
    packet.fill(0xee);
    writer.close();
    expect(Array.from(readPcap(new Uint8Array(readFileSync(path)))[0]!.data)).toEqual(Array.from(original));
  });

  it('buffers small writes until flush, and writes by itself past 256 KiB', () => {
    const path = join(directory, 'buffer.pcap');
    const writer = PcapWriter.open(path);
    writer.write(udpPacket(new Uint8Array(100)), 0);
    expect(statSync(path).size).toBe(24); // only the file header so far: the record waits in memory
    writer.flush();
    expect(statSync(path).size).toBe(24 + 16 + 128);
    for (let i = 0; i < 300; i++) writer.write(udpPacket(new Uint8Array(1000), i), i);
    expect(statSync(path).size).toBeGreaterThan(256 * 1024);
    writer.close();
    expect(readPcap(new Uint8Array(readFileSync(path)))).toHaveLength(301);
    expect(() => writer.write(udpPacket(new Uint8Array(1)))).toThrow(/closed/);
  });

  it('writes files tcpdump reads', () => {
    const path = join(directory, 'tcpdump.pcap');
    const writer = PcapWriter.open(path);
    for (let i = 0; i < 5; i++) writer.write(udpPacket(new TextEncoder().encode(`packet ${i}`), i), 1_700_000_000_000 + i);
    writer.close();
    const output = execFileSync('tcpdump', ['-nr', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = output.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line).toContain('IP 10.0.0.1.1234 > 10.0.0.2.7: UDP, length 8');
  });

  it('writes IPv6 packets as they are, which tcpdump reads from the same raw file', () => {
    const path = join(directory, 'tcpdump6.pcap');
    const source = parseIPv6Address('fd00::1')!;
    const destination = parseIPv6Address('fd00::2')!;
    const echo = encodeIcmpv6EchoRequest(1, 2, new Uint8Array(4), source, destination, IPV6_HEADER_LENGTH);
    writeIPv6Header(echo, 0, { source, destination, nextHeader: PROTOCOL_ICMPV6, payloadLength: echo.length - IPV6_HEADER_LENGTH });
    const writer = PcapWriter.open(path);
    writer.write(udpPacket(new Uint8Array(8)), 1_700_000_000_000);
    writer.write(echo, 1_700_000_000_001);
    writer.close();
    const output = execFileSync('tcpdump', ['-nr', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(output).toContain('IP6 fd00::1 > fd00::2: ICMP6, echo request, id 1, seq 2');
    expect(readPcap(new Uint8Array(readFileSync(path))).map((record) => Array.from(record.data))[1]).toEqual(Array.from(echo));
  });
});

describe('readPcap', () => {
  const packet = udpPacket(new TextEncoder().encode('abc'));

  it('reads big-endian nanosecond files', () => {
    const file = pcapFile({ littleEndian: false, magic: 0xa1b23c4d, linkType: 101 }, [
      { seconds: 10, fraction: 500_000_001, data: packet },
    ]);
    const [record] = readPcap(file);
    expect(record!.timestampMs).toBeCloseTo(10_500.000001, 6);
    expect(Array.from(record!.data)).toEqual(Array.from(packet));
  });

  it('reads little-endian nanosecond and big-endian microsecond files', () => {
    const le = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b23c4d, linkType: 101 }, [{ seconds: 1, fraction: 2_000_000, data: packet }]),
    );
    expect(le[0]!.timestampMs).toBe(1002);
    const be = readPcap(
      pcapFile({ littleEndian: false, magic: 0xa1b2c3d4, linkType: 101 }, [{ seconds: 1, fraction: 2_000, data: packet }]),
    );
    expect(be[0]!.timestampMs).toBe(1002);
  });

  it('strips Linux cooked headers (SLL and SLL2), keeps both IP families and skips other protocols', () => {
    const sll = new Uint8Array(16);
    writeUint16(sll, 14, 0x0800);
    const sllArp = new Uint8Array(16);
    writeUint16(sllArp, 14, 0x0806);
    const records = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 113 }, [
        { seconds: 0, fraction: 0, data: concat(sll, packet) },
        { seconds: 0, fraction: 0, data: concat(sllArp, new Uint8Array(28)) },
      ]),
    );
    expect(records.map((r) => Array.from(r.data))).toEqual([Array.from(packet)]);

    const sll2 = new Uint8Array(20);
    writeUint16(sll2, 0, 0x0800);
    const sll2Ipv6 = new Uint8Array(20);
    writeUint16(sll2Ipv6, 0, 0x86dd);
    const sll2Arp = new Uint8Array(20);
    writeUint16(sll2Arp, 0, 0x0806);
    const ipv6 = new Uint8Array(40).fill(0x60);
    const records2 = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 276 }, [
        { seconds: 0, fraction: 0, data: concat(sll2Ipv6, ipv6) },
        { seconds: 0, fraction: 0, data: concat(sll2Arp, new Uint8Array(28)) },
        { seconds: 0, fraction: 0, data: concat(sll2, packet) },
      ]),
    );
    expect(records2.map((r) => Array.from(r.data))).toEqual([Array.from(ipv6), Array.from(packet)]);
  });

  it('strips Ethernet headers, VLAN tags and frame padding', () => {
    const ethernet = new Uint8Array(14);
    writeUint16(ethernet, 12, 0x0800);
    const tagged = new Uint8Array(18);
    writeUint16(tagged, 12, 0x8100);
    writeUint16(tagged, 14, 42);
    writeUint16(tagged, 16, 0x0800);
    const padded = concat(ethernet, packet, new Uint8Array(60 - 14 - packet.length));
    const records = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 1 }, [
        { seconds: 0, fraction: 0, data: padded },
        { seconds: 0, fraction: 0, data: concat(tagged, packet) },
      ]),
    );
    expect(records).toHaveLength(2);
    for (const record of records) expect(Array.from(record.data)).toEqual(Array.from(packet));
  });

  it('returns the IPv4 and IPv6 packets of a raw capture, and trims Ethernet padding behind an IPv6 packet', () => {
    const ipv6 = new Uint8Array(40);
    ipv6[0] = 0x60;
    const other = new Uint8Array(40);
    other[0] = 0x70;
    const records = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 101 }, [
        { seconds: 0, fraction: 0, data: ipv6 },
        { seconds: 0, fraction: 0, data: other },
        { seconds: 0, fraction: 0, data: packet },
      ]),
    );
    expect(records.map((r) => r.data[0]! >> 4)).toEqual([6, 4]);
    const ethernet = new Uint8Array(14);
    writeUint16(ethernet, 12, 0x86dd);
    const [padded] = readPcap(
      pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 1 }, [
        { seconds: 0, fraction: 0, data: concat(ethernet, ipv6, new Uint8Array(6)) },
      ]),
    );
    expect(padded!.data).toHaveLength(40);
  });

  it('rejects malformed files with clear errors', () => {
    const good = pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 101 }, [{ seconds: 0, fraction: 0, data: packet }]);
    expect(() => readPcap(new Uint8Array(10))).toThrow(/shorter than the 24-byte file header/);
    expect(() => readPcap(new Uint8Array(24).fill(0x11))).toThrow(/unknown magic number 0x11111111/);
    const pcapng = new Uint8Array(28);
    writeUint32(pcapng, 0, 0x0a0d0d0a);
    expect(() => readPcap(pcapng)).toThrow(/pcapng files are not supported/);
    expect(() => readPcap(good.subarray(0, good.length - 1))).toThrow(/truncated pcap record at byte 24: claims 31 bytes, 30 remain/);
    expect(() => readPcap(good.subarray(0, 30))).toThrow(/truncated pcap record header at byte 24/);
    expect(() => readPcap(pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 105 }, []))).toThrow(
      /unsupported pcap link type 105/,
    );
    expect(() => readPcap(pcapFile({ littleEndian: true, magic: 0xa1b2c3d4, linkType: 101, versionMajor: 1 }, []))).toThrow(
      /unsupported pcap version 1\.4/,
    );
    expect(readPcap(good)).toHaveLength(1);
  });
});

describe('fixtures captured from Linux', () => {
  it('icmp-echo.pcap: echo requests and replies with matching id/seq, and fragmented large pings', () => {
    const records = readFixture('icmp-echo.pcap');
    expect(records).toHaveLength(18); // the ARP exchange is not IPv4 and is left out
    const packets = records.map((record) => ipv4(record.data));
    for (const p of packets) {
      expect(p.version).toBe(4);
      expect(p.headerChecksumOk).toBe(true);
      expect(p.protocol).toBe(1);
    }
    const whole = packets.filter((p) => !p.moreFragments && p.fragmentOffset === 0);
    expect(whole).toHaveLength(6);
    for (let i = 0; i < 3; i++) {
      const request = whole[2 * i]!;
      const reply = whole[2 * i + 1]!;
      expect([request.source, request.destination]).toEqual([A, B]);
      expect([reply.source, reply.destination]).toEqual([B, A]);
      expect(request.payload[0]).toBe(8);
      expect(reply.payload[0]).toBe(0);
      expect(request.payload.length).toBe(64);
      expect(readUint16(reply.payload, 4)).toBe(readUint16(request.payload, 4)); // identifier
      expect(readUint16(request.payload, 6)).toBe(i + 1); // sequence
      expect(readUint16(reply.payload, 6)).toBe(i + 1);
      expect(Array.from(reply.payload.subarray(8))).toEqual(Array.from(request.payload.subarray(8)));
      expect(internetChecksum(request.payload)).toBe(0);
    }

    // Four 4008-byte ICMP messages (2 requests, 2 replies), 3 fragments each: 1480 + 1480 + 1048.
    const fragments = packets.filter((p) => p.moreFragments || p.fragmentOffset !== 0);
    expect(fragments).toHaveLength(12);
    expect(fragments.filter((p) => p.moreFragments)).toHaveLength(8);
    const byDatagram = new Map<string, typeof fragments>();
    for (const f of fragments) {
      const key = `${f.source}-${f.identification}`;
      byDatagram.set(key, [...(byDatagram.get(key) ?? []), f]);
    }
    expect(byDatagram.size).toBe(4);
    const types: number[] = [];
    for (const parts of byDatagram.values()) {
      expect(parts.map((f) => f.fragmentOffset)).toEqual([0, 1480, 2960]);
      expect(parts.map((f) => f.moreFragments)).toEqual([true, true, false]);
      const message = concat(...parts.map((f) => f.payload));
      expect(message.length).toBe(4008);
      expect(internetChecksum(message)).toBe(0);
      types.push(message[0]!);
    }
    expect(types).toEqual([8, 0, 8, 0]);
  });

  it('udp-echo.pcap: echoes of 5, 1000 and 3000 bytes, and a port unreachable for 9999', () => {
    const packets = readFixture('udp-echo.pcap').map((record) => ipv4(record.data));
    expect(packets).toHaveLength(12);
    for (const p of packets) expect(p.headerChecksumOk).toBe(true);
    const datagrams = packets.filter((p) => p.protocol === 17 && p.fragmentOffset === 0);
    // hello out and back, 1000 out and back, first fragments of 3000 out and back, one to 9999.
    expect(datagrams.map((p) => [readUint16(p.payload, 2), readUint16(p.payload, 4) - 8])).toEqual([
      [7, 5],
      [readUint16(datagrams[0]!.payload, 0), 5],
      [7, 1000],
      [readUint16(datagrams[0]!.payload, 0), 1000],
      [7, 3000],
      [readUint16(datagrams[0]!.payload, 0), 3000],
      [9999, 13],
    ]);
    const hello = datagrams[0]!;
    expect(new TextDecoder().decode(hello.payload.subarray(8))).toBe('hello');
    const udpLength = readUint16(hello.payload, 4);
    const sum = pseudoHeaderSum(hello.source, hello.destination, 17, udpLength);
    expect(finishChecksum(sumWords(hello.payload, 0, udpLength, sum))).toBe(0);
    const thousand = datagrams[2]!.payload.subarray(8);
    expect(Array.from(thousand.subarray(0, 5))).toEqual([0, 1, 2, 3, 4]);
    expect(thousand[260]).toBe(260 % 251);

    const unreachable = packets.find((p) => p.protocol === 1)!;
    expect([unreachable.source, unreachable.destination]).toEqual([B, A]);
    expect([unreachable.payload[0], unreachable.payload[1]]).toEqual([3, 3]); // port unreachable
    const quoted = ipv4(unreachable.payload.subarray(8));
    expect(quoted.protocol).toBe(17);
    expect(readUint16(unreachable.payload, 8 + quoted.headerLength + 2)).toBe(9999);
  });

  it('tcp-http.pcap: handshake with options, a 5000-byte HTTP response, FINs both ways', () => {
    const packets = readFixture('tcp-http.pcap').map((record) => ipv4(record.data));
    expect(packets).toHaveLength(16);
    const segments = packets.map((p) => {
      expect(p.protocol).toBe(6);
      const tcp = p.payload;
      const sum = pseudoHeaderSum(p.source, p.destination, 6, tcp.length);
      expect(finishChecksum(sumWords(tcp, 0, tcp.length, sum))).toBe(0);
      const dataOffset = (tcp[12]! >> 4) * 4;
      return {
        fromClient: p.source === A,
        sourcePort: readUint16(tcp, 0),
        destinationPort: readUint16(tcp, 2),
        seq: readUint32(tcp, 4),
        ack: readUint32(tcp, 8),
        flags: tcp[13]!,
        options: tcp.subarray(20, dataOffset),
        data: tcp.subarray(dataOffset),
      };
    });
    const SYN = 0x02;
    const ACK = 0x10;
    const FIN = 0x01;
    const [syn, synAck, ack] = segments;
    expect(syn!.flags).toBe(SYN);
    expect(syn!.destinationPort).toBe(80);
    // Options start with MSS (kind 2, length 4) = 1460 on a 1500-byte MTU link.
    expect([syn!.options[0], syn!.options[1], readUint16(syn!.options, 2)]).toEqual([2, 4, 1460]);
    // Linux offers MSS, SACK permitted, timestamps, NOP padding and window scale.
    expect(optionKinds(syn!.options)).toEqual([2, 4, 8, 1, 3]);
    expect(optionKinds(synAck!.options)).toEqual([2, 4, 8, 1, 3]);
    expect(synAck!.flags).toBe(SYN | ACK);
    expect(synAck!.ack).toBe((syn!.seq + 1) >>> 0);
    expect(ack!.flags & ACK).toBe(ACK);
    expect(ack!.ack).toBe((synAck!.seq + 1) >>> 0);

    const request = new TextDecoder().decode(concat(...segments.filter((s) => s.fromClient).map((s) => s.data)));
    expect(request.startsWith('GET / HTTP/1.1\r\n')).toBe(true);
    const response = concat(...segments.filter((s) => !s.fromClient).map((s) => s.data));
    const text = new TextDecoder().decode(response);
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).toContain('Connection: close\r\n');
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).toBe('0123456789'.repeat(500));
    for (const s of segments) expect(s.data.length).toBeLessThanOrEqual(1448);

    // Each side sends one FIN; the last segment acknowledges whichever came second.
    const fins = segments.filter((s) => s.flags & FIN);
    expect(fins.map((s) => s.fromClient).sort()).toEqual([false, true]);
    const last = segments[segments.length - 1]!;
    expect(last.flags).toBe(ACK);
    expect(last.fromClient).toBe(!fins[1]!.fromClient);
    expect(last.ack).toBe((fins[1]!.seq + 1) >>> 0);
  });

  it('tcp-rst.pcap: a SYN to a closed port draws RST+ACK', () => {
    const packets = readFixture('tcp-rst.pcap').map((record) => ipv4(record.data));
    expect(packets).toHaveLength(2);
    const [syn, rst] = packets.map((p) => p.payload);
    expect(readUint16(syn!, 2)).toBe(81);
    expect(syn![13]).toBe(0x02);
    expect(rst![13]).toBe(0x14); // RST | ACK
    expect(readUint32(rst!, 4)).toBe(0);
    expect(readUint32(rst!, 8)).toBe((readUint32(syn!, 4) + 1) >>> 0);
    expect(readUint16(rst!, 0)).toBe(81);
  });
});

describe('tapLink', () => {
  it('observes packets in both directions and passes them through unchanged', async () => {
    const [near, far] = memoryLinkPair();
    const seen: [TapDirection, number][] = [];
    const tapped = tapLink(near, (direction, packet) => seen.push([direction, readUint16(packet, 4)]));
    expect(tapped.mtu).toBe(1500);
    const receivedNear: number[] = [];
    const receivedFar: number[] = [];
    tapped.setReceiver((packets) => packets.forEach((p) => receivedNear.push(readUint16(p, 4))));
    far.setReceiver((packets) => packets.forEach((p) => receivedFar.push(readUint16(p, 4))));

    tapped.send(udpPacket(new Uint8Array(1), 11));
    far.send(udpPacket(new Uint8Array(1), 22));
    far.send(udpPacket(new Uint8Array(1), 23));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));

    expect(seen).toEqual([
      ['out', 11],
      ['in', 22],
      ['in', 23],
    ]);
    expect(receivedFar).toEqual([11]);
    expect(receivedNear).toEqual([22, 23]);
    await tapped.close();
    await far.close();
  });
});
