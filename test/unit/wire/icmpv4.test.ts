import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { udpPacket as buildUdpPacket, type IPv4Extra } from '../../support/packets.js';
import { readUint16, readUint32, writeUint16 } from '../../../src/bytes.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import {
  FRAGMENTATION_NEEDED,
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_TIME_EXCEEDED,
  PORT_UNREACHABLE,
  PROTOCOL_UNREACHABLE,
  encodeEchoReply,
  encodeEchoRequest,
  checkIcmpMessage,
  encodeIcmpError,
  encodeIcmpMessage,
  icmpMessageLength,
  parseIcmpMessage,
  writeIcmpMessage,
  parseIcmpErrorQuote,
} from '../../../src/wire/icmpv4.js';
import { PROTOCOL_TCP, PROTOCOL_UDP, parseIPv4Packet, writeIPv4Header } from '../../../src/wire/ipv4.js';

/** An echo request built byte by byte, independent of the module under test. */
function handBuiltEchoRequest(identifier: number, sequence: number, payload: Uint8Array): Uint8Array {
  const message = new Uint8Array(8 + payload.length);
  message[0] = 8;
  message[1] = 0;
  writeUint16(message, 4, identifier);
  writeUint16(message, 6, sequence);
  message.set(payload, 8);
  writeUint16(message, 2, internetChecksum(message));
  return message;
}

/** A UDP packet from 10.0.0.1:40000 to 10.0.0.2:9999 whose payload bytes count on from the packet start. */
function udpPacket(payloadLength: number, extra: IPv4Extra = {}): Uint8Array {
  const payload = Uint8Array.from({ length: payloadLength }, (_, i) => (28 + i) & 0xff);
  return buildUdpPacket({ sourcePort: 40000, destinationPort: 9999, payload }, { identification: 0x1111, ...extra });
}

describe('ICMP codec (RFC 792)', () => {
  it('parses type, code, identifier, sequence, rest of header and body', () => {
    const message = handBuiltEchoRequest(0x1234, 7, Uint8Array.from([1, 2, 3]));
    const result = parseIcmpMessage(message);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.message).toMatchObject({ type: 8, code: 0, identifier: 0x1234, sequence: 7, restOfHeader: 0x12340007 });
    expect([...result.message.body]).toEqual([1, 2, 3]);
  });

  it('reports truncated below 8 bytes and bad_checksum for any corruption', () => {
    const message = handBuiltEchoRequest(1, 1, new Uint8Array(16));
    for (let length = 0; length < 8; length++)
      expect(parseIcmpMessage(message.subarray(0, length))).toEqual({ ok: false, reason: 'truncated' });
    for (const index of [0, 1, 2, 5, 8, 23]) {
      const copy = message.slice();
      flipBits(copy, index, 0x40);
      expect(parseIcmpMessage(copy)).toEqual({ ok: false, reason: 'bad_checksum' });
    }
  });

  it('encodeEchoRequest matches a hand-built request', () => {
    const payload = Uint8Array.from({ length: 56 }, (_, i) => i);
    expect(encodeEchoRequest(0x1234, 7, payload)).toEqual(handBuiltEchoRequest(0x1234, 7, payload));
  });

  it('answers an echo request (id 0x1234, seq 7, 56 bytes) keeping id, sequence and payload, with a valid checksum', () => {
    const payload = Uint8Array.from({ length: 56 }, (_, i) => (i * 31 + 5) & 0xff);
    const request = handBuiltEchoRequest(0x1234, 7, payload);
    const original = request.slice();
    const reply = encodeEchoReply(request);
    expect(request).toEqual(original); // the request is not modified
    expect(reply.length).toBe(request.length);
    expect(reply[0]).toBe(ICMP_ECHO_REPLY);
    expect(reply[1]).toBe(0);
    expect(readUint16(reply, 4)).toBe(0x1234);
    expect(readUint16(reply, 6)).toBe(7);
    expect([...reply.subarray(8)]).toEqual([...payload]);
    expect(internetChecksum(reply)).toBe(0);
    const parsed = parseIcmpMessage(reply);
    expect(parsed.ok && parsed.message.type === ICMP_ECHO_REPLY).toBe(true);
  });

  it('computes echo reply checksums equal to a full recompute for many payloads and odd lengths', () => {
    for (let length = 0; length < 300; length += 7) {
      const payload = Uint8Array.from({ length }, (_, i) => (i * length + 3) & 0xff);
      const reply = encodeEchoReply(handBuiltEchoRequest(length * 97, length, payload));
      const recomputed = reply.slice();
      writeUint16(recomputed, 2, 0);
      expect(readUint16(reply, 2), `length ${length}`).toBe(internetChecksum(recomputed));
    }
  });

  it('gives a verifying checksum for an all-zero reply (id 0, seq 0, zero payload), where RFC 1624 eqn. 3 alone gives 0x0000', () => {
    for (const length of [0, 8, 56]) {
      const reply = encodeEchoReply(handBuiltEchoRequest(0, 0, new Uint8Array(length)));
      expect(readUint16(reply, 2)).toBe(0xffff);
      expect(internetChecksum(reply)).toBe(0);
    }
  });

  it('refuses to answer something that is not an echo request', () => {
    expect(() => encodeEchoReply(new Uint8Array(4))).toThrow(RangeError);
    const reply = encodeEchoReply(handBuiltEchoRequest(1, 1, new Uint8Array(0)));
    expect(() => encodeEchoReply(reply)).toThrow(RangeError);
  });
});

describe('ICMP errors', () => {
  it('quotes the offending header and the first 8 payload bytes, with a valid checksum', () => {
    const offending = udpPacket(0); // 20 + 8 bytes
    const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, offending);
    expect(message.length).toBe(8 + 28);
    expect(message[0]).toBe(3);
    expect(message[1]).toBe(3);
    expect(readUint32(message, 4)).toBe(0);
    expect([...message.subarray(8)]).toEqual([...offending]);
    expect(internetChecksum(message)).toBe(0);
  });

  it('quotes at least header + 8 bytes and keeps the whole IP packet within 576 bytes', () => {
    const offending = udpPacket(1400);
    const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE, offending);
    expect(20 + message.length).toBeLessThanOrEqual(576);
    expect(message.length - 8).toBeGreaterThanOrEqual(28);
    expect([...message.subarray(8)]).toEqual([...offending.subarray(0, message.length - 8)]);
    expect(internetChecksum(message)).toBe(0);
  });

  it('does not quote link padding beyond the offending total length', () => {
    const offending = udpPacket(4);
    const padded = new Uint8Array(offending.length + 10).fill(0xee);
    padded.set(offending);
    const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, padded);
    expect(message.length).toBe(8 + offending.length);
  });

  it('carries the next-hop MTU in the rest of the header for fragmentation needed (RFC 1191)', () => {
    const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, FRAGMENTATION_NEEDED, udpPacket(100), 1400);
    expect(readUint16(message, 6)).toBe(1400);
    const parsed = parseIcmpMessage(message);
    expect(parsed.ok && parsed.message.restOfHeader).toBe(1400);
  });

  it('builds a reassembly time exceeded message', () => {
    const message = encodeIcmpError(ICMP_TIME_EXCEEDED, FRAGMENT_REASSEMBLY_TIME_EXCEEDED, udpPacket(16, { moreFragments: true }));
    const parsed = parseIcmpMessage(message);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect([parsed.message.type, parsed.message.code]).toEqual([11, 1]);
  });

  it('throws for an offending packet shorter than an IP header', () => {
    expect(() => encodeIcmpError(3, 3, new Uint8Array(19))).toThrow(RangeError);
  });
});

describe('parseIcmpErrorQuote', () => {
  it('extracts protocol, addresses and ports from a quoted UDP datagram', () => {
    const offending = udpPacket(100);
    const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, offending);
    const parsed = parseIcmpMessage(message);
    if (!parsed.ok) throw new Error('expected ok');
    const quote = parseIcmpErrorQuote(parsed.message.body);
    expect(quote).toMatchObject({
      protocol: PROTOCOL_UDP,
      source: 0x0a000001,
      destination: 0x0a000002,
      sourcePort: 40000,
      destinationPort: 9999,
    });
    expect(readUint16(quote!.transport, 4)).toBe(108); // the UDP length field
  });

  it('finds the ports after quoted options', () => {
    const body = new Uint8Array(24 + 8);
    writeIPv4Header(body, 0, { source: 1, destination: 2, protocol: PROTOCOL_TCP, payloadLength: 12 });
    body[0] = 0x46;
    writeUint16(body, 24, 80);
    writeUint16(body, 26, 5555);
    expect(parseIcmpErrorQuote(body)).toMatchObject({ protocol: PROTOCOL_TCP, sourcePort: 80, destinationPort: 5555 });
  });

  it('returns undefined for truncated or malformed quotes', () => {
    const body = udpPacket(0); // header + 8 bytes: a minimal valid quote
    expect(parseIcmpErrorQuote(body)).toBeDefined();
    expect(parseIcmpErrorQuote(body.subarray(0, 23))).toBeUndefined(); // ports cut
    expect(parseIcmpErrorQuote(body.subarray(0, 19))).toBeUndefined();
    expect(parseIcmpErrorQuote(new Uint8Array(0))).toBeUndefined();
    const v6 = body.slice();
    v6[0] = 0x65;
    expect(parseIcmpErrorQuote(v6)).toBeUndefined();
    const badIhl = body.slice();
    badIhl[0] = 0x44;
    expect(parseIcmpErrorQuote(badIhl)).toBeUndefined();
    const longIhl = body.slice();
    longIhl[0] = 0x4f; // 60-byte header does not fit in 28 bytes
    expect(parseIcmpErrorQuote(longIhl)).toBeUndefined();
    const laterFragment = udpPacket(0, { fragmentOffset: 8 });
    expect(parseIcmpErrorQuote(laterFragment)).toBeUndefined();
  });

  it('round-trips through a real parse of the offending packet', () => {
    const offending = udpPacket(3);
    const parsedOffending = parseIPv4Packet(offending);
    expect(parsedOffending.ok).toBe(true);
    const quote = parseIcmpErrorQuote(encodeIcmpError(3, 3, offending).subarray(8));
    expect(quote?.protocol).toBe(parsedOffending.ok ? parsedOffending.header.protocol : -1);
  });
});

describe('checkIcmpMessage (the checked view)', () => {
  it('reads every field in place, agreeing with parseIcmpMessage', () => {
    const message = handBuiltEchoRequest(0xabcd, 0x0102, Uint8Array.from([7, 8]));
    const checked = checkIcmpMessage(message);
    const parsed = parseIcmpMessage(message);
    if (!checked.ok || !parsed.ok) throw new Error('expected ok');
    const view = checked.view;
    expect({
      type: view.type,
      code: view.code,
      identifier: view.identifier,
      sequence: view.sequence,
      restOfHeader: view.restOfHeader,
      body: view.body,
    }).toEqual(parsed.message);
    expect(view.checksum).toBe(readUint16(message, 2));
    message[8] = 0x55;
    expect(view.body[0]).toBe(0x55); // in place, not a copy
  });

  it('drops truncated messages and bad checksums', () => {
    const message = handBuiltEchoRequest(1, 2, new Uint8Array(5));
    for (let length = 0; length < 8; length++)
      expect(checkIcmpMessage(message.subarray(0, length))).toEqual({ ok: false, reason: 'truncated' });
    const corrupt = message.slice();
    flipBits(corrupt, 12, 0x80); // odd-length message: the padded last byte is covered too
    expect(checkIcmpMessage(corrupt)).toEqual({ ok: false, reason: 'bad_checksum' });
  });
});

describe('writeIcmpMessage into a caller buffer', () => {
  it('writes at a non-zero offset of a dirty buffer the same bytes as a hand-built message', () => {
    const body = Uint8Array.from({ length: 11 }, (_, i) => i * 3);
    const offset = 21;
    const buffer = new Uint8Array(offset + icmpMessageLength(body.length) + 3).fill(0xbb);
    const written = writeIcmpMessage(buffer, offset, 8, 0, 0x00070009, body);
    expect(written).toBe(19);
    expect(buffer[offset - 1]).toBe(0xbb);
    expect(buffer[offset + written]).toBe(0xbb);
    expect(buffer.subarray(offset, offset + written)).toEqual(handBuiltEchoRequest(7, 9, body));
  });

  it('every encode function leaves its headroom zero and puts the same message after it', () => {
    const request = handBuiltEchoRequest(3, 4, Uint8Array.from([1, 2, 3]));
    const offending = udpPacket(4);
    const pairs: Array<[Uint8Array, Uint8Array]> = [
      [encodeIcmpMessage(3, 1, 0, Uint8Array.from([9]), 20), encodeIcmpMessage(3, 1, 0, Uint8Array.from([9]))],
      [encodeEchoRequest(3, 4, Uint8Array.from([1, 2, 3]), 20), request],
      [encodeEchoReply(request, 20), encodeEchoReply(request)],
      [encodeIcmpError(3, 3, offending, 0, 20), encodeIcmpError(3, 3, offending)],
    ];
    for (const [withRoom, plain] of pairs) {
      expect([...withRoom.subarray(0, 20)]).toEqual(new Array<number>(20).fill(0));
      expect(withRoom.subarray(20)).toEqual(plain);
    }
  });
});
