/** RACK time-based loss detection (RFC 8985 section 6), with manual times over array-backed records. */
import { describe, expect, it } from 'vitest';
import { RackLossDetection, type RackRecords, type ReorderWindowInput } from '../../../src/tcp/rack.js';
import { TailLossProbe } from '../../../src/tcp/tail-loss-probe.js';

interface FakeRecord {
  start: number;
  end: number;
  sendTime: number;
  retransmitted: boolean;
  sacked: boolean;
  awaitingRetransmission: boolean;
}

/** Array-backed transmit records, one per 1000-byte segment, with the operations a sender performs. */
class FakeRecords implements RackRecords {
  readonly list: FakeRecord[] = [];
  /** How many times sendTime was read: the work a loss detection pass did. */
  sendTimeReads = 0;

  get count(): number {
    return this.list.length;
  }
  start(i: number): number {
    return this.at(i).start;
  }
  end(i: number): number {
    return this.at(i).end;
  }
  sendTime(i: number): number {
    this.sendTimeReads++;
    return this.at(i).sendTime;
  }
  isRetransmitted(i: number): boolean {
    return this.at(i).retransmitted;
  }
  isSacked(i: number): boolean {
    return this.at(i).sacked;
  }
  isAwaitingRetransmission(i: number): boolean {
    return this.at(i).awaitingRetransmission;
  }
  isInFlight(i: number): boolean {
    return !this.at(i).sacked && !this.at(i).awaitingRetransmission;
  }
  markLost(i: number): void {
    this.at(i).awaitingRetransmission = true;
  }

  /** New segments of 1000 bytes each, sent at the given times, after the last record. */
  sendNew(...times: number[]): void {
    for (const sendTime of times) {
      const start = this.list.length === 0 ? 0 : this.list[this.list.length - 1]!.end;
      this.list.push({ start, end: start + 1000, sendTime, retransmitted: false, sacked: false, awaitingRetransmission: false });
    }
  }
  retransmit(i: number, now: number): void {
    Object.assign(this.at(i), { sendTime: now, retransmitted: true, awaitingRetransmission: false });
  }
  /** Index of the record starting at `offset`. */
  indexOf(offset: number): number {
    return this.list.findIndex((record) => record.start === offset);
  }
  lostOffsets(): number[] {
    return this.list.filter((record) => record.awaitingRetransmission).map((record) => record.start);
  }

  private at(i: number): FakeRecord {
    const record = this.list[i];
    if (record === undefined) throw new RangeError(`no record ${i}`);
    return record;
  }
}

/** One ACK at `now` that SACKs the records starting at `offsets` (and acknowledges nothing cumulatively). */
function sack(rack: RackLossDetection, records: FakeRecords, now: number, offsets: number[], echoedTimestamp?: number): void {
  rack.beginAck(now, echoedTimestamp);
  for (const offset of offsets) {
    const record = records.list[records.indexOf(offset)]!;
    record.sacked = true;
    rack.onDelivered(record.end, record.sendTime, record.retransmitted);
  }
}

/** One ACK at `now` that cumulatively acknowledges up to `una`: report the records not SACKed before, then drop them. */
function acknowledge(rack: RackLossDetection, records: FakeRecords, now: number, una: number, echoedTimestamp?: number): void {
  rack.beginAck(now, echoedTimestamp);
  while (records.list.length > 0 && records.list[0]!.end <= una) {
    const record = records.list.shift()!;
    if (!record.sacked) rack.onDelivered(record.end, record.sendTime, record.retransmitted);
  }
}

function windowInput(records: FakeRecords, overrides: Partial<ReorderWindowInput> = {}): ReorderWindowInput {
  return {
    sndUna: records.list[0]?.start ?? 0,
    sndNxt: records.list[records.list.length - 1]?.end ?? 0,
    dsackReceived: false,
    recoveryEnded: false,
    inRecovery: false,
    sackedSegments: records.list.filter((record) => record.sacked).length,
    smoothedRtt: 100,
    ...overrides,
  };
}

/** A connection with min_RTT = SRTT = 100 ms. */
function rackWithRtt100(): RackLossDetection {
  const rack = new RackLossDetection();
  rack.onRttSample(100, 0);
  return rack;
}

describe('RackLossDetection', () => {
  it('keeps a reordered segment within the reordering window, then marks it lost when the reorder timer fires', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3);
    sack(rack, records, 102, [2000]);
    expect(rack.sendTime).toBe(2);
    expect(rack.rtt).toBe(100);
    rack.updateReorderWindow(windowInput(records));
    // No reordering seen, not in recovery, one SACKed segment: reo_wnd = min_RTT / 4.
    expect(rack.reorderWindow).toBe(25);
    const first = rack.detectLoss(records, 102);
    expect(first).toEqual({ markedLost: 0, reorderTimeout: 24 }); // record 1: 1 + 100 + 25 - 102
    expect(records.lostOffsets()).toEqual([]);
    // RFC 8985 6.3: at the timer's expiry both records sent before RACK.segment are overdue.
    expect(rack.onReorderTimerExpired(records, 126)).toEqual({ markedLost: 2, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([0, 1000]);
  });

  it('a late original below RACK.fack is reordering: reordering_seen, and the window stays while in recovery', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3);
    sack(rack, records, 102, [2000]);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 102).markedLost).toBe(0);
    acknowledge(rack, records, 110, 1000);
    expect(rack.reorderingSeen).toBe(true);
    expect(rack.forwardAcknowledgment).toBe(3000);
    rack.updateReorderWindow(windowInput(records, { inRecovery: true, sackedSegments: 3 }));
    expect(rack.reorderWindow).toBe(25);
    // RACK.rtt is now the late original's 110 ms (RFC 8985 6.2 step 2): record 1 has 1 + 110 + 25 - 110.
    expect(rack.rtt).toBe(110);
    expect(rack.detectLoss(records, 110)).toEqual({ markedLost: 0, reorderTimeout: 26 });
  });

  it('a retransmission delivered below RACK.fack is not reordering', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2);
    sack(rack, records, 101, [1000, 2000]);
    records.markLost(0);
    records.retransmit(0, 105);
    acknowledge(rack, records, 205, 3000);
    expect(rack.reorderingSeen).toBe(false);
    expect(rack.sendTime).toBe(105);
  });

  it('without reordering seen, reo_wnd is 0 in recovery and once DupThresh segments are SACKed, else min(mult * min_RTT / 4, SRTT)', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    rack.updateReorderWindow(windowInput(records, { inRecovery: true }));
    expect(rack.reorderWindow).toBe(0);
    rack.updateReorderWindow(windowInput(records, { sackedSegments: 3 }));
    expect(rack.reorderWindow).toBe(0);
    rack.updateReorderWindow(windowInput(records, { sackedSegments: 2 }));
    expect(rack.reorderWindow).toBe(25);
    // Bounded by SRTT.
    rack.updateReorderWindow(windowInput(records, { smoothedRtt: 10 }));
    expect(rack.reorderWindow).toBe(10);
  });

  it('marks lost at once when DupThresh segments are SACKed and no reordering was seen', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3, 4);
    sack(rack, records, 102, [1000, 2000]);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 102)).toEqual({ markedLost: 0, reorderTimeout: 23 });
    sack(rack, records, 103, [3000]);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 103)).toEqual({ markedLost: 1, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([0]);
  });

  it('detects a lost retransmission without an RTO once data sent after it is delivered', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3, 4);
    sack(rack, records, 101, [1000]);
    sack(rack, records, 102, [2000]);
    sack(rack, records, 103, [3000]);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 103).markedLost).toBe(1);
    // Fast recovery: the retransmission of record 0 leaves at 103 and is lost too.
    records.retransmit(0, 103);
    sack(rack, records, 104, [4000]);
    rack.updateReorderWindow(windowInput(records, { inRecovery: true }));
    // RACK.segment (sent at 4) is older than the retransmission: nothing to say about it yet.
    expect(rack.detectLoss(records, 104)).toEqual({ markedLost: 0, reorderTimeout: 0 });
    // New data sent during recovery at 110 is SACKed at 210: the retransmission, sent before it, is overdue.
    records.sendNew(110);
    sack(rack, records, 210, [5000]);
    rack.updateReorderWindow(windowInput(records, { inRecovery: true }));
    expect(rack.sendTime).toBe(110);
    expect(rack.detectLoss(records, 210)).toEqual({ markedLost: 1, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([0]);
    expect(records.isRetransmitted(0)).toBe(true);
  });

  it('a retransmission sent shortly before RACK.segment gets the reorder timer, then is marked lost when it fires', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1);
    sack(rack, records, 101, [1000]);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 101)).toEqual({ markedLost: 0, reorderTimeout: 24 });
    expect(rack.onReorderTimerExpired(records, 125).markedLost).toBe(1);
    records.retransmit(0, 125);
    records.sendNew(130);
    sack(rack, records, 230, [2000]);
    rack.updateReorderWindow(windowInput(records));
    // The retransmission (125) was sent 5 ms before RACK.segment (130): 125 + 100 + 25 - 230.
    expect(rack.detectLoss(records, 230)).toEqual({ markedLost: 0, reorderTimeout: 20 });
    expect(rack.onReorderTimerExpired(records, 250)).toEqual({ markedLost: 1, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([0]);
  });

  it('step 2: ignores a retransmitted record acknowledged sooner than min_RTT after the retransmission', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1);
    records.retransmit(0, 150); // a spurious retransmission: the original's ACK is on its way
    acknowledge(rack, records, 160, 1000);
    // 10 ms after the retransmission: the ACK is the original's. RACK learns nothing from it ...
    expect(rack.sendTime).toBe(Number.NEGATIVE_INFINITY);
    expect(rack.rtt).toBe(0);
    // ... but RACK.fack still moves (step 3 looks at every delivered record).
    expect(rack.forwardAcknowledgment).toBe(1000);
    expect(rack.detectLoss(records, 160)).toEqual({ markedLost: 0, reorderTimeout: 0 });
  });

  it('step 2: with timestamps, a TSecr older than the last retransmission marks the delivery as the original one', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2);
    records.retransmit(0, 150);
    records.retransmit(1, 150.5);
    // 110 ms after the retransmission (more than min_RTT), but the ACK echoes the original's TSval 0.
    acknowledge(rack, records, 260, 1000, 0);
    expect(rack.sendTime).toBe(Number.NEGATIVE_INFINITY);
    // Echoing the retransmission's TSval (150, the ms clock floored) makes the sample valid.
    acknowledge(rack, records, 261, 2000, 150);
    expect(rack.sendTime).toBe(150.5);
    expect(rack.rtt).toBe(110.5);
  });

  it('step 2: RACK.rtt is the RTT of the most recently sent record of the ACK, in whatever order they are reported', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 5, 5, 20);
    sack(rack, records, 130, [3000]);
    expect(rack.rtt).toBe(110);
    // This ACK delivers only older records: RACK.segment stays, RACK.rtt follows the ACK's newest (ties broken by offset).
    sack(rack, records, 140, [2000, 1000]);
    expect(rack.sendTime).toBe(20);
    expect(rack.endOffset).toBe(4000);
    expect(rack.rtt).toBe(135);
  });

  it('step 5: considers records above RACK.end_seq sent before RACK.xmit_ts, skips SACKed and awaiting records', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3);
    records.markLost(0);
    records.retransmit(0, 110);
    records.markLost(2);
    records.retransmit(2, 111);
    records.sendNew(120);
    // The retransmission of record 0 is SACKed at 215: records 1 and 3 (above its end) were sent before it.
    sack(rack, records, 215, [0]);
    expect(rack.endOffset).toBe(1000);
    rack.updateReorderWindow(windowInput(records, { inRecovery: true }));
    expect(rack.detectLoss(records, 215)).toEqual({ markedLost: 2, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([1000, 3000]);
    // Already awaiting retransmission: not counted again.
    expect(rack.detectLoss(records, 216)).toEqual({ markedLost: 0, reorderTimeout: 0 });
  });

  it('step 5 stops at the first never-retransmitted record sent after RACK.segment', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(...Array.from({ length: 100 }, (_, i) => i));
    sack(rack, records, 102, [2000]);
    rack.updateReorderWindow(windowInput(records));
    records.sendTimeReads = 0;
    rack.detectLoss(records, 102);
    expect(records.sendTimeReads).toBe(3);
  });

  it('step 4: a D-SACK widens reo_wnd once per round; the width persists for 16 recoveries', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    const input = (overrides: Partial<ReorderWindowInput>): ReorderWindowInput => windowInput(records, { sackedSegments: 0, ...overrides });
    rack.updateReorderWindow(input({ sndUna: 0, sndNxt: 10_000, dsackReceived: true }));
    expect(rack.reorderWindowMultiplier).toBe(2);
    expect(rack.dsackRound).toBe(10_000);
    expect(rack.reorderWindow).toBe(50);
    // A second D-SACK in the same round trip does not widen it again.
    rack.updateReorderWindow(input({ sndUna: 5000, sndNxt: 12_000, dsackReceived: true }));
    expect(rack.reorderWindowMultiplier).toBe(2);
    // Once SND.UNA passes the round's SND.NXT, the next D-SACK does.
    rack.updateReorderWindow(input({ sndUna: 10_000, sndNxt: 20_000, dsackReceived: true }));
    expect(rack.reorderWindowMultiplier).toBe(3);
    expect(rack.reorderWindow).toBe(75);
    expect(rack.reorderWindowPersist).toBe(16);
    // Bounded by SRTT.
    rack.updateReorderWindow(input({ sndUna: 20_000, smoothedRtt: 60 }));
    expect(rack.reorderWindow).toBe(60);
    for (let recovery = 1; recovery <= 15; recovery++) rack.updateReorderWindow(input({ sndUna: 20_000, recoveryEnded: true }));
    expect(rack.reorderWindowPersist).toBe(1);
    expect(rack.reorderWindowMultiplier).toBe(3);
    rack.updateReorderWindow(input({ sndUna: 20_000, recoveryEnded: true }));
    expect(rack.reorderWindowMultiplier).toBe(1);
    expect(rack.reorderWindow).toBe(25);
  });

  it('min_RTT is the minimum of the samples, replaced by a newer sample once older than the window', () => {
    const rack = new RackLossDetection();
    expect(rack.minRtt).toBe(Number.POSITIVE_INFINITY);
    rack.onRttSample(100, 0);
    rack.onRttSample(80, 10);
    rack.onRttSample(120, 20);
    expect(rack.minRtt).toBe(80);
    rack.onRttSample(150, 10 + 300_001);
    expect(rack.minRtt).toBe(150);
  });

  it('6.3 on RTO: marks the record at SND.UNA and the overdue ones, keeps the rest in flight', () => {
    const rack = rackWithRtt100();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3);
    sack(rack, records, 101, [1000]);
    rack.updateReorderWindow(windowInput(records));
    records.sendNew(200, 201);
    expect(rack.markLostOnRetransmissionTimeout(records, 300)).toBe(3);
    expect(records.lostOffsets()).toEqual([0, 2000, 3000]);
  });

  it('recovers a tail loss with a TLP retransmission of the last segment, then RACK', () => {
    const rack = rackWithRtt100();
    const probe = new TailLossProbe();
    const records = new FakeRecords();
    records.sendNew(0, 1, 2, 3);
    acknowledge(rack, records, 101, 2000);
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 101)).toEqual({ markedLost: 0, reorderTimeout: 0 });
    const deadline = probe.probeDeadline({
      now: 101,
      sackEnabled: true,
      inRecovery: false,
      sackedSegments: 0,
      bytesInFlight: 2000,
      smss: 1000,
      smoothedRtt: 100,
      hasRttSample: true,
      retransmissionDeadline: 101 + 300,
    });
    expect(deadline).toBe(303);
    expect(probe.chooseProbe({ hasUnsentData: false, windowAllowsNewData: true })).toBe('retransmit-last');
    records.retransmit(records.count - 1, 303);
    probe.onProbeSent('retransmit-last', 4000);
    // The probe's ACK SACKs it: RACK finds record 2 lost; the sender enters recovery (and resets TLP, 7.1).
    sack(rack, records, 403, [3000]);
    expect(probe.onAck({ ackOffset: 2000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('pending');
    rack.updateReorderWindow(windowInput(records));
    expect(rack.detectLoss(records, 403)).toEqual({ markedLost: 1, reorderTimeout: 0 });
    expect(records.lostOffsets()).toEqual([2000]);
  });
});
