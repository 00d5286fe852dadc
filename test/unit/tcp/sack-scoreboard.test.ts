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

  it('skips SACKed bytes and finds where the next SACKed range starts', () => {
    const board = new SackScoreboard();
    board.add(10, 20);
    board.add(30, 40);
    expect([5, 10, 15, 20, 25, 30, 45].map((off) => board.skipSacked(off))).toEqual([5, 20, 20, 20, 25, 40, 45]);
    expect([5, 10, 25, 35].map((off) => board.nextSackedStart(off))).toEqual([10, 30, 30, Number.POSITIVE_INFINITY]);
  });

  it('deems a hole lost once more than 2 * SMSS is SACKed above it (RFC 6675 IsLost), starting at HighRxt', () => {
    const board = new SackScoreboard();
    expect(board.nextLostHole(0, 100)).toBe(-1);
    board.add(100, 200);
    board.add(220, 320);
    // 200 bytes SACKed above offset 0: not more than 2 * SMSS.
    expect(board.nextLostHole(0, 100)).toBe(-1);
    board.add(330, 331);
    expect(board.nextLostHole(0, 100)).toBe(0);
    // The hole [0, 100) was retransmitted: the next candidate is [200, 220), with only 101 bytes above.
    board.highRetransmitted = 100;
    expect(board.nextLostHole(0, 100)).toBe(-1);
    expect(board.nextLostHole(0, 50)).toBe(200);
    // Nothing above the highest SACKed byte is a hole.
    board.highRetransmitted = 331;
    expect(board.nextLostHole(0, 1)).toBe(-1);
  });

  it('reset forgets every range and HighRxt (RFC 2018 section 8)', () => {
    const board = new SackScoreboard();
    board.add(10, 20);
    board.highRetransmitted = 50;
    board.reset();
    expect(board.isEmpty).toBe(true);
    expect(board.highRetransmitted).toBe(-1);
    expect(board.skipSacked(10)).toBe(10);
  });
});

describe('TCP sending', () => {
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
