/**
 * Randomness, passed in like time: the stack draws every random choice (the first ephemeral
 * port, the first IPv4 identification, the ISN secret) from the `RandomSource` in its options,
 * so a test with a seeded source and manual time repeats the same packets byte for byte.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

/** Where the stack's random choices come from (`cryptoRandom`, or `seededRandom(seed)` in tests). */
export interface RandomSource {
  /** A number in [0, 1), uniformly distributed (as Math.random). */
  float(): number;
  /** `length` random bytes, a new array. */
  bytes(length: number): Uint8Array;
}

/**
 * Words of CSPRNG output that `cryptoRandom.float` hands out before fetching more. One fetch of
 * 4 KiB costs about what one of 4 bytes does (~3 µs, nearly all of it the call into OpenSSL), and
 * an active open draws once for its ephemeral port's random increment (src/ports.ts): fetched one
 * at a time, that draw was 6% of the main thread of a connection-rate profile (bench:conn).
 */
const POOL_WORDS = 1024;
const pool = new Uint32Array(POOL_WORDS);
let poolNext = POOL_WORDS;

/**
 * The default: every draw comes from the operating system's CSPRNG. The ISN secret must be
 * unguessable (RFC 6528 3), so it may not come from a PRNG whose 32-bit seed an observer of a few
 * ISNs could search; the secrets come straight from it (`bytes`, a few calls per stack), the
 * per-connection draws of `float` from a block of its output fetched ahead (as Linux's
 * get_random_u32 hands out a batch), each word used once.
 */
export const cryptoRandom: RandomSource = {
  float: () => {
    if (poolNext === POOL_WORDS) {
      randomFillSync(pool);
      poolNext = 0;
    }
    return pool[poolNext++]! / 0x100000000;
  },
  bytes: (length) => new Uint8Array(randomBytes(length)),
};

/** A repeatable source for tests and fault injection: the same seed gives the same draws. */
export function seededRandom(seed: number): RandomSource {
  const next = mulberry32(seed);
  return {
    float: next,
    bytes: (length) => {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256);
      return bytes;
    },
  };
}

/** mulberry32: a tiny 32-bit PRNG, plenty for fault injection, returning numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}
