import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import { concatBytes, fragmentHeader, ipv6Bytes, optionsHeader, TEST_DESTINATION6, TEST_SOURCE6 } from '../../support/ipv6-packets.js';
import { readUint32, writeUint16 } from '../../../src/bytes.js';
import { IPV6_UNSPECIFIED, parseIPv6Address, type IPv6Address } from '../../../src/wire/address6.js';
import { internetChecksum, ipv6PseudoHeaderSum } from '../../../src/wire/checksum.js';
import { icmpMessageLength } from '../../../src/wire/icmpv4.js';
import { PROTOCOL_UDP } from '../../../src/wire/ipv4.js';
import { NEXT_HEADER_DESTINATION_OPTIONS, NEXT_HEADER_FRAGMENT, NEXT_HEADER_HOP_BY_HOP, PROTOCOL_ICMPV6 } from '../../../src/wire/ipv6.js';
import { PARAMETER_PROBLEM_ERRONEOUS_FIELD, PARAMETER_PROBLEM_UNRECOGNIZED_OPTION } from '../../../src/wire/ipv6-extensions.js';
import {
  checkIcmpv6Message,
  ICMPV6_ADDRESS_UNREACHABLE,
  ICMPV6_ADMINISTRATIVELY_PROHIBITED,
  ICMPV6_BEYOND_SCOPE,
  ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  ICMPV6_HOP_LIMIT_EXCEEDED,
  ICMPV6_NO_ROUTE,
  ICMPV6_REJECT_ROUTE,
  ICMPV6_SOURCE_POLICY_FAILED,
  type Icmpv6DropReason,
  encodeIcmpv6EchoReply,
  encodeIcmpv6EchoRequest,
  encodeIcmpv6Error,
  encodeIcmpv6Message,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERROR_MAX_PACKET,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_PORT_UNREACHABLE,
  ICMPV6_REDIRECT,
  ICMPV6_TIME_EXCEEDED,
  parseIcmpv6ErrorQuote,
  parseIcmpv6Message,
  shouldSendIcmpv6Error,
  writeIcmpv6Message,
} from '../../../src/wire/icmpv6.js';

function address(text: string): IPv6Address {
  return parseIPv6Address(text)!;
}

/** The message verifies over the pseudo-header of `source` -> `destination` (RFC 4443 2.3). */
function verifies(message: Uint8Array, source: IPv6Address, destination: IPv6Address): boolean {
  return internetChecksum(message, 0, message.length, ipv6PseudoHeaderSum(source, destination, PROTOCOL_ICMPV6, message.length)) === 0;
}

// fd00::1 -> fd00::2, echo request id 0x1234 seq 1 "abcd"; checksum computed independently (Python).
const KNOWN_ECHO = Uint8Array.from([128, 0, 0xae, 0xb8, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64]);

describe('ICMPv6 codec (RFC 4443)', () => {
  it('names the types and codes as RFC 4443 assigns them', () => {
    expect([ICMPV6_DEST_UNREACHABLE, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED, ICMPV6_PARAMETER_PROBLEM]).toEqual([1, 2, 3, 4]);
    expect([ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_REDIRECT]).toEqual([128, 129, 137]);
    const unreachable = [
      ICMPV6_NO_ROUTE,
      ICMPV6_ADMINISTRATIVELY_PROHIBITED,
      ICMPV6_BEYOND_SCOPE,
      ICMPV6_ADDRESS_UNREACHABLE,
      ICMPV6_PORT_UNREACHABLE,
      ICMPV6_SOURCE_POLICY_FAILED,
      ICMPV6_REJECT_ROUTE,
    ];
    expect(unreachable).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([ICMPV6_HOP_LIMIT_EXCEEDED, ICMPV6_FRAGMENT_REASSEMBLY_TIME_EXCEEDED]).toEqual([0, 1]);
  });

  it('encodes an echo request with the checksum over the IPv6 pseudo-header', () => {
    expect(encodeIcmpv6EchoRequest(0x1234, 1, Uint8Array.from([0x61, 0x62, 0x63, 0x64]), TEST_SOURCE6, TEST_DESTINATION6)).toEqual(
      KNOWN_ECHO,
    );
    const withRoom = encodeIcmpv6EchoRequest(0x1234, 1, Uint8Array.from([0x61, 0x62, 0x63, 0x64]), TEST_SOURCE6, TEST_DESTINATION6, 40);
    expect([...withRoom.subarray(0, 40)]).toEqual(new Array<number>(40).fill(0));
    expect(withRoom.subarray(40)).toEqual(KNOWN_ECHO);
  });

  it('parses every field, and the checked view agrees', () => {
    const parsed = parseIcmpv6Message(KNOWN_ECHO, TEST_SOURCE6, TEST_DESTINATION6);
    const checked = checkIcmpv6Message(KNOWN_ECHO, TEST_SOURCE6, TEST_DESTINATION6);
    if (!parsed.ok || !checked.ok) throw new Error('expected ok');
    expect(parsed.message).toMatchObject({ type: ICMPV6_ECHO_REQUEST, code: 0, identifier: 0x1234, sequence: 1, restOfHeader: 0x12340001 });
    expect([...parsed.message.body]).toEqual([0x61, 0x62, 0x63, 0x64]);
    const view = checked.view;
    expect([view.type, view.code, view.checksum, view.identifier, view.sequence, view.restOfHeader]).toEqual([
      128, 0, 0xaeb8, 0x1234, 1, 0x12340001,
    ]);
    expect([...view.body]).toEqual([0x61, 0x62, 0x63, 0x64]);
  });

  it('drops a message under 8 bytes as truncated', () => {
    const truncated: { ok: false; reason: Icmpv6DropReason } = { ok: false, reason: 'truncated' };
    for (let length = 0; length < 8; length++) {
      expect(parseIcmpv6Message(KNOWN_ECHO.subarray(0, length), TEST_SOURCE6, TEST_DESTINATION6)).toEqual(truncated);
    }
  });

  it('drops any corruption, and a message checked against other addresses, as bad_checksum', () => {
    for (let index = 0; index < KNOWN_ECHO.length; index++) {
      const copy = KNOWN_ECHO.slice();
      flipBits(copy, index, 0x10);
      expect(checkIcmpv6Message(copy, TEST_SOURCE6, TEST_DESTINATION6), `byte ${index}`).toEqual({ ok: false, reason: 'bad_checksum' });
    }
    expect(checkIcmpv6Message(KNOWN_ECHO, TEST_SOURCE6, address('fd00::3'))).toEqual({ ok: false, reason: 'bad_checksum' });
    const copy = KNOWN_ECHO.slice();
    flipBits(copy, 9, 0x10);
    expect(checkIcmpv6Message(copy, TEST_SOURCE6, TEST_DESTINATION6, 'trusted').ok).toBe(true);
  });

  it('writes at an offset into a dirty buffer the same bytes the encoder makes', () => {
    const body = Uint8Array.from([9, 8, 7]);
    const buffer = new Uint8Array(5 + icmpMessageLength(body.length) + 3).fill(0xee);
    expect(writeIcmpv6Message(buffer, 5, ICMPV6_TIME_EXCEEDED, 1, 0, body, TEST_SOURCE6, TEST_DESTINATION6)).toBe(11);
    expect(buffer[4]).toBe(0xee);
    expect(buffer[16]).toBe(0xee);
    expect(buffer.subarray(5, 16)).toEqual(encodeIcmpv6Message(ICMPV6_TIME_EXCEEDED, 1, 0, body, TEST_SOURCE6, TEST_DESTINATION6));
    expect(verifies(buffer.subarray(5, 16), TEST_SOURCE6, TEST_DESTINATION6)).toBe(true);
  });
});

describe('encodeIcmpv6EchoReply (RFC 4443 4.2)', () => {
  it('answers a unicast request with type 129 and the same identifier, sequence and data', () => {
    const reply = encodeIcmpv6EchoReply(KNOWN_ECHO, TEST_DESTINATION6, TEST_DESTINATION6, 40);
    expect([...reply.subarray(0, 40)]).toEqual(new Array<number>(40).fill(0));
    const message = reply.subarray(40);
    expect(message[0]).toBe(ICMPV6_ECHO_REPLY);
    expect(message.subarray(4)).toEqual(KNOWN_ECHO.subarray(4));
    expect(verifies(message, TEST_DESTINATION6, TEST_SOURCE6)).toBe(true);
  });

  it('answers a request to a multicast group from a unicast address, the checksum updated for it', () => {
    const group = address('ff02::1');
    const request = encodeIcmpv6EchoRequest(7, 9, new Uint8Array(100).fill(0x5a), TEST_SOURCE6, group);
    const reply = encodeIcmpv6EchoReply(request, group, TEST_DESTINATION6);
    expect(verifies(reply, TEST_DESTINATION6, TEST_SOURCE6)).toBe(true);
  });

  it('updates the checksum to what a full sum gives, over many random requests', () => {
    let seed = 4443;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 16;
    };
    const randomAddress = (): IPv6Address =>
      address(
        Array.from({ length: 8 }, () => random().toString(16))
          .join(':')
          .toString(),
      );
    for (let round = 0; round < 500; round++) {
      const source = randomAddress();
      const requestDestination = randomAddress();
      const replySource = round % 2 === 0 ? requestDestination : randomAddress();
      const data = Uint8Array.from({ length: random() % 64 }, () => random() & 0xff);
      const request = encodeIcmpv6EchoRequest(random(), random(), data, source, requestDestination);
      const reply = encodeIcmpv6EchoReply(request, requestDestination, replySource);
      const full = encodeIcmpv6Message(ICMPV6_ECHO_REPLY, 0, readUint32(request, 4), data, replySource, source);
      expect(verifies(reply, replySource, source), `round ${round}`).toBe(true);
      expect(reply.subarray(4)).toEqual(full.subarray(4));
    }
  });

  it('refuses anything but an echo request', () => {
    expect(() => encodeIcmpv6EchoReply(KNOWN_ECHO.subarray(0, 7), TEST_DESTINATION6, TEST_DESTINATION6)).toThrow(RangeError);
    const reply = KNOWN_ECHO.slice();
    reply[0] = ICMPV6_ECHO_REPLY;
    expect(() => encodeIcmpv6EchoReply(reply, TEST_DESTINATION6, TEST_DESTINATION6)).toThrow(RangeError);
  });
});

/** A UDP packet fd00::1:40000 -> fd00::2:9 (checksum left zero: the error path never checks it). */
function udpPacket(payloadLength: number, extra: { destination?: IPv6Address; source?: IPv6Address } = {}): Uint8Array {
  const udp = new Uint8Array(8 + payloadLength).map((_, i) => i & 0xff);
  writeUint16(udp, 0, 40000);
  writeUint16(udp, 2, 9);
  writeUint16(udp, 4, udp.length);
  return ipv6Bytes({ nextHeader: PROTOCOL_UDP, payload: udp, ...extra });
}

describe('encodeIcmpv6Error (RFC 4443 3, 2.4 (c))', () => {
  it('quotes the whole offending packet when it fits, trimmed at its payload length', () => {
    const offending = udpPacket(20);
    const padded = concatBytes(offending, new Uint8Array(6).fill(0xff));
    const error = encodeIcmpv6Error(ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0, padded, TEST_DESTINATION6, TEST_SOURCE6);
    expect(error).toHaveLength(8 + offending.length);
    expect(error.subarray(8)).toEqual(offending);
    expect([error[0], error[1], readUint32(error, 4)]).toEqual([ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0]);
    expect(verifies(error, TEST_DESTINATION6, TEST_SOURCE6)).toBe(true);
  });

  it('cuts the quote so the error packet is at most 1280 bytes', () => {
    const offending = udpPacket(3000);
    const error = encodeIcmpv6Error(ICMPV6_PACKET_TOO_BIG, 0, 1280, offending, TEST_DESTINATION6, TEST_SOURCE6, 40);
    expect(error).toHaveLength(ICMPV6_ERROR_MAX_PACKET);
    expect(readUint32(error, 44)).toBe(1280); // the MTU (3.2)
    expect(error.subarray(48)).toEqual(offending.subarray(0, ICMPV6_ERROR_MAX_PACKET - 48));
    expect(verifies(error.subarray(40), TEST_DESTINATION6, TEST_SOURCE6)).toBe(true);
  });

  it('carries the pointer of a Parameter Problem (3.4)', () => {
    const error = encodeIcmpv6Error(
      ICMPV6_PARAMETER_PROBLEM,
      PARAMETER_PROBLEM_ERRONEOUS_FIELD,
      42,
      udpPacket(0),
      TEST_DESTINATION6,
      TEST_SOURCE6,
    );
    const parsed = parseIcmpv6Message(error, TEST_DESTINATION6, TEST_SOURCE6);
    expect(parsed.ok && parsed.message.restOfHeader).toBe(42);
  });

  it('refuses an offending packet shorter than an IPv6 header', () => {
    expect(() => encodeIcmpv6Error(ICMPV6_DEST_UNREACHABLE, 0, 0, new Uint8Array(39), TEST_DESTINATION6, TEST_SOURCE6)).toThrow(RangeError);
  });
});

describe('parseIcmpv6ErrorQuote', () => {
  it('finds the ports past extension headers, in a quote cut short', () => {
    const quoted = ipv6Bytes({
      nextHeader: NEXT_HEADER_HOP_BY_HOP,
      payload: concatBytes(optionsHeader(NEXT_HEADER_DESTINATION_OPTIONS), optionsHeader(PROTOCOL_UDP), udpPacket(2000).subarray(40)),
    });
    const error = encodeIcmpv6Error(ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE, 0, quoted, TEST_DESTINATION6, TEST_SOURCE6);
    const parsed = parseIcmpv6Message(error, TEST_DESTINATION6, TEST_SOURCE6);
    if (!parsed.ok) throw new Error('expected ok');
    const quote = parseIcmpv6ErrorQuote(parsed.message.body);
    expect(quote).toMatchObject({
      protocol: PROTOCOL_UDP,
      source: TEST_SOURCE6,
      destination: TEST_DESTINATION6,
      payloadLength: 16 + 2008,
      sourcePort: 40000,
      destinationPort: 9,
    });
    expect(quote?.transport).toHaveLength(1232 - 56);
  });

  it('gives undefined for a quote without both ports, a non-first fragment, a cut chain or not IPv6', () => {
    const packet = udpPacket(8);
    expect(parseIcmpv6ErrorQuote(packet.subarray(0, 44))).toMatchObject({ sourcePort: 40000, destinationPort: 9 });
    expect(parseIcmpv6ErrorQuote(packet.subarray(0, 43))).toBeUndefined();
    expect(parseIcmpv6ErrorQuote(packet.subarray(0, 39))).toBeUndefined();
    const ipv4ish = packet.slice();
    ipv4ish[0] = 0x45;
    expect(parseIcmpv6ErrorQuote(ipv4ish)).toBeUndefined();
    const later = ipv6Bytes({
      nextHeader: NEXT_HEADER_FRAGMENT,
      payload: concatBytes(fragmentHeader(PROTOCOL_UDP, 1232, false, 5), new Uint8Array(16)),
    });
    expect(parseIcmpv6ErrorQuote(later)).toBeUndefined();
    const first = ipv6Bytes({
      nextHeader: NEXT_HEADER_FRAGMENT,
      payload: concatBytes(fragmentHeader(PROTOCOL_UDP, 0, true, 5), packet.subarray(40)),
    });
    expect(parseIcmpv6ErrorQuote(first)).toMatchObject({ protocol: PROTOCOL_UDP, sourcePort: 40000 });
    const cutChain = ipv6Bytes({ nextHeader: NEXT_HEADER_DESTINATION_OPTIONS, payload: optionsHeader(PROTOCOL_UDP) }).subarray(0, 44);
    expect(parseIcmpv6ErrorQuote(cutChain)).toBeUndefined();
  });
});

describe('shouldSendIcmpv6Error (RFC 4443 2.4 (e))', () => {
  const icmp = (type: number, extra: { destination?: IPv6Address } = {}): Uint8Array =>
    ipv6Bytes({
      nextHeader: PROTOCOL_ICMPV6,
      payload: encodeIcmpv6Message(type, 0, 0, new Uint8Array(4), TEST_SOURCE6, TEST_DESTINATION6),
      ...extra,
    });

  it('allows an error about an ordinary unicast packet or an informational message', () => {
    expect(shouldSendIcmpv6Error(udpPacket(4), ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE)).toBe(true);
    expect(shouldSendIcmpv6Error(icmp(ICMPV6_ECHO_REQUEST), ICMPV6_PARAMETER_PROBLEM, 0, 6)).toBe(true);
    expect(shouldSendIcmpv6Error(icmp(ICMPV6_ECHO_REPLY), ICMPV6_DEST_UNREACHABLE, 0)).toBe(true);
  });

  it('never answers an ICMPv6 error (e.1) or a redirect (e.2), even behind extension headers', () => {
    for (const type of [
      ICMPV6_DEST_UNREACHABLE,
      ICMPV6_PACKET_TOO_BIG,
      ICMPV6_TIME_EXCEEDED,
      ICMPV6_PARAMETER_PROBLEM,
      0,
      127,
      ICMPV6_REDIRECT,
    ]) {
      expect(shouldSendIcmpv6Error(icmp(type), ICMPV6_PARAMETER_PROBLEM, 0), `type ${type}`).toBe(false);
    }
    const behind = ipv6Bytes({
      nextHeader: NEXT_HEADER_DESTINATION_OPTIONS,
      payload: concatBytes(optionsHeader(PROTOCOL_ICMPV6), icmp(ICMPV6_TIME_EXCEEDED).subarray(40)),
    });
    expect(shouldSendIcmpv6Error(behind, ICMPV6_PARAMETER_PROBLEM, 0)).toBe(false);
  });

  it('stays silent about an ICMPv6 packet cut before its type, but may answer a non-first fragment or a broken chain', () => {
    expect(shouldSendIcmpv6Error(ipv6Bytes({ nextHeader: PROTOCOL_ICMPV6 }), ICMPV6_PARAMETER_PROBLEM, 0)).toBe(false);
    const later = ipv6Bytes({
      nextHeader: NEXT_HEADER_FRAGMENT,
      payload: concatBytes(fragmentHeader(PROTOCOL_ICMPV6, 8, false, 1), new Uint8Array([1, 0, 0, 0])),
    });
    expect(shouldSendIcmpv6Error(later, ICMPV6_TIME_EXCEEDED, 1)).toBe(true);
    const lying = optionsHeader(PROTOCOL_ICMPV6);
    lying[1] = 9;
    const broken = ipv6Bytes({ nextHeader: NEXT_HEADER_DESTINATION_OPTIONS, payload: lying });
    expect(shouldSendIcmpv6Error(broken, ICMPV6_PARAMETER_PROBLEM, PARAMETER_PROBLEM_ERRONEOUS_FIELD, 41)).toBe(true);
  });

  it('never answers a source that is not one node (e.6)', () => {
    expect(shouldSendIcmpv6Error(udpPacket(4, { source: IPV6_UNSPECIFIED }), ICMPV6_DEST_UNREACHABLE, 4)).toBe(false);
    expect(shouldSendIcmpv6Error(udpPacket(4, { source: address('ff02::1') }), ICMPV6_DEST_UNREACHABLE, 4)).toBe(false);
  });

  it('answers a packet to a multicast group only with Packet Too Big or an option Parameter Problem for bits 10 (e.3)', () => {
    const group = { destination: address('ff02::1') };
    expect(shouldSendIcmpv6Error(udpPacket(4, group), ICMPV6_DEST_UNREACHABLE, ICMPV6_PORT_UNREACHABLE)).toBe(false);
    expect(shouldSendIcmpv6Error(udpPacket(4, group), ICMPV6_TIME_EXCEEDED, 1)).toBe(false);
    expect(shouldSendIcmpv6Error(udpPacket(4, group), ICMPV6_PACKET_TOO_BIG, 0)).toBe(true);
    const withOption = (optionType: number): Uint8Array =>
      ipv6Bytes({
        nextHeader: NEXT_HEADER_HOP_BY_HOP,
        payload: concatBytes(optionsHeader(PROTOCOL_UDP, [optionType, 0]), new Uint8Array(8)),
        ...group,
      });
    expect(shouldSendIcmpv6Error(withOption(0x81), ICMPV6_PARAMETER_PROBLEM, PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, 42)).toBe(true);
    expect(shouldSendIcmpv6Error(withOption(0xc1), ICMPV6_PARAMETER_PROBLEM, PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, 42)).toBe(false);
    expect(shouldSendIcmpv6Error(withOption(0x81), ICMPV6_PARAMETER_PROBLEM, PARAMETER_PROBLEM_ERRONEOUS_FIELD, 42)).toBe(false);
  });

  it('stays silent about a packet too short to be IPv6', () => {
    expect(shouldSendIcmpv6Error(new Uint8Array(39), ICMPV6_DEST_UNREACHABLE, 4)).toBe(false);
  });
});
