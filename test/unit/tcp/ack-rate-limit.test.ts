/**
 * Rate limits on answers to dropped segments (RFC 5961 section 7): the limiter classes with time as
 * data, and a connection under a burst of out-of-window segments, PAWS rejects, unacceptable ACKs,
 * duplicate SYNs and blind RSTs.
 */
import { describe, expect, it } from 'vitest';
import { ChallengeAckBudget, INVALID_SEGMENT_ANSWER_INTERVAL_MS, InvalidSegmentAnswers } from '../../../src/tcp/ack-rate-limit.js';
import { Counters } from '../../../src/counters.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { TcpHarness, patternBytes } from '../../support/tcp-harness.js';

describe('InvalidSegmentAnswers', () => {
  it('allows one answer per 500 ms, measured from the last answer allowed', () => {
    const limiter = new InvalidSegmentAnswers();
    expect(INVALID_SEGMENT_ANSWER_INTERVAL_MS).toBe(500);
    const allowedAt: number[] = [];
    for (let t = 0; t < 2000; t += 10) if (limiter.allow(t)) allowedAt.push(t);
    expect(allowedAt).toEqual([0, 500, 1000, 1500]);
    expect(limiter.allow(1999)).toBe(false);
    expect(limiter.allow(2000)).toBe(true);
  });

  it('answers a dropped segment with data or FIN always, any other (a SYN with data too) once per 500 ms, counting refusals', () => {
    const limiter = new InvalidSegmentAnswers();
    const counters = new Counters('tcp');
    const h = new TcpHarness();
    const bare = h.seg({ seq: 0, ack: 0 });
    const data = h.seg({ seq: 0, ack: 0, payload: patternBytes(10) });
    const fin = h.seg({ seq: 0, ack: 0, flags: TCP_ACK | TCP_FIN });
    const synWithData = h.seg({ seq: 0, ack: 0, flags: TCP_SYN, payload: patternBytes(10) });
    expect(limiter.allowAnswer(bare, 0, counters)).toBe(true);
    expect([bare, synWithData].map((s) => limiter.allowAnswer(s, 100, counters))).toEqual([false, false]);
    expect([data, fin].map((s) => limiter.allowAnswer(s, 200, counters))).toEqual([true, true]);
    expect(counters.get('ack_ratelimited')).toBe(2);
    expect(limiter.allowAnswer(synWithData, 500, counters)).toBe(true);
  });

  it('allows a challenge ACK within its own limit and then the stack-wide budget, counting each outcome', () => {
    const limiter = new InvalidSegmentAnswers();
    const counters = new Counters('tcp');
    const budget = new ChallengeAckBudget(() => 0, 2);
    expect(limiter.allowChallenge(0, budget, counters)).toBe(true);
    expect(limiter.allowChallenge(100, budget, counters)).toBe(false);
    expect(counters.get('ack_ratelimited')).toBe(1);
    // The budget of this second (1) is spent: the next one, allowed per connection, is suppressed.
    expect(limiter.allowChallenge(600, budget, counters)).toBe(false);
    expect(counters.get('challenge_acks_suppressed')).toBe(1);
    expect(limiter.allowChallenge(1100, budget, counters)).toBe(true);
    expect(counters.get('challenge_acks')).toBe(2);
  });
});

describe('ChallengeAckBudget', () => {
  it('spends a per-second budget drawn between half and one and a half times the limit, renewed each second', () => {
    const draws = [0, 0.999];
    const budget = new ChallengeAckBudget(() => draws.shift() ?? 0.5, 100);
    let first = 0;
    while (budget.take(10)) first++;
    expect(first).toBe(50);
    expect(budget.take(999)).toBe(false);
    let second = 0;
    while (budget.take(1000)) second++;
    expect(second).toBe(149);
  });
});

describe('a connection answering dropped segments', () => {
  it('a burst of 100 out-of-window ACKs draws one ACK per 500 ms, and counts the rest', () => {
    const h = new TcpHarness();
    h.openActive();
    const answersAt: number[] = [];
    for (let i = 0; i < 100; i++) {
      h.conn.handleSegment(h.seg({ seq: h.peerSeq(5_000_000 + i), ack: h.ourSeq(0) }));
      for (const s of h.take()) answersAt.push(s.at);
      h.advance(10);
    }
    expect(answersAt).toEqual([0, 500]);
    expect(h.counters.get('drop.out_of_window')).toBe(100);
    expect(h.counters.get('ack_ratelimited')).toBe(98);
  });

  it('data below RCV.NXT (a retransmission whose ACK was lost) is always answered', () => {
    const h = new TcpHarness();
    h.openActive();
    h.data(0, patternBytes(100));
    h.advance(200);
    h.take();
    for (let i = 0; i < 5; i++) h.data(0, patternBytes(100));
    const answers = h.take();
    expect(answers).toHaveLength(5);
    expect(answers.every((s) => s.ack === h.peerSeq(100))).toBe(true);
    expect(h.counters.get('ack_ratelimited')).toBe(0);
  });

  it('PAWS rejects and unacceptable ACKs share the limit', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, timestamp: { value: 1000, echo: 0 } });
    h.ack(0, { options: { timestamp: { value: 1000, echo: 0 } } });
    h.take();
    for (let i = 0; i < 10; i++) h.ack(0, { options: { timestamp: { value: 900, echo: 0 } } });
    for (let i = 0; i < 10; i++) h.ack(5000, { options: { timestamp: { value: 1001, echo: 0 } } });
    expect(h.take()).toHaveLength(1);
    expect(h.counters.get('drop.paws')).toBe(10);
    expect(h.counters.get('drop.ack_unsent')).toBe(10);
    expect(h.counters.get('ack_ratelimited')).toBe(19);
  });

  it('a SYN-ACK is resent for a duplicate SYN in SYN-RECEIVED at most once per 500 ms', () => {
    const h = new TcpHarness();
    const syn = h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } });
    h.conn.acceptSyn(syn);
    h.take();
    for (let i = 0; i < 20; i++) h.conn.handleSegment(syn);
    expect(h.take().map((s) => s.flags)).toEqual([TCP_SYN | TCP_ACK]);
    expect(h.counters.get('ack_ratelimited')).toBe(19);
    h.advance(500);
    h.conn.handleSegment(syn);
    expect(h.take().map((s) => s.flags)).toEqual([TCP_SYN | TCP_ACK]);
  });

  it('challenge ACKs for in-window RSTs and SYNs are limited per connection and counted', () => {
    const h = new TcpHarness();
    h.openActive();
    for (let i = 0; i < 30; i++) {
      h.conn.handleSegment(h.seg({ seq: h.peerSeq(100 + i), flags: TCP_RST }));
      h.conn.handleSegment(h.seg({ seq: h.peerSeq(50), flags: TCP_SYN }));
    }
    const sent = h.take();
    expect(sent.map((s) => s.flags)).toEqual([TCP_ACK]);
    expect(h.counters.get('challenge_acks')).toBe(1);
    expect(h.counters.get('ack_ratelimited')).toBe(59);
    expect(h.conn.state).toBe('ESTABLISHED');
  });
});
