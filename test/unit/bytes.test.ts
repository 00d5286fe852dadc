/** setBytes: the same bytes as `set` at every alignment, between shared and ordinary memory. */
import { expect, it } from 'vitest';
import { setBytes } from '../../src/bytes.js';

function filled(buffer: ArrayBufferLike, seed: number): Uint8Array {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return bytes;
}

it('copies like set, between shared and ordinary memory, at every relative alignment and around the staging sizes', () => {
  const kinds = [(n: number) => new ArrayBuffer(n), (n: number) => new SharedArrayBuffer(n)];
  for (const makeSource of kinds) {
    for (const makeTarget of kinds) {
      for (const length of [0, 5, 1023, 1024, 1500, 65_535, 70_000]) {
        for (let sourceStart = 0; sourceStart < 8; sourceStart += 3) {
          for (let targetStart = 0; targetStart < 8; targetStart++) {
            const source = filled(makeSource(length + 16), length).subarray(sourceStart, sourceStart + length);
            const target = filled(makeTarget(length + 32), 1).subarray(4);
            const expected = filled(new ArrayBuffer(length + 32), 1).subarray(4);
            expected.set(source, targetStart);
            setBytes(target, targetStart, source);
            expect(Buffer.from(target).equals(Buffer.from(expected))).toBe(true);
          }
        }
      }
    }
  }
});
