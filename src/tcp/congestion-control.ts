/**
 * The congestion controller interface the sender drives, the initial window (RFC 6928) and the
 * factory. The window rules the controllers share are in src/tcp/congestion-window.ts (a module
 * of their own so that the controllers do not import this one, which imports them).
 *
 * A controller owns cwnd and ssthresh and decides how they grow and shrink; the sender owns loss
 * detection, duplicate ACKs, limited transmit, the recovery point and PRR (src/tcp/prr.ts), and
 * tells the controller what happened. Controllers are pure: time arrives as `now` (stack ms).
 */

import { CubicCongestionControl } from './cubic.js';
import { NewRenoCongestionControl } from './newreno.js';

/** A congestion controller: RFC 9438 CUBIC or RFC 5681 NewReno. */
export type CongestionControlName = 'cubic' | 'newreno';

/** What one ACK that acknowledged new data tells the controller (outside loss recovery). */
export interface AckSample {
  now: number;
  /** Bytes newly delivered by this ACK (cumulatively acknowledged plus newly SACKed). */
  ackedBytes: number;
  /** Bytes in flight before this ACK (RFC 7661 / cwnd-limited test). */
  flightBefore: number;
  /** RTT measured from this ACK in ms, or undefined. */
  rttSample: number | undefined;
  /** Lowest RTT seen on the connection (ms), Infinity before the first sample. */
  minRtt: number;
  /** SRTT (ms), 0 before the first sample. */
  smoothedRtt: number;
  /** SND.UNA after this ACK (send offset). */
  sndUna: number;
  /** SND.NXT: the highest send offset sent so far (HyStart++ round boundary). */
  sndNxt: number;
}

export interface CongestionControl {
  readonly name: CongestionControlName;
  /** Congestion window in bytes. The sender writes it during recovery (PRR sets cwnd = pipe + sndcnt). */
  cwnd: number;
  ssthresh: number;
  readonly inSlowStart: boolean;
  /** New data acknowledged outside loss recovery: grow the window. */
  onAck(sample: AckSample): void;
  /** A loss was detected (fast retransmit or RACK): compute ssthresh (multiplicative decrease,
   *  fast convergence for CUBIC) from the current cwnd / flightSize. cwnd itself is then reduced
   *  by PRR, driven by the sender. Remembers the pre-event state for undo(). */
  onCongestionEvent(now: number, flightSize: number): void;
  /** Loss recovery ended (RFC 6937: cwnd = ssthresh); CUBIC starts a new epoch. */
  onRecoveryEnd(now: number): void;
  /** RFC 5681 3.1 / RFC 9438 4.8: retransmission timeout: ssthresh, cwnd = 1 SMSS (loss window).
   *  Remembers the pre-event state for undo(). */
  onRetransmissionTimeout(now: number, flightSize: number): void;
  /** The last congestion response was spurious (D-SACK / RFC 3708, RFC 9438 4.9): restore
   *  cwnd, ssthresh and the algorithm's state from before it. */
  undo(): void;
  /** RFC 5681 4.1: the connection was idle longer than an RTO: cwnd = min(cwnd, IW). */
  onIdleRestart(now: number): void;
  /** The SMSS changed (path MTU discovery, or the negotiated MSS at establishment). */
  setMss(smss: number): void;
}

export { initialWindow } from './congestion-window.js';

export function createCongestionControl(name: CongestionControlName, smss: number, synLost: boolean): CongestionControl {
  switch (name) {
    case 'cubic':
      return new CubicCongestionControl(smss, synLost);
    case 'newreno':
      return new NewRenoCongestionControl(smss, synLost);
  }
}
