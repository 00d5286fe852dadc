/**
 * Loss recovery at the sub-millisecond round trips of a local TUN path (issue 8), on manual time:
 * RTT samples from millisecond timestamps, and the sequence number of our pure ACKs when the
 * peer's window is closed. (The probe timeout's 2 ms slack is in tail-loss-probe.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { NegotiatedOptions } from '../../../src/tcp/options.js';
import { RttEstimator } from '../../../src/tcp/rtt.js';
import { RttSampler } from '../../../src/tcp/rtt-sampler.js';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';
import { DEFAULT_TCP_CONFIG } from '../../../src/tcp/types.js';
import { TCP_ACK, type TcpSegment } from '../../../src/wire/tcp.js';
import { HARNESS_TUPLE, TcpHarness, patternBytes } from '../../support/tcp-harness.js';

/** A sampler over fresh records, with timestamps negotiated. */
function samplerWithTimestamps(): { sampler: RttSampler; records: TransmitRecords; rtt: RttEstimator } {
  const records = new TransmitRecords();
  const rtt = new RttEstimator({ initialRto: 1000, minRto: 200, maxRto: 60_000 });
  const options = new NegotiatedOptions(DEFAULT_TCP_CONFIG, HARNESS_TUPLE.remoteAddress);
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

describe('pure ACKs while the peer window is closed', () => {
  /** A connection with 1000 bytes in flight whose peer then closes its window without acknowledging them. */
  function closedWindowWithDataInFlight(): TcpHarness {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, sackPermitted: true });
    h.conn.write(patternBytes(1000));
    const [data] = h.take();
    expect(data!.payload.length).toBe(1000);
    // The peer's reply: its data, acknowledging none of ours (the segment was lost), window 0.
    h.data(0, patternBytes(100), { window: 0 }, 0);
    return h;
  }

  it('carry SND.UNA + SND.WND, the only sequence number a peer with a zero window accepts (RFC 9293 3.10.7.4, Linux tcp_acceptable_seq)', () => {
    const h = closedWindowWithDataInFlight();
    h.advance(DEFAULT_TCP_CONFIG.delayedAckTimeout);
    const acks = h.take().filter((s) => s.payload.length === 0);
    expect(acks.length).toBeGreaterThan(0);
    // SND.MAX (offset 1000) lies beyond the closed window: the ACK carries SND.UNA (offset 0).
    for (const ack of acks) expect(ack.seq).toBe(h.ourSeq(0));
  });

  it('carry SND.MAX again once the window covers it', () => {
    const h = closedWindowWithDataInFlight();
    h.take();
    h.data(100, patternBytes(100), { window: 65535 }, 0);
    h.advance(DEFAULT_TCP_CONFIG.delayedAckTimeout);
    const acks = h.take().filter((s) => s.payload.length === 0);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.seq).toBe(h.ourSeq(1000));
  });
});
