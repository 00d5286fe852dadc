import { describe, expect, it } from 'vitest';
import { NewRenoCongestionControl } from '../../../src/tcp/congestion.js';

const MSS = 1000;

describe('initial window (RFC 6928)', () => {
  it('is min(10*MSS, max(2*MSS, 14600))', () => {
    expect(new NewRenoCongestionControl(1460).cwnd).toBe(14600);
    expect(new NewRenoCongestionControl(1000).cwnd).toBe(10_000);
    expect(new NewRenoCongestionControl(536).cwnd).toBe(5360);
    expect(new NewRenoCongestionControl(9000).cwnd).toBe(18_000);
  });

  it('is one segment after a lost SYN', () => {
    expect(new NewRenoCongestionControl(MSS, true).cwnd).toBe(MSS);
  });
});

describe('NewReno (RFC 5681, RFC 6582)', () => {
  it('slow start grows by the bytes acknowledged (at most 2*SMSS per ACK)', () => {
    const cc = new NewRenoCongestionControl(MSS);
    expect(cc.cwnd).toBe(10_000);
    cc.onNewAck(1000, 1000, 10_000, 9000);
    expect(cc.cwnd).toBe(11_000);
    cc.onNewAck(5000, 6000, 9000, 4000);
    expect(cc.cwnd).toBe(13_000);
  });

  it('does not grow when the sender was not limited by cwnd', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onNewAck(1000, 1000, 2000, 1000);
    expect(cc.cwnd).toBe(10_000);
  });

  it('congestion avoidance adds one SMSS per cwnd of acknowledged bytes', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.ssthresh = 5000;
    cc.cwnd = 5000;
    for (let i = 0; i < 4; i++) cc.onNewAck(1000, (i + 1) * 1000, 5000, 4000);
    expect(cc.cwnd).toBe(5000);
    cc.onNewAck(1000, 5000, 5000, 4000);
    expect(cc.cwnd).toBe(6000);
  });

  it('third duplicate ACK: ssthresh = max(flight/2, 2*SMSS), cwnd = ssthresh + 3*SMSS; then inflation', () => {
    const cc = new NewRenoCongestionControl(MSS);
    expect(cc.onDuplicateAck(0, 10_000, 10_000)).toBe('none');
    expect(cc.limitedTransmitAllowance).toBe(1000);
    expect(cc.onDuplicateAck(0, 10_000, 10_000)).toBe('none');
    expect(cc.limitedTransmitAllowance).toBe(2000);
    expect(cc.onDuplicateAck(0, 10_000, 10_000)).toBe('fast-retransmit');
    expect(cc.ssthresh).toBe(5000);
    expect(cc.cwnd).toBe(8000);
    expect(cc.inFastRecovery).toBe(true);
    expect(cc.limitedTransmitAllowance).toBe(0);
    expect(cc.onDuplicateAck(0, 10_000, 10_000)).toBe('inflate');
    expect(cc.cwnd).toBe(9000);
  });

  it('partial ACK deflates and stays in recovery; full ACK exits with cwnd <= ssthresh', () => {
    const cc = new NewRenoCongestionControl(MSS);
    for (let i = 0; i < 3; i++) cc.onDuplicateAck(0, 10_000, 10_000);
    expect(cc.recover).toBe(9999);
    // 3000 acknowledged: cwnd 8000 - 3000 + 1000.
    expect(cc.onNewAck(3000, 3000, 10_000, 7000)).toBe('partial');
    expect(cc.cwnd).toBe(6000);
    expect(cc.inFastRecovery).toBe(true);
    expect(cc.onNewAck(7000, 10_000, 7000, 2000)).toBe('recovered');
    expect(cc.inFastRecovery).toBe(false);
    // min(ssthresh, max(FlightSize, SMSS) + SMSS) = min(5000, 3000).
    expect(cc.cwnd).toBe(3000);
  });

  it('no new fast retransmit for duplicates that do not cover "recover" (RFC 6582 step 2)', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onRetransmissionTimeout(10_000, 10_000);
    for (let i = 0; i < 3; i++) expect(cc.onDuplicateAck(5000, 12_000, 7000)).toBe('none');
    const later = new NewRenoCongestionControl(MSS);
    later.onRetransmissionTimeout(10_000, 10_000);
    for (let i = 0; i < 2; i++) later.onDuplicateAck(10_001, 12_000, 2000);
    expect(later.onDuplicateAck(10_001, 12_000, 2000)).toBe('fast-retransmit');
  });

  it('timeout: ssthresh = max(flight/2, 2*SMSS), cwnd = 1 SMSS', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onRetransmissionTimeout(3000, 3000);
    expect(cc.ssthresh).toBe(2000);
    expect(cc.cwnd).toBe(1000);
    expect(cc.inSlowStart).toBe(true);
    cc.onRetransmissionTimeout(40_000, 40_000);
    expect(cc.ssthresh).toBe(20_000);
  });

  it('spending inflation on a retransmission reduces cwnd but never below one SMSS', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.spendInflation(500);
    expect(cc.cwnd).toBe(10_000);
    for (let i = 0; i < 3; i++) cc.onDuplicateAck(0, 10_000, 10_000);
    cc.spendInflation(1000);
    expect(cc.cwnd).toBe(7000);
    cc.spendInflation(100_000);
    expect(cc.cwnd).toBe(1000);
  });
});
