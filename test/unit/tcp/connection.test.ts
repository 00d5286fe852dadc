/**
 * The TCP state machine driven by crafted segments and a fake clock (RFC 9293 3.10 and friends).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { Counters } from '../../../src/counters.js';
import { NetError, type NetErrorCode } from '../../../src/errors.js';
import { TcpConnection } from '../../../src/tcp/connection.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOptions, type TcpSegment } from '../../../src/wire/tcp.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig, type TcpFourTuple } from '../../../src/tcp/types.js';
import { DeadlineQueue } from '../../../src/timers.js';

const TUPLE: TcpFourTuple = { localAddress: 0x0a000002, localPort: 80, remoteAddress: 0x0a000001, remotePort: 40000 };

interface Sent extends TcpSegment {
  at: number;
}

function clone(s: TcpSegment, at: number): Sent {
  return {
    ...s,
    options: {
      ...s.options,
      ...(s.options.sackBlocks ? { sackBlocks: s.options.sackBlocks.map((b) => ({ ...b })) } : {}),
      ...(s.options.timestamp ? { timestamp: { ...s.options.timestamp } } : {}),
    },
    payload: s.payload.slice(),
    at,
  };
}

function bytes(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 251;
  return out;
}

class Harness {
  readonly clock = new FakeClock();
  readonly timers = new DeadlineQueue();
  readonly counters = new Counters('tcp');
  readonly sent: Sent[] = [];
  readonly closed: Array<NetErrorCode | undefined> = [];
  releases = 0;
  established = 0;
  readable = 0;
  writable = 0;
  readonly conn: TcpConnection;
  readonly config: TcpConfig;

  constructor(
    readonly iss = 1_000_000,
    readonly peerIss = 5_000_000,
    config: Partial<TcpConfig> = {},
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
    this.conn = new TcpConnection(TUPLE, iss, this.config, {
      now: () => this.clock.now(),
      timers: this.timers,
      transmit: (s) => this.sent.push(clone(s, this.clock.now())),
      counters: this.counters,
      release: () => {
        this.releases++;
      },
    });
    this.conn.events = {
      onEstablished: () => this.established++,
      onReadable: () => this.readable++,
      onWritable: () => this.writable++,
      onClosed: (e) => this.closed.push(e),
    };
  }

  /** Our sequence number for send offset `off` (SYN at -1). */
  L(off: number): number {
    return seqAdd(this.iss, off + 1);
  }

  /** The peer's sequence number for its offset `off`. */
  P(off: number): number {
    return seqAdd(this.peerIss, off + 1);
  }

  advance(ms: number): void {
    const target = this.clock.now() + ms;
    for (;;) {
      const next = this.timers.nextDeadline();
      if (next === undefined || next > target) break;
      this.clock.set(Math.max(next, this.clock.now()));
      this.timers.runExpired(this.clock.now());
    }
    this.clock.set(target);
    this.timers.runExpired(target);
  }

  take(): Sent[] {
    return this.sent.splice(0);
  }

  seg(fields: Partial<TcpSegment> & { seq: number }): TcpSegment {
    return {
      sourcePort: TUPLE.remotePort,
      destinationPort: TUPLE.localPort,
      ack: 0,
      flags: TCP_ACK,
      window: 65535,
      urgentPointer: 0,
      options: {},
      payload: new Uint8Array(0),
      ...fields,
    };
  }

  /** The peer acknowledges our send offset `off` with its next sequence at offset `peerOff`. */
  ack(off: number, extra: Partial<TcpSegment> = {}, peerOff = 0): void {
    this.conn.handleSegment(this.seg({ seq: this.P(peerOff), ack: this.L(off), ...extra }));
  }

  /** The peer sends data at its offset `peerOff`. */
  data(peerOff: number, payload: Uint8Array, extra: Partial<TcpSegment> = {}, ackOff = 0): void {
    this.conn.handleSegment(this.seg({ seq: this.P(peerOff), ack: this.L(ackOff), payload, ...extra }));
  }

  /** Active open completed by a SYN-ACK carrying `options`; returns the SYN we sent. */
  openActive(options: TcpOptions = { mss: 1460 }, window = 65535, rttMs = 0): Sent {
    this.conn.openActive();
    const [syn] = this.take();
    if (rttMs > 0) this.advance(rttMs);
    this.conn.handleSegment(this.seg({ seq: this.peerIss, ack: this.L(0), flags: TCP_SYN | TCP_ACK, window, options }));
    this.take();
    return syn!;
  }

  /** Passive open completed by the third ACK; returns the SYN-ACK we sent. */
  openPassive(options: TcpOptions = { mss: 1460 }, window = 65535): Sent {
    this.conn.acceptSyn(this.seg({ seq: this.peerIss, flags: TCP_SYN, window, options }));
    const [synAck] = this.take();
    this.conn.handleSegment(this.seg({ seq: this.P(0), ack: this.L(0), window }));
    this.take();
    return synAck!;
  }

  readAll(): Uint8Array {
    const out = new Uint8Array(this.conn.readableLength);
    this.conn.read(out);
    return out;
  }
}

function payloadTotal(segments: TcpSegment[]): number {
  return segments.reduce((n, s) => n + s.payload.length, 0);
}

describe('TCP handshakes', () => {
  it('active open: SYN with options, SYN-ACK, ACK, ESTABLISHED', () => {
    const h = new Harness();
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

    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.L(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1400 } }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
    const [ack] = h.take();
    expect(ack!.flags).toBe(TCP_ACK);
    expect(ack!.seq).toBe(h.L(0));
    expect(ack!.ack).toBe(h.P(0));
    // Peer offered no options: no timestamps or SACK afterwards, and no scaling of our window.
    expect(ack!.options.timestamp).toBeUndefined();
    expect(ack!.window).toBe(65535);
  });

  it('passive open: SYN-ACK only echoes what the peer offered; third ACK establishes', () => {
    const h = new Harness();
    h.conn.acceptSyn(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1200, sackPermitted: true } }));
    expect(h.conn.state).toBe('SYN-RECEIVED');
    const [synAck] = h.take();
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck!.seq).toBe(h.iss);
    expect(synAck!.ack).toBe(h.P(0));
    expect(synAck!.options.mss).toBe(1460);
    expect(synAck!.options.sackPermitted).toBe(true);
    expect(synAck!.options.windowScale).toBeUndefined();
    expect(synAck!.options.timestamp).toBeUndefined();
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(0) }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
    expect(h.conn.maxSegmentSize).toEqual({ peer: 1200, send: 1200 });
  });

  it('passive open: a retransmitted SYN gets the SYN-ACK again; a bad ACK gets a RST', () => {
    const h = new Harness();
    const syn = h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } });
    h.conn.acceptSyn(syn);
    h.take();
    h.conn.handleSegment(syn);
    const [again] = h.take();
    expect(again!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(again!.seq).toBe(h.iss);
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(5) }));
    const [rst] = h.take();
    expect(rst!.flags).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.L(5));
    expect(h.conn.state).toBe('SYN-RECEIVED');
  });

  it('SYN-ACK retransmission on timeout, then release with ETIMEDOUT', () => {
    const h = new Harness(1, 2, { maxSynRetransmissions: 2 });
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
    const h = new Harness();
    h.conn.openActive();
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } }));
    expect(h.conn.state).toBe('SYN-RECEIVED');
    const [synAck] = h.take();
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(synAck!.seq).toBe(h.iss);
    expect(synAck!.ack).toBe(h.P(0));
    // The peer's own SYN-ACK (its SYN repeated, plus the ACK of ours).
    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.L(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.established).toBe(1);
  });

  it('SYN retransmitted at 1 s, 2 s, 4 s ... and ETIMEDOUT after maxSynRetransmissions', () => {
    const h = new Harness(1, 2, { maxSynRetransmissions: 4 });
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
    const h = new Harness();
    h.conn.openActive();
    h.take();
    h.conn.handleSegment(h.seg({ seq: 0, flags: TCP_RST }));
    expect(h.conn.state).toBe('SYN-SENT');
    h.conn.handleSegment(h.seg({ seq: 0, ack: h.L(10), flags: TCP_ACK }));
    const [rst] = h.take();
    expect(rst!.flags).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.L(10));
    expect(h.conn.state).toBe('SYN-SENT');
    h.conn.handleSegment(h.seg({ seq: 0, ack: h.L(0), flags: TCP_RST | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNREFUSED']);
    expect(h.releases).toBe(1);
  });

  it('writes during SYN-SENT are queued and sent once established', () => {
    const h = new Harness();
    h.conn.openActive();
    h.take();
    expect(h.conn.write(bytes(300))).toBe(300);
    expect(h.take()).toHaveLength(0);
    h.conn.handleSegment(h.seg({ seq: h.peerIss, ack: h.L(0), flags: TCP_SYN | TCP_ACK, options: { mss: 1460 } }));
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.payload.length).toBe(300);
    expect(out[0]!.seq).toBe(h.L(0));
    expect(out[0]!.ack).toBe(h.P(0));
  });

  it('rejects a second open and writes on an unopened connection', () => {
    const h = new Harness();
    expect(() => h.conn.write(bytes(1))).toThrow(NetError);
    h.conn.openActive();
    expect(() => h.conn.openActive()).toThrow(/EINVAL/);
  });
});

describe('TCP closing', () => {
  it('active close: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT for 2 MSL, FIN re-ACK restarts the timer', () => {
    const h = new Harness(1000, 5000, { msl: 1000 });
    h.openActive();
    h.conn.write(bytes(100));
    h.take();
    h.conn.shutdownWrite();
    expect(h.conn.state).toBe('FIN-WAIT-1');
    const fin = h.take();
    // Data was in flight, so the FIN waits for nothing but is its own segment after the data.
    expect(fin).toHaveLength(1);
    expect(fin[0]!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(fin[0]!.seq).toBe(h.L(100));
    expect(() => h.conn.write(bytes(1))).toThrow(/EPIPE/);
    h.ack(101);
    expect(h.conn.state).toBe('FIN-WAIT-2');
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(101), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('TIME-WAIT');
    expect(h.conn.receivedFin).toBe(true);
    const [finAck] = h.take();
    expect(finAck!.ack).toBe(h.P(1));
    h.advance(1500);
    // The peer's FIN again (our ACK was lost): ACK it and restart the 2 MSL timer.
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(101), flags: TCP_FIN | TCP_ACK }));
    const [reAck] = h.take();
    expect(reAck!.ack).toBe(h.P(1));
    h.advance(1999);
    expect(h.conn.state).toBe('TIME-WAIT');
    expect(h.releases).toBe(0);
    h.advance(1);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
    expect(h.timers.size).toBe(0);
  });

  it('passive close: CLOSE-WAIT still sends (half-close), LAST-ACK, CLOSED', () => {
    const h = new Harness();
    h.openPassive();
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(0), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSE-WAIT');
    expect(h.conn.receivedFin).toBe(true);
    expect(h.readable).toBe(1);
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.P(1));
    expect(h.conn.write(bytes(500))).toBe(500);
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
    const h = new Harness();
    h.openActive();
    h.conn.shutdownWrite();
    h.take();
    h.ack(1);
    expect(h.conn.state).toBe('FIN-WAIT-2');
    h.data(0, bytes(1000), {}, 1);
    h.data(1000, bytes(1000, 1000), {}, 1);
    expect(h.conn.readableLength).toBe(2000);
    expect(h.readAll()).toEqual(bytes(2000));
    expect(h.take().at(-1)!.ack).toBe(h.P(2000));
    expect(h.conn.state).toBe('FIN-WAIT-2');
  });

  it('simultaneous close: FIN-WAIT-1 + FIN -> CLOSING -> TIME-WAIT', () => {
    const h = new Harness(7, 9, { msl: 100 });
    h.openActive();
    h.conn.shutdownWrite();
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(0), flags: TCP_FIN | TCP_ACK }));
    expect(h.conn.state).toBe('CLOSING');
    h.ack(1, {}, 1);
    expect(h.conn.state).toBe('TIME-WAIT');
    h.advance(200);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.releases).toBe(1);
  });

  it('FIN retransmission with backoff when unacknowledged', () => {
    const h = new Harness();
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
    const h = new Harness();
    h.openActive();
    h.data(0, bytes(10));
    h.take();
    h.conn.close();
    const [rst] = h.take();
    expect(rst!.flags & TCP_RST).toBe(TCP_RST);
    expect(rst!.seq).toBe(h.L(0));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
  });

  it('data arriving after close() is answered with RST', () => {
    const h = new Harness();
    h.openActive();
    h.conn.close();
    expect(h.conn.state).toBe('FIN-WAIT-1');
    h.take();
    h.data(0, bytes(10), {}, 1);
    expect(h.take().some((s) => (s.flags & TCP_RST) !== 0)).toBe(true);
    expect(h.conn.state).toBe('CLOSED');
    expect(h.releases).toBe(1);
  });

  it('abort sends RST once, closes, releases once; further calls are harmless', () => {
    const h = new Harness();
    h.openActive();
    h.conn.abort();
    h.conn.abort();
    h.conn.close();
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_RST).toBe(TCP_RST);
    expect(h.closed).toEqual([undefined]);
    expect(h.releases).toBe(1);
    expect(() => h.conn.write(bytes(1))).toThrow(/EPIPE/);
    expect(h.timers.size).toBe(0);
  });
});

describe('RST and SYN handling (RFC 5961)', () => {
  it('RST exactly at RCV.NXT resets with ECONNRESET', () => {
    const h = new Harness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.P(0), flags: TCP_RST }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNRESET']);
    expect(h.releases).toBe(1);
  });

  it('RST in the window but not exact draws a rate-limited challenge ACK', () => {
    const h = new Harness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.P(100), flags: TCP_RST }));
    expect(h.conn.state).toBe('ESTABLISHED');
    const [challenge] = h.take();
    expect(challenge!.flags).toBe(TCP_ACK);
    expect(challenge!.ack).toBe(h.P(0));
    expect(h.counters.get('challenge_acks')).toBe(1);
    for (let i = 0; i < 50; i++) h.conn.handleSegment(h.seg({ seq: h.P(100 + i), flags: TCP_RST }));
    expect(h.take().length).toBeLessThan(20);
    expect(h.counters.get('challenge_acks_suppressed')).toBeGreaterThan(0);
  });

  it('RST outside the window is ignored and counted', () => {
    const h = new Harness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.P(1_000_000), flags: TCP_RST }));
    h.conn.handleSegment(h.seg({ seq: h.P(-10), flags: TCP_RST }));
    expect(h.conn.state).toBe('ESTABLISHED');
    expect(h.take()).toHaveLength(0);
    expect(h.counters.get('drop.rst_out_of_window')).toBe(2);
  });

  it('SYN in a synchronized state draws a challenge ACK and changes nothing', () => {
    const h = new Harness();
    h.openActive();
    h.conn.handleSegment(h.seg({ seq: h.P(50), flags: TCP_SYN }));
    expect(h.conn.state).toBe('ESTABLISHED');
    const [ack] = h.take();
    expect(ack!.flags).toBe(TCP_ACK);
    expect(ack!.ack).toBe(h.P(0));
    expect(h.counters.get('challenge_acks')).toBe(1);
  });

  it('RST in SYN-RECEIVED of a passive open releases quietly with ECONNRESET', () => {
    const h = new Harness();
    h.conn.acceptSyn(h.seg({ seq: h.peerIss, flags: TCP_SYN, options: { mss: 1460 } }));
    h.take();
    h.conn.handleSegment(h.seg({ seq: h.P(0), flags: TCP_RST }));
    expect(h.conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['ECONNRESET']);
    expect(h.take()).toHaveLength(0);
    expect(h.releases).toBe(1);
  });

  it('ACK of unsent data draws an ACK and is dropped; a too-old ACK is dropped', () => {
    const h = new Harness();
    h.openActive();
    h.ack(5000);
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.P(0));
    expect(ack!.seq).toBe(h.L(0));
    expect(h.counters.get('drop.ack_unsent')).toBe(1);
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(-200_000) }));
    expect(h.counters.get('drop.ack_too_old')).toBe(1);
    expect(h.conn.state).toBe('ESTABLISHED');
  });
});

describe('TCP receiving', () => {
  it('delayed ACK: one segment waits delayedAckTimeout, every second full segment is ACKed at once', () => {
    const h = new Harness(1, 2, { delayedAckTimeout: 40 });
    h.openActive();
    h.data(0, bytes(1460));
    expect(h.take()).toHaveLength(0);
    h.advance(39);
    expect(h.take()).toHaveLength(0);
    h.advance(1);
    const [delayed] = h.take();
    expect(delayed!.ack).toBe(h.P(1460));
    h.data(1460, bytes(1460));
    expect(h.take()).toHaveLength(0);
    h.data(2920, bytes(1460));
    const [second] = h.take();
    expect(second!.ack).toBe(h.P(4380));
    expect(h.readable).toBe(3);
  });

  it('piggybacks the ACK on outgoing data', () => {
    const h = new Harness();
    h.openActive();
    h.data(0, bytes(100));
    expect(h.take()).toHaveLength(0);
    h.conn.write(bytes(10));
    const [seg] = h.take();
    expect(seg!.payload.length).toBe(10);
    expect(seg!.ack).toBe(h.P(100));
    h.advance(1000);
    expect(h.take().filter((s) => s.payload.length === 0)).toHaveLength(0);
  });

  it('out-of-order data is held, dup ACKs carry SACK blocks (most recent first), hole fill ACKs at once', () => {
    const h = new Harness();
    h.openActive({ mss: 1460, sackPermitted: true });
    h.data(1000, bytes(1000, 1000));
    let [dup] = h.take();
    expect(dup!.ack).toBe(h.P(0));
    expect(dup!.options.sackBlocks).toEqual([{ left: h.P(1000), right: h.P(2000) }]);
    h.data(3000, bytes(1000, 3000));
    [dup] = h.take();
    expect(dup!.ack).toBe(h.P(0));
    expect(dup!.options.sackBlocks).toEqual([
      { left: h.P(3000), right: h.P(4000) },
      { left: h.P(1000), right: h.P(2000) },
    ]);
    expect(h.conn.readableLength).toBe(0);
    h.data(0, bytes(1000));
    const [fill] = h.take();
    expect(fill!.ack).toBe(h.P(2000));
    expect(fill!.options.sackBlocks).toEqual([{ left: h.P(3000), right: h.P(4000) }]);
    h.data(2000, bytes(1000, 2000));
    const [last] = h.take();
    expect(last!.ack).toBe(h.P(4000));
    expect(last!.options.sackBlocks).toBeUndefined();
    expect(h.readAll()).toEqual(bytes(4000));
  });

  it('at most 3 SACK blocks with timestamps', () => {
    const h = new Harness();
    h.openActive({ mss: 1460, sackPermitted: true, timestamp: { value: 1, echo: 0 } });
    for (let i = 1; i <= 5; i++) h.data(i * 200, bytes(100), { options: { timestamp: { value: 1, echo: 0 } } });
    const last = h.take().at(-1)!;
    expect(last.options.sackBlocks).toHaveLength(3);
    expect(last.options.sackBlocks![0]).toEqual({ left: h.P(1000), right: h.P(1100) });
  });

  it('out-of-order data beyond outOfOrderLimit is dropped and counted', () => {
    const h = new Harness(1, 2, { outOfOrderLimit: 1500 });
    h.openActive();
    h.data(1000, bytes(1000));
    h.data(3000, bytes(1000));
    expect(h.counters.get('drop.ooo_limit')).toBe(1);
    h.data(0, bytes(1000));
    expect(h.conn.readableLength).toBe(2000);
  });

  it('trims duplicate front parts and beyond-window tails; unacceptable segments draw an ACK', () => {
    const h = new Harness(1, 2, { receiveBufferSize: 4000 });
    h.openActive();
    h.data(0, bytes(1000));
    h.data(500, bytes(1000, 500));
    expect(h.conn.readableLength).toBe(1500);
    h.take();
    // Window offered was 4000 from offset 0: bytes beyond 4000 are cut.
    h.data(1500, bytes(3000, 1500));
    expect(h.conn.readableLength).toBe(4000);
    expect(h.take().at(-1)!.ack).toBe(h.P(4000));
    expect(h.readAll()).toEqual(bytes(4000));
    h.data(100_000, bytes(10));
    const [ack] = h.take();
    expect(ack!.ack).toBe(h.P(4000));
    expect(h.counters.get('drop.out_of_window')).toBe(1);
  });

  it('advertises free space, never shrinks, and sends a window update after read (receiver SWS)', () => {
    const h = new Harness(1, 2, { receiveBufferSize: 4000 });
    h.openActive();
    for (let i = 0; i < 4; i++) h.data(i * 1000, bytes(1000, i * 1000));
    const acks = h.take();
    expect(acks.at(-1)!.ack).toBe(h.P(4000));
    expect(acks.at(-1)!.window).toBe(0);
    // A zero window accepts no data, but still answers.
    h.data(4000, bytes(10));
    const [zeroAck] = h.take();
    expect(zeroAck!.window).toBe(0);
    expect(zeroAck!.ack).toBe(h.P(4000));
    const buf = new Uint8Array(1000);
    h.conn.read(buf);
    // 1000 free < min(4000/2, 1460): no update yet (RFC 1122 4.2.3.3).
    expect(h.take()).toHaveLength(0);
    h.conn.read(buf);
    const [update] = h.take();
    expect(update!.window).toBe(2000);
    expect(update!.ack).toBe(h.P(4000));
  });

  it('PAWS drops a segment with an old timestamp and ACKs it', () => {
    const h = new Harness();
    h.openActive({ mss: 1460, timestamp: { value: 1000, echo: 0 } });
    h.data(0, bytes(100), { options: { timestamp: { value: 1005, echo: 0 } } });
    expect(h.conn.readableLength).toBe(100);
    h.data(100, bytes(100), { options: { timestamp: { value: 900, echo: 0 } } });
    expect(h.conn.readableLength).toBe(100);
    expect(h.counters.get('drop.paws')).toBe(1);
    const last = h.take().at(-1)!;
    expect(last.ack).toBe(h.P(100));
    // Our segments echo TS.Recent (the newest in-order TSval).
    expect(last.options.timestamp!.echo).toBe(1005);
  });
});

describe('TCP sending', () => {
  it('MSS negotiation and window scaling are applied; timestamps take 12 bytes per segment', () => {
    const h = new Harness();
    h.openActive({ mss: 1000, windowScale: 2, timestamp: { value: 1, echo: 0 } }, 1000);
    expect(h.conn.maxSegmentSize).toEqual({ peer: 1000, send: 988 });
    // Our window field is scaled by our shift 5: 1 MiB / 32.
    h.conn.handleSegment(h.seg({ seq: h.P(0), ack: h.L(0), window: 1000, options: { timestamp: { value: 2, echo: 0 } } }));
    h.conn.write(bytes(10_000));
    const out = h.take();
    expect(out.every((s) => s.payload.length <= 988)).toBe(true);
    // Peer window 1000 << 2 = 4000 bytes: four full segments; the 48-byte rest waits (sender SWS
    // avoidance: not a full segment, not all queued data, less than half the peer's window).
    expect(out.map((s) => s.payload.length)).toEqual([988, 988, 988, 988]);
    expect(out[0]!.window).toBe((1 << 20) >> 5);
  });

  it('the SYN window is not scaled', () => {
    const h = new Harness();
    h.openActive({ mss: 1000, windowScale: 7 }, 3000);
    h.conn.write(bytes(10_000));
    expect(payloadTotal(h.take())).toBe(3000);
  });

  it('Nagle holds a small segment while data is in flight; setNoDelay sends at once', () => {
    const h = new Harness();
    h.openActive();
    h.conn.write(bytes(100));
    expect(h.take()).toHaveLength(1);
    h.conn.write(bytes(100));
    expect(h.take()).toHaveLength(0);
    h.ack(100);
    const [held] = h.take();
    expect(held!.payload.length).toBe(100);
    expect(held!.seq).toBe(h.L(100));
    h.conn.setNoDelay(true);
    h.conn.write(bytes(10));
    const [immediate] = h.take();
    expect(immediate!.payload.length).toBe(10);
  });

  it('initial window is 10 segments (RFC 6928) and slow start grows it', () => {
    const h = new Harness();
    h.openActive({ mss: 1000 });
    h.conn.write(bytes(100_000));
    const first = h.take();
    expect(payloadTotal(first)).toBe(10_000);
    expect(first.every((s) => s.payload.length === 1000)).toBe(true);
    h.ack(2000);
    expect(payloadTotal(h.take())).toBe(4000);
    expect(h.conn.stats().cwnd).toBe(12_000);
  });

  it('RTT estimate follows RFC 6298 after samples', () => {
    const h = new Harness();
    h.openActive({ mss: 1460 }, 65535, 100);
    let s = h.conn.stats();
    expect(s.srtt).toBe(100);
    expect(s.rttvar).toBe(50);
    expect(s.rto).toBe(300);
    h.conn.write(bytes(100));
    h.advance(50);
    h.ack(100);
    s = h.conn.stats();
    expect(s.rttvar).toBeCloseTo(50);
    expect(s.srtt).toBeCloseTo(93.75);
    expect(s.rto).toBeCloseTo(293.75);
  });

  it('RTT from timestamp echoes', () => {
    const h = new Harness();
    h.clock.set(10_000);
    // The SYN-ACK echoes 0: no timestamp sample, the SYN is timed instead (80 ms).
    h.openActive({ mss: 1460, timestamp: { value: 1, echo: 0 } }, 65535, 80);
    h.conn.setNoDelay(true);
    h.conn.write(bytes(100));
    const [seg] = h.take();
    h.advance(50);
    h.conn.write(bytes(100));
    h.advance(30);
    expect(h.take()).toHaveLength(1);
    // The ACK of both segments echoes the first one's TSval: 80 ms.
    h.ack(200, { options: { timestamp: { value: 2, echo: seg!.options.timestamp!.value } } });
    expect(h.conn.stats().srtt).toBe(80);
    expect(h.conn.stats().rttvar).toBe(30);
  });

  it('retransmits with exponential backoff and fails with RST + ETIMEDOUT', () => {
    const h = new Harness(1, 2, { maxRetransmissions: 3 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.conn.write(bytes(100));
    const start = h.clock.now();
    h.take();
    h.advance(10_000);
    const out = h.take();
    const retrans = out.filter((s) => s.payload.length === 100);
    expect(retrans.map((s) => s.at - start)).toEqual([300, 900, 2100]);
    expect(retrans.every((s) => s.seq === h.L(0))).toBe(true);
    expect(out.at(-1)!.flags & TCP_RST).toBe(TCP_RST);
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
    expect(h.conn.stats().state).toBe('CLOSED');
  });

  it("Karn's rule: an ACK of retransmitted data gives no RTT sample; the backed-off RTO stays", () => {
    const h = new Harness();
    h.openActive({ mss: 1460 }, 65535, 100);
    h.conn.write(bytes(100));
    h.take();
    h.advance(300);
    expect(h.take()).toHaveLength(1);
    expect(h.conn.stats().rto).toBe(600);
    h.advance(10);
    h.ack(100);
    expect(h.conn.stats().srtt).toBe(100);
    expect(h.conn.stats().rto).toBe(600);
    // A fresh segment measured normally ends the backoff.
    h.conn.write(bytes(100));
    h.advance(100);
    h.ack(200);
    expect(h.conn.stats().rto).toBeCloseTo(100 + 4 * 37.5);
  });

  it('timeout collapses cwnd to one segment and sets ssthresh to half the flight', () => {
    const h = new Harness();
    h.openActive({ mss: 1000 }, 65535, 100);
    h.conn.write(bytes(10_000));
    h.take();
    h.advance(300);
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.seq).toBe(h.L(0));
    expect(h.conn.stats().cwnd).toBe(1000);
    expect(h.conn.stats().ssthresh).toBe(5000);
    expect(h.counters.get('timeouts')).toBe(1);
  });

  it('fast retransmit on three duplicate ACKs, NewReno partial ACK, exit on full ACK', () => {
    const h = new Harness();
    h.openActive({ mss: 1000 });
    h.conn.write(bytes(10_000));
    expect(h.take()).toHaveLength(10);
    h.ack(0);
    h.ack(0);
    expect(h.take()).toHaveLength(0);
    h.ack(0);
    const [fast] = h.take();
    expect(fast!.seq).toBe(h.L(0));
    expect(fast!.payload.length).toBe(1000);
    expect(h.counters.get('fast_retransmits')).toBe(1);
    expect(h.conn.stats().ssthresh).toBe(5000);
    expect(h.conn.stats().cwnd).toBe(8000);
    // Partial ACK: segment 3 was lost too.
    h.ack(3000);
    const [partial] = h.take();
    expect(partial!.seq).toBe(h.L(3000));
    h.ack(10_000);
    expect(h.conn.stats().cwnd).toBeLessThanOrEqual(5000);
    expect(h.counters.get('fast_retransmits')).toBe(1);
  });

  it('SACK blocks from the peer count as duplicate ACKs even on data segments (RFC 6675)', () => {
    const h = new Harness();
    h.openActive({ mss: 1000, sackPermitted: true });
    h.conn.write(bytes(10_000));
    h.take();
    for (let i = 0; i < 3; i++) {
      h.data(i * 10, bytes(10), { options: { sackBlocks: [{ left: h.L(1000), right: h.L(2000 + i * 1000) }] } });
    }
    const out = h.take();
    expect(out.some((s) => s.seq === h.L(0) && s.payload.length === 1000)).toBe(true);
    expect(h.counters.get('fast_retransmits')).toBe(1);
  });

  it('zero window: persist probes back off; answered probes keep the connection; window opening resumes', () => {
    const h = new Harness(1, 2, { maxRetransmissions: 3 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(bytes(1000));
    expect(h.take()).toHaveLength(0);
    const probeTimes: number[] = [];
    const start = h.clock.now();
    for (let i = 0; i < 6; i++) {
      h.advance(2 ** i * 300);
      const out = h.take();
      expect(out).toHaveLength(1);
      expect(out[0]!.payload.length).toBe(1);
      expect(out[0]!.seq).toBe(h.L(0));
      probeTimes.push(out[0]!.at - start);
      h.ack(0, { window: 0 });
    }
    expect(probeTimes).toEqual([300, 900, 2100, 4500, 9300, 18900]);
    expect(h.conn.state).toBe('ESTABLISHED');
    h.ack(0, { window: 65535 });
    const out = h.take();
    expect(payloadTotal(out)).toBe(1000);
    expect(out[0]!.seq).toBe(h.L(0));
  });

  it('zero window: unanswered probes time the connection out', () => {
    const h = new Harness(1, 2, { maxRetransmissions: 2 });
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(bytes(10));
    h.advance(600_000);
    expect(h.closed).toEqual(['ETIMEDOUT']);
    expect(h.releases).toBe(1);
  });

  it('a peer that accepts the probe byte moves SND.UNA past it', () => {
    const h = new Harness();
    h.openActive({ mss: 1460 }, 65535, 100);
    h.ack(0, { window: 0 });
    h.conn.write(bytes(10));
    h.advance(300);
    h.take();
    h.ack(1, { window: 65535 });
    const out = h.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.seq).toBe(h.L(1));
    expect(out[0]!.payload.length).toBe(9);
  });

  it('onWritable fires when acknowledged data frees buffer space; write returns 0 when full', () => {
    const h = new Harness(1, 2, { sendBufferSize: 3000 });
    h.openActive({ mss: 1000 });
    expect(h.conn.write(bytes(5000))).toBe(3000);
    expect(h.conn.write(bytes(1))).toBe(0);
    expect(h.conn.writableLength).toBe(3000);
    h.take();
    h.ack(1000);
    expect(h.writable).toBe(1);
    expect(h.conn.writableLength).toBe(2000);
  });

  it('keepalive probes after idle time at SND.NXT-1, then ETIMEDOUT when unanswered', () => {
    const h = new Harness();
    h.openActive();
    h.conn.setKeepAlive(true, 1000);
    h.advance(999);
    expect(h.take()).toHaveLength(0);
    h.advance(1);
    const [probe] = h.take();
    expect(probe!.seq).toBe(h.L(-1));
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

describe('sequence wraparound', () => {
  it('ISS = 2^32 - 100 on both sides, a few KB crossing the wrap each way', () => {
    const h = new Harness(2 ** 32 - 100, 2 ** 32 - 100);
    h.openActive({ mss: 1000 });
    h.conn.write(bytes(5000));
    const out = h.take();
    expect(payloadTotal(out)).toBe(5000);
    expect(out.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4].map((i) => (2 ** 32 - 99 + i * 1000) % 2 ** 32));
    h.ack(5000);
    expect(h.conn.writableLength).toBe(0);
    for (let i = 0; i < 5; i++) h.data(i * 1000, bytes(1000, i * 1000), {}, 5000);
    expect(h.readAll()).toEqual(bytes(5000));
    h.advance(1000);
    expect(h.take().at(-1)!.ack).toBe((2 ** 32 - 99 + 5000) % 2 ** 32);
    // Out-of-order across the wrap, too.
    h.data(6000, bytes(1000), {}, 5000);
    h.data(5000, bytes(1000), {}, 5000);
    expect(h.conn.readableLength).toBe(2000);
  });
});
