/**
 * SipHash-2-4 against its published test vectors: key 00 01 .. 0f, messages 00 01 .. (length-1)
 * for lengths 0 to 63 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", Appendix A,
 * whose worked example is the length-15 one; the full table is vectors_sip64 in the reference
 * implementation, github.com/veorq/SipHash vectors.h, where each output is 8 little-endian bytes,
 * written here as the 64-bit numbers they encode; Linux's lib/test_siphash.c checks the same).
 * Lengths 0 to 63 cover every tail length (0-7 bytes after the whole blocks) with 0 to 7 blocks.
 */
import { describe, expect, it } from 'vitest';
import { SipHash24 } from '../../src/siphash.js';

const VECTORS = [
  '726fdb47dd0e0e31', '74f839c593dc67fd', '0d6c8009d9a94f5a', '85676696d7fb7e2d',
  'cf2794e0277187b7', '18765564cd99a68d', 'cbc9466e58fee3ce', 'ab0200f58b01d137',
  '93f5f5799a932462', '9e0082df0ba9e4b0', '7a5dbbc594ddb9f3', 'f4b32f46226bada7',
  '751e8fbc860ee5fb', '14ea5627c0843d90', 'f723ca908e7af2ee', 'a129ca6149be45e5',
  '3f2acc7f57c29bdb', '699ae9f52cbe4794', '4bc1b3f0968dd39c', 'bb6dc91da77961bd',
  'bed65cf21aa2ee98', 'd0f2cbb02e3b67c7', '93536795e3a33e88', 'a80c038ccd5ccec8',
  'b8ad50c6f649af94', 'bce192de8a85b8ea', '17d835b85bbb15f3', '2f2e6163076bcfad',
  'de4daaaca71dc9a5', 'a6a2506687956571', 'ad87a3535c49ef28', '32d892fad841c342',
  '7127512f72f27cce', 'a7f32346f95978e3', '12e0b01abb051238', '15e034d40fa197ae',
  '314dffbe0815a3b4', '027990f029623981', 'cadcd4e59ef40c4d', '9abfd8766a33735c',
  '0e3ea96b5304a7d0', 'ad0c42d6fc585992', '187306c89bc215a9', 'd4a60abcf3792b95',
  'f935451de4f21df2', 'a9538f0419755787', 'db9acddff56ca510', 'd06c98cd5c0975eb',
  'e612a3cb9ecba951', 'c766e62cfcadaf96', 'ee64435a9752fe72', 'a192d576b245165a',
  '0a8787bf8ecb74b2', '81b3e73d20b49b6f', '7fa8220ba3b2ecea', '245731c13ca42499',
  'b78dbfaf3a8d83bd', 'ea1ad565322a1a0b', '60e61c23a3795013', '6606d7e446282b93',
  '6ca4ecb15c5f91e1', '9f626da15c9625f3', 'e51b38608ef25f57', '958a324ceb064572',
]; // prettier-ignore

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const MESSAGE = Uint8Array.from({ length: 64 }, (_, i) => i);

function hex(low: number, high: number): string {
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}

describe('SipHash24', () => {
  const siphash = new SipHash24(KEY);

  it.each(VECTORS.map((expected, length) => [length, expected] as const))('hashes the %i-byte vector to %s', (length, expected) => {
    const low = siphash.hash(MESSAGE, length);
    expect(hex(low, siphash.high)).toBe(expected);
  });

  it('hashes the whole of a message by default, and only the given length of a longer one', () => {
    expect(hex(siphash.hash(MESSAGE.subarray(0, 15)), siphash.high)).toBe('a129ca6149be45e5');
    const longer = Uint8Array.from(MESSAGE);
    longer[15] = 0xee;
    expect(hex(siphash.hash(longer, 15), siphash.high)).toBe('a129ca6149be45e5');
  });

  it('returns unsigned halves', () => {
    // Length 4's output has both top bits set: cf2794e0 277187b7.
    const low = siphash.hash(MESSAGE, 4);
    expect(low).toBe(0x277187b7);
    expect(siphash.high).toBe(0xcf2794e0);
  });

  it('depends on the key, which it copies when made', () => {
    const key = Uint8Array.from(KEY);
    const other = new SipHash24(key);
    key[0] = 1;
    expect(hex(other.hash(MESSAGE, 8), other.high)).toBe(VECTORS[8]);
    const changed = new SipHash24(key);
    expect(hex(changed.hash(MESSAGE, 8), changed.high)).not.toBe(VECTORS[8]);
  });

  it('refuses a key that is not 16 bytes and a length beyond the message', () => {
    expect(() => new SipHash24(new Uint8Array(15))).toThrow(RangeError);
    expect(() => siphash.hash(MESSAGE, 65)).toThrow(RangeError);
  });
});
