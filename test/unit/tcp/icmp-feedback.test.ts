/** ICMP errors and fragmentation needed as TCP judges them (RFC 5927, RFC 5461, RFC 1191), alone. */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { icmpErrorVerdict, pathMtuVerdict, type SentSpace } from '../../../src/tcp/icmp-feedback.js';
import { seqAdd } from '../../../src/tcp/seq.js';

const ISS = 0xfffffff0;

/** Offsets 100..300 are sent and unacknowledged; sequence numbers wrap on the way. */
const sent: SentSpace = { sndUna: 100, sndMax: 300, ackOffset: (seq) => (seq - seqAdd(ISS, 1)) | 0 };
const seqOf = (offset: number) => seqAdd(ISS, 1 + offset);

describe('icmpErrorVerdict', () => {
  it('ignores and counts a quote outside [SND.UNA, SND.MAX]', () => {
    const counters = new Counters('tcp');
    expect(icmpErrorVerdict(sent, seqOf(99), true, true, counters)).toBe('ignore');
    expect(icmpErrorVerdict(sent, seqOf(301), true, true, counters)).toBe('ignore');
    expect(icmpErrorVerdict(sent, seqOf(100 + 0x40000000), false, false, counters)).toBe('ignore');
    expect(counters.get('drop.icmp_out_of_window')).toBe(3);
    expect(counters.get('icmp_errors')).toBe(0);
  });

  it('aborts an opening connection on a hard error; every other error is soft', () => {
    const counters = new Counters('tcp');
    expect(icmpErrorVerdict(sent, seqOf(100), true, true, counters)).toBe('abort');
    expect(icmpErrorVerdict(sent, seqOf(300), true, false, counters)).toBe('soft');
    expect(icmpErrorVerdict(sent, seqOf(200), false, true, counters)).toBe('soft');
    expect(counters.get('icmp_errors')).toBe(3);
  });
});

describe('pathMtuVerdict', () => {
  /** Options whose segment size follows the lowest path MTU reported. */
  function pathOptions(mtu: number): { limitToPathMtu(pathMtu: number): boolean; reported: number[] } {
    const reported: number[] = [];
    return {
      reported,
      limitToPathMtu(pathMtu: number): boolean {
        reported.push(pathMtu);
        if (pathMtu >= mtu) return false;
        mtu = pathMtu;
        return true;
      },
    };
  }

  it('ignores a quote not in flight, [SND.UNA, SND.MAX), and leaves the options alone', () => {
    const counters = new Counters('tcp');
    const options = pathOptions(1500);
    expect(pathMtuVerdict(sent, seqOf(300), 1000, options, counters)).toBe('ignore');
    expect(pathMtuVerdict(sent, seqOf(99), 1000, options, counters)).toBe('ignore');
    expect(options.reported).toEqual([]);
    expect(counters.get('drop.pmtu_not_in_flight')).toBe(2);
  });

  it('reduced when the segment size falls, unchanged when it does not', () => {
    const counters = new Counters('tcp');
    const options = pathOptions(1500);
    expect(pathMtuVerdict(sent, seqOf(100), 1200, options, counters)).toBe('reduced');
    expect(pathMtuVerdict(sent, seqOf(299), 1200, options, counters)).toBe('unchanged');
    expect(pathMtuVerdict(sent, seqOf(200), 1300, options, counters)).toBe('unchanged');
    expect(options.reported).toEqual([1200, 1200, 1300]);
    expect([counters.get('pmtu_mss_reduced'), counters.get('pmtu_mss_unchanged')]).toEqual([1, 2]);
  });
});
