import { describe, expect, it } from 'vitest';
import { ProportionalRateReduction } from '../../../src/tcp/prr.js';

const MSS = 1000;
const segments = (n: number): number => n * MSS;

/**
 * Drives PRR through one recovery the way a sender does: each ACK delivers `delivered` segments
 * (SACKed or cumulatively acknowledged) and takes them out of pipe; the sender sends the whole
 * sndcnt, which enters pipe. Returns sndcnt per ACK, in segments, and pipe after each send.
 */
function runRecovery(
  prr: ProportionalRateReduction,
  initialPipe: number,
  deliveredPerAck: readonly number[],
): { sndcnt: number[]; pipeAfterSend: number[] } {
  let pipe = segments(initialPipe);
  const sndcnt: number[] = [];
  const pipeAfterSend: number[] = [];
  for (const delivered of deliveredPerAck) {
    pipe -= segments(delivered);
    const allowed = prr.onAck(segments(delivered), pipe);
    prr.onSent(allowed);
    pipe += allowed;
    sndcnt.push(allowed / MSS);
    pipeAfterSend.push(pipe / MSS);
  }
  return { sndcnt, pipeAfterSend };
}

describe('PRR (RFC 6937 section 3.1, PRR-SSRB)', () => {
  // RFC 6937 section 5, Figure 1: 20 segments in flight, the first is lost, ssthresh = 10
  // (RecoverFS = 20). The 19 segments after the hole are SACKed one per ACK. (The figure's two
  // limited-transmit segments sent before recovery are left out: PRR starts at recovery.)
  it('single loss: one segment on every other ACK while pipe > ssthresh, then one per ACK at ssthresh', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    // The hole is not in pipe (RFC 6675 IsLost), the 19 later segments are.
    const { sndcnt, pipeAfterSend } = runRecovery(prr, 19, Array<number>(19).fill(1));
    // ACK 1 sends the fast retransmit (CEIL(1 * 10 / 20) = 1), then sndcnt = CEIL(k/2) - prr_out.
    expect(sndcnt).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]);
    expect(pipeAfterSend).toEqual([19, 18, 18, 17, 17, 16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 11, 10, 10, 10]);
    // Recovery ends with pipe = ssthresh: the reduction was exactly what congestion control chose.
    expect(pipeAfterSend.at(-1)).toBe(10);
  });

  // RFC 6937 section 5, Figure 2: the same window, but 15 consecutive segments are lost, so only
  // 5 ACKs come back before the retransmissions are acknowledged; pipe is far below ssthresh.
  it('burst of 15 losses: PRR-SSRB rebuilds pipe to ssthresh at slow-start speed (2 per ACK)', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    // pipe = 20 - 15 lost = 5 when recovery starts.
    const { sndcnt, pipeAfterSend } = runRecovery(prr, 5, [1, 1, 1, 1, 1, 1, 1, 1]);
    // limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS = 2 per ACK, until pipe reaches
    // ssthresh; then one segment per segment delivered.
    expect(sndcnt).toEqual([2, 2, 2, 2, 2, 1, 1, 1]);
    expect(pipeAfterSend).toEqual([6, 7, 8, 9, 10, 10, 10, 10]);
  });

  it('is proportional to ssthresh / RecoverFS (CUBIC, beta 0.7): 14 of 20 delivered are sent', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(14), segments(20), MSS);
    // Plenty in flight so that pipe stays above ssthresh throughout.
    const { sndcnt } = runRecovery(prr, 40, Array<number>(20).fill(1));
    // CEIL(k * 14 / 20) - prr_out for k = 1..20.
    const expected: number[] = [];
    let out = 0;
    for (let k = 1; k <= 20; k++) {
      const send = Math.ceil((k * 14) / 20) - out;
      expected.push(send);
      out += send;
    }
    expect(sndcnt).toEqual(expected);
    expect(sndcnt.reduce((a, b) => a + b, 0)).toBe(14);
  });

  it('a stretch ACK releases its proportional share at once', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    // 6 segments delivered by one ACK, pipe still 14 > ssthresh: CEIL(6 * 10 / 20) = 3.
    expect(prr.onAck(segments(6), segments(14))).toBe(segments(3));
  });

  it('sends nothing when the sender is already ahead of its share (sndcnt never negative)', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    prr.onSent(segments(3)); // e.g. retransmissions beyond what PRR allowed
    expect(prr.onAck(segments(1), segments(18))).toBe(0);
  });

  it('with pipe at or below ssthresh, never sends more than ssthresh - pipe', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    // A large delivery with pipe 9: the limit would allow 11, ssthresh - pipe allows 1.
    expect(prr.onAck(segments(10), segments(9))).toBe(segments(1));
  });

  it('start() begins a new recovery from zero', () => {
    const prr = new ProportionalRateReduction();
    prr.start(segments(10), segments(20), MSS);
    prr.onAck(segments(1), segments(18));
    prr.onSent(segments(1));
    prr.start(segments(5), segments(10), MSS);
    // CEIL(1 * 5 / 10) = 1 - prr_out 0.
    expect(prr.onAck(segments(1), segments(8))).toBe(segments(1));
  });
});
