/** The per-connection timers, alone and through a connection (keepalive). */
import { describe, expect, it } from 'vitest';
import { ConnectionTimer, ConnectionTimers } from '../../../src/tcp/connection-timer.js';
import { TCP_ACK } from '../../../src/wire/tcp.js';
import { ManualTime } from '../../support/manual-time.js';
import { TcpHarness } from '../../support/tcp-harness.js';

describe('ConnectionTimer', () => {
  it('fires once at its deadline, with the time it fired', () => {
    const time = new ManualTime();
    const fired: number[] = [];
    const timer = new ConnectionTimer(time.timers, (now) => fired.push(now), undefined);
    expect(timer.armed).toBe(false);
    timer.set(100);
    expect(timer.armed).toBe(true);
    expect(timer.deadline).toBe(100);
    time.advance(99);
    expect(fired).toEqual([]);
    time.advance(1);
    expect(fired).toEqual([100]);
    expect(timer.armed).toBe(false);
    time.advance(1000);
    expect(fired).toEqual([100]);
  });

  it('moving the deadline later keeps one queue entry and fires at the new deadline', () => {
    const time = new ManualTime();
    const fired: number[] = [];
    const timer = new ConnectionTimer(time.timers, (now) => fired.push(now), undefined);
    timer.set(100);
    for (let at = 110; at <= 200; at += 10) timer.set(at);
    expect(time.timers.size).toBe(1);
    time.advance(150);
    expect(fired).toEqual([]);
    time.advance(50);
    expect(fired).toEqual([200]);
  });

  it('moving the deadline earlier fires earlier; stop cancels', () => {
    const time = new ManualTime();
    const fired: number[] = [];
    const timer = new ConnectionTimer(time.timers, (now) => fired.push(now), undefined);
    timer.set(100);
    timer.set(30);
    time.advance(30);
    expect(fired).toEqual([30]);
    timer.set(100);
    timer.stop();
    expect(timer.armed).toBe(false);
    expect(time.timers.size).toBe(0);
    time.advance(1000);
    expect(fired).toEqual([30]);
  });
});

describe('ConnectionTimers', () => {
  function timersUnderTest(): { time: ManualTime; timers: ConnectionTimers; fired: string[] } {
    const time = new ManualTime();
    const fired: string[] = [];
    const timers = new ConnectionTimers(time.timers, {
      onRetransmissionTimeout: () => fired.push('retransmission'),
      onDelayedAckTimeout: () => fired.push('delayedAck'),
      onPersistTimeout: () => fired.push('persist'),
      onReorderTimeout: () => fired.push('reorder'),
      onLossProbeTimeout: () => fired.push('lossProbe'),
      onKeepAliveTimeout: () => fired.push('keepAlive'),
      onCloseTimeout: () => fired.push('close'),
    });
    return { time, timers, fired };
  }

  it('each kind calls its own handler', () => {
    const { time, timers, fired } = timersUnderTest();
    timers.close.set(5);
    timers.keepAlive.set(4);
    timers.persist.set(3);
    timers.delayedAck.set(2);
    timers.retransmission.set(1);
    time.advance(10);
    expect(fired).toEqual(['retransmission', 'delayedAck', 'persist', 'keepAlive', 'close']);
  });

  it('stopSendTimers stops retransmission and persist only; stopAll stops everything', () => {
    const { time, timers, fired } = timersUnderTest();
    for (const timer of [timers.retransmission, timers.delayedAck, timers.persist, timers.keepAlive, timers.close]) timer.set(10);
    timers.stopSendTimers();
    expect([timers.retransmission.armed, timers.persist.armed]).toEqual([false, false]);
    expect([timers.delayedAck.armed, timers.keepAlive.armed, timers.close.armed]).toEqual([true, true, true]);
    timers.stopAll();
    expect(time.timers.size).toBe(0);
    time.advance(100);
    expect(fired).toEqual([]);
  });
});

describe('TCP sending', () => {
  it('keepalive probes after idle time at SND.NXT-1, then ETIMEDOUT when unanswered', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.setKeepAlive(true, 1000);
    h.advance(999);
    expect(h.take()).toHaveLength(0);
    h.advance(1);
    const [probe] = h.take();
    expect(probe!.seq).toBe(h.ourSeq(-1));
    expect(probe!.payload.length).toBe(0);
    // Answered: the idle clock restarts.
    h.ack(0);
    h.advance(999);
    expect(h.take()).toHaveLength(0);
    h.advance(100_000);
    expect(h.take().filter((s) => s.flags === TCP_ACK)).toHaveLength(9);
    expect(h.closed).toEqual(['ETIMEDOUT']);
  });
});
