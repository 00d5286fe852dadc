/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4; RFC 1982 serial arithmetic).
 * Every comparison of TCP sequence or acknowledgment numbers in the stack goes through these.
 * Values are kept as unsigned 32-bit numbers in [0, 2^32).
 */
export type SeqNumber = number;

/** a + n mod 2^32. */
export function seqAdd(a: SeqNumber, n: number): SeqNumber {
  return (a + n) >>> 0;
}

/** Signed distance b - a in [-2^31, 2^31): positive when b is after a (exactly 2^31 apart is ambiguous, RFC 1982 3.2). */
export function seqDiff(b: SeqNumber, a: SeqNumber): number {
  return (b - a) | 0;
}

export function seqLt(a: SeqNumber, b: SeqNumber): boolean {
  return ((a - b) | 0) < 0;
}

export function seqGe(a: SeqNumber, b: SeqNumber): boolean {
  return ((a - b) | 0) >= 0;
}
