import { describe, expect, it } from 'vitest';
import { cryptoRandom } from '../../../src/random.js';
import { IsnGenerator, ISN_SECRET_BYTES } from '../../../src/tcp/isn.js';
import type { TcpFourTuple } from '../../../src/tcp/types.js';

const SECRET_A = Uint8Array.from({ length: 16 }, (_, i) => i);
const SECRET_B = Uint8Array.from({ length: 16 }, (_, i) => 255 - i);

const TUPLE: TcpFourTuple = { localAddress: 0x0a000002, localPort: 80, remoteAddress: 0x0a000001, remotePort: 40000 };

function fixedClock(start: number): { clock: () => number; set(ms: number): void } {
  let now = start;
  return {
    clock: () => now,
    set(ms: number) {
      now = ms;
    },
  };
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

describe('IsnGenerator (RFC 6528)', () => {
  it('is deterministic for one tuple, secret and time', () => {
    const { clock } = fixedClock(1000);
    const generator = new IsnGenerator(clock, SECRET_A);
    expect(generator.next(TUPLE)).toBe(generator.next({ ...TUPLE }));
    expect(new IsnGenerator(clock, SECRET_A).next(TUPLE)).toBe(generator.next(TUPLE));
  });

  it('gives different ISNs for tuples that differ in any one field', () => {
    const generator = new IsnGenerator(fixedClock(5000).clock, SECRET_A);
    const variants: TcpFourTuple[] = [
      TUPLE,
      { ...TUPLE, localAddress: 0x0a000003 },
      { ...TUPLE, localPort: 81 },
      { ...TUPLE, remoteAddress: 0x0a000004 },
      { ...TUPLE, remotePort: 40001 },
      // Swapped endpoints must not collide either.
      { localAddress: TUPLE.remoteAddress, localPort: TUPLE.remotePort, remoteAddress: TUPLE.localAddress, remotePort: TUPLE.localPort },
    ];
    const isns = variants.map((tuple) => generator.next(tuple));
    expect(new Set(isns).size).toBe(variants.length);
  });

  it('advances by 250000 (4 µs ticks) for the same tuple one second later, modulo 2^32', () => {
    const time = fixedClock(1_000);
    const generator = new IsnGenerator(time.clock, SECRET_A);
    const first = generator.next(TUPLE);
    time.set(2_000);
    const second = generator.next(TUPLE);
    expect((second - first + 2 ** 32) % 2 ** 32).toBe(250_000);
  });

  it('wraps modulo 2^32 with a large clock and stays a uint32', () => {
    // Date.now()-sized clocks make M far larger than 2^32.
    const time = fixedClock(1_700_000_000_000);
    const generator = new IsnGenerator(time.clock, SECRET_A);
    const first = generator.next(TUPLE);
    time.set(1_700_000_000_000 + 17_179); // 17179 ms * 250 = 4294750 ticks
    const second = generator.next(TUPLE);
    expect(isUint32(first)).toBe(true);
    expect(isUint32(second)).toBe(true);
    expect((second - first + 2 ** 32) % 2 ** 32).toBe(17_179 * 250);
  });

  it('floors fractional milliseconds to whole 4 µs ticks', () => {
    const time = fixedClock(10);
    const generator = new IsnGenerator(time.clock, SECRET_A);
    const base = generator.next(TUPLE);
    time.set(10.003); // 0.75 of a tick
    expect(generator.next(TUPLE)).toBe(base);
    time.set(10.004); // exactly one tick
    expect((generator.next(TUPLE) - base + 2 ** 32) % 2 ** 32).toBe(1);
  });

  it('gives different ISNs for different secrets', () => {
    const { clock } = fixedClock(1234);
    expect(new IsnGenerator(clock, SECRET_A).next(TUPLE)).not.toBe(new IsnGenerator(clock, SECRET_B).next(TUPLE));
  });

  it('with a secret from the default random source, two generators disagree', () => {
    const { clock } = fixedClock(1234);
    const randomSecret = () => cryptoRandom.bytes(ISN_SECRET_BYTES);
    expect(new IsnGenerator(clock, randomSecret()).next(TUPLE)).not.toBe(new IsnGenerator(clock, randomSecret()).next(TUPLE));
  });

  it('is unaffected by later changes to the secret array the caller passed', () => {
    const { clock } = fixedClock(0);
    const secret = Uint8Array.from(SECRET_A);
    const generator = new IsnGenerator(clock, secret);
    const before = generator.next(TUPLE);
    secret.fill(0);
    expect(generator.next(TUPLE)).toBe(before);
  });

  it('always returns a uint32', () => {
    const generator = new IsnGenerator(fixedClock(987_654_321.5).clock, SECRET_B);
    for (let port = 1; port <= 200; port++) {
      expect(isUint32(generator.next({ ...TUPLE, remotePort: port }))).toBe(true);
    }
  });
});
