/** Loss recovery from the transmit records: RFC 6675 entry and IsLost, NewReno without SACK, PRR, D-SACK undo, timeouts. */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { NewRenoCongestionControl } from '../../../src/tcp/newreno.js';
import { LossRecovery, type RecoveryAck } from '../../../src/tcp/loss-recovery.js';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';

const SMSS = 1000;

function setUp(segments: number): {
  records: TransmitRecords;
  recovery: LossRecovery;
  congestion: NewRenoCongestionControl;
  counters: Counters;
} {
  const records = new TransmitRecords();
  for (let i = 0; i < segments; i++) records.append(i * SMSS, (i + 1) * SMSS, 0);
  const counters = new Counters('tcp');
  return { records, recovery: new LossRecovery(records, counters), congestion: new NewRenoCongestionControl(SMSS), counters };
}

function ack(fields: Partial<RecoveryAck>): RecoveryAck {
  return {
    now: 1,
    sndUna: 0,
    ackedBytes: 0,
    deliveredBytes: 0,
    duplicate: false,
    sndMax: 10 * SMSS,
    smss: SMSS,
    sackPermitted: true,
    ...fields,
  };
}

describe('LossRecovery', () => {
  it('enters recovery on IsLost(SND.UNA) before three duplicate ACKs: three segments SACKed above the first (RFC 6675)', () => {
    const { records, recovery, congestion } = setUp(10);
    records.markSacked(1000, 4000);
    expect(recovery.onAck(ack({ duplicate: true, deliveredBytes: 3000 }), congestion)).toBe(false);
    expect(recovery.phase).toBe('fast-recovery');
    expect(records.isAwaitingRetransmission(0)).toBe(true);
    expect(recovery.recoveryPoint).toBe(10 * SMSS);
    // ssthresh = FlightSize / 2 (NewReno), and PRR lets at least the fast retransmission out.
    expect(congestion.ssthresh).toBe(5000);
    expect(congestion.cwnd - recovery.pipe).toBeGreaterThanOrEqual(SMSS);
  });

  it('without SACK: the third duplicate ACK retransmits SND.UNA; a partial ACK the next; the full ACK ends recovery at ssthresh', () => {
    const { records, recovery, congestion } = setUp(10);
    const noSack = { sackPermitted: false };
    recovery.onAck(ack({ ...noSack, duplicate: true }), congestion);
    recovery.onAck(ack({ ...noSack, duplicate: true }), congestion);
    expect(recovery.phase).toBe('open');
    expect(recovery.limitedTransmitAllowance(SMSS)).toBe(2 * SMSS);
    recovery.onAck(ack({ ...noSack, duplicate: true }), congestion);
    expect(recovery.phase).toBe('fast-recovery');
    expect(records.isAwaitingRetransmission(0)).toBe(true);
    records.retransmitted(0, 2);
    records.acknowledge(3000);
    recovery.onAck(ack({ ...noSack, sndUna: 3000, ackedBytes: 3000 }), congestion);
    expect(records.isAwaitingRetransmission(0)).toBe(true);
    records.retransmitted(0, 3);
    records.acknowledge(10 * SMSS);
    expect(recovery.onAck(ack({ ...noSack, sndUna: 10 * SMSS, ackedBytes: 7000 }), congestion)).toBe(false);
    expect(recovery.phase).toBe('open');
    expect(congestion.cwnd).toBe(congestion.ssthresh);
  });

  it('undoes the congestion response when every retransmission of the episode comes back as a D-SACK (RFC 3708)', () => {
    const { records, recovery, congestion, counters } = setUp(10);
    const cwndBefore = congestion.cwnd;
    records.markSacked(1000, 4000);
    recovery.onAck(ack({ duplicate: true, deliveredBytes: 3000 }), congestion);
    records.retransmitted(0, 2);
    recovery.onRetransmitted(SMSS);
    // A duplicate of data at or below where the episode began (SND.UNA = 0) says nothing about it.
    expect(recovery.onDuplicateDelivered(0, congestion)).toBe(false);
    expect(recovery.onDuplicateDelivered(1000, congestion)).toBe(true);
    expect(counters.get('spurious_recoveries_undone')).toBe(1);
    expect(recovery.phase).toBe('open');
    expect(congestion.cwnd).toBeGreaterThanOrEqual(cwndBefore);
  });

  it('a timeout keeps the SACKed records (RFC 6675 5.1) unless SND.UNA itself was SACKed: the receiver reneged', () => {
    const { records, recovery, congestion, counters } = setUp(4);
    records.markSacked(1000, 2000);
    expect(recovery.onRetransmissionTimeout(1, 0, 4 * SMSS, SMSS, congestion)).toBe(false);
    expect(records.sackedCount).toBe(1);
    expect(records.lostCount).toBe(3);
    expect(congestion.cwnd).toBe(SMSS);
    expect(recovery.phase).toBe('timeout-recovery');

    const reneged = setUp(4);
    reneged.records.markSacked(0, 1000);
    expect(reneged.recovery.onRetransmissionTimeout(1, 0, 4 * SMSS, SMSS, reneged.congestion)).toBe(true);
    expect(reneged.records.sackedCount).toBe(0);
    expect(reneged.records.lostCount).toBe(4);
    expect(reneged.counters.get('sack_reneging')).toBe(1);
    expect(counters.get('sack_reneging')).toBe(0);
  });
});
