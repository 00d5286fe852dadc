/**
 * The internet checksum (RFC 1071), the one implementation every layer uses.
 *
 * `sumWords` returns the unfolded 32-bit-ish running sum of 16-bit big-endian words so that
 * callers can chain a pseudo-header and a payload without copying; `finishChecksum` folds and
 * complements. An odd trailing byte is padded with zero on the right (RFC 1071 section 4).
 * Chaining is only valid when every piece but the last has an even length.
 */
export function sumWords(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  let i = offset;
  const end = offset + length;
  const evenEnd = end - ((end - offset) & 1);
  // Sum pairs of words per iteration; the sum stays well below 2^53, and we fold periodically
  // so it also stays a small integer for the JIT.
  while (i + 8 <= evenEnd) {
    sum +=
      ((bytes[i]! << 8) | bytes[i + 1]!) +
      ((bytes[i + 2]! << 8) | bytes[i + 3]!) +
      ((bytes[i + 4]! << 8) | bytes[i + 5]!) +
      ((bytes[i + 6]! << 8) | bytes[i + 7]!);
    i += 8;
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (i < evenEnd) {
    sum += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
  }
  if (i < end) sum += bytes[i]! << 8;
  return sum;
}

/** Fold a running sum to 16 bits and complement it: the value to put in a checksum field. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of a byte range. Verifying a header that contains its own checksum gives 0. */
export function internetChecksum(bytes: Uint8Array, offset = 0, length = bytes.length - offset, initial = 0): number {
  return finishChecksum(sumWords(bytes, offset, length, initial));
}

/**
 * Running sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 3.1, RFC 768):
 * source, destination, zero, protocol, and the transport length.
 */
export function pseudoHeaderSum(source: number, destination: number, protocol: number, transportLength: number): number {
  return (
    (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) + protocol + transportLength
  );
}

/**
 * Incremental update (RFC 1624 eqn. 3): the new checksum after one 16-bit word of the covered
 * data changed from `oldWord` to `newWord`. HC' = ~(~HC + ~m + m').
 */
export function updateChecksum(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return finishChecksum(sum);
}
