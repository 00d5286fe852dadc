/**
 * Option negotiation: NegotiatedOptions alone (SYN offers, negotiation limits, PAWS and TS.Recent),
 * and through a connection (MSS, window scaling, PAWS drops).
 */
import { describe, expect, it } from 'vitest';
import { chooseWindowShift, NegotiatedOptions } from '../../../src/tcp/options.js';
import { INITIAL_RECEIVE_WINDOW } from '../../../src/tcp/receiver.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../src/tcp/types.js';
import { TCP_SYN, type TcpOptions } from '../../../src/wire/tcp.js';
import { HARNESS_TUPLE, TcpHarness, patternBytes, payloadTotal } from '../../support/tcp-harness.js';

describe('NegotiatedOptions', () => {
  const config = (overrides: Partial<TcpConfig> = {}): TcpConfig => ({ ...DEFAULT_TCP_CONFIG, ...overrides });
  /** The options of a peer's SYN, as negotiate() takes them. */
  const syn = (options: TcpOptions): TcpOptions => options;

  it('chooses the smallest window shift that describes the buffer (RFC 7323 2.3), at most 14', () => {
    expect([65535, 65536, 1 << 17, 1 << 20, 2 ** 31].map(chooseWindowShift)).toEqual([0, 1, 2, 5, 14]);
  });

  it('the first SYN offers what the configuration allows, with a zero echo', () => {
    const options = new NegotiatedOptions(config(), HARNESS_TUPLE.remoteAddress);
    options.offerWindowScale();
    expect(options.synOptions(false, 1234.7)).toEqual({
      mss: 1460,
      windowScale: 5,
      sackPermitted: true,
      timestamp: { value: 1234, echo: 0 },
    });
    const plain = new NegotiatedOptions(config({ windowScaling: false, sack: false, timestamps: false }), HARNESS_TUPLE.remoteAddress);
    plain.offerWindowScale();
    expect(plain.synOptions(false, 0)).toEqual({ mss: 1460 });
  });

  it('a peer that offers nothing leaves MSS 536 and no extensions; our SYN-ACK offers none', () => {
    const options = new NegotiatedOptions(config(), HARNESS_TUPLE.remoteAddress);
    options.negotiate(syn({}), 0);
    expect(options.synNegotiated).toBe(true);
    expect([options.peerMss, options.mssBase, options.smss]).toEqual([536, 536, 536]);
    expect([options.windowScaling, options.timestamps, options.sackPermitted]).toEqual([false, false, false]);
    expect([options.sndShift, options.rcvShift]).toEqual([0, 0]);
    expect(options.synOptions(true, 0)).toEqual({ mss: 1460 });
  });

  it('takes the peer offer within limits: shift capped at 14, MSS at least 64, timestamps cost 12 bytes', () => {
    const options = new NegotiatedOptions(config(), HARNESS_TUPLE.remoteAddress);
    options.negotiate(syn({ mss: 10, windowScale: 20, sackPermitted: true, timestamp: { value: 77, echo: 0 } }), 5);
    expect(options.peerMss).toBe(64);
    expect(options.smss).toBe(64 - 12);
    expect([options.sndShift, options.rcvShift]).toEqual([14, 5]);
    expect(options.sackPermitted).toBe(true);
    // The SYN-ACK echoes the peer's TSval.
    expect(options.synOptions(true, 9)).toEqual({ mss: 1460, windowScale: 5, sackPermitted: true, timestamp: { value: 9, echo: 77 } });
    const large = new NegotiatedOptions(config({ mss: 1200 }), HARNESS_TUPLE.remoteAddress);
    large.negotiate(syn({ mss: 9000 }), 0);
    expect([large.peerMss, large.mssBase, large.smss]).toEqual([9000, 1200, 1200]);
  });

  it('what the configuration turns off stays off whatever the peer offers', () => {
    const options = new NegotiatedOptions(config({ windowScaling: false, sack: false, timestamps: false }), HARNESS_TUPLE.remoteAddress);
    options.negotiate(syn({ mss: 1460, windowScale: 3, sackPermitted: true, timestamp: { value: 1, echo: 0 } }), 0);
    expect([options.windowScaling, options.timestamps, options.sackPermitted]).toEqual([false, false, false]);
    expect(options.sndShift).toBe(0);
    expect(options.smss).toBe(1460);
  });

  it('PAWS: a TSval older than TS.Recent is an old duplicate, modulo 2^32; after 24 idle days TS.Recent is forgotten', () => {
    const options = new NegotiatedOptions(config(), HARNESS_TUPLE.remoteAddress);
    options.negotiate(syn({ timestamp: { value: 0xfffffff0, echo: 0 } }), 0);
    expect(options.isOldDuplicate(0xffffffef, 10)).toBe(true);
    expect(options.isOldDuplicate(0xfffffff0, 10)).toBe(false);
    // 5 is newer than 0xfffffff0 across the wrap.
    expect(options.isOldDuplicate(5, 10)).toBe(false);
    const day = 24 * 60 * 60 * 1000;
    expect(options.isOldDuplicate(0xffffffef, 24 * day)).toBe(true);
    expect(options.isOldDuplicate(0xffffffef, 24 * day + 1)).toBe(false);
    // Forgotten: even a much older TSval is no longer judged.
    expect(options.isOldDuplicate(0x80000000, 24 * day + 2)).toBe(false);
  });

  it('TS.Recent follows newer TSvals of segments covering Last.ACK.sent only (RFC 7323 4.3)', () => {
    const options = new NegotiatedOptions(config(), HARNESS_TUPLE.remoteAddress);
    options.negotiate(syn({ timestamp: { value: 100, echo: 0 } }), 0);
    expect(options.timestampOption(50)).toEqual({ value: 50, echo: 100 });
    options.updateRecent(200, false, 1);
    expect(options.timestampOption(51).echo).toBe(100);
    options.updateRecent(200, true, 1);
    expect(options.timestampOption(52).echo).toBe(200);
    options.updateRecent(150, true, 2);
    expect(options.timestampOption(53).echo).toBe(200);
  });
});

describe('TCP receiving', () => {
  it('PAWS drops a segment with an old timestamp and ACKs it', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, timestamp: { value: 1000, echo: 0 } });
    h.data(0, patternBytes(100), { options: { timestamp: { value: 1005, echo: 0 } } });
    expect(h.conn.readableLength).toBe(100);
    h.data(100, patternBytes(100), { options: { timestamp: { value: 900, echo: 0 } } });
    expect(h.conn.readableLength).toBe(100);
    expect(h.counters.get('drop.paws')).toBe(1);
    const last = h.take().at(-1)!;
    expect(last.ack).toBe(h.peerSeq(100));
    // Our segments echo TS.Recent (the newest in-order TSval).
    expect(last.options.timestamp!.echo).toBe(1005);
  });
});

describe('TCP sending', () => {
  it('MSS negotiation and window scaling are applied; timestamps take 12 bytes per segment', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1000, windowScale: 2, timestamp: { value: 1, echo: 0 } }, 1000);
    expect(h.conn.maxSegmentSize).toEqual({ peer: 1000, send: 988 });
    // Our window field is scaled by the shift 5 of a 1 MiB buffer; the window starts at the
    // auto-tuning's initial 64 KiB: 64 KiB / 32.
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), ack: h.ourSeq(0), window: 1000, options: { timestamp: { value: 2, echo: 0 } } }));
    h.conn.write(patternBytes(10_000));
    const out = h.take();
    expect(out.every((s) => s.payload.length <= 988)).toBe(true);
    // Peer window 1000 << 2 = 4000 bytes: four full segments; the 48-byte rest waits (sender SWS
    // avoidance: not a full segment, not all queued data, less than half the peer's window).
    expect(out.map((s) => s.payload.length)).toEqual([988, 988, 988, 988]);
    expect(out[0]!.window).toBe(INITIAL_RECEIVE_WINDOW >> 5);
  });

  it('the SYN window is not scaled', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1000, windowScale: 7 }, 3000);
    h.conn.write(patternBytes(10_000));
    expect(payloadTotal(h.take())).toBe(3000);
  });
});

describe('TS.Recent is recorded only for a segment that passed every check (RFC 7323 4.3, 5.3)', () => {
  const ourEcho = (h: TcpHarness): number => {
    h.advance(1000); // past the rate limit: the next out-of-window segment is answered
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(9_000_000), ack: h.ourSeq(0) }));
    return h.take().at(-1)!.options.timestamp!.echo;
  };

  it('an out-of-window segment, an in-window SYN, and an ACK of unsent data leave it alone; an acceptable one moves it', () => {
    const h = new TcpHarness();
    h.openActive({ mss: 1460, timestamp: { value: 1000, echo: 0 } });
    expect(ourEcho(h)).toBe(1000);
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(5_000_000), ack: h.ourSeq(0), options: { timestamp: { value: 2_000_000, echo: 0 } } }));
    expect(h.counters.get('drop.out_of_window')).toBe(2); // ourEcho's probe, then this one
    expect(ourEcho(h)).toBe(1000);
    h.advance(1000);
    h.conn.handleSegment(h.seg({ seq: h.peerSeq(0), flags: TCP_SYN, options: { timestamp: { value: 3_000_000, echo: 0 } } }));
    expect(h.counters.get('challenge_acks')).toBe(1);
    expect(ourEcho(h)).toBe(1000);
    h.ack(5000, { options: { timestamp: { value: 4_000_000, echo: 0 } } });
    expect(h.counters.get('drop.ack_unsent')).toBe(1);
    expect(ourEcho(h)).toBe(1000);
    // A later genuine segment is not taken for an old duplicate, and it moves TS.Recent.
    h.data(0, patternBytes(10), { options: { timestamp: { value: 1001, echo: 0 } } });
    expect(h.conn.readableLength).toBe(10);
    expect(ourEcho(h)).toBe(1001);
  });
});
