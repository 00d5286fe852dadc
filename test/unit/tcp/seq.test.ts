import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqLt } from '../../../src/tcp/seq.js';

const TWO_32 = 2 ** 32;
const TWO_31 = 2 ** 31;

describe('sequence arithmetic modulo 2^32 (RFC 9293 3.4)', () => {
  it('seqAdd wraps past 2^32 and stays unsigned', () => {
    expect(seqAdd(TWO_32 - 100, 105)).toBe(5);
    expect(seqAdd(TWO_32 - 1, 1)).toBe(0);
    expect(seqAdd(0, -1)).toBe(TWO_32 - 1);
    expect(seqAdd(5, -105)).toBe(TWO_32 - 100);
    expect(seqAdd(TWO_31 - 1, 1)).toBe(TWO_31);
    expect(seqAdd(123, 0)).toBe(123);
  });

  it('compares across the wrap at 2^32 - 100 and 5', () => {
    const before = TWO_32 - 100;
    expect(seqLt(before, 5)).toBe(true);
    expect(seqGe(5, before)).toBe(true);
    expect(seqLt(before, 5)).toBe(true);
    expect(seqGe(5, before)).toBe(true);
    expect(seqLt(5, before)).toBe(false);
    expect(seqLt(5, before)).toBe(false);
  });

  it('compares around 0', () => {
    expect(seqLt(TWO_32 - 1, 0)).toBe(true);
    expect(seqLt(TWO_32 - 1, 0)).toBe(true);
    expect(seqLt(0, 1)).toBe(true);
    expect(seqGe(0, 0)).toBe(true);
    expect(seqGe(0, 0)).toBe(true);
    expect(seqLt(0, 0)).toBe(false);
    expect(seqLt(0, 0)).toBe(false);
  });

  it('compares around 2^31 (the middle of the space)', () => {
    expect(seqLt(0, TWO_31 - 1)).toBe(true);
    expect(seqLt(0, TWO_31 - 1)).toBe(true);
    // More than half the space ahead counts as behind.
    expect(seqLt(TWO_31 + 1, 0)).toBe(true);
    expect(seqLt(TWO_31 + 1, 0)).toBe(true);
    expect(seqLt(TWO_31 - 1, TWO_31)).toBe(true);
    expect(seqLt(TWO_31, TWO_31 + 1)).toBe(true);
  });

  it('seqDiff gives the signed distance across the wrap', () => {
    expect(seqDiff(5, TWO_32 - 100)).toBe(105);
    expect(seqDiff(TWO_32 - 100, 5)).toBe(-105);
    expect(seqDiff(0, TWO_32 - 1)).toBe(1);
    expect(seqDiff(TWO_32 - 1, 0)).toBe(-1);
    expect(seqDiff(TWO_31 - 1, 0)).toBe(TWO_31 - 1);
    expect(seqDiff(TWO_31 + 1, 0)).toBe(-(TWO_31 - 1));
    expect(seqDiff(42, 42)).toBe(0);
    expect(seqDiff(seqAdd(TWO_32 - 10, 1000), TWO_32 - 10)).toBe(1000);
  });
});
