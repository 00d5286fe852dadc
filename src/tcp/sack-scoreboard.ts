/**
 * The SACK scoreboard of the send side (RFC 6675 section 3): the send-offset ranges above SND.UNA
 * the peer reported holding (RFC 2018), and HighRxt, the end of the highest segment retransmitted
 * in the current recovery. The sender asks it which bytes to skip when it resends and which hole
 * to fill next.
 *
 * Ranges are sorted, disjoint and non-adjacent (touching ranges are merged).
 */
import type { ByteRange } from './receive-buffer.js';

/** RFC 6675 DupThresh - 1: a hole is lost once more than this many full segments are SACKed above it. */
const LOST_SEGMENTS_ABOVE = 2;

export class SackScoreboard {
  private ranges: ByteRange[] = [];
  /** RFC 6675 HighRxt: end of the highest segment retransmitted in the current recovery. */
  highRetransmitted = -1;
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

  /** The first offset at or after `off` that is not SACKed. */
  skipSacked(off: number): number {
    const ranges = this.ranges;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (r.end <= off) continue;
      if (r.start <= off) return r.end;
      break;
    }
    return off;
  }

  /** Start of the first SACKed range beginning after `off` (infinity if none): where a resend must stop. */
  nextSackedStart(off: number): number {
    const ranges = this.ranges;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (r.start > off) return r.start;
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * RFC 6675 section 5 NextSeg rule 1, simplified: the first hole at or above max(SND.UNA, HighRxt)
   * that is deemed lost (IsLost: more than (DupThresh - 1) * SMSS SACKed above it). Returns its
   * send offset, or -1 when there is none.
   */
  nextLostHole(sndUna: number, smss: number): number {
    const ranges = this.ranges;
    if (ranges.length === 0) return -1;
    const off = this.skipSacked(Math.max(sndUna, this.highRetransmitted));
    const highestSacked = ranges[ranges.length - 1]!.end;
    if (off >= highestSacked) return -1;
    let sackedAbove = 0;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (r.end > off) sackedAbove += r.end - Math.max(r.start, off);
    }
    if (sackedAbove <= LOST_SEGMENTS_ABOVE * smss) return -1;
    return off;
  }

  /**
   * After a retransmission timeout: RFC 2018 section 8: the receiver may have reneged, so forget
   * the SACKed ranges; and a new recovery starts with no HighRxt.
   */
  reset(): void {
    this.ranges = [];
    this.highRetransmitted = -1;
  }
}
