/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit
 * pseudorandom function with a 128-bit key, made for hashing short inputs under a secret. It is
 * what the stack's keyed hashes need: RFC 6528's F for initial sequence numbers, the SYN cookie
 * MAC (RFC 4987 3.6) and RFC 6056's F and G for ephemeral ports, each over a four-tuple of a few
 * dozen bytes. Linux uses it for all three (secure_tcp_seq, cookie_hash, port offsets).
 *
 * The 64-bit words of the algorithm are kept as pairs of 32-bit halves in local variables, so a
 * hash allocates nothing and needs no BigInt: one call is a few hundred integer operations, where
 * an HMAC from node:crypto cost an object, a native call and a digest Buffer.
 */

/**
 * A key, preprocessed once: the initial state (section 2: v0 = k0 ^ "somepseu", v1 = k1 ^
 * "dorandom", v2 = k0 ^ "lygenera", v3 = k1 ^ "tedbytes"), as 32-bit halves, and the hash of
 * messages under it.
 */
export class SipHash24 {
  /** The high 32 bits of the last hash (unsigned). */
  high = 0;
  private readonly v0l: number;
  private readonly v0h: number;
  private readonly v1l: number;
  private readonly v1h: number;
  private readonly v2l: number;
  private readonly v2h: number;
  private readonly v3l: number;
  private readonly v3h: number;

  /** @param key 16 bytes: k0 is the first 8 read as a little-endian number, k1 the last 8 (section 2). */
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`a SipHash key is 16 bytes, not ${key.length}`);
    const k0l = readUint32LE(key, 0);
    const k0h = readUint32LE(key, 4);
    const k1l = readUint32LE(key, 8);
    const k1h = readUint32LE(key, 12);
    this.v0l = k0l ^ 0x70736575;
    this.v0h = k0h ^ 0x736f6d65;
    this.v1l = k1l ^ 0x6e646f6d;
    this.v1h = k1h ^ 0x646f7261;
    this.v2l = k0l ^ 0x6e657261;
    this.v2h = k0h ^ 0x6c796765;
    this.v3l = k1l ^ 0x79746573;
    this.v3h = k1h ^ 0x74656462;
  }

  /**
   * SipHash-2-4 of message[0, length): its low 32 bits, unsigned; the high 32 are left in `high`.
   * The 64-bit result is the one the reference implementation writes little-endian as its 8
   * output bytes.
   */
  hash(message: Uint8Array, length = message.length): number {
    if (length > message.length) throw new RangeError(`length ${length} is beyond the message's ${message.length} bytes`);
    let v0l = this.v0l;
    let v0h = this.v0h;
    let v1l = this.v1l;
    let v1h = this.v1h;
    let v2l = this.v2l;
    let v2h = this.v2h;
    let v3l = this.v3l;
    let v3h = this.v3h;
    const fullBlocks = length >>> 3;
    // Section 2: each 8-byte block m_i (little-endian) is absorbed with c = 2 SipRounds; the last
    // one holds the 0-7 remaining bytes and, in its top byte, the length mod 256. Then
    // finalization: v2 ^= 0xff and d = 4 SipRounds. One loop does both so that the round is
    // written once; its last step (b = fullBlocks + 1) is the finalization.
    for (let b = 0; b <= fullBlocks + 1; b++) {
      let ml = 0;
      let mh = 0;
      let rounds = 2;
      if (b < fullBlocks) {
        ml = readUint32LE(message, b * 8);
        mh = readUint32LE(message, b * 8 + 4);
      } else if (b === fullBlocks) {
        const start = b * 8;
        const left = length - start;
        for (let i = 0; i < left; i++) {
          const byte = message[start + i]!;
          if (i < 4) ml |= byte << (8 * i);
          else mh |= byte << (8 * (i - 4));
        }
        mh |= (length & 0xff) << 24;
      } else {
        v2l ^= 0xff;
        rounds = 4;
      }
      v3l ^= ml;
      v3h ^= mh;
      for (let r = 0; r < rounds; r++) {
        // SipRound (section 2, figure 2.1). A 64-bit add is two 32-bit adds, the low one's carry
        // (its unsigned sum wrapped below an addend) going into the high one; a rotation by n < 32
        // moves n bits from each half into the other; a rotation by 32 swaps the halves.
        let t = (v0l + v1l) | 0;
        v0h = (v0h + v1h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
        v0l = t;
        t = (v1h << 13) | (v1l >>> 19);
        v1l = (v1l << 13) | (v1h >>> 19);
        v1h = t ^ v0h;
        v1l ^= v0l;
        t = v0l;
        v0l = v0h;
        v0h = t;

        t = (v2l + v3l) | 0;
        v2h = (v2h + v3h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
        v2l = t;
        t = (v3h << 16) | (v3l >>> 16);
        v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l;
        v3h = t ^ v2h;

        t = (v0l + v3l) | 0;
        v0h = (v0h + v3h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
        v0l = t;
        t = (v3h << 21) | (v3l >>> 11);
        v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l;
        v3h = t ^ v0h;

        t = (v2l + v1l) | 0;
        v2h = (v2h + v1h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
        v2l = t;
        t = (v1h << 17) | (v1l >>> 15);
        v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l;
        v1h = t ^ v2h;
        t = v2l;
        v2l = v2h;
        v2h = t;
      }
      v0l ^= ml;
      v0h ^= mh;
    }
    this.high = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
    return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  }
}

function readUint32LE(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24);
}
