/** The per-connection timers, alone and through a connection (keepalive). */
import { describe, expect, it } from 'vitest';
import { ConnectionTimers, TimerKind } from '../../../src/tcp/connection-timer.js';
import { TCP_ACK } from '../../../src/wire/tcp.js';
import { ManualTime } from '../../support/manual-time.js';
import { TcpHarness } from '../../support/tcp-harness.js';

describe('ConnectionTimers', () => {
  function timersUnderTest(): { time: ManualTime; timers: ConnectionTimers; fired: string[] } {
    const time = new ManualTime();
    const fired: string[] = [];
    const timers = new ConnectionTimers(time.timers, {
      onRetransmissionTimeout: (now) => fired.push(`retransmission@${now}`),
      onDelayedAckTimeout: (now) => fired.push(`delayedAck@${now}`),
      onPersistTimeout: (now) => fired.push(`persist@${now}`),
      onReorderTimeout: (now) => fired.push(`reorder@${now}`),
      onLossProbeTimeout: (now) => fired.push(`lossProbe@${now}`),
      onKeepAliveTimeout: (now) => fired.push(`keepAlive@${now}`),
      onCloseTimeout: (now) => fired.push(`close@${now}`),
    });
    return { time, timers, fired };
  }

  it('a kind fires once at its deadline, with the time it fired', () => {
    const { time, timers, fired } = timersUnderTest();
    expect(timers.armed(TimerKind.retransmission)).toBe(false);
    timers.set(TimerKind.retransmission, 100);
    expect(timers.armed(TimerKind.retransmission)).toBe(true);
    expect(timers.deadline(TimerKind.retransmission)).toBe(100);
    time.advance(99);
    expect(fired).toEqual([]);
    time.advance(1);
    expect(fired).toEqual(['retransmission@100']);
    expect(timers.armed(TimerKind.retransmission)).toBe(false);
    time.advance(1000);
    expect(fired).toEqual(['retransmission@100']);
  });

  it('moving the deadline later keeps one queue entry and fires at the new deadline', () => {
    const { time, timers, fired } = timersUnderTest();
    timers.set(TimerKind.reorder, 100);
    for (let at = 110; at <= 200; at += 10) timers.set(TimerKind.reorder, at);
    expect(time.timers.size).toBe(1);
    time.advance(150);
    expect(fired).toEqual([]);
    time.advance(50);
    expect(fired).toEqual(['reorder@200']);
  });

  it('moving the deadline earlier fires earlier; stop cancels', () => {
    const { time, timers, fired } = timersUnderTest();
    timers.set(TimerKind.lossProbe, 100);
    timers.set(TimerKind.lossProbe, 30);
    time.advance(30);
    expect(fired).toEqual(['lossProbe@30']);
    timers.set(TimerKind.lossProbe, 100);
    timers.stop(TimerKind.lossProbe);
    expect(timers.armed(TimerKind.lossProbe)).toBe(false);
    expect(time.timers.size).toBe(0);
    time.advance(1000);
    expect(fired).toEqual(['lossProbe@30']);
  });

  it('a throwing handler is reported to onFault and the exception goes on to the queue', () => {
    const time = new ManualTime();
    const faults: unknown[] = [];
    const none = (): void => undefined;
    const timers = new ConnectionTimers(time.timers, {
      onRetransmissionTimeout: () => {
        throw new Error('bug');
      },
      onDelayedAckTimeout: none,
      onPersistTimeout: none,
      onReorderTimeout: none,
      onLossProbeTimeout: none,
      onKeepAliveTimeout: none,
      onCloseTimeout: none,
      onFault: (error) => faults.push(error),
    });
    timers.set(TimerKind.retransmission, 5);
    expect(() => time.advance(5)).toThrow('bug');
    expect(faults).toHaveLength(1);
    expect(timers.armed(TimerKind.retransmission)).toBe(false);
  });

  it('each kind calls its own handler', () => {
    const { time, timers, fired } = timersUnderTest();
    timers.set(TimerKind.close, 5);
    timers.set(TimerKind.keepAlive, 4);
    timers.set(TimerKind.persist, 3);
    timers.set(TimerKind.delayedAck, 2);
    timers.set(TimerKind.retransmission, 1);
    time.advance(10);
    expect(fired).toEqual(['retransmission@1', 'delayedAck@2', 'persist@3', 'keepAlive@4', 'close@5']);
  });

  it('stopSendTimers stops retransmission and persist only; stopAll stops everything', () => {
    const { time, timers, fired } = timersUnderTest();
    const { retransmission, delayedAck, persist, keepAlive, close } = TimerKind;
    for (const kind of [retransmission, delayedAck, persist, keepAlive, close]) timers.set(kind, 10);
    timers.stopSendTimers();
    expect([timers.armed(retransmission), timers.armed(persist)]).toEqual([false, false]);
    expect([timers.armed(delayedAck), timers.armed(keepAlive), timers.armed(close)]).toEqual([true, true, true]);
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
