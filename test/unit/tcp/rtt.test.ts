import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../../src/tcp/rtt.js';

const config = { initialRto: 1000, minRto: 200, maxRto: 60_000 };

describe('RttEstimator (RFC 6298)', () => {
  it('starts at the initial RTO with no samples', () => {
    const e = new RttEstimator(config);
    expect(e.rto).toBe(1000);
    expect(e.hasSample).toBe(false);
  });

  it('first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR', () => {
    const e = new RttEstimator(config);
    e.sample(400);
    expect(e.srtt).toBe(400);
    expect(e.rttvar).toBe(200);
    expect(e.rto).toBe(1200);
  });

  it('later samples use alpha = 1/8 and beta = 1/4, RTTVAR updated with the old SRTT', () => {
    const e = new RttEstimator(config);
    e.sample(400);
    e.sample(200);
    // RTTVAR = 3/4*200 + 1/4*|400-200| = 200; SRTT = 7/8*400 + 1/8*200 = 375.
    expect(e.rttvar).toBe(200);
    expect(e.srtt).toBe(375);
    expect(e.rto).toBe(1175);
  });

  it('clamps to minRto and maxRto; the granularity term keeps RTO above SRTT', () => {
    const e = new RttEstimator(config);
    for (let i = 0; i < 50; i++) e.sample(10);
    expect(e.rto).toBe(200);
    const g = new RttEstimator({ initialRto: 1000, minRto: 1, maxRto: 60_000, granularity: 5 });
    for (let i = 0; i < 200; i++) g.sample(100);
    expect(g.rto).toBeGreaterThanOrEqual(105);
    const big = new RttEstimator(config);
    big.sample(50_000);
    expect(big.rto).toBe(60_000);
  });

  it('backoff doubles up to maxRto; a new sample ends the backoff', () => {
    const e = new RttEstimator(config);
    e.sample(100); // RTO 300
    e.backoff();
    expect(e.rto).toBe(600);
    e.backoff();
    expect(e.rto).toBe(1200);
    expect(e.backoffCount).toBe(2);
    for (let i = 0; i < 20; i++) e.backoff();
    expect(e.rto).toBe(60_000);
    e.sample(100);
    expect(e.backoffCount).toBe(0);
    expect(e.rto).toBeLessThan(600);
  });

  it('after a SYN timeout with no samples the RTO becomes 3 s (RFC 6298 5.7)', () => {
    const e = new RttEstimator(config);
    e.backoff();
    e.resetAfterSynTimeout();
    expect(e.rto).toBe(3000);
    const sampled = new RttEstimator(config);
    sampled.sample(100);
    sampled.backoff();
    sampled.resetAfterSynTimeout();
    expect(sampled.rto).toBe(300);
  });
});
