/**
 * Loss recovery at the sub-millisecond round trips of a local TUN path (issue 8), on manual time:
 * RTT samples from millisecond timestamps.
 */
import { describe, expect, it } from 'vitest';
import { NegotiatedOptions } from '../../../src/tcp/options.js';
import { RttEstimator } from '../../../src/tcp/rtt.js';
import { RttSampler } from '../../../src/tcp/rtt-sampler.js';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';
import { DEFAULT_TCP_CONFIG } from '../../../src/tcp/types.js';
import { TCP_ACK, type TcpSegment } from '../../../src/wire/tcp.js';
import { HARNESS_TUPLE } from '../../support/tcp-harness.js';

/** A sampler over fresh records, with timestamps negotiated. */
function samplerWithTimestamps(): { sampler: RttSampler; records: TransmitRecords; rtt: RttEstimator } {
  const records = new TransmitRecords();
  const rtt = new RttEstimator({ initialRto: 1000, minRto: 200, maxRto: 60_000 });
  const options = new NegotiatedOptions(DEFAULT_TCP_CONFIG);
  options.negotiate({ mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 0 } }, 0);
  return { sampler: new RttSampler(records, rtt, options), records, rtt };
}

function ackEchoing(echo: number): TcpSegment {
  return {
    sourcePort: HARNESS_TUPLE.remotePort,
    destinationPort: HARNESS_TUPLE.localPort,
    seq: 0,
    ack: 0,
    flags: TCP_ACK,
    window: 65535,
    urgentPointer: 0,
    options: { timestamp: { value: 2, echo } },
    payload: new Uint8Array(0),
  };
}

describe('RTT samples at a sub-millisecond RTT', () => {
  it('an ACK covering a retransmission, echoing the timestamp tick it was sent in, measures 1 ms, not 0 (Linux tcp_ack_update_rtt)', () => {
    const { sampler, records, rtt } = samplerWithTimestamps();
    records.append(0, 1000, 5.2);
    records.append(1000, 2000, 5.2);
    // A clean sample first: the segment at 0 is acknowledged 0.3 ms after it left.
    expect(sampler.take(ackEchoing(5), 1000, 5.5)).toBeCloseTo(0.3, 9);
    records.acknowledge(1000);
    // The segment at 1000 is resent at 5.6 (tick 5) and acknowledged at 5.9, echoing tick 5: the
    // timestamps say "less than a tick". A 0 here would become RACK's min_RTT for 300 s.
    records.retransmitted(0, 5.6);
    expect(sampler.take(ackEchoing(5), 2000, 5.9)).toBe(1);
    expect(rtt.srtt).toBeCloseTo(0.875 * 0.3 + 0.125 * 1, 9);
  });
});
