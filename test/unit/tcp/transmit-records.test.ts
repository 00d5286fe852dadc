/** Per-segment transmit records of the send side. */
import { describe, expect, it } from 'vitest';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';

describe('TransmitRecords', () => {
  function snapshot(records: TransmitRecords): Array<[number, number, number, string]> {
    const out: Array<[number, number, number, string]> = [];
    for (let i = 0; i < records.count; i++) {
      const flags =
        (records.isRetransmitted(i) ? 'R' : '') + (records.isSacked(i) ? 'S' : '') + (records.isAwaitingRetransmission(i) ? 'L' : '');
      out.push([records.start(i), records.end(i), records.sendTime(i), flags]);
    }
    return out;
  }

  function filled(count: number, size = 100): TransmitRecords {
    const records = new TransmitRecords();
    for (let i = 0; i < count; i++) records.append(i * size, i * size + size, i);
    return records;
  }

  it('appends one record per new segment, in send order, and counts them in pipe', () => {
    const records = new TransmitRecords();
    expect(records.endOffset).toBe(Number.NEGATIVE_INFINITY);
    records.append(0, 1000, 5);
    records.append(1000, 1500, 6);
    // A FIN occupies one offset past the data.
    records.append(1500, 1501, 7);
    expect(snapshot(records)).toEqual([
      [0, 1000, 5, ''],
      [1000, 1500, 6, ''],
      [1500, 1501, 7, ''],
    ]);
    expect(records.endOffset).toBe(1501);
    expect(records.pipe).toBe(1501);
  });

  function observed(records: TransmitRecords): Array<[number, number, boolean]> {
    const delivered: Array<[number, number, boolean]> = [];
    records.deliveryObserver = { onDelivered: (end, sendTime, retransmitted) => delivered.push([end, sendTime, retransmitted]) };
    return delivered;
  }

  it('the cumulative ACK drops acknowledged records, trims the one it cuts, and reports each delivery', () => {
    const records = filled(3, 1000);
    records.acknowledge(0);
    expect(records.count).toBe(3);
    const delivered = observed(records);
    records.acknowledge(1500);
    expect(snapshot(records)).toEqual([
      [1500, 2000, 1, ''],
      [2000, 3000, 2, ''],
    ]);
    expect(records.pipe).toBe(1500);
    // The cut record counts as delivered up to the ACK (RFC 8985 6.2 uses its send time).
    expect(delivered).toEqual([
      [1000, 0, false],
      [1500, 1, false],
    ]);
    records.acknowledge(3000);
    expect(records.count).toBe(0);
    expect(records.pipe).toBe(0);
  });

  it('marks SACKed only the records entirely inside the SACKed range; SACKed bytes leave pipe', () => {
    const records = filled(5);
    const delivered = observed(records);
    records.markSacked(150, 400);
    expect(snapshot(records).map((r) => r[3])).toEqual(['', '', 'S', 'S', '']);
    expect(records.sackedBytes).toBe(200);
    expect(records.sackedCount).toBe(2);
    expect(records.pipe).toBe(300);
    expect(delivered).toEqual([
      [300, 2, false],
      [400, 3, false],
    ]);
    records.acknowledge(400);
    // SACKed records are not delivered twice; the first two are delivered now.
    expect(delivered.map((d) => d[0])).toEqual([300, 400, 100, 200]);
    expect(records.sackedBytes).toBe(0);
    expect(records.sackedCount).toBe(0);
    expect(records.pipe).toBe(100);
  });

  it('a lost record leaves pipe until it is retransmitted; the retransmission takes the new send time', () => {
    const records = filled(3);
    records.markLost(1);
    expect(records.lostCount).toBe(1);
    expect(records.pipe).toBe(200);
    expect(records.firstAwaitingRetransmission()).toBe(1);
    expect(records.isInFlight(1)).toBe(false);
    records.retransmitted(1, 50);
    expect(snapshot(records)[1]).toEqual([100, 200, 50, 'R']);
    expect(records.pipe).toBe(300);
    expect(records.lostCount).toBe(0);
    expect(records.firstAwaitingRetransmission()).toBe(-1);
    // Lost again (RACK): it awaits a second retransmission.
    records.markLost(1);
    expect(snapshot(records)[1]![3]).toBe('RL');
  });

  it('a timeout deems every record lost but keeps the SACKed ones (RFC 6675 5.1); reneging clears them', () => {
    const records = filled(3);
    records.markSacked(100, 200);
    records.markAllLost();
    expect(snapshot(records).map((r) => r[3])).toEqual(['L', 'S', 'L']);
    expect(records.pipe).toBe(0);
    records.clearSacked();
    expect(snapshot(records).map((r) => r[3])).toEqual(['L', 'L', 'L']);
    expect(records.lostCount).toBe(3);
    expect(records.sackedBytes).toBe(0);
  });

  it('splits a record into two with the same flags, keeping the sums', () => {
    const records = filled(3);
    records.markLost(1);
    records.split(1, 140);
    expect(snapshot(records)).toEqual([
      [0, 100, 0, ''],
      [100, 140, 1, 'L'],
      [140, 200, 1, 'L'],
      [200, 300, 2, ''],
    ]);
    expect(records.lostCount).toBe(2);
    expect(records.pipe).toBe(200);
    expect(() => records.split(0, 100)).toThrow(RangeError);
  });

  it('merges adjacent records awaiting retransmission into one, keeping the counts', () => {
    const records = filled(4);
    records.markLost(1);
    records.markLost(2);
    records.mergeWithNext(1);
    expect(snapshot(records)).toEqual([
      [0, 100, 0, ''],
      [100, 300, 2, 'L'],
      [300, 400, 3, ''],
    ]);
    expect(records.lostCount).toBe(1);
    expect(records.pipe).toBe(200);
    // Only two lost, adjacent records merge.
    expect(() => records.mergeWithNext(0)).toThrow(RangeError);
  });

  it('a ring given back by one flight serves the next flight of another connection with none of its old records or flags', () => {
    // Connections hand their acknowledged 8-record rings to a shared store of spares (bounded).
    const first = filled(8);
    first.retransmitted(7, 50);
    first.markSacked(100, 200);
    first.acknowledge(800);
    const second = new TransmitRecords();
    second.append(5000, 5100, 60);
    second.append(5100, 5101, 61);
    expect(snapshot(second)).toEqual([
      [5000, 5100, 60, ''],
      [5100, 5101, 61, ''],
    ]);
    expect(second.pipe).toBe(101);
    // Doubled past 8 (the 8-ring spared), the records are intact; the first connection starts afresh.
    for (let i = 0; i < 10; i++) second.append(5101 + i, 5102 + i, 62 + i);
    expect(second.count).toBe(12);
    expect(second.end(11)).toBe(5111);
    first.append(800, 900, 70);
    expect(snapshot(first)).toEqual([[800, 900, 70, '']]);
    second.acknowledge(5111);
    expect(second.count).toBe(0);
  });

  it('grows past its capacity and keeps order across the ring wrap, also when splitting', () => {
    const records = new TransmitRecords(4);
    for (let i = 0; i < 3; i++) records.append(i * 10, i * 10 + 10, i);
    records.acknowledge(20);
    // The head moved: these wrap around the 4 slots, then force a doubling.
    for (let i = 3; i < 10; i++) records.append(i * 10, i * 10 + 10, i);
    expect(records.count).toBe(8);
    expect(snapshot(records).map((r) => r[0])).toEqual([20, 30, 40, 50, 60, 70, 80, 90]);
    records.markSacked(50, 70);
    expect(snapshot(records).map((r) => r[3])).toEqual(['', '', '', 'S', 'S', '', '', '']);
    records.split(0, 25);
    expect(snapshot(records).map((r) => r[0])).toEqual([20, 25, 30, 40, 50, 60, 70, 80, 90]);
    expect(records.indexAfter(55)).toBe(4);
    expect(() => records.start(9)).toThrow(RangeError);
  });
});
