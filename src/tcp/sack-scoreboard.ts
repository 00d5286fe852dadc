/**
 * The SACK scoreboard of the send side (RFC 6675 section 3): the send-offset ranges above SND.UNA
 * the peer reported holding (RFC 2018), merged, so that each SACK block's new bytes are known and
 * the transmit records inside a merged range can be marked SACKed. Which records are lost and what
 * to resend is decided from the transmit records (loss-recovery.ts, rack.ts).
 *
 * Ranges are sorted, disjoint and non-adjacent (touching ranges are merged). A block finds its place
 * by binary search, so the cost of an ACK does not grow with the ranges held, and their number is
 * capped: a peer reporting ever more disjoint one-byte blocks cannot make the scoreboard grow
 * without bound (a block that would open one range too many is ignored; at worst its bytes are
 * resent).
 */
import type { ByteRange } from './receive-buffer.js';

/** Separate SACKed ranges kept at most (a real peer reports about one per hole in flight). */
export const MAX_SACK_SCOREBOARD_RANGES = 256;
/** addBlock's answer for a block ignored because it would exceed MAX_SACK_SCOREBOARD_RANGES. */
export const SACK_BLOCK_OVER_RANGE_LIMIT = -1;

export class SackScoreboard {
  private ranges: ByteRange[] = [];

  constructor(readonly maxRanges = MAX_SACK_SCOREBOARD_RANGES) {}
  /** The SACKed range the last add() merged its block into (the transmit records mark it). */
  lastMergedStart = 0;
  lastMergedEnd = 0;

  /** True when the peer holds nothing above SND.UNA that we know of. */
  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** The SACKed ranges, lowest first (a copy, for inspection). */
  sackedRanges(): ByteRange[] {
    return this.ranges.map((r) => ({ start: r.start, end: r.end }));
  }

  /**
   * One SACK block from the peer, as send offsets. RFC 2018 section 4 / RFC 6675: only blocks above
   * SND.UNA and within what was sent count (D-SACK blocks below SND.UNA, RFC 2883, are ignored).
   * Returns the bytes SACKed for the first time (0 for an ignored block), or
   * SACK_BLOCK_OVER_RANGE_LIMIT when the block would open a range beyond maxRanges.
   */
  addBlock(left: number, right: number, sndUna: number, sndMax: number): number {
    if (!(left > sndUna && right > left && right <= sndMax)) return 0;
    return this.add(left, right);
  }

  /** Merge [start, end) into the ranges; returns the bytes not SACKed before (or SACK_BLOCK_OVER_RANGE_LIMIT). */
  add(start: number, end: number): number {
    const ranges = this.ranges;
    // The first range ending at or after start (touching counts): a binary search.
    let i = 0;
    let high = ranges.length;
    while (i < high) {
      const middle = (i + high) >>> 1;
      if (ranges[middle]!.end < start) i = middle + 1;
      else high = middle;
    }
    if (ranges.length >= this.maxRanges && (i === ranges.length || ranges[i]!.start > end)) return SACK_BLOCK_OVER_RANGE_LIMIT;
    let j = i;
    let overlap = 0;
    let mergedStart = start;
    let mergedEnd = end;
    while (j < ranges.length && ranges[j]!.start <= end) {
      const r = ranges[j]!;
      overlap += Math.max(0, Math.min(r.end, end) - Math.max(r.start, start));
      if (r.start < mergedStart) mergedStart = r.start;
      if (r.end > mergedEnd) mergedEnd = r.end;
      j++;
    }
    ranges.splice(i, j - i, { start: mergedStart, end: mergedEnd });
    this.lastMergedStart = mergedStart;
    this.lastMergedEnd = mergedEnd;
    return end - start - overlap;
  }

  /** SND.UNA moved to `una`: what lies below it is acknowledged, no longer SACKed. */
  dropBelow(una: number): void {
    const ranges = this.ranges;
    if (ranges.length === 0) return;
    let i = 0;
    while (i < ranges.length && ranges[i]!.end <= una) i++;
    if (i > 0) ranges.splice(0, i);
    if (ranges.length > 0 && ranges[0]!.start < una) ranges[0]!.start = una;
  }

  /** The receiver reneged (RFC 2018 section 8): forget every range. */
  reset(): void {
    this.ranges = [];
  }
}
