/** The SACK scoreboard of the send side (RFC 6675 section 3), alone and through a connection. */
import { describe, expect, it } from 'vitest';
import { SackScoreboard } from '../../../src/tcp/sack-scoreboard.js';
import { TcpHarness, patternBytes } from '../../support/tcp-harness.js';

describe('SackScoreboard', () => {
  it('merges overlapping and adjacent ranges and counts only bytes not SACKed before', () => {
    const board = new SackScoreboard();
    expect(board.isEmpty).toBe(true);
    expect(board.add(10, 20)).toBe(10);
    expect(board.add(30, 40)).toBe(10);
    // [15, 35) overlaps 5 bytes of each: 10 new bytes, and the three become one range.
    expect(board.add(15, 35)).toBe(10);
    expect(board.sackedRanges()).toEqual([{ start: 10, end: 40 }]);
    expect([board.lastMergedStart, board.lastMergedEnd]).toEqual([10, 40]);
    // Adjacent ranges merge too.
    expect(board.add(40, 50)).toBe(10);
    expect(board.add(60, 70)).toBe(10);
    expect(board.add(12, 18)).toBe(0);
    expect(board.sackedRanges()).toEqual([
      { start: 10, end: 50 },
      { start: 60, end: 70 },
    ]);
  });

  it('ignores blocks at or below SND.UNA (D-SACK), beyond SND.MAX, or empty', () => {
    const board = new SackScoreboard();
    expect(board.addBlock(0, 10, 0, 100)).toBe(0);
    expect(board.addBlock(-5, 10, 0, 100)).toBe(0);
    expect(board.addBlock(50, 101, 0, 100)).toBe(0);
    expect(board.addBlock(60, 60, 0, 100)).toBe(0);
    expect(board.isEmpty).toBe(true);
    expect(board.addBlock(1, 100, 0, 100)).toBe(99);
    expect(board.sackedRanges()).toEqual([{ start: 1, end: 100 }]);
  });

  it('drops what the cumulative ACK covers and cuts the range it lands in', () => {
    const board = new SackScoreboard();
    board.add(10, 20);
    board.add(30, 40);
    board.dropBelow(5);
    expect(board.sackedRanges()).toHaveLength(2);
    board.dropBelow(35);
    expect(board.sackedRanges()).toEqual([{ start: 35, end: 40 }]);
    board.dropBelow(40);
    expect(board.isEmpty).toBe(true);
  });

  it('reset forgets every range (RFC 2018 section 8: the receiver reneged)', () => {
    const board = new SackScoreboard();
    board.add(10, 20);
    board.reset();
    expect(board.isEmpty).toBe(true);
    expect(board.add(10, 20)).toBe(10);
  });

  it('SACK blocks from the peer count as duplicate ACKs even on data segments (RFC 6675)', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1000, sackPermitted: true });
    h.conn.write(patternBytes(10_000));
    h.take();
    for (let i = 0; i < 3; i++) {
      h.data(i * 10, patternBytes(10), { options: { sackBlocks: [{ left: h.ourSeq(1000), right: h.ourSeq(2000 + i * 1000) }] } });
    }
    const out = h.take();
    expect(out.some((s) => s.seq === h.ourSeq(0) && s.payload.length === 1000)).toBe(true);
    expect(h.counters.get('fast_retransmits')).toBe(1);
  });
});
