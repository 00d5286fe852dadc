/** Tail loss probes (RFC 8985 section 7): when the PTO fires, what the probe is, and what its ACK says. */
import { describe, expect, it } from 'vitest';
import { type ProbeTimeoutInput, TailLossProbe } from '../../../src/tcp/tail-loss-probe.js';

/** Four 1000-byte segments in flight at `now` = 1000, SRTT 100 ms, the RTO 300 ms away. */
function timeoutInput(overrides: Partial<ProbeTimeoutInput> = {}): ProbeTimeoutInput {
  return {
    now: 1000,
    sackEnabled: true,
    inRecovery: false,
    sackedSegments: 0,
    bytesInFlight: 4000,
    smss: 1000,
    smoothedRtt: 100,
    hasRttSample: true,
    retransmissionDeadline: 1300,
    ...overrides,
  };
}

describe('TailLossProbe', () => {
  describe('PTO (7.2)', () => {
    it('is 2*SRTT plus 2 ms (Linux TCP_TIMEOUT_MIN) with several segments in flight', () => {
      expect(new TailLossProbe().probeDeadline(timeoutInput())).toBe(1202);
    });

    it('at a sub-millisecond SRTT fires after about 2.6 ms, as Linux, not after a 10 ms floor', () => {
      expect(new TailLossProbe().probeDeadline(timeoutInput({ smoothedRtt: 0.3 }))).toBeCloseTo(1002.6, 9);
    });

    it('adds the maximum delayed-ACK time when one segment is in flight', () => {
      expect(new TailLossProbe().probeDeadline(timeoutInput({ bytesInFlight: 1000, retransmissionDeadline: 2000 }))).toBe(1400);
      expect(new TailLossProbe().probeDeadline(timeoutInput({ bytesInFlight: 1, retransmissionDeadline: 2000 }))).toBe(1400);
    });

    it('is 1 s without an RTT sample', () => {
      expect(new TailLossProbe().probeDeadline(timeoutInput({ hasRttSample: false, smoothedRtt: 0, retransmissionDeadline: 4000 }))).toBe(
        2000,
      );
    });

    it('never fires after the RTO would', () => {
      expect(new TailLossProbe().probeDeadline(timeoutInput({ retransmissionDeadline: 1150 }))).toBe(1150);
      expect(new TailLossProbe().probeDeadline(timeoutInput({ bytesInFlight: 1000 }))).toBe(1300);
    });

    it('is not armed without SACK, without data in flight, in recovery, or with segments SACKed', () => {
      const probe = new TailLossProbe();
      expect(probe.probeDeadline(timeoutInput({ sackEnabled: false }))).toBeUndefined();
      expect(probe.probeDeadline(timeoutInput({ bytesInFlight: 0 }))).toBeUndefined();
      expect(probe.probeDeadline(timeoutInput({ inRecovery: true }))).toBeUndefined();
      expect(probe.probeDeadline(timeoutInput({ sackedSegments: 1 }))).toBeUndefined();
    });

    it('is not armed while a probe is outstanding, nor before a new RTT sample after one', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('new-data', 5000);
      expect(probe.probeDeadline(timeoutInput())).toBeUndefined();
      expect(probe.onAck({ ackOffset: 5000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('new-data-delivered');
      // The episode is over, but no RTT sample was taken since the probe.
      expect(probe.probeDeadline(timeoutInput())).toBeUndefined();
      probe.onRttSample();
      expect(probe.probeDeadline(timeoutInput())).toBe(1202);
    });
  });

  describe('the probe (7.3)', () => {
    it('is one new segment when there is unsent data and the peer window takes it', () => {
      expect(new TailLossProbe().chooseProbe({ hasUnsentData: true, windowAllowsNewData: true })).toBe('new-data');
    });

    it('retransmits the last segment when there is nothing new to send, or the window is closed to it', () => {
      expect(new TailLossProbe().chooseProbe({ hasUnsentData: false, windowAllowsNewData: true })).toBe('retransmit-last');
      expect(new TailLossProbe().chooseProbe({ hasUnsentData: true, windowAllowsNewData: false })).toBe('retransmit-last');
    });

    it('is not sent while an episode is open; sending one records TLP.end_seq and TLP.is_retrans', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('retransmit-last', 4000);
      expect(probe.endOffset).toBe(4000);
      expect(probe.isRetransmission).toBe(true);
      expect(probe.episodeOpen).toBe(true);
      probe.onRttSample();
      expect(probe.chooseProbe({ hasUnsentData: true, windowAllowsNewData: true })).toBeUndefined();
      // 7.1: entering recovery resets the episode.
      probe.reset();
      expect(probe.episodeOpen).toBe(false);
      expect(probe.chooseProbe({ hasUnsentData: true, windowAllowsNewData: true })).toBe('new-data');
    });
  });

  describe('loss detection from the ACKs (7.4)', () => {
    it('a retransmitted probe followed by an ACK beyond it repaired a loss: the congestion response is due', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('retransmit-last', 4000);
      expect(probe.onAck({ ackOffset: 3000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('pending');
      // Exactly at TLP.end_seq is ambiguous: the original or the probe.
      expect(probe.onAck({ ackOffset: 4000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('pending');
      expect(probe.onAck({ ackOffset: 5000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('loss-repaired');
      expect(probe.episodeOpen).toBe(false);
      expect(probe.onAck({ ackOffset: 6000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('no-episode');
    });

    it('a D-SACK for the probe says both copies arrived: no loss', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('retransmit-last', 4000);
      expect(probe.onAck({ ackOffset: 4000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('pending');
      expect(probe.onAck({ ackOffset: 4000, dsackEnd: 4000, duplicateWithoutSack: false })).toBe('no-loss');
      expect(probe.episodeOpen).toBe(false);
    });

    it('a D-SACK on an ACK beyond the probe still means no loss; one for other data does not', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('retransmit-last', 4000);
      expect(probe.onAck({ ackOffset: 6000, dsackEnd: 4000, duplicateWithoutSack: false })).toBe('no-loss');
      probe.onProbeSent('retransmit-last', 8000);
      expect(probe.onAck({ ackOffset: 9000, dsackEnd: 7000, duplicateWithoutSack: false })).toBe('loss-repaired');
    });

    it('a duplicate ACK without SACK at TLP.end_seq: no loss', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('retransmit-last', 4000);
      expect(probe.onAck({ ackOffset: 4000, dsackEnd: undefined, duplicateWithoutSack: true })).toBe('no-loss');
    });

    it('a new-data probe acknowledged ends the episode without a congestion response', () => {
      const probe = new TailLossProbe();
      probe.onProbeSent('new-data', 5000);
      expect(probe.isRetransmission).toBe(false);
      expect(probe.onAck({ ackOffset: 4000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('pending');
      expect(probe.onAck({ ackOffset: 6000, dsackEnd: undefined, duplicateWithoutSack: false })).toBe('new-data-delivered');
    });
  });
});
