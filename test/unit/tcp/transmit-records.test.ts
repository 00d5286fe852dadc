/** Per-segment transmit records of the send side. */
import { describe, expect, it } from 'vitest';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';

describe('TransmitRecords', () => {
  function snapshot(records: TransmitRecords): Array<[number, number, number, string]> {
    const out: Array<[number, number, number, string]> = [];
    for (let i = 0; i < records.count; i++) {
      const flags = (records.isRetransmitted(i) ? 'R' : '') + (records.isSacked(i) ? 'S' : '') + (records.isLost(i) ? 'L' : '');
      out.push([records.start(i), records.end(i), records.sendTime(i), flags]);
    }
    return out;
  }

  it('appends one record per new segment, in send order', () => {
    const records = new TransmitRecords();
    expect(records.endOffset).toBe(Number.NEGATIVE_INFINITY);
    records.onSend(0, 1000, 5, 0);
    records.onSend(1000, 1500, 6, 1000);
    // A FIN occupies one offset past the data.
    records.onSend(1500, 1501, 7, 1500);
    expect(snapshot(records)).toEqual([
      [0, 1000, 5, ''],
      [1000, 1500, 6, ''],
      [1500, 1501, 7, ''],
    ]);
    expect(records.endOffset).toBe(1501);
  });

  it('a retransmission marks the records it touches and takes the new send time; the part past SND.MAX is new', () => {
    const records = new TransmitRecords();
    records.onSend(0, 1000, 1, 0);
    records.onSend(1000, 2000, 2, 1000);
    records.onSend(2000, 3000, 3, 2000);
    records.onSend(500, 1200, 10, 3000);
    records.onSend(2500, 3500, 11, 3000);
    expect(snapshot(records)).toEqual([
      [0, 1000, 10, 'R'],
      [1000, 2000, 10, 'R'],
      [2000, 3000, 11, 'R'],
      [3000, 3500, 11, ''],
    ]);
  });

  it('the cumulative ACK drops acknowledged records and trims the one it cuts', () => {
    const records = new TransmitRecords();
    records.onSend(0, 1000, 1, 0);
    records.onSend(1000, 2000, 2, 1000);
    records.onSend(2000, 3000, 3, 2000);
    records.acknowledge(0);
    expect(records.count).toBe(3);
    records.acknowledge(1500);
    expect(snapshot(records)).toEqual([
      [1500, 2000, 2, ''],
      [2000, 3000, 3, ''],
    ]);
    records.acknowledge(3000);
    expect(records.count).toBe(0);
  });

  it('marks SACKed only the records entirely inside the SACKed range', () => {
    const records = new TransmitRecords();
    for (let i = 0; i < 5; i++) records.onSend(i * 100, i * 100 + 100, i, i * 100);
    records.markSacked(150, 400);
    expect(snapshot(records).map((r) => r[3])).toEqual(['', '', 'S', 'S', '']);
  });

  it('a retransmission timeout deems every record lost and forgets SACKs', () => {
    const records = new TransmitRecords();
    for (let i = 0; i < 3; i++) records.onSend(i * 100, i * 100 + 100, i, i * 100);
    records.markSacked(100, 200);
    records.onRetransmissionTimeout();
    expect(snapshot(records).map((r) => r[3])).toEqual(['L', 'L', 'L']);
    records.onSend(0, 100, 9, 300);
    expect(snapshot(records).map((r) => r[3])).toEqual(['RL', 'L', 'L']);
  });

  it('grows past its capacity and keeps order across the ring wrap', () => {
    const records = new TransmitRecords(4);
    for (let i = 0; i < 3; i++) records.onSend(i * 10, i * 10 + 10, i, i * 10);
    records.acknowledge(20);
    // The head moved: these wrap around the 4 slots, then force a doubling.
    for (let i = 3; i < 10; i++) records.onSend(i * 10, i * 10 + 10, i, i * 10);
    expect(records.count).toBe(8);
    expect(snapshot(records).map((r) => r[0])).toEqual([20, 30, 40, 50, 60, 70, 80, 90]);
    records.markSacked(50, 70);
    expect(snapshot(records).map((r) => r[3])).toEqual(['', '', '', 'S', 'S', '', '', '']);
    expect(() => records.start(8)).toThrow(RangeError);
  });
});
