/**
 * The TCP state machine (RFC 9293 3.10) driven by crafted segments and manual time: handshakes,
 * closing, RST and SYN handling (RFC 5961), and sequence numbers across the wrap.
 */
import { describe, expect, it } from 'vitest';
import { NetError } from '../../../src/errors.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../src/wire/tcp.js';
import { TcpHarness, patternBytes, payloadTotal } from '../../support/tcp-harness.js';

describe('TCP handshakes', () => {
  it('active open: SYN with options, SYN-ACK, ACK, ESTABLISHED', () => {
    const h = new TcpHarness();
    h.conn.openActive();
    expect(h.conn.state).toBe('SYN-SENT');
    const [syn] = h.take();
    expect(syn!.flags).toBe(TCP_SYN);
    expect(syn!.seq).toBe(h.iss);
    expect(syn!.sourcePort).toBe(80);
    expect(syn!.destinationPort).toBe(40000);
    expect(syn!.options.mss).toBe(1460);
    // 1 MiB buffer needs shift 5 to fit the 16-bit field (RFC 7323 2.3).
    expect(syn!.options.windowScale).toBe(5);
    expect(syn!.options.sackPermitted).toBe(true);
    expect(syn!.options.timestamp?.echo).toBe(0);
    expect(syn!.window).toBe(65535);

    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.ourSeq(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1400 } }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
    const [ack] = h.take();
    expect(ack!.flags).toBe(TCP_ACK);
    expect(ack!.seq).toBe(h.ourSeq(0));
    expect(ack!.ack).toBe(h.peerSeq(0));
    // Peer offered no options: no timestamps or SACK afterwards, and no scaling of our window.
    expect(ack!.options.timestamp).toBeUndefined();
    expect(ack!.window).toBe(65535);
  });

  it('passive open: SYN-ACK only echoes what the peer offered; third ACK establishes', () => {
    const h = new TcpHarness();
    h.conn.acceptSyn(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1200, sackPermitted: true } }));
    expect(h.conn.state).toBe('SYN-RECEIVED');
    const [synAck] = h.take();
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck!.seq).toBe(h.iss);
    expect(synAck!.ack).toBe(h.peerSeq(0));
    expect(synAck!.options.mss).toBe(1460);
    expect(synAck!.options.sackPermitted).toBe(true);
    expect(synAck!.options.windowScale).toBeUndefined();
    expect(synAck!.options.timestamp).toBeUndefined();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(0) }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
    expect(h.conn.maxSegmentSize).toEqual({ peer: 1200, send: 1200 });
  });

  it('passive open: a retransmitted SYN gets the SYN-ACK again; a bad ACK gets a RST', () => {
    const h = new TcpHarness();
    const syn = h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } });
    h.conn.acceptSyn(syn);
    h.take();
    h.conn.handleSegment(syn);
    const [again] = h.take();
    expect(again!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(again!.seq).toBe(h.iss);
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(5) }));
    const [rst] = h.take();
    expect(rst!.flags).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.ourSeq(5));
    expect(h.conn.state).toBe('SYN-RECEIVED');
  });

  it('SYN-ACK retransmission on timeout, then release with ETIMEDOUT', () => {
    const h = new TcpHarness(1, 2, { maxSynRetransmissions: 2 });
    h.conn.acceptSyn(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } }));
    h.take();
    h.advance(1000);
    expect(h.take().map((s) => s.flags)).toEqual([TCP_SYN | TCP_ACK]);
    h.advance(2000);
    expect(h.take().map((s) => s.flags)).toEqual([TCP_SYN | TCP_ACK]);
    h.advance(4000);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
  });

  it('simultaneous open: SYN in SYN-SENT -> SYN-RECEIVED, SYN-ACK, then ESTABLISHED', () => {
    const h = new TcpHarness();
    h.conn.openActive();
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } }));
    expect(h.conn.state).toBe('SYN-RECEIVED');
    const [synAck] = h.take();
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck!.seq).toBe(h.iss);
    expect(synAck!.ack).toBe(h.peerSeq(0));
    // The peer's own SYN-ACK (its SYN repeated, plus the ACK of ours).
    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.ourSeq(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
  });

  it('SYN retransmitted at 1 s, 2 s, 4 s ... and ETIMEDOUT after maxSynRetransmissions', () => {
    const h = new TcpHarness(1, 2, { maxSynRetransmissions: 4 });
    h.conn.openActive();
    h.advance(60_000);
    const times = h.take().map((s) => s.at);
    expect(times).toEqual([0, 1000, 3000, 7000, 15000]);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
    expect(h.timers.size).toBe(0);
  });

  it('SYN-SENT: RST acknowledging the SYN refuses; RST without ACK is ignored; a bad ACK draws a RST', () => {
    const h = new TcpHarness();
    h.conn.openActive();
    h.take();
    h.conn.handleSegment(h.seg({ seq: 0, flags: TCP_RST }));
    expect(h.conn.state).toBe('SYN-SENT');
    h.conn.handleSegment(h.seg({ seq: 0, ack: h.ourSeq(10), flags: TCP_ACK }));
    const [rst] = h.take();
    expect(rst!.flags).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.ourSeq(10));
    expect(h.conn.state).toBe('SYN-SENT');
    h.conn.handleSegment(h.seg({ seq: 0, ack: h.ourSeq(0), flags: TCP_RST | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNREFUSED']);
    expect(h.releases).toBe(1);
  });

  it('writes during SYN-SENT are queued and sent once established', () => {
    const h = new TcpHarness();
    h.conn.openActive();
    h.take();
    expect(h.conn.write(patternBytes(300))).toBe(300);
    expect(h.take()).toHaveLength(0);
    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.ourSeq(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } }));
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.payload.length).toBe(300);
    expect(out[0]!.seq).toBe(h.ourSeq(0));
    expect(out[0]!.ack).toBe(h.peerSeq(0));
  });

  it('rejects a second open and writes on an unopened connection', () => {
    const h = new TcpHarness();
    expect(() => h.conn.write(patternBytes(1))).toThrow(NetError);
    h.conn.openActive();
    expect(() => h.conn.openActive()).toThrow(/EINVAL/);
  });
});

describe('TCP closing', () => {
  it('active close: FIN-WAIT-1, FIN-WAIT-2, then TIME-WAIT hands the layer its record and releases the TCB', () => {
    const h = new TcpHarness(1000, 5000, { msl: 1000 });
    h.openActive();
    h.conn.write(patternBytes(100));
    h.take();
    h.conn.shutdownWrite();
    expect(h.conn.state).toBe('FIN-WAIT-1');
    const fin = h.take();
    // Data was in flight, so the FIN waits for nothing but is its own segment after the data.
    expect(fin).toHaveLength(1);
    expect(fin[0]!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(fin[0]!.seq).toBe(h.ourSeq(100));
    expect(() => h.conn.write(patternBytes(1))).toThrow(/EPIPE/);
    h.ack(101);
    expect(h.conn.state).toBe('FIN-WAIT-2');
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(101), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('TIME-WAIT');
    expect(h.conn.receivedFin).toBe(true);
    const [finAck] = h.take();
    expect(finAck!.ack).toBe(h.peerSeq(1));
    // The FIN's ACK went out first; then the TCB is gone, with no timer left: the TCP layer keeps
    // TIME-WAIT's 2 MSL in a record of RCV.NXT and SND.NXT (src/tcp/time-wait.ts).
    expect(h.releases).toBe(1);
    expect(h.timeWait).toEqual({ rcvNxt: h.peerSeq(1), sndNxt: finAck!.seq, tsRecent: undefined });
    expect(finAck!.seq).toBe(h.ourSeq(101));
    expect(h.closed).toEqual([undefined]);
    expect(h.timers.size).toBe(0);
    // Segments reach the record, not the released TCB, which ignores stragglers and cannot be closed again.
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(101), flags: TCP_FIN | TCP_ACK }));
    h.conn.close();
    h.conn.abort();
    expect(h.take()).toEqual([]);
    expect(h.counters.get('drop.closed')).toBe(1);
    expect(h.releases).toBe(1);
  });

  it('passive close: CLOSE-WAIT still sends (half-close), LAST-ACK, CLOSED', () => {
    const h = new TcpHarness();
    h.openPassive();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(0), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSE-WAIT');
    expect(h.conn.receivedFin).toBe(true);
    expect(h.readable).toBe(1);
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(1));
    expect(h.conn.write(patternBytes(500))).toBe(500);
    const [dataSeg] = h.take();
    expect(dataSeg!.payload.length).toBe(500);
    h.ack(500, {}, 1);
    h.conn.shutdownWrite();
    expect(h.conn.state).toBe('LAST-ACK');
    const [fin] = h.take();
    expect(fin!.flags & TCP_FIN).toBe(TCP_FIN);
    h.ack(501, {}, 1);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
  });

  it('half-close the other way: after our FIN is acknowledged, data still arrives in FIN-WAIT-2', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.shutdownWrite();
    h.take();
    h.ack(1);
    expect(h.conn.state).toBe('FIN-WAIT-2');
    h.data(0, patternBytes(1000), {}, 1);
    h.data(1000, patternBytes(1000, 1000), {}, 1);
    expect(h.conn.readableLength).toBe(2000);
    expect(h.readAll()).toEqual(patternBytes(2000));
    expect(h.take().at(-1)!.ack).toBe(h.peerSeq(2000));
    expect(h.conn.state).toBe('FIN-WAIT-2');
  });

  it('simultaneous close: FIN-WAIT-1 + FIN -> CLOSING -> TIME-WAIT', () => {
    const h = new TcpHarness(7, 9, { msl: 100 });
    h.openActive();
    h.conn.shutdownWrite();
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(0), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSING');
    h.ack(1, {}, 1);
    expect(h.conn.state).toBe('TIME-WAIT');
    expect(h.releases).toBe(1);
    expect(h.timeWait).toEqual({ rcvNxt: h.peerSeq(1), sndNxt: h.ourSeq(1), tsRecent: undefined });
    expect(h.timers.size).toBe(0);
  });

  it('FIN retransmission with backoff when unacknowledged', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460 }, 65535, 100);
    h.conn.shutdownWrite();
    const [fin] = h.take();
    h.advance(300);
    const [again] = h.take();
    expect(again!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(again!.seq).toBe(fin!.seq);
    h.advance(599);
    expect(h.take()).toHaveLength(0);
    h.advance(1);
    expect(h.take()).toHaveLength(1);
  });

  it('close() with unread data sends RST (RFC 2525 2.17) and closes', () => {
    const h = new TcpHarness();
    h.openActive();
    h.data(0, patternBytes(10));
    h.take();
    h.conn.close();
    const [rst] = h.take();
    expect(rst!.flags & TCP_RST).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.ourSeq(0));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
  });

  it('data arriving after close() is answered with RST', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.close();
    expect(h.conn.state).toBe('FIN-WAIT-1');
    h.take();
    h.data(0, patternBytes(10), {}, 1);
    expect(h.take().some((s) => (s.flags & TCP_RST) !== 0)).toBe(true);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.releases).toBe(1);
  });

  it('abort sends RST once, closes, releases once; further calls are harmless', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.abort();
    h.conn.abort();
    h.conn.close();
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_RST).toBe(TCP_RST);
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
    expect(() => h.conn.write(patternBytes(1))).toThrow(/EPIPE/);
    expect(h.timers.size).toBe(0);
  });
});

describe('RST and SYN handling (RFC 5961)', () => {
  it('RST exactly at RCV.NXT resets with ECONNRESET', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), flags: TCP_RST }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNRESET']);
    expect(h.releases).toBe(1);
  });

  it('RST in the window but not exact draws a rate-limited challenge ACK', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(100), flags: TCP_RST }));
    expect(h.conn.state).toBe('ESTABLISHED');
    const [challenge] = h.take();
    expect(challenge!.flags).toBe(TCP_ACK);
    expect(challenge!.ack).toBe(h.peerSeq(0));
    expect(h.counters.get('challenge_acks')).toBe(1);
    for (let i = 0; i < 50; i++) h.conn.handleSegment(h.seg({ seq: h.peerSeq(100 + i), flags: TCP_RST }));
    expect(h.take()).toHaveLength(0);
    expect(h.counters.get('ack_ratelimited')).toBe(50);
    h.advance(500);
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(100), flags: TCP_RST }));
    expect(h.take()).toHaveLength(1);
    expect(h.counters.get('challenge_acks')).toBe(2);
  });

  it('RST outside the window is ignored and counted', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(1_000_000), flags: TCP_RST }));
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(-10), flags: TCP_RST }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.take()).toHaveLength(0);
    expect(h.counters.get('drop.rst_out_of_window')).toBe(2);
  });

  it('SYN in a synchronized state draws a challenge ACK and changes nothing', () => {
    const h = new TcpHarness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(50), flags: TCP_SYN }));
    expect(h.conn.state).toBe('ESTABLISHED');
    const [ack] = h.take();
    expect(ack!.flags).toBe(TCP_ACK);
    expect(ack!.ack).toBe(h.peerSeq(0));
    expect(h.counters.get('challenge_acks')).toBe(1);
  });

  it('RST in SYN-RECEIVED of a passive open releases quietly with ECONNRESET', () => {
    const h = new TcpHarness();
    h.conn.acceptSyn(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } }));
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), flags: TCP_RST }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNRESET']);
    expect(h.take()).toHaveLength(0);
    expect(h.releases).toBe(1);
  });

  it('ACK of unsent data draws an ACK and is dropped; a too-old ACK is dropped', () => {
    const h = new TcpHarness();
    h.openActive();
    h.ack(5000);
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.peerSeq(0));
    expect(ack!.seq).toBe(h.ourSeq(0));
    expect(h.counters.get('drop.ack_unsent')).toBe(1);
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(-200_000) }));
    expect(h.counters.get('drop.ack_too_old')).toBe(1);
    expect(h.conn.state).toBe('ESTABLISHED');
  });
});

describe('sequence wraparound', () => {
  it('ISS = 2^32 - 100 on both sides, a few KB crossing the wrap each way', () => {
    const h = new TcpHarness(2 ** 32 - 100, 2 ** 32 - 100);
    h.openActive({ mss: 1000 });
    h.conn.write(patternBytes(5000));
    const out = h.take();
    expect(payloadTotal(out)).toBe(5000);
    expect(out.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4].map((i) => (2 ** 32 - 99 + i * 1000) % 2 ** 32));
    h.ack(5000);
    expect(h.conn.writableLength).toBe(0);
    for (let i = 0; i < 5; i++) h.data(i * 1000, patternBytes(1000, i * 1000), {}, 5000);
    expect(h.readAll()).toEqual(patternBytes(5000));
    h.advance(1000);
    expect(h.take().at(-1)!.ack).toBe((2 ** 32 - 99 + 5000) % 2 ** 32);
    // Out-of-order across the wrap, too.
    h.data(6000, patternBytes(1000), {}, 5000);
    h.data(5000, patternBytes(1000), {}, 5000);
    expect(h.conn.readableLength).toBe(2000);
  });
});
