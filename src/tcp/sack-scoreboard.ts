/**
 * The SACK scoreboard of the send side (RFC 6675 section 3): the send-offset ranges above SND.UNA
 * the peer reported holding (RFC 2018), merged, so that each SACK block's new bytes are known and
 * the transmit records inside a merged range can be marked SACKed. Which records are lost and what
 * to resend is decided from the transmit records (loss-recovery.ts, rack.ts).
 *
 * Ranges are sorted, disjoint and non-adjacent (touching ranges are merged).
 */
import type { ByteRange } from './receive-buffer.js';

export class SackScoreboard {
  private ranges: ByteRange[] = [];
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
   * Returns the bytes SACKed for the first time (0 for an ignored block).
   */
  addBlock(left: number, right: number, sndUna: number, sndMax: number): number {
    if (!(left > sndUna && right > left && right <= sndMax)) return 0;
    return this.add(left, right);
  }

  /** Merge [start, end) into the ranges; returns the bytes not SACKed before. */
  add(start: number, end: number): number {
    const ranges = this.ranges;
    let i = 0;
    while (i < ranges.length && ranges[i]!.end < start) i++;
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
