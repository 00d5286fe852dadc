import { describe, expect, it } from 'vitest';
import { ReceiveBuffer } from '../../../src/tcp/receive-buffer.js';
import { SendBuffer } from '../../../src/tcp/send-buffer.js';

function bytes(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 251;
  return out;
}

describe('SendBuffer', () => {
  it('accepts up to capacity and reports offsets', () => {
    const b = new SendBuffer(1000);
    expect(b.write(bytes(600))).toBe(600);
    expect(b.write(bytes(600, 600))).toBe(400);
    expect(b.write(bytes(1))).toBe(0);
    expect(b.length).toBe(1000);
    expect(b.freeSpace).toBe(0);
    expect(b.startOffset).toBe(0);
    expect(b.endOffset).toBe(1000);
  });

  it('views are the written bytes, across releases and ring wrap', () => {
    const b = new SendBuffer(100_000);
    let written = 0;
    let released = 0;
    for (let round = 0; round < 50; round++) {
      written += b.write(bytes(7000, written));
      const v = b.view(released, Math.min(3000, written - released));
      expect(v).toEqual(bytes(v.length, released));
      released += b.releaseTo(released + 5000);
    }
    expect(b.startOffset).toBe(released);
    expect(b.endOffset).toBe(written);
    expect(b.view(b.startOffset, b.length)).toEqual(bytes(b.length, b.startOffset));
  });

  it('grows its allocation without losing data', () => {
    const b = new SendBuffer(1 << 20);
    b.write(bytes(10_000));
    b.releaseTo(9000);
    b.write(bytes(500_000, 10_000));
    expect(b.view(9000, 501_000)).toEqual(bytes(501_000, 9000));
  });

  it('rejects views outside the held range and ignores over-release', () => {
    const b = new SendBuffer(100);
    b.write(bytes(50));
    expect(() => b.view(40, 20)).toThrow(RangeError);
    expect(b.releaseTo(1000)).toBe(50);
    expect(b.length).toBe(0);
    expect(b.startOffset).toBe(50);
  });
});

describe('ReceiveBuffer', () => {
  it('in-order data becomes readable; read frees space', () => {
    const r = new ReceiveBuffer(1000, 1000);
    expect(r.insert(0, bytes(300))).toBe('in-order');
    expect(r.readableLength).toBe(300);
    expect(r.freeSpace).toBe(700);
    const out = new Uint8Array(200);
    expect(r.read(out)).toBe(200);
    expect(out).toEqual(bytes(200));
    expect(r.freeSpace).toBe(900);
    expect(r.readOffset).toBe(200);
  });

  it('holds out-of-order ranges, merges them, and delivers when the hole fills', () => {
    const r = new ReceiveBuffer(10_000, 10_000);
    expect(r.insert(1000, bytes(500, 1000))).toBe('out-of-order');
    expect(r.insert(2000, bytes(500, 2000))).toBe('out-of-order');
    expect(r.insert(1500, bytes(500, 1500))).toBe('out-of-order');
    expect(r.outOfOrderRanges()).toEqual([{ start: 1000, end: 2500 }]);
    expect(r.outOfOrderBytes).toBe(1500);
    expect(r.readableLength).toBe(0);
    expect(r.insert(0, bytes(1000))).toBe('in-order');
    expect(r.readableLength).toBe(2500);
    expect(r.hasOutOfOrder).toBe(false);
    expect(r.outOfOrderBytes).toBe(0);
    const out = new Uint8Array(2500);
    r.read(out);
    expect(out).toEqual(bytes(2500));
  });

  it('trims overlaps with read and held data; duplicates change nothing', () => {
    const r = new ReceiveBuffer(10_000, 10_000);
    r.insert(0, bytes(100));
    expect(r.insert(50, bytes(100, 50))).toBe('in-order');
    expect(r.readableLength).toBe(150);
    expect(r.insert(0, bytes(150))).toBe('duplicate');
    r.insert(300, bytes(100, 300));
    expect(r.insert(250, bytes(200, 250))).toBe('out-of-order');
    expect(r.outOfOrderRanges()).toEqual([{ start: 250, end: 450 }]);
    expect(r.outOfOrderBytes).toBe(200);
    r.insert(150, bytes(100, 150));
    const out = new Uint8Array(450);
    expect(r.read(out)).toBe(450);
    expect(out).toEqual(bytes(450));
  });

  it('enforces the out-of-order limit', () => {
    const r = new ReceiveBuffer(10_000, 1000);
    expect(r.insert(100, bytes(800))).toBe('out-of-order');
    expect(r.insert(2000, bytes(300))).toBe('over-limit');
    expect(r.insert(900, bytes(200))).toBe('out-of-order');
    expect(r.outOfOrderBytes).toBe(1000);
  });

  it('never stores past readOffset + capacity', () => {
    const r = new ReceiveBuffer(1000, 1000);
    r.insert(0, bytes(1500));
    expect(r.readableLength).toBe(1000);
    expect(r.limitOffset).toBe(1000);
    r.read(new Uint8Array(400));
    expect(r.limitOffset).toBe(1400);
  });

  it('SACK ranges: the most recently changed first, limited in number', () => {
    const r = new ReceiveBuffer(100_000, 100_000);
    r.insert(1000, bytes(10));
    r.insert(3000, bytes(10));
    r.insert(5000, bytes(10));
    r.insert(1010, bytes(10));
    expect(r.sackRanges(3)).toEqual([
      { start: 1000, end: 1020 },
      { start: 5000, end: 5010 },
      { start: 3000, end: 3010 },
    ]);
    expect(r.sackRanges(2)).toHaveLength(2);
  });

  it('notes the first run each insert already had (RFC 2883 duplicates), none for new data', () => {
    const r = new ReceiveBuffer(10_000, 10_000);
    const duplicate = (): [number, number] => [r.duplicateStart, r.duplicateEnd];
    expect(r.insert(0, bytes(1000))).toBe('in-order');
    expect(r.duplicateEnd - r.duplicateStart).toBe(0);
    // Entirely below inOrderEnd, then partly.
    expect(r.insert(200, bytes(300, 200))).toBe('duplicate');
    expect(duplicate()).toEqual([200, 500]);
    expect(r.insert(900, bytes(200, 900))).toBe('in-order');
    expect(duplicate()).toEqual([900, 1000]);
    // Inside a held range, and overlapping its edge.
    r.insert(2000, bytes(1000, 2000));
    expect(r.duplicateEnd - r.duplicateStart).toBe(0);
    expect(r.insert(2200, bytes(100, 2200))).toBe('out-of-order');
    expect(duplicate()).toEqual([2200, 2300]);
    expect(r.insert(2800, bytes(400, 2800))).toBe('out-of-order');
    expect(duplicate()).toEqual([2800, 3000]);
    // Across two held ranges: the lower run.
    r.insert(4000, bytes(500, 4000));
    expect(r.insert(3100, bytes(1100, 3100))).toBe('out-of-order');
    expect(duplicate()).toEqual([3100, 3200]);
    expect(r.outOfOrderRanges()).toEqual([{ start: 2000, end: 4500 }]);
    // In order, running into the held range it then absorbs.
    expect(r.insert(1100, bytes(1000, 1100))).toBe('in-order');
    expect(duplicate()).toEqual([2000, 2100]);
    expect(r.inOrderEnd).toBe(4500);
    const out = new Uint8Array(4500);
    expect(r.read(out)).toBe(4500);
    expect(out).toEqual(bytes(4500));
  });

  it('a refused insert notes no duplicate', () => {
    const r = new ReceiveBuffer(10_000, 500);
    r.insert(1000, bytes(500, 1000));
    expect(r.insert(1200, bytes(800, 1200))).toBe('over-limit');
    expect(r.duplicateEnd - r.duplicateStart).toBe(0);
  });

  it('SACK ranges: the range containing the lead offset first, then by recency (RFC 2883 4 rule 4)', () => {
    const r = new ReceiveBuffer(100_000, 100_000);
    r.insert(1000, bytes(10));
    r.insert(3000, bytes(10));
    r.insert(5000, bytes(10));
    expect(r.sackRanges(2, 1005)).toEqual([
      { start: 1000, end: 1010 },
      { start: 5000, end: 5010 },
    ]);
    // An offset in no held range changes nothing.
    expect(r.sackRanges(3, 2000)).toEqual(r.sackRanges(3));
  });

  it('keeps data intact through ring wrap and growth under a long stream', () => {
    const r = new ReceiveBuffer(64 * 1024, 64 * 1024);
    const out = new Uint8Array(64 * 1024);
    let next = 0;
    let read = 0;
    for (let i = 0; i < 200; i++) {
      // Deliver 3 segments in the order 2, 1, 3 (relative), then read some.
      const seg = 1000;
      r.insert(next + seg, bytes(seg, next + seg));
      r.insert(next, bytes(seg, next));
      r.insert(next + 2 * seg, bytes(seg, next + 2 * seg));
      next += 3 * seg;
      const n = r.read(out.subarray(0, 2500 + (i % 3) * 500));
      expect(out.subarray(0, n)).toEqual(bytes(n, read));
      read += n;
    }
    expect(r.inOrderEnd).toBe(next);
  });

  it('clear forgets unread and held data', () => {
    const r = new ReceiveBuffer(1000, 1000);
    r.insert(0, bytes(100));
    r.insert(500, bytes(100));
    r.clear();
    expect(r.readableLength).toBe(0);
    expect(r.hasOutOfOrder).toBe(false);
    expect(r.freeSpace).toBe(1000);
  });
});
