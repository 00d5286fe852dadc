import { describe, expect, it } from 'vitest';
import { readUint16, writeUint16, writeUint32 } from '../../../src/bytes.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { internetChecksum, pseudoHeaderSum } from '../../../src/wire/checksum.js';
import { PROTOCOL_TCP } from '../../../src/wire/ipv4.js';
import {
  checkTcpSegment,
  encodeTcpSegment,
  tcpSegmentLength,
  parseTcpSegment,
  tcpHeaderLength,
  writeTcpSegment,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  type SackBlock,
  type TcpOptions,
  type TcpSegment,
} from '../../../src/wire/tcp.js';
import { tcpSegment } from '../../support/packets.js';
import { TEST_DESTINATION6, TEST_SOURCE6 } from '../../support/ipv6-packets.js';
import { ipv6PseudoHeaderSum } from '../../../src/wire/checksum.js';

const HOST = parseIPv4Address('10.0.0.1')!;
const STACK = parseIPv4Address('10.0.0.2')!;

function parseOk(bytes: Uint8Array, source = HOST, destination = STACK): TcpSegment {
  const result = parseTcpSegment(bytes, source, destination);
  if (!result.ok) throw new Error(`expected a segment, got ${result.reason}`);
  return result.segment;
}

function roundTrip(input: TcpSegment): { bytes: Uint8Array; parsed: TcpSegment } {
  const bytes = encodeTcpSegment(input, HOST, STACK);
  const parsed = parseOk(bytes);
  return { bytes, parsed };
}

/** Verification independent of the codec: the pseudo header plus segment sums to zero. */
function checksumVerifies(bytes: Uint8Array, offset = 0): boolean {
  const length = bytes.length - offset;
  return internetChecksum(bytes, offset, length, pseudoHeaderSum(HOST, STACK, PROTOCOL_TCP, length)) === 0;
}

/**
 * A segment with hand-chosen option bytes (already a multiple of 4) and a correct checksum, so
 * that parsing reaches the option list. `dataOffsetWords` overrides the header length field.
 */
function rawSegment(optionBytes: number[], payload: number[] = [], dataOffsetWords?: number): Uint8Array {
  if (optionBytes.length % 4 !== 0) throw new Error('test bug: options must be padded to 4 bytes');
  const headerLength = 20 + optionBytes.length;
  const bytes = new Uint8Array(headerLength + payload.length);
  writeUint16(bytes, 0, 1234);
  writeUint16(bytes, 2, 80);
  writeUint32(bytes, 4, 1000);
  writeUint32(bytes, 8, 2000);
  bytes[12] = (dataOffsetWords ?? headerLength / 4) << 4;
  bytes[13] = TCP_ACK;
  writeUint16(bytes, 14, 5000);
  bytes.set(optionBytes, 20);
  bytes.set(payload, headerLength);
  writeUint16(bytes, 16, internetChecksum(bytes, 0, bytes.length, pseudoHeaderSum(HOST, STACK, PROTOCOL_TCP, bytes.length)));
  return bytes;
}

function blocks(count: number, base = 0xfffffff0): SackBlock[] {
  return Array.from({ length: count }, (_, i) => ({
    left: (base + i * 3000) >>> 0,
    right: (base + i * 3000 + 1448) >>> 0,
  }));
}

describe('Linux-style SYN (10.0.0.1:40000 -> 10.0.0.2:80, MSS 1460, SACK_PERM, TS, NOP, WS 7)', () => {
  // Written out byte by byte; the checksum 0x7d67 was computed independently of the codec.
  const synBytes = Uint8Array.from([
    0x9c,
    0x40,
    0x00,
    0x50, // source port 40000, destination port 80
    0x12,
    0x34,
    0x56,
    0x78, // sequence number
    0x00,
    0x00,
    0x00,
    0x00, // acknowledgment number
    0xa0,
    0x02,
    0xfa,
    0xf0, // data offset 10 words, SYN, window 64240
    0x7d,
    0x67,
    0x00,
    0x00, // checksum, urgent pointer
    0x02,
    0x04,
    0x05,
    0xb4, // MSS 1460
    0x04,
    0x02,
    0x08,
    0x0a, // SACK permitted, timestamp kind/length
    0x9a,
    0x3b,
    0x1c,
    0x2d, // TSval
    0x00,
    0x00,
    0x00,
    0x00, // TSecr
    0x01,
    0x03,
    0x03,
    0x07, // NOP, window scale 7
  ]);

  it('has the checksum the shared helper computes', () => {
    const zeroed = Uint8Array.from(synBytes);
    zeroed[16] = 0;
    zeroed[17] = 0;
    expect(internetChecksum(zeroed, 0, zeroed.length, pseudoHeaderSum(HOST, STACK, PROTOCOL_TCP, zeroed.length))).toBe(0x7d67);
  });

  it('parses to the right fields', () => {
    const parsed = parseOk(synBytes);
    expect(parsed.sourcePort).toBe(40000);
    expect(parsed.destinationPort).toBe(80);
    expect(parsed.seq).toBe(0x12345678);
    expect(parsed.ack).toBe(0);
    expect(parsed.flags).toBe(TCP_SYN);
    expect(parsed.window).toBe(64240);
    expect(parsed.urgentPointer).toBe(0);
    expect(parsed.options).toEqual({
      mss: 1460,
      sackPermitted: true,
      timestamp: { value: 0x9a3b1c2d, echo: 0 },
      windowScale: 7,
    });
    expect(parsed.payload.length).toBe(0);
  });

  it('encodes back to the same bytes', () => {
    const parsed = parseOk(synBytes);
    expect(tcpHeaderLength(parsed.options)).toBe(40);
    expect(encodeTcpSegment(parsed, HOST, STACK)).toEqual(synBytes);
  });

  it('fails the checksum when verified against the wrong addresses', () => {
    expect(parseTcpSegment(synBytes, HOST, parseIPv4Address('10.0.0.3')!)).toEqual({ ok: false, reason: 'bad_checksum' });
  });
});

describe('encode / parse round trips', () => {
  const optionCases: Array<[string, TcpOptions, number]> = [
    ['no options', {}, 20],
    ['MSS alone', { mss: 1460 }, 24],
    ['window scale alone', { windowScale: 14 }, 24],
    ['window scale 0', { windowScale: 0 }, 24],
    ['SACK permitted alone', { sackPermitted: true }, 24],
    ['timestamp alone', { timestamp: { value: 1, echo: 2 } }, 32],
    ['one SACK block alone', { sackBlocks: blocks(1) }, 32],
    [
      'all together',
      { mss: 1400, windowScale: 9, sackPermitted: true, timestamp: { value: 7, echo: 8 }, sackBlocks: blocks(1) },
      52, // 20 + MSS 4 + SACK_PERM/TS 12 + WS 4 + one block 12
    ],
    ['MSS + WS without TS', { mss: 536, windowScale: 2 }, 28],
    ['SACK permitted + WS without TS', { sackPermitted: true, windowScale: 5 }, 28],
    ['timestamps near 2^32', { timestamp: { value: 0xffffffff, echo: 0xfffffffe } }, 32],
    ['timestamp of zero and 2^31', { timestamp: { value: 0, echo: 0x80000000 } }, 32],
  ];

  for (const [name, options, headerLength] of optionCases) {
    it(`${name}: header ${headerLength} bytes, fields preserved`, () => {
      const input = tcpSegment({ options });
      const { bytes, parsed } = roundTrip(input);
      expect(bytes.length).toBe(headerLength);
      expect(tcpHeaderLength(options)).toBe(headerLength);
      expect(bytes[12]! >>> 4).toBe(headerLength / 4);
      expect(parsed.options).toEqual(options);
      expect(parsed).toEqual(input);
      expect(checksumVerifies(bytes)).toBe(true);
    });
  }

  for (const withTimestamps of [false, true]) {
    for (let count = 1; count <= 4; count++) {
      const fit = withTimestamps ? Math.min(count, 3) : count;
      it(`${count} SACK block(s) ${withTimestamps ? 'with' : 'without'} timestamps keeps ${fit}`, () => {
        const options: TcpOptions = { sackBlocks: blocks(count) };
        if (withTimestamps) options.timestamp = { value: 0xfffffff0, echo: 0x0000000f };
        const { bytes, parsed } = roundTrip(tcpSegment({ options }));
        const expectedLength = 20 + (withTimestamps ? 12 : 0) + 4 + 8 * fit;
        expect(bytes.length).toBe(expectedLength);
        expect(expectedLength).toBeLessThanOrEqual(60);
        expect(tcpHeaderLength(options)).toBe(expectedLength);
        expect(parsed.options.sackBlocks).toEqual(blocks(count).slice(0, fit));
        expect(parsed.options.timestamp).toEqual(options.timestamp);
      });
    }
  }

  it('lays out data-segment options as NOP NOP TS then NOP NOP SACK', () => {
    const bytes = encodeTcpSegment(
      tcpSegment({ options: { timestamp: { value: 0x01020304, echo: 0x05060708 }, sackBlocks: [{ left: 10, right: 20 }] } }),
      HOST,
      STACK,
    );
    expect(Array.from(bytes.subarray(20))).toEqual([1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20]);
  });

  it('drops SACK blocks that cannot fit next to the SYN options', () => {
    const options: TcpOptions = {
      mss: 1460,
      sackPermitted: true,
      timestamp: { value: 1, echo: 0 },
      windowScale: 7,
      sackBlocks: blocks(4),
    };
    // 20 bytes of SYN options leave room for 2 blocks (4 + 16 = 20).
    const { bytes, parsed } = roundTrip(tcpSegment({ options }));
    expect(bytes.length).toBe(60);
    expect(parsed.options.sackBlocks).toEqual(blocks(2));
  });

  it('omits an empty SACK block list', () => {
    const { bytes, parsed } = roundTrip(tcpSegment({ options: { sackBlocks: [] } }));
    expect(bytes.length).toBe(20);
    expect(parsed.options.sackBlocks).toBeUndefined();
  });

  it('carries a non-empty payload and keeps every flag and field', () => {
    const payload = Uint8Array.from({ length: 1448 }, (_, i) => (i * 7) & 0xff);
    const input = tcpSegment({
      flags: TCP_ACK | TCP_PSH | TCP_FIN,
      seq: 0xffffff00,
      ack: 1,
      window: 1,
      urgentPointer: 0xbeef,
      options: { timestamp: { value: 123, echo: 456 } },
      payload,
    });
    const { bytes, parsed } = roundTrip(input);
    expect(bytes.length).toBe(32 + 1448);
    expect(parsed).toEqual(input);
    expect(checksumVerifies(bytes)).toBe(true);
  });

  it('handles an odd payload length (checksum pads the last byte)', () => {
    const payload = Uint8Array.from([0xff, 0x01, 0xab]);
    const { bytes, parsed } = roundTrip(tcpSegment({ payload }));
    expect(bytes.length).toBe(23);
    expect(Array.from(parsed.payload)).toEqual([0xff, 0x01, 0xab]);
    expect(checksumVerifies(bytes)).toBe(true);
  });

  it('copies the payload on encode, and parses the payload as a view without a copy', () => {
    const payload = Uint8Array.from([1, 2, 3, 4]);
    const bytes = encodeTcpSegment(tcpSegment({ payload }), HOST, STACK);
    payload[0] = 99;
    expect(bytes[20]).toBe(1);

    const parsed = parseOk(bytes);
    expect(parsed.payload.buffer).toBe(bytes.buffer);
    expect(parsed.payload.byteOffset).toBe(bytes.byteOffset + 20);
    bytes[21] = 42;
    expect(parsed.payload[1]).toBe(42);
  });

  it('parses a segment that sits at an offset inside a larger packet buffer', () => {
    const encoded = encodeTcpSegment(tcpSegment({ payload: Uint8Array.from([5, 6, 7]) }), HOST, STACK, 20);
    const parsed = parseOk(encoded.subarray(20));
    expect(Array.from(parsed.payload)).toEqual([5, 6, 7]);
    expect(parsed.payload.byteOffset).toBe(40);
  });

  it('gives each parsed segment its own options object', () => {
    const bytes = encodeTcpSegment(tcpSegment(), HOST, STACK);
    const first = parseOk(bytes);
    const second = parseOk(bytes);
    first.options.mss = 1000;
    expect(second.options).toEqual({});
  });
});

describe('headroom', () => {
  it('leaves the first bytes zero for the IPv4 header and keeps the checksum valid', () => {
    const payload = Uint8Array.from([10, 20, 30, 40, 50]);
    const input = tcpSegment({ options: { mss: 1460, windowScale: 7 }, payload });
    const plain = encodeTcpSegment(input, HOST, STACK);
    const withRoom = encodeTcpSegment(input, HOST, STACK, 20);
    expect(withRoom.length).toBe(20 + plain.length);
    expect(Array.from(withRoom.subarray(0, 20))).toEqual(new Array<number>(20).fill(0));
    expect(withRoom.subarray(20)).toEqual(plain);
    expect(checksumVerifies(withRoom, 20)).toBe(true);
    expect(parseOk(withRoom.subarray(20))).toEqual(input);
  });

  it('writeTcpSegment writes at an offset of a dirty buffer and reports the length', () => {
    const input = tcpSegment({ options: { sackPermitted: true }, payload: Uint8Array.from([1]) });
    const buffer = new Uint8Array(100).fill(0xee);
    const written = writeTcpSegment(buffer, 30, input, HOST, STACK);
    expect(written).toBe(25);
    expect(buffer[29]).toBe(0xee);
    expect(buffer[55]).toBe(0xee);
    expect(buffer.subarray(30, 55)).toEqual(encodeTcpSegment(input, HOST, STACK));
  });
});

describe('malformed segments', () => {
  it('fewer than 20 bytes is truncated', () => {
    expect(parseTcpSegment(new Uint8Array(19), HOST, STACK)).toEqual({ ok: false, reason: 'truncated' });
    expect(parseTcpSegment(new Uint8Array(0), HOST, STACK)).toEqual({ ok: false, reason: 'truncated' });
  });

  it('data offset below 5 words is bad_data_offset', () => {
    for (const words of [0, 4]) {
      expect(parseTcpSegment(rawSegment([], [], words), HOST, STACK)).toEqual({ ok: false, reason: 'bad_data_offset' });
    }
  });

  it('a header running past the bytes is bad_data_offset', () => {
    // Claims 24 bytes of header, only 20 present.
    expect(parseTcpSegment(rawSegment([], [], 6), HOST, STACK)).toEqual({ ok: false, reason: 'bad_data_offset' });
    // Claims 60 bytes of header with 8 bytes of options and 4 of payload.
    expect(parseTcpSegment(rawSegment([1, 1, 1, 1, 1, 1, 1, 1], [1, 2, 3, 4], 15), HOST, STACK)).toEqual({
      ok: false,
      reason: 'bad_data_offset',
    });
  });

  it('a flipped payload bit is bad_checksum', () => {
    const bytes = encodeTcpSegment(tcpSegment({ payload: Uint8Array.from([0x10, 0x20, 0x30]) }), HOST, STACK);
    expect(parseTcpSegment(bytes, HOST, STACK).ok).toBe(true);
    bytes[21]! ^= 0x04;
    expect(parseTcpSegment(bytes, HOST, STACK)).toEqual({ ok: false, reason: 'bad_checksum' });
  });

  it('a flipped header bit is bad_checksum', () => {
    const bytes = encodeTcpSegment(tcpSegment(), HOST, STACK);
    bytes[5]! ^= 0x80;
    expect(parseTcpSegment(bytes, HOST, STACK)).toEqual({ ok: false, reason: 'bad_checksum' });
  });

  const badOptions: Array<[string, number[]]> = [
    ['option length 0', [30, 0, 1, 1]],
    ['option length 1', [30, 1, 1, 1]],
    ['option running past the header', [1, 1, 30, 6]],
    ['length byte missing at the end of the header', [1, 1, 1, 30]],
    ['MSS of length 3', [2, 3, 5, 0]],
    ['MSS of length 6', [2, 6, 5, 180, 0, 0, 1, 1]],
    ['window scale of length 4', [3, 4, 7, 0]],
    ['window scale of length 2', [3, 2, 1, 1]],
    ['SACK permitted of length 3', [4, 3, 0, 1]],
    ['timestamp of length 8', [8, 8, 0, 0, 0, 1, 0, 0]],
    ['timestamp of length 12', [8, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0]],
    ['SACK with no blocks', [5, 2, 1, 1]],
    ['SACK length not 2 + 8n', [5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1]],
    ['SACK of length 6', [5, 6, 0, 0, 0, 1, 1, 1]],
    ['valid MSS followed by a bad option', [2, 4, 5, 180, 8, 2, 1, 1]],
  ];
  for (const [name, optionBytes] of badOptions) {
    it(`${name} is bad_option`, () => {
      expect(parseTcpSegment(rawSegment(optionBytes), HOST, STACK)).toEqual({ ok: false, reason: 'bad_option' });
    });
  }
});

describe('option parsing details', () => {
  it('skips an unknown option (kind 30, length 6) and reads the ones around it', () => {
    const parsed = parseOk(rawSegment([2, 4, 5, 180, 30, 6, 0xde, 0xad, 0xbe, 0xef, 3, 3, 7, 0, 0, 0]));
    expect(parsed.options).toEqual({ mss: 1460, windowScale: 7 });
  });

  it('clamps window scale 15 to 14 (RFC 7323 2.3)', () => {
    expect(parseOk(rawSegment([1, 3, 3, 15])).options.windowScale).toBe(14);
    expect(parseOk(rawSegment([1, 3, 3, 255])).options.windowScale).toBe(14);
    expect(parseOk(rawSegment([1, 3, 3, 14])).options.windowScale).toBe(14);
  });

  it('stops at EOL and ignores whatever follows', () => {
    const parsed = parseOk(rawSegment([2, 4, 5, 180, 0, 0xff, 0x01, 0xff]));
    expect(parsed.options).toEqual({ mss: 1460 });
  });

  it('reads options after any number of NOPs, unaligned', () => {
    const parsed = parseOk(rawSegment([1, 4, 2, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 10, 0]));
    expect(parsed.options).toEqual({ sackPermitted: true, timestamp: { value: 9, echo: 10 } });
  });

  it('reads four SACK blocks (the most 40 option bytes hold)', () => {
    const optionBytes = [1, 1, 5, 34];
    for (let i = 0; i < 8; i++) optionBytes.push(0xff, 0xff, 0xff, 0xf0 + i);
    optionBytes.push(0, 0, 0, 0);
    const parsed = parseOk(rawSegment(optionBytes));
    expect(parsed.options.sackBlocks).toEqual([
      { left: 0xfffffff0, right: 0xfffffff1 },
      { left: 0xfffffff2, right: 0xfffffff3 },
      { left: 0xfffffff4, right: 0xfffffff5 },
      { left: 0xfffffff6, right: 0xfffffff7 },
    ]);
  });

  it('reads the payload after the options', () => {
    const parsed = parseOk(rawSegment([2, 4, 5, 180], [9, 8, 7]));
    expect(Array.from(parsed.payload)).toEqual([9, 8, 7]);
    expect(parsed.seq).toBe(1000);
    expect(parsed.ack).toBe(2000);
    expect(parsed.window).toBe(5000);
  });
});

describe('checkTcpSegment (the checked view)', () => {
  it('reads every field in place, agreeing with parseTcpSegment', () => {
    const input = tcpSegment({
      flags: TCP_ACK | TCP_PSH,
      urgentPointer: 7,
      options: { timestamp: { value: 5, echo: 6 }, sackBlocks: blocks(2) },
      payload: Uint8Array.from([4, 5, 6]),
    });
    const bytes = encodeTcpSegment(input, HOST, STACK);
    const checked = checkTcpSegment(bytes, HOST, STACK);
    if (!checked.ok) throw new Error(`expected ok, got ${checked.reason}`);
    const view = checked.view;
    expect({
      sourcePort: view.sourcePort,
      destinationPort: view.destinationPort,
      seq: view.seq,
      ack: view.ack,
      flags: view.flags,
      window: view.window,
      urgentPointer: view.urgentPointer,
      options: view.options(),
      payload: view.payload,
    }).toEqual(parseOk(bytes));
    expect(view.headerLength).toBe(tcpHeaderLength(input.options));
    expect(view.optionBytes.length).toBe(view.headerLength - 20);
    expect(view.checksum).toBe((bytes[16]! << 8) | bytes[17]!);
    bytes[view.headerLength] = 99;
    expect(view.payload[0]).toBe(99); // in place, not a copy
  });

  it('drops what parseTcpSegment drops: truncated, bad data offset, bad checksum, bad option', () => {
    const cases: Array<[Uint8Array, string]> = [
      [new Uint8Array(19), 'truncated'],
      [rawSegment([], [], 4), 'bad_data_offset'],
      [rawSegment([], [], 6), 'bad_data_offset'],
      [rawSegment([2, 3, 5, 0]), 'bad_option'],
      [rawSegment([1, 1, 30, 6]), 'bad_option'],
      [rawSegment([5, 2, 1, 1]), 'bad_option'],
    ];
    const corrupt = encodeTcpSegment(tcpSegment({ payload: Uint8Array.from([1, 2]) }), HOST, STACK);
    corrupt[21]! ^= 0x01;
    cases.push([corrupt, 'bad_checksum']);
    for (const [bytes, reason] of cases) {
      expect(checkTcpSegment(bytes, HOST, STACK), reason).toEqual({ ok: false, reason });
      expect(parseTcpSegment(bytes, HOST, STACK), reason).toEqual({ ok: false, reason });
    }
  });
});

describe('tcpSegmentLength', () => {
  it('is the header for the options plus the payload: what writeTcpSegment writes', () => {
    const input = tcpSegment({ options: { mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 2 } }, payload: new Uint8Array(9) });
    expect(tcpSegmentLength(input.options, input.payload.length)).toBe(20 + 16 + 9);
    const buffer = new Uint8Array(7 + tcpSegmentLength(input.options, input.payload.length));
    expect(writeTcpSegment(buffer, 7, input, HOST, STACK)).toBe(45);
    expect(parseOk(buffer.subarray(7))).toEqual(input);
  });
});

describe('TCP checksum offload', () => {
  const source = 0x0a000001;
  const destination = 0x0a000002;
  const segment: TcpSegment = {
    sourcePort: 80,
    destinationPort: 40000,
    seq: 7,
    ack: 9,
    flags: TCP_ACK | TCP_PSH,
    window: 512,
    urgentPointer: 0,
    options: { timestamp: { value: 1, echo: 2 } },
    payload: new Uint8Array(3001).map((_, i) => i * 7),
  };

  it("'partial' leaves the pseudo-header sum (whole length) in the field, which finishes to the full checksum", () => {
    const full = encodeTcpSegment(segment, source, destination);
    const partial = encodeTcpSegment(segment, source, destination, 0, 'partial');
    expect(partial.subarray(18)).toEqual(full.subarray(18));
    const seed = readUint16(partial, 16);
    expect(seed).toBe(
      ~internetChecksum(new Uint8Array(0), 0, 0, pseudoHeaderSum(source, destination, PROTOCOL_TCP, partial.length)) & 0xffff,
    );
    // What the kernel (or a NIC) does with it: sum from the TCP header on, the seed included.
    expect(internetChecksum(partial)).toBe(readUint16(full, 16));
  });

  it("'trusted' skips the checksum and nothing else", () => {
    const partial = encodeTcpSegment(segment, source, destination, 0, 'partial');
    expect(parseTcpSegment(partial, source, destination)).toEqual({ ok: false, reason: 'bad_checksum' });
    const parsed = parseTcpSegment(partial, source, destination, 'trusted');
    expect(parsed.ok && parsed.segment.payload).toEqual(segment.payload);
    expect(parseTcpSegment(partial.subarray(0, 19), source, destination, 'trusted')).toEqual({ ok: false, reason: 'truncated' });
  });
});

describe('TCP over IPv6 (RFC 8200 8.1)', () => {
  const segment: TcpSegment = {
    sourcePort: 40000,
    destinationPort: 80,
    seq: 1,
    ack: 0,
    flags: TCP_ACK,
    window: 1000,
    urgentPointer: 0,
    options: {},
    payload: Uint8Array.from([1, 2, 3]),
  };

  it('checksums over the IPv6 pseudo-header, fully or partially', () => {
    const full = encodeTcpSegment(segment, TEST_SOURCE6, TEST_DESTINATION6);
    expect(internetChecksum(full, 0, full.length, ipv6PseudoHeaderSum(TEST_SOURCE6, TEST_DESTINATION6, PROTOCOL_TCP, full.length))).toBe(0);
    const parsed = parseTcpSegment(full, TEST_SOURCE6, TEST_DESTINATION6);
    expect(parsed.ok && parsed.segment).toEqual(segment);
    expect(checkTcpSegment(full, TEST_DESTINATION6, TEST_DESTINATION6)).toEqual({ ok: false, reason: 'bad_checksum' });
    const partial = encodeTcpSegment(segment, TEST_SOURCE6, TEST_DESTINATION6, 0, 'partial');
    expect(internetChecksum(partial)).toBe(readUint16(full, 16));
  });
});
