import { describe, expect, it } from 'vitest';
import { flipBits } from '../../support/bytes.js';
import {
  finishChecksum,
  internetChecksum,
  ipv6PseudoHeaderSum,
  pseudoHeaderSum,
  sumWords,
  transportPseudoHeaderSum,
  updateChecksum,
} from '../../../src/wire/checksum.js';
import { parseIPv6Address, writeIPv6 } from '../../../src/wire/address6.js';
import { readUint16, writeUint16 } from '../../../src/bytes.js';
import { mulberry32 as prng } from '../../../src/random.js';

/** Test oracle: the textbook RFC 1071 loop, one word at a time, folded at the end. */
function referenceChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

describe('internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 section 3 example: sum 0xddf2 before complement', () => {
    const bytes = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(fold(sumWords(bytes, 0, bytes.length))).toBe(0xddf2);
    expect(finishChecksum(sumWords(bytes, 0, bytes.length))).toBe(0x220d);
    expect(internetChecksum(bytes)).toBe(0x220d);
  });

  it('verifies a real IPv4 header to 0 and recomputes its checksum 0xb861', () => {
    const header = Uint8Array.from([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ]);
    expect(internetChecksum(header)).toBe(0);
    const zeroed = header.slice();
    writeUint16(zeroed, 10, 0);
    expect(internetChecksum(zeroed)).toBe(0xb861);
    flipBits(header, 15, 1);
    expect(internetChecksum(header)).not.toBe(0);
  });

  it('pads an odd trailing byte with zero on the right', () => {
    const odd = Uint8Array.from([0x01, 0x02, 0x03]);
    expect(internetChecksum(odd)).toBe(~(0x0102 + 0x0300) & 0xffff);
    expect(internetChecksum(odd)).toBe(internetChecksum(Uint8Array.from([0x01, 0x02, 0x03, 0x00])));
    expect(internetChecksum(Uint8Array.from([0xab]))).toBe(~0xab00 & 0xffff);
  });

  it('honours offset and length within a larger buffer', () => {
    const buffer = Uint8Array.from([0xff, 0xff, 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xee]);
    expect(internetChecksum(buffer, 2, 8)).toBe(0x220d);
  });

  it('agrees with a word-at-a-time reference on random buffers of every length to 600 at three offsets and on 64 KiB of 0xff', () => {
    const random = prng(1071);
    // Past 256 bytes too: short ranges are summed a byte at a time, longer ones with word loads.
    for (let length = 0; length < 600; length++) {
      const bytes = Uint8Array.from({ length: length + 3 }, () => Math.floor(random() * 256));
      for (let offset = 0; offset < 3; offset++) {
        const range = bytes.subarray(offset, offset + length);
        expect(internetChecksum(bytes, offset, length), `length ${length} at ${offset}`).toBe(referenceChecksum(range));
      }
    }
    const big = new Uint8Array(65535).fill(0xff);
    expect(internetChecksum(big)).toBe(referenceChecksum(big));
  });

  it('chains a pseudo header sum into the payload sum (RFC 768 / RFC 9293 3.1)', () => {
    const source = 0xc0a80001;
    const destination = 0xc0a800c7;
    const udp = Uint8Array.from([0x04, 0xd2, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, 0x61, 0x62, 0x63]);
    const pseudo = new Uint8Array(12);
    pseudo.set([0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7, 0x00, 17, 0x00, udp.length]);
    const concatenated = new Uint8Array(pseudo.length + udp.length);
    concatenated.set(pseudo);
    concatenated.set(udp, pseudo.length);
    const chained = internetChecksum(udp, 0, udp.length, pseudoHeaderSum(source, destination, 17, udp.length));
    expect(chained).toBe(referenceChecksum(concatenated));
    // Writing the chained checksum in makes the whole thing verify to 0.
    writeUint16(udp, 6, chained);
    expect(internetChecksum(udp, 0, udp.length, pseudoHeaderSum(source, destination, 17, udp.length))).toBe(0);
  });

  it('chains the IPv6 pseudo-header (RFC 8200 8.1) into the payload sum', () => {
    const source = parseIPv6Address('2001:db8::1')!;
    const destination = parseIPv6Address('fe80::ffff:d800:1')!;
    const udp = Uint8Array.from([0x04, 0xd2, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, 0x61, 0x62, 0x63]);
    // The 40-byte pseudo-header: source, destination, 32-bit length, 3 zero bytes, next header.
    const concatenated = new Uint8Array(40 + udp.length);
    writeIPv6(concatenated, 0, source);
    writeIPv6(concatenated, 16, destination);
    concatenated[35] = udp.length;
    concatenated[39] = 17;
    concatenated.set(udp, 40);
    const chained = internetChecksum(udp, 0, udp.length, ipv6PseudoHeaderSum(source, destination, 17, udp.length));
    expect(chained).toBe(referenceChecksum(concatenated));
    expect(transportPseudoHeaderSum(source, destination, 17, udp.length)).toBe(ipv6PseudoHeaderSum(source, destination, 17, udp.length));
    // A length over 16 bits (a jumbo-sized upper layer) counts its high word too.
    expect(ipv6PseudoHeaderSum(source, destination, 6, 0x10002) - ipv6PseudoHeaderSum(source, destination, 6, 2)).toBe(1);
  });

  it('picks the pseudo-header by address family, and refuses a mix', () => {
    expect(transportPseudoHeaderSum(0x0a000001, 0x0a000002, 6, 20)).toBe(pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 20));
    expect(() => transportPseudoHeaderSum(0x0a000001, parseIPv6Address('::1')!, 6, 20)).toThrow(RangeError);
    expect(() => transportPseudoHeaderSum(parseIPv6Address('::1')!, 0x0a000001, 6, 20)).toThrow(RangeError);
  });

  it('chains even-length pieces with sumWords', () => {
    const random = prng(7);
    const bytes = Uint8Array.from({ length: 101 }, () => Math.floor(random() * 256));
    const partial = sumWords(bytes, 0, 40);
    expect(internetChecksum(bytes, 40, 61, partial)).toBe(internetChecksum(bytes));
  });

  it('updateChecksum (RFC 1624) equals a full recompute over many random one-word changes', () => {
    const random = prng(1624);
    const bytes = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
    writeUint16(bytes, 10, 0);
    writeUint16(bytes, 10, internetChecksum(bytes));
    for (let round = 0; round < 2000; round++) {
      let wordOffset = 2 * Math.floor(random() * 32);
      if (wordOffset === 10) wordOffset = 12;
      const oldWord = readUint16(bytes, wordOffset);
      const newWord = round % 50 === 0 ? (round % 100 === 0 ? 0 : 0xffff) : Math.floor(random() * 0x10000);
      writeUint16(bytes, wordOffset, newWord);
      const incremental = updateChecksum(readUint16(bytes, 10), oldWord, newWord);
      writeUint16(bytes, 10, 0);
      const full = internetChecksum(bytes);
      expect(incremental, `round ${round}`).toBe(full);
      writeUint16(bytes, 10, incremental);
      expect(internetChecksum(bytes)).toBe(0);
    }
  });
});
