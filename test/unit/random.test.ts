import { describe, expect, it } from 'vitest';
import { cryptoRandom, mulberry32 } from '../../src/random.js';

describe('mulberry32', () => {
  it('repeats for a seed and stays in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const seqA = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(seqA);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
    expect(new Set(seqA).size).toBeGreaterThan(990);
  });
});

describe('cryptoRandom', () => {
  it('draws floats in [0, 1) that do not repeat, across refills of its block of CSPRNG output', () => {
    // 5000 draws span several 1024-word blocks; 32-bit draws repeat among 5000 with probability ~0.3%.
    const draws = Array.from({ length: 5000 }, () => cryptoRandom.float());
    for (const x of draws) expect(x >= 0 && x < 1).toBe(true);
    expect(new Set(draws).size).toBeGreaterThan(4990);
    const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });

  it('gives fresh bytes of the length asked', () => {
    const a = cryptoRandom.bytes(16);
    expect(a).toHaveLength(16);
    expect(cryptoRandom.bytes(16)).not.toEqual(a);
  });
});
