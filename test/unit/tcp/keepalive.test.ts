/** Keepalive (RFC 1122 4.2.3.6) alone: its timer on manual time, a recording sender, the connection's state as a variable. */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { ConnectionTimers, TimerKind } from '../../../src/tcp/connection-timer.js';
import { KeepAlive, type KeepAliveSender } from '../../../src/tcp/keepalive.js';
import type { TcpState } from '../../../src/tcp/types.js';
import { ManualTime } from '../../support/manual-time.js';

/** The test is the sender: it records probes and says whether data is in flight. */
class KeepAliveUnderTest implements KeepAliveSender {
  readonly time = new ManualTime();
  readonly counters = new Counters('tcp');
  /** When each probe left. */
  readonly probes: number[] = [];
  /** When onTimeout gave up on the peer. */
  readonly gaveUp: number[] = [];
  state: TcpState = 'ESTABLISHED';
  busy = false;
  readonly timers: ConnectionTimers;
  readonly keepAlive: KeepAlive;

  constructor() {
    const none = (): void => undefined;
    this.timers = new ConnectionTimers(this.time.timers, {
      onRetransmissionTimeout: none,
      onDelayedAckTimeout: none,
      onPersistTimeout: none,
      onReorderTimeout: none,
      onLossProbeTimeout: none,
      onCloseTimeout: none,
      onKeepAliveTimeout: (now) => {
        if (!this.keepAlive.onTimeout(now, this.state)) this.gaveUp.push(now);
      },
    });
    this.keepAlive = new KeepAlive(this.timers, this, this.counters);
  }

  /** The keepalive timer: armed, and its deadline. */
  get timer(): { armed: boolean; deadline: number } {
    return { armed: this.timers.armed(TimerKind.keepAlive), deadline: this.timers.deadline(TimerKind.keepAlive) };
  }

  sendKeepAliveProbe(): void {
    this.probes.push(this.time.now());
  }
}

describe('KeepAlive', () => {
  it('is off until asked for: nothing is armed and an expiry sends nothing', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.keepAlive.onEstablished();
    expect(k.timer.armed).toBe(false);
    expect(k.keepAlive.onTimeout(10_000_000, 'ESTABLISHED')).toBe(true);
    expect(k.probes).toEqual([]);
  });

  it('enabled before the handshake, starts on it from the last segment heard; probes, then gives up after 9', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.configure(true, 1000, false);
    expect(k.timer.armed).toBe(false);
    k.time.advance(300);
    k.keepAlive.heard(300);
    k.time.advance(200);
    k.keepAlive.onEstablished();
    expect(k.timer.deadline).toBe(1300);
    k.time.advance(799);
    expect(k.probes).toEqual([]);
    k.time.advance(1);
    expect(k.probes).toEqual([1300]);
    // Unanswered: one probe per interval (the idle time when shorter than 75 s), nine in all.
    k.time.advance(20_000);
    expect(k.probes).toEqual([1300, 2300, 3300, 4300, 5300, 6300, 7300, 8300, 9300]);
    expect(k.counters.get('keepalive_probes')).toBe(9);
    expect(k.gaveUp).toEqual([10_300]);
    expect(k.timer.armed).toBe(false);
  });

  it('enabled on a synchronized connection, runs from the last segment heard', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.time.advance(700);
    k.keepAlive.configure(true, 1000, true);
    expect(k.timer.deadline).toBe(1000);
    k.keepAlive.configure(false, undefined, true);
    expect(k.timer.armed).toBe(false);
    // An idle time of 0 (or none) keeps the one set before.
    k.keepAlive.configure(true, 0, true);
    expect(k.timer.deadline).toBe(1000);
  });

  it('a segment heard restarts the idle time and the probe count', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.keepAlive.configure(true, 1000, true);
    k.time.advance(1000);
    expect(k.probes).toEqual([1000]);
    k.time.advance(500);
    k.keepAlive.heard(1500);
    // The probe interval's expiry at 2000 finds the peer heard 500 ms ago: it waits for 2500.
    k.time.advance(500);
    expect(k.probes).toEqual([1000]);
    expect(k.timer.deadline).toBe(2500);
    k.time.advance(500);
    expect(k.probes).toEqual([1000, 2500]);
    // The count started again: nine more probes before giving up.
    k.time.advance(8999);
    expect(k.probes).toHaveLength(10);
    expect(k.probes.at(-1)).toBe(10_500);
    expect(k.gaveUp).toEqual([]);
    k.time.advance(1);
    expect(k.gaveUp).toEqual([11_500]);
  });

  it('while the sender is busy, probes nothing and waits another idle time', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.keepAlive.configure(true, 1000, true);
    k.time.advance(1000);
    expect(k.probes).toEqual([1000]);
    k.busy = true;
    k.time.advance(1000);
    expect(k.probes).toEqual([1000]);
    expect(k.timer.deadline).toBe(3000);
    k.busy = false;
    k.time.advance(1000);
    expect(k.probes).toEqual([1000, 3000]);
  });

  it('probes only in ESTABLISHED, CLOSE-WAIT and FIN-WAIT-2', () => {
    for (const state of ['ESTABLISHED', 'CLOSE-WAIT', 'FIN-WAIT-2', 'FIN-WAIT-1', 'CLOSING', 'LAST-ACK', 'SYN-RECEIVED'] as const) {
      const k = new KeepAliveUnderTest();
      k.state = state;
      k.keepAlive.heard(0);
      k.keepAlive.configure(true, 1000, true);
      k.time.advance(1000);
      const probes = state === 'ESTABLISHED' || state === 'CLOSE-WAIT' || state === 'FIN-WAIT-2' ? 1 : 0;
      expect({ state, probes: k.probes.length }).toEqual({ state, probes });
    }
  });

  it('with the default idle time of two hours, probes 75 s apart', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.keepAlive.configure(true, undefined, true);
    const twoHours = 2 * 60 * 60 * 1000;
    k.time.advance(twoHours - 1);
    expect(k.probes).toEqual([]);
    k.time.advance(1 + 75_000);
    expect(k.probes).toEqual([twoHours, twoHours + 75_000]);
  });

  it('stop() ends the probes (TIME-WAIT)', () => {
    const k = new KeepAliveUnderTest();
    k.keepAlive.heard(0);
    k.keepAlive.configure(true, 1000, true);
    k.keepAlive.stop();
    k.time.advance(100_000);
    expect(k.probes).toEqual([]);
    expect(k.time.timers.size).toBe(0);
  });
});
