import { describe, expect, it } from 'vitest';
import { type AckSample, createCongestionControl, initialWindow } from '../../../src/tcp/congestion-control.js';
import { NewRenoCongestionControl } from '../../../src/tcp/newreno.js';

const MSS = 1000;
const IW = 10 * MSS;

/** An ACK of `ackedBytes` with `flightBefore` in flight (defaults: one segment, a full window). */
function ackOf(cc: NewRenoCongestionControl, ackedBytes = MSS, flightBefore = cc.cwnd): AckSample {
  return {
    now: 0,
    ackedBytes,
    flightBefore,
    rttSample: 10,
    minRtt: 10,
    smoothedRtt: 10,
    sndUna: 0,
    sndNxt: flightBefore,
  };
}

/** A controller in congestion avoidance with cwnd = ssthresh = `window`. */
function inAvoidance(window: number): NewRenoCongestionControl {
  const cc = new NewRenoCongestionControl(MSS);
  cc.onAck(ackOf(cc)); // no longer at the initial window
  cc.cwnd = window;
  cc.ssthresh = window;
  return cc;
}

describe('initial window (RFC 6928) and the factory', () => {
  it('is min(10*MSS, max(2*MSS, 14600)), one segment after a lost SYN (RFC 5681 3.1)', () => {
    expect(initialWindow(1460, false)).toBe(14_600);
    expect(initialWindow(1000, false)).toBe(10_000);
    expect(initialWindow(536, false)).toBe(5360);
    expect(initialWindow(9000, false)).toBe(18_000);
    expect(initialWindow(1460, true)).toBe(1460);
  });

  it('creates the named controller with that window', () => {
    const newreno = createCongestionControl('newreno', 1460, false);
    expect(newreno.name).toBe('newreno');
    expect(newreno.cwnd).toBe(14_600);
    expect(newreno.inSlowStart).toBe(true);
    expect(createCongestionControl('cubic', 1460, true).cwnd).toBe(1460);
    expect(createCongestionControl('cubic', 1460, false).name).toBe('cubic');
  });
});

describe('NewReno window growth (RFC 5681 3.1, RFC 3465, RFC 7661)', () => {
  it('slow start adds the bytes acknowledged, at most L = 2*SMSS per ACK', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onAck(ackOf(cc, MSS));
    expect(cc.cwnd).toBe(IW + MSS);
    cc.onAck(ackOf(cc, 5 * MSS));
    expect(cc.cwnd).toBe(IW + 3 * MSS);
  });

  it('stops slow start at ssthresh and counts the rest of the ACK for congestion avoidance', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.ssthresh = IW + 500;
    cc.onAck(ackOf(cc, 2 * MSS));
    expect(cc.cwnd).toBe(IW + 500);
    expect(cc.inSlowStart).toBe(false);
  });

  it('does not grow when cwnd did not limit the sender', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onAck(ackOf(cc, MSS, 4 * MSS)); // slow start: less than half the window in flight
    expect(cc.cwnd).toBe(IW);
    cc.onAck(ackOf(cc, MSS, 5 * MSS)); // exactly half: limited (ACK clocking doubles it)
    expect(cc.cwnd).toBe(IW + MSS);
    const avoiding = inAvoidance(IW);
    for (let i = 0; i < 20; i++) avoiding.onAck(ackOf(avoiding, MSS, IW - 2 * MSS));
    expect(avoiding.cwnd).toBe(IW);
  });

  it('congestion avoidance adds one SMSS per cwnd of acknowledged bytes', () => {
    const cc = inAvoidance(5 * MSS);
    for (let i = 0; i < 4; i++) cc.onAck(ackOf(cc));
    expect(cc.cwnd).toBe(5 * MSS);
    cc.onAck(ackOf(cc));
    expect(cc.cwnd).toBe(6 * MSS);
    for (let i = 0; i < 5; i++) cc.onAck(ackOf(cc));
    expect(cc.cwnd).toBe(6 * MSS); // the next step needs a full 6 segments
    cc.onAck(ackOf(cc));
    expect(cc.cwnd).toBe(7 * MSS);
  });
});

describe('NewReno congestion responses', () => {
  it('a congestion event sets ssthresh = max(FlightSize/2, 2*SMSS) and leaves cwnd to PRR; recovery end sets cwnd = ssthresh', () => {
    const cc = inAvoidance(20 * MSS);
    cc.onCongestionEvent(0, 20 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.cwnd = 7 * MSS; // PRR wrote it during recovery
    cc.onRecoveryEnd(100);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.inSlowStart).toBe(false);

    const small = inAvoidance(3 * MSS);
    small.onCongestionEvent(0, 3 * MSS);
    expect(small.ssthresh).toBe(2 * MSS);
  });

  it('a timeout sets ssthresh from FlightSize and cwnd to the loss window of 1 SMSS, then slow start', () => {
    const cc = inAvoidance(20 * MSS);
    cc.onRetransmissionTimeout(0, 16 * MSS);
    expect(cc.ssthresh).toBe(8 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.inSlowStart).toBe(true);
    cc.onAck(ackOf(cc));
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it('a repeated timeout with no progress holds ssthresh; one after progress halves the new flight', () => {
    const cc = inAvoidance(20 * MSS);
    cc.onRetransmissionTimeout(0, 20 * MSS);
    cc.onRetransmissionTimeout(1000, MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.onAck(ackOf(cc));
    cc.onRetransmissionTimeout(3000, 8 * MSS);
    expect(cc.ssthresh).toBe(4 * MSS);
  });

  it('a timeout during recovery keeps the ssthresh of that recovery', () => {
    const cc = inAvoidance(20 * MSS);
    cc.onCongestionEvent(0, 20 * MSS);
    cc.cwnd = 6 * MSS;
    cc.onRetransmissionTimeout(500, 6 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(MSS);
  });

  it('undo after a spurious fast retransmit restores cwnd and ssthresh (RFC 3708)', () => {
    const cc = inAvoidance(20 * MSS);
    cc.onCongestionEvent(0, 20 * MSS);
    cc.cwnd = 12 * MSS;
    cc.onRecoveryEnd(100);
    cc.undo();
    expect(cc.cwnd).toBe(20 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    // Undo is used once: a second call has nothing to restore.
    cc.cwnd = 5 * MSS;
    cc.undo();
    expect(cc.cwnd).toBe(5 * MSS);
  });

  it('undo after a spurious timeout restores the window from before it, even back to slow start', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onAck(ackOf(cc));
    const before = cc.cwnd;
    cc.onRetransmissionTimeout(0, before);
    cc.onRetransmissionTimeout(1000, before); // the backed-off second timeout of the same episode
    cc.undo();
    expect(cc.cwnd).toBe(before);
    expect(cc.inSlowStart).toBe(true);
  });

  it('undo during recovery from slow start: recovery end keeps the restored cwnd', () => {
    const cc = new NewRenoCongestionControl(MSS);
    cc.onAck(ackOf(cc));
    cc.onCongestionEvent(0, 11 * MSS);
    cc.cwnd = 7 * MSS;
    cc.undo();
    cc.onRecoveryEnd(100);
    expect(cc.cwnd).toBe(11 * MSS);
    expect(cc.inSlowStart).toBe(true);
  });

  it('undo never shrinks a window that has grown past the one saved', () => {
    const cc = inAvoidance(10 * MSS);
    cc.onCongestionEvent(0, 10 * MSS); // ssthresh 5
    cc.onRecoveryEnd(10);
    cc.cwnd = 15 * MSS;
    cc.ssthresh = 12 * MSS;
    cc.undo();
    expect(cc.cwnd).toBe(15 * MSS);
    expect(cc.ssthresh).toBe(12 * MSS);
  });
});

describe('NewReno restart after idle (RFC 5681 4.1) and SMSS changes', () => {
  it('restart takes cwnd down to min(cwnd, IW), leaving ssthresh', () => {
    const cc = inAvoidance(40 * MSS);
    cc.onIdleRestart(60_000);
    expect(cc.cwnd).toBe(IW);
    expect(cc.ssthresh).toBe(40 * MSS);
    const small = inAvoidance(4 * MSS);
    small.onIdleRestart(60_000);
    expect(small.cwnd).toBe(4 * MSS);
  });

  it('the restart window is the RFC 6928 IW even after a lost SYN', () => {
    const cc = new NewRenoCongestionControl(MSS, true);
    cc.cwnd = 30 * MSS;
    cc.onIdleRestart(0);
    expect(cc.cwnd).toBe(IW);
  });

  it('a new SMSS before any ACK recomputes the initial window', () => {
    const cc = new NewRenoCongestionControl(536);
    cc.setMss(9000);
    expect(cc.cwnd).toBe(18_000);
    const synLost = new NewRenoCongestionControl(536, true);
    synLost.setMss(1460);
    expect(synLost.cwnd).toBe(1460);
  });

  it('a new SMSS later keeps the windows in segments (path MTU drop); the initial ssthresh stays', () => {
    const cc = new NewRenoCongestionControl(1460);
    cc.onAck(ackOf(cc, 1460));
    cc.cwnd = 20 * 1460;
    cc.setMss(1000);
    expect(cc.cwnd).toBe(20 * 1000);
    expect(cc.inSlowStart).toBe(true);
    cc.onCongestionEvent(0, 20 * 1000);
    cc.setMss(500);
    expect(cc.ssthresh).toBe(10 * 500);
    cc.undo();
    expect(cc.cwnd).toBe(20 * 500);
  });
});
