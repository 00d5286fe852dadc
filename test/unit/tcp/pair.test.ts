/**
 * Two TcpConnections back to back through a simulated wire with loss, reordering, duplication
 * and delay (seeded PRNG, manual time): bulk data both ways at once must arrive
 * intact, and both ends must close cleanly.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import type { NetErrorCode } from '../../../src/errors.js';
import { ChallengeAckBudget } from '../../../src/tcp/ack-rate-limit.js';
import { TcpConnection } from '../../../src/tcp/connection.js';
import { TimeWaitTable } from '../../../src/tcp/time-wait.js';
import { silentLogger } from '../../../src/log.js';
import { TCP_SYN, type TcpSegment } from '../../../src/wire/tcp.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig, type TcpFourTuple } from '../../../src/tcp/types.js';
import { mulberry32 as prng } from '../../../src/random.js';
import { ManualTime } from '../../support/manual-time.js';

/** The payload handed to transmit is only valid during the call: the wire keeps a copy. */
function cloneSegment(s: TcpSegment): TcpSegment {
  return {
    ...s,
    options: {
      ...s.options,
      ...(s.options.timestamp ? { timestamp: { ...s.options.timestamp } } : {}),
      ...(s.options.sackBlocks ? { sackBlocks: s.options.sackBlocks.map((b) => ({ ...b })) } : {}),
    },
    payload: s.payload.slice(),
  };
}

interface WireImpairment {
  loss: number;
  duplicate: number;
  reorder: number;
  delayMs: number;
  reorderExtraMs: number;
}

interface Endpoint {
  conn: TcpConnection;
  releases: number;
  /** When the connection was released (CLOSED, or handed over as a TIME-WAIT record). */
  releasedAt: number;
  closedWith: Array<NetErrorCode | undefined>;
  sendData: Uint8Array;
  written: number;
  received: number;
  mismatches: number;
  eof: boolean;
  counters: Counters;
  /** What the TCP layer does for a released connection in TIME-WAIT: re-ACK a retransmitted FIN. */
  timeWait: TimeWaitTable;
}

/** The one four-tuple of each endpoint's TIME-WAIT table. */
const TIME_WAIT_KEY = 'pair';

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const rnd = prng(seed);
  for (let i = 0; i < length; i += 4) {
    const v = (rnd() * 4294967296) >>> 0;
    out[i] = v & 0xff;
    if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = v >>> 24;
  }
  return out;
}

function runPair(options: {
  bytesEachWay: number;
  impairment: WireImpairment;
  seed: number;
  config?: Partial<TcpConfig>;
  issA?: number;
  issB?: number;
}): { a: Endpoint; b: Endpoint; simulatedMs: number; delivered: number } {
  const time = new ManualTime();
  const { clock, timers } = time;
  const rnd = prng(options.seed);
  const config: TcpConfig = { ...DEFAULT_TCP_CONFIG, ...options.config };
  const tupleA: TcpFourTuple = { localAddress: 0x0a000001, localPort: 40000, remoteAddress: 0x0a000002, remotePort: 80 };
  const tupleB: TcpFourTuple = { localAddress: 0x0a000002, localPort: 80, remoteAddress: 0x0a000001, remotePort: 40000 };
  let delivered = 0;
  const imp = options.impairment;

  const endpoints: Endpoint[] = [];
  const peerOf = (index: number): Endpoint => endpoints[1 - index]!;

  function wireSend(fromIndex: number, segment: TcpSegment): void {
    if (rnd() < imp.loss) return;
    const copies = rnd() < imp.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const copy = cloneSegment(segment);
      let delay = imp.delayMs;
      if (rnd() < imp.reorder) delay += rnd() * imp.reorderExtraMs;
      timers.schedule(clock.now() + delay, () => {
        const target = peerOf(fromIndex);
        delivered++;
        if (target.releases > 0) {
          const record = target.timeWait.get(TIME_WAIT_KEY);
          if (record !== undefined) target.timeWait.handleSegment(TIME_WAIT_KEY, record, copy);
          return;
        }
        target.conn.handleSegment(copy);
      });
    }
  }

  function makeEndpoint(index: number, tuple: TcpFourTuple, iss: number, dataSeed: number): Endpoint {
    const counters = new Counters('tcp');
    const endpoint: Endpoint = {
      conn: undefined as unknown as TcpConnection,
      releases: 0,
      releasedAt: Number.NaN,
      closedWith: [],
      sendData: pattern(options.bytesEachWay, dataSeed),
      written: 0,
      received: 0,
      mismatches: 0,
      eof: false,
      counters,
      timeWait: new TimeWaitTable(config, {
        now: () => clock.now(),
        timers,
        counters,
        logger: silentLogger,
        transmit: (_tuple, segment) => wireSend(index, segment),
      }),
    };
    endpoint.conn = new TcpConnection(tuple, iss, config, {
      now: () => clock.now(),
      timers,
      transmit: (segment) => wireSend(index, segment),
      counters,
      challengeAcks: new ChallengeAckBudget(() => 0.5),
      release: (timeWait) => {
        endpoint.releases++;
        endpoint.releasedAt = clock.now();
        if (timeWait !== undefined) endpoint.timeWait.enter(TIME_WAIT_KEY, tuple, timeWait);
      },
    });
    return endpoint;
  }

  const a = makeEndpoint(0, tupleA, options.issA ?? 0x12345678, 1);
  const b = makeEndpoint(1, tupleB, options.issB ?? 0x9abcdef0, 2);
  endpoints.push(a, b);

  const readBuffer = new Uint8Array(64 * 1024);
  function pump(self: Endpoint): void {
    const conn = self.conn;
    while (self.written < self.sendData.length) {
      const n = conn.write(self.sendData.subarray(self.written, Math.min(self.sendData.length, self.written + 64 * 1024)));
      if (n === 0) return;
      self.written += n;
    }
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') conn.shutdownWrite();
    if (self.eof && conn.state !== 'CLOSED') conn.close();
  }
  function drain(self: Endpoint, expected: Uint8Array): void {
    const conn = self.conn;
    for (;;) {
      const n = conn.read(readBuffer);
      if (n === 0) break;
      const want = expected.subarray(self.received, self.received + n);
      if (want.length !== n || !Buffer.from(readBuffer.buffer, 0, n).equals(Buffer.from(want.buffer, want.byteOffset, want.length))) {
        self.mismatches++;
      }
      self.received += n;
    }
    if (conn.receivedFin && conn.readableLength === 0 && !self.eof) {
      self.eof = true;
      // The application has read everything: close once everything is written (our FIN may
      // already be queued).
      if (self.written === self.sendData.length) conn.close();
    }
  }

  for (const [self, other] of [
    [a, b],
    [b, a],
  ] as const) {
    self.conn.events = {
      onEstablished: () => pump(self),
      onWritable: () => pump(self),
      onReadable: () => drain(self, other.sendData),
      onClosed: (error) => self.closedWith.push(error),
    };
  }

  // Passive side: the "stack" hands B the first SYN that reaches it.
  const originalHandle = b.conn.handleSegment.bind(b.conn);
  let bOpened = false;
  b.conn.handleSegment = (segment: TcpSegment): void => {
    if (!bOpened) {
      if (segment.flags === TCP_SYN) {
        bOpened = true;
        b.conn.acceptSyn(segment);
      }
      return;
    }
    originalHandle(segment);
  };

  a.conn.openActive();
  const limitMs = 10 * 60 * 1000;
  for (;;) {
    const next = timers.nextDeadline();
    if (next === undefined) break;
    if (next > limitMs) break;
    time.advanceTo(Math.max(next, clock.now()));
  }
  return { a, b, simulatedMs: clock.now(), delivered };
}

describe('TCP connection pair over an impaired wire', () => {
  it('moves 10 MB each way at once with loss, reordering and duplication, then both close cleanly', () => {
    const started = performance.now();
    const size = 10 * 1024 * 1024;
    const { a, b } = runPair({
      bytesEachWay: size,
      seed: 42,
      impairment: { loss: 0.05, duplicate: 0.02, reorder: 0.05, delayMs: 1, reorderExtraMs: 3 },
    });
    const elapsed = performance.now() - started;
    expect(a.written).toBe(size);
    expect(b.written).toBe(size);
    expect(a.received).toBe(size);
    expect(b.received).toBe(size);
    expect(a.mismatches).toBe(0);
    expect(b.mismatches).toBe(0);
    expect(a.eof && b.eof).toBe(true);
    // Released either way; a side that closed first hands its TIME-WAIT to the layer as a record.
    expect(['CLOSED', 'TIME-WAIT']).toContain(a.conn.state);
    expect(['CLOSED', 'TIME-WAIT']).toContain(b.conn.state);
    expect(a.releases).toBe(1);
    expect(b.releases).toBe(1);
    expect(a.closedWith).toEqual([undefined]);
    expect(b.closedWith).toEqual([undefined]);
    // Loss happened and was repaired.
    expect(a.counters.get('retransmissions') + b.counters.get('retransmissions')).toBeGreaterThan(0);
    expect(elapsed).toBeLessThan(20_000);
  }, 30_000);

  it('survives sequence wraparound with both ISS near 2^32 and no options', () => {
    const size = 256 * 1024;
    const { a, b } = runPair({
      bytesEachWay: size,
      seed: 7,
      issA: 2 ** 32 - 100,
      issB: 2 ** 32 - 5000,
      config: { windowScaling: false, timestamps: false, sack: false, receiveBufferSize: 32 * 1024 },
      impairment: { loss: 0.03, duplicate: 0.01, reorder: 0.05, delayMs: 2, reorderExtraMs: 4 },
    });
    expect(a.received).toBe(size);
    expect(b.received).toBe(size);
    expect(a.mismatches + b.mismatches).toBe(0);
    // Released either way; a side that closed first hands its TIME-WAIT to the layer as a record.
    expect(['CLOSED', 'TIME-WAIT']).toContain(a.conn.state);
    expect(['CLOSED', 'TIME-WAIT']).toContain(b.conn.state);
    expect(a.releases).toBe(1);
    expect(b.releases).toBe(1);
  });

  it('on a clean wire with ~0 delay opens cwnd well past the initial window', () => {
    const size = 4 * 1024 * 1024;
    const { a, b } = runPair({
      bytesEachWay: size,
      seed: 3,
      impairment: { loss: 0, duplicate: 0, reorder: 0, delayMs: 0.05, reorderExtraMs: 0 },
    });
    expect(a.received).toBe(size);
    expect(b.received).toBe(size);
    expect(a.counters.get('retransmissions')).toBe(0);
    // 4 MB at 0.1 ms RTT: if cwnd stayed at IW (~14 KB) this would take ~30 ms of simulated time
    // before the closing handshake; both connections are released by then (the TIME-WAIT record
    // that outlives one of them is not part of the transfer).
    expect(Math.max(a.releasedAt, b.releasedAt)).toBeLessThan(30);
  });
});
