/** Byte helpers for crafting packets in tests. */

/** XOR `mask` into the byte at `index` (a bit flip that a checksum must catch). */
export function flipBits(bytes: Uint8Array, index: number, mask: number): void {
  if (index < 0 || index >= bytes.length) throw new RangeError(`flipBits: index ${index} outside ${bytes.length} bytes`);
  bytes[index] = (bytes[index] ?? 0) ^ mask;
}
