import { describe, expect, it } from 'vitest';
import { ByteRing } from '../../../src/tcp/byte-ring.js';

function bytes(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 251;
  return out;
}

/** A ring of 8 allocated bytes whose head sits at index 6, holding bytes(6) at positions [0, 6). */
function wrappedRing(capacity = 64): ByteRing {
  const ring = new ByteRing(capacity, 8);
  ring.write(0, bytes(6, 100));
  ring.advance(6);
  ring.write(0, bytes(6));
  return ring;
}

describe('ByteRing', () => {
  it('returns a zero-copy view for a contiguous range', () => {
    const ring = new ByteRing(64, 16);
    ring.write(0, bytes(10));
    const a = ring.view(2, 5);
    const b = ring.view(0, 10);
    expect(a).toEqual(bytes(5, 2));
    // Both views share the ring's storage.
    expect(a.buffer).toBe(b.buffer);
    ring.write(2, Uint8Array.of(250));
    expect(a[0]).toBe(250);
  });

  it('writes across the wrap and returns a copy for a wrapping range', () => {
    const ring = wrappedRing();
    const whole = ring.view(0, 6);
    expect(whole).toEqual(bytes(6));
    // Positions 0-1 sit at indices 6-7, 2-5 at indices 0-3: the copy is detached from the ring.
    ring.write(0, Uint8Array.of(250));
    expect(whole[0]).toBe(0);
    // Ranges on either side of the wrap are views again.
    expect(ring.view(0, 2)).toEqual(Uint8Array.of(250, 1));
    expect(ring.view(2, 4)).toEqual(bytes(4, 2));
    expect(ring.view(2, 4).buffer).toBe(ring.view(0, 2).buffer);
  });

  it('copies out across the wrap', () => {
    const ring = wrappedRing();
    const into = new Uint8Array(10).fill(7);
    ring.copyOut(1, 4, into);
    expect(into).toEqual(Uint8Array.of(1, 2, 3, 4, 7, 7, 7, 7, 7, 7));
  });

  it('keeps relative positions when growing while wrapped', () => {
    const ring = wrappedRing();
    // A write past the current allocation (8) doubles it; a gap stays between position 6 and 12.
    ring.write(12, bytes(4, 12));
    expect(ring.view(0, 6)).toEqual(bytes(6));
    expect(ring.view(12, 4)).toEqual(bytes(4, 12));
    // After the growth the head is at index 0, so the whole range is contiguous again.
    expect(ring.view(0, 16).buffer).toBe(ring.view(0, 1).buffer);
  });

  it('grows by doubling but never past capacity', () => {
    const ring = new ByteRing(20, 8);
    ring.write(0, bytes(20));
    expect(ring.view(0, 20)).toEqual(bytes(20));
    expect(ring.view(0, 20).buffer.byteLength).toBe(20);
  });

  it('advance moves the front and wraps the head; drained and kept, it starts again at index 0', () => {
    const ring = new ByteRing(8, 4);
    ring.write(0, bytes(8));
    ring.advance(5);
    expect(ring.view(0, 3)).toEqual(bytes(3, 5));
    ring.write(3, bytes(5, 8)); // wraps onto indices 0-4
    expect(ring.view(0, 8)).toEqual(bytes(8, 5));
    ring.advance(8); // head back to index 5
    // Grown past its first allocation and used in full: kept, from index 0.
    ring.drained(8);
    expect(ring.allocated).toBe(8);
    ring.write(0, bytes(8, 30));
    // With the head at 0 the full ring is one contiguous view.
    const full = ring.view(0, 8);
    expect(full).toEqual(bytes(8, 30));
    expect(full.byteOffset).toBe(0);
  });

  it('drained gives the first allocation back at once and keeps grown storage however little the last bytes used', () => {
    const small = new ByteRing(1024, 16);
    small.write(0, bytes(10));
    small.advance(10);
    small.drained(10);
    expect(small.allocated).toBe(0);
    const grown = new ByteRing(1024, 16);
    grown.write(0, bytes(64));
    grown.advance(64);
    // One drain that held a quarter says nothing of the next batch: kept, for the memory to judge.
    grown.drained(16);
    expect(grown.allocated).toBe(64);
  });

  it('releaseIfLittleUsed judges the largest drain since the last look, then starts a new period', () => {
    const ring = new ByteRing(1024, 16);
    const fill = (n: number): void => {
      ring.write(0, bytes(n));
      ring.advance(n);
      ring.drained(n);
    };
    fill(64);
    fill(10);
    // 64 bytes held at one drain since the ring was last looked at: in use, kept.
    expect(ring.releaseIfLittleUsed()).toBe(false);
    expect(ring.allocated).toBe(64);
    // The next period holds at most 16 (a quarter): given back.
    fill(16);
    fill(5);
    expect(ring.releaseIfLittleUsed()).toBe(true);
    expect(ring.allocated).toBe(0);
  });

  it('storage a drained ring gave back serves the next ring zeroed: no byte of one stream shows in another', () => {
    for (let round = 0; round < 3; round++) {
      const first = new ByteRing(1024, 16);
      first.write(0, new Uint8Array(16).fill(0xee));
      first.advance(16);
      first.drained(16);
      const next = new ByteRing(1024, 16);
      next.write(12, bytes(4));
      const seen = new Uint8Array(16);
      next.copyOut(0, 16, seen);
      expect([...seen.subarray(0, 12)]).toEqual(new Array<number>(12).fill(0));
      expect([...seen.subarray(12)]).toEqual([...bytes(4)]);
      next.advance(16);
      next.drained(16);
    }
  });
});
