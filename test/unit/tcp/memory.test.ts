/**
 * Memory that is bounded and earned: buffers that hold nothing until used and give it back when
 * drained, the stack-wide budget and connection cap (TcpMemory), receive-window auto-tuning, and
 * the caps on out-of-order and SACK scoreboard ranges against a hostile peer.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import { Counters } from '../../../src/counters.js';
import { ByteRing } from '../../../src/tcp/byte-ring.js';
import { INITIAL_BUFFER_ALLOCATION, ReceiveBuffer } from '../../../src/tcp/receive-buffer.js';
import { INITIAL_RECEIVE_WINDOW } from '../../../src/tcp/receiver.js';
import { MAX_SACK_SCOREBOARD_RANGES, SACK_BLOCK_OVER_RANGE_LIMIT, SackScoreboard } from '../../../src/tcp/sack-scoreboard.js';
import { SendBuffer } from '../../../src/tcp/send-buffer.js';
import { seqDiff } from '../../../src/tcp/seq.js';
import { TCP_ACK, TCP_FIN } from '../../../src/wire/tcp.js';
import { IDLE_BUFFER_RELEASE_MS, TcpMemory } from '../../../src/tcp/tcp-memory.js';
import { TransmitRecords } from '../../../src/tcp/transmit-records.js';
import { memoryLinkPair } from '../../../src/link/link.js';
import { Stack } from '../../../src/stack.js';
import { expectCode } from '../../support/stack-pair.js';
import { ManualTime } from '../../support/manual-time.js';
import { TcpHarness, patternBytes } from '../../support/tcp-harness.js';

describe('buffers that start empty, grow with use and shrink when drained', () => {
  it('a send buffer holds no storage until written, grows to what is held, and gives small use back', () => {
    const time = new ManualTime();
    const counters = new Counters('tcp');
    const memory = new TcpMemory(1 << 24, 10, counters, time);
    const b = new SendBuffer(1 << 20, memory);
    expect(b.allocated).toBe(0);
    b.write(patternBytes(100));
    expect(b.allocated).toBe(INITIAL_BUFFER_ALLOCATION);
    b.releaseTo(100);
    expect(b.allocated).toBe(0);
    // A bulk write grows it by doubling; draining after heavy use keeps the storage for the stream.
    expect(b.write(patternBytes(300_000, 100))).toBe(300_000);
    expect(b.allocated).toBe(512 * 1024);
    b.releaseTo(300_100);
    expect(b.allocated).toBe(512 * 1024);
    // The stream goes on with small round trips, each drained; the sweep a second after the
    // transfer still sees the transfer's peak in this period and keeps the storage...
    let offset = 300_100;
    const roundTrip = (): void => {
      b.write(patternBytes(50, offset));
      expect(b.view(offset, 50)).toEqual(patternBytes(50, offset));
      offset += 50;
      b.releaseTo(offset);
    };
    for (let i = 0; i < 9; i++) {
      time.advance(100);
      roundTrip();
    }
    time.advance(100);
    expect(b.allocated).toBe(512 * 1024);
    // ...and the next sweep, after a period of 50-byte drains only, gives it back.
    for (let i = 0; i < 10; i++) {
      time.advance(100);
      roundTrip();
    }
    time.advance(100);
    expect(b.allocated).toBe(0);
    expect(memory.reserved).toBe(0);
    expect(counters.get('buffers_released_little_used')).toBe(1);
    expect(counters.get('buffers_released_idle')).toBe(0);
    // Small use from then on costs the first allocation only, given back at each drain.
    roundTrip();
    expect(b.allocated).toBe(0);
  });

  it('a receive buffer gives its storage back when read empty, not while out-of-order data is held', () => {
    const r = new ReceiveBuffer(1 << 20, 1 << 20);
    expect(r.allocated).toBe(0);
    r.insert(0, patternBytes(1000));
    r.insert(2000, patternBytes(1000, 2000));
    r.read(new Uint8Array(1000));
    expect(r.allocated).toBeGreaterThan(0);
    r.insert(1000, patternBytes(1000, 1000));
    const out = new Uint8Array(2000);
    expect(r.read(out)).toBe(2000);
    expect(out).toEqual(patternBytes(2000, 1000));
    expect(r.allocated).toBe(0);
  });

  it('transmit records hold no arrays while nothing is in flight', () => {
    const records = new TransmitRecords();
    for (let i = 0; i < 40; i++) records.append(i * 100, (i + 1) * 100, i);
    expect(records.count).toBe(40);
    expect(records.end(39)).toBe(4000);
    records.acknowledge(4000);
    expect(records.count).toBe(0);
    expect(records.endOffset).toBe(Number.NEGATIVE_INFINITY);
    records.append(4000, 4100, 50);
    expect([records.start(0), records.end(0), records.sendTime(0)]).toEqual([4000, 4100, 50]);
  });
});

/** The peer acknowledges everything the connection sends, round by round, until nothing is left to send. */
function ackAllSent(h: TcpHarness, peerOffset: number): void {
  for (let round = 0; round < 1000 && h.conn.writableLength > 0; round++) {
    const end = Math.max(...h.take().map((s) => seqDiff(s.seq, h.ourSeq(0)) + s.payload.length));
    h.ack(end, {}, peerOffset);
  }
}

describe('buffers that shrink when idle (one deadline in TcpMemory, no timer per connection)', () => {
  it('a drained ring kept for a busy stream goes back after IDLE_BUFFER_RELEASE_MS without a byte', () => {
    const time = new ManualTime();
    const counters = new Counters('tcp');
    const memory = new TcpMemory(1 << 24, 10, counters, time);
    const send = new SendBuffer(1 << 20, memory);
    send.write(patternBytes(300_000));
    send.releaseTo(300_000);
    expect(send.allocated).toBe(512 * 1024);
    expect(memory.idleRingCount).toBe(1);
    expect(time.timers.size).toBe(1);
    // A write before the deadline: busy again, nothing given back.
    time.advance(600);
    send.write(patternBytes(200_000, 300_000));
    expect(memory.idleRingCount).toBe(0);
    time.advance(IDLE_BUFFER_RELEASE_MS);
    expect(send.allocated).toBe(512 * 1024);
    // Drained again: idle from now on.
    send.releaseTo(500_000);
    time.advance(IDLE_BUFFER_RELEASE_MS - 1);
    expect(send.allocated).toBe(512 * 1024);
    time.advance(1);
    expect(send.allocated).toBe(0);
    expect(memory.reserved).toBe(0);
    expect(memory.idleRingCount).toBe(0);
    expect(time.timers.size).toBe(0);
    expect(counters.get('buffers_released_idle')).toBe(1);
    // It grows again on demand.
    expect(send.write(patternBytes(100, 500_000))).toBe(100);
    expect(send.view(500_000, 100)).toEqual(patternBytes(100, 500_000));
  });

  it('an established connection gives back the send and receive storage a transfer grew once it is idle', () => {
    const h = new TcpHarness(1, 2);
    h.openPassive({ mss: 1460, windowScale: 7 }, 65535);
    // The peer sends 48 KB, read at the end: the receive ring grows to 64 KiB and stays (used in full).
    for (let offset = 0; offset < 48_000; offset += 1200) h.data(offset, patternBytes(1200, offset));
    expect(h.readAll()).toEqual(patternBytes(48_000));
    // We send 200 KB, acknowledged as it goes: the send ring grows to 256 KiB and stays.
    expect(h.conn.write(patternBytes(200_000))).toBe(200_000);
    ackAllSent(h, 48_000);
    expect(h.conn.writableLength).toBe(0);
    const grown = h.memory.reserved;
    expect(grown).toBeGreaterThanOrEqual(256 * 1024 + 64 * 1024);
    expect(h.memory.idleRingCount).toBe(2);
    h.advance(IDLE_BUFFER_RELEASE_MS);
    expect(h.memory.reserved).toBe(0);
    expect(h.counters.get('buffers_released_idle')).toBe(2);
    expect(h.conn.state).toBe('ESTABLISHED');
    // Still a working connection.
    h.data(48_000, patternBytes(500, 48_000), {}, 200_000);
    expect(h.readAll()).toEqual(patternBytes(500, 48_000));
  });

  it('a connection that reaches TIME-WAIT leaves the budget (its storage kept for a busy stream no longer counts)', () => {
    const h = new TcpHarness(1, 2);
    h.openPassive({ mss: 1460, windowScale: 7 }, 65535);
    expect(h.conn.write(patternBytes(200_000))).toBe(200_000);
    ackAllSent(h, 0);
    expect(h.memory.reserved).toBeGreaterThan(0);
    // We close first; the peer ACKs our FIN and sends its own: TIME-WAIT, the TCB released.
    h.conn.close();
    h.take();
    h.ack(200_001);
    h.data(0, new Uint8Array(0), { flags: TCP_ACK | TCP_FIN }, 200_001);
    expect(h.releases).toBe(1);
    expect(h.memory.reserved).toBe(0);
    expect(h.memory.idleRingCount).toBe(0);
  });
});

describe('TcpMemory: the stack-wide budget and connection cap', () => {
  it('refuses growth past the budget and counts it; a forced first allocation always passes', () => {
    const counters = new Counters('tcp');
    const memory = new TcpMemory(10_000, 2, counters, new ManualTime());
    expect(memory.reserve(8000, false)).toBe(true);
    expect(memory.reserve(4000, false)).toBe(false);
    expect(memory.reserved).toBe(8000);
    expect(counters.get('memory_budget_refusals')).toBe(1);
    expect(memory.reserve(4000, true)).toBe(true);
    expect(memory.available()).toBe(0);
    memory.free(12_000);
    expect(memory.reserved).toBe(0);
    memory.addConnection();
    expect(memory.atConnectionLimit).toBe(false);
    memory.addConnection();
    expect(memory.atConnectionLimit).toBe(true);
    memory.removeConnection();
    expect(memory.connections).toBe(1);
  });

  it('over the budget a send buffer takes only what its storage holds, a receive buffer drops as out of memory', () => {
    const memory = new TcpMemory(INITIAL_BUFFER_ALLOCATION, 10, new Counters('tcp'), new ManualTime());
    const send = new SendBuffer(1 << 20, memory);
    expect(send.write(patternBytes(10_000))).toBe(INITIAL_BUFFER_ALLOCATION);
    const receive = new ReceiveBuffer(1 << 20, 1 << 20, 256, memory);
    // Its first allocation is guaranteed; growing past it is not.
    expect(receive.insert(0, patternBytes(1000))).toBe('in-order');
    expect(receive.insert(1000, patternBytes(INITIAL_BUFFER_ALLOCATION, 1000))).toBe('out-of-memory');
    expect(receive.inOrderEnd).toBe(1000);
    expect(memory.reserved).toBe(2 * INITIAL_BUFFER_ALLOCATION);
    send.detachFromBudget();
    receive.detachFromBudget();
    expect(memory.reserved).toBe(0);
  });

  it('a ring only grows within its budget', () => {
    const memory = new TcpMemory(16, 1, new Counters('tcp'), new ManualTime());
    const ring = new ByteRing(1024, 8, memory);
    expect(ring.reserve(16)).toBe(true);
    expect(ring.reserve(32)).toBe(false);
    expect(ring.allocated).toBe(16);
    ring.release();
    expect(memory.reserved).toBe(0);
  });

  it('at tcp.maxConnections dial fails with ENOBUFS and a listener drops SYNs, counted', async () => {
    const [linkA, linkB] = memoryLinkPair(1500);
    const a = new Stack({ link: linkA, address: '10.0.0.1', tcp: { maxConnections: 2 } });
    const b = new Stack({ link: linkB, address: '10.0.0.2', tcp: { maxConnections: 1 } });
    try {
      const listener = await listen('tcp', ':9', { stack: b });
      await dial('tcp', '10.0.0.2:9', { stack: a });
      await listener.accept();
      // B holds its one connection: A's next SYN is dropped there, and the dial times out.
      await expectCode(dial('tcp', '10.0.0.2:9', { stack: a, timeout: 300 }), 'ETIMEDOUT');
      expect(b.tcp.counters.get('drop.connection_limit')).toBeGreaterThanOrEqual(1);
      // B cannot dial out either.
      await expectCode(dial('tcp', '10.0.0.1:9', { stack: b }), 'ENOBUFS');
      expect(b.tcp.counters.get('dials_over_connection_limit')).toBe(1);
      listener.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('receive-window auto-tuning', () => {
  /** The window we advertise now, in bytes (our shift is 5 for a 1 MiB buffer). */
  const advertised = (h: TcpHarness): number => h.take().at(-1)!.window * 32;

  /** The peer sends `window` bytes from stream offset `offset` in full-sized segments; returns the new offset. */
  const fillWindow = (h: TcpHarness, offset: number, window: number): number => {
    const end = offset + window;
    while (offset < end) {
      const length = Math.min(1460, end - offset);
      h.data(offset, patternBytes(length, offset));
      offset += length;
    }
    return offset;
  };

  it('grows the window under a steady reader, up to the buffer, never moving its right edge left', () => {
    const h = new TcpHarness(1, 2);
    h.openPassive({ mss: 1460, windowScale: 7 });
    let offset = 0;
    let window = INITIAL_RECEIVE_WINDOW;
    let rightEdge = 0;
    for (let round = 0; round < 30; round++) {
      // The peer fills the window it was offered; the application reads everything each RTT.
      offset = fillWindow(h, offset, window);
      h.readAll();
      h.advance(10);
      h.ack(0, {}, offset);
      window = advertised(h);
      expect(offset + window).toBeGreaterThanOrEqual(rightEdge);
      rightEdge = offset + window;
    }
    expect(window).toBe(1 << 20);
    expect(h.counters.get('receive_window_grown')).toBeGreaterThan(0);
  });

  it('grows the window for a receiver whose only RTT sample is shorter than a turn of its window, reading in small pieces', () => {
    // The handshake completes at one instant: the connection's smoothed RTT is 0, the extreme of
    // a receiver that sends no data on a fast path. Its own round trip (the window filled after
    // each advertisement) must pace auto-tuning instead: measured per read, the window would stay
    // at twice one read.
    const h = new TcpHarness(1, 2);
    h.openPassive({ mss: 1460, windowScale: 7 });
    const piece = new Uint8Array(8 * 1024);
    let offset = 0;
    let window = INITIAL_RECEIVE_WINDOW;
    let largest = 0;
    for (let round = 0; round < 30; round++) {
      // The peer fills the window it knows of; the application reads 8 KiB at a time.
      offset = fillWindow(h, offset, window);
      while (h.conn.readableLength > 0) {
        h.conn.read(piece);
        h.advance(0.1);
      }
      h.advance(1);
      h.ack(0, {}, offset);
      const sent = h.take();
      window = sent.at(-1)!.window * 32;
      for (const segment of sent) largest = Math.max(largest, segment.window * 32);
    }
    // Nearly the whole buffer offered at times (less what was unread then); paced per read, the
    // offers stayed under 64 KiB.
    expect(largest).toBeGreaterThanOrEqual(0.9 * (1 << 20));
    expect(h.counters.get('receive_window_grown')).toBeGreaterThan(0);
  });

  it('keeps the initial window for a reader that does not read', () => {
    const h = new TcpHarness(1, 2);
    h.openPassive({ mss: 1460, windowScale: 7 });
    let offset = 0;
    let largest = 0;
    for (let round = 0; round < 10; round++) {
      h.data(offset, patternBytes(1000, offset));
      offset += 1000;
      h.advance(10);
      for (const s of h.take()) largest = Math.max(largest, offset + s.window * 32);
    }
    // (Within the rounding of the scaled window field.)
    expect(largest).toBeLessThanOrEqual(INITIAL_RECEIVE_WINDOW + 128);
    expect(h.counters.get('receive_window_grown')).toBe(0);
  });
});

describe('bounded ranges against a hostile peer', () => {
  it('10^5 disjoint one-byte segments hold at most maxRanges ranges; the rest are dropped and counted', () => {
    const h = new TcpHarness(1, 2, { maxOutOfOrderRanges: 64, receiveBufferSize: 1 << 20 });
    h.openPassive({ mss: 1460, windowScale: 7, sackPermitted: true });
    // The window is 64 KiB at first: every other byte of it, then again, 10^5 segments in all.
    const segments = 100_000;
    for (let i = 0; i < segments; i++) h.data(2 + ((2 * i) % 60_000), Uint8Array.of(i & 0xff));
    expect(h.counters.get('drop.ooo_range_limit')).toBe(segments - 64 * Math.ceil(segments / 30_000));
    // Every ACK carries at most the SACK blocks that fit, from the short most-recent list.
    const acks = h.take();
    expect(acks.length).toBe(segments);
    expect(acks.every((s) => (s.options.sackBlocks?.length ?? 0) <= 4)).toBe(true);
    // Filling the hole at 0..2 makes the first range readable; nothing was lost in bookkeeping.
    h.data(0, patternBytes(2));
    expect(h.conn.readableLength).toBe(3);
  });

  it('a receive buffer at its range cap still merges into held ranges', () => {
    const r = new ReceiveBuffer(1 << 20, 1 << 20, 4);
    for (let i = 1; i <= 4; i++) expect(r.insert(i * 10, Uint8Array.of(i))).toBe('out-of-order');
    expect(r.insert(100, Uint8Array.of(9))).toBe('range-limit');
    expect(r.insert(11, Uint8Array.of(1))).toBe('out-of-order');
    expect(r.outOfOrderRanges()).toEqual([
      { start: 10, end: 12 },
      { start: 20, end: 21 },
      { start: 30, end: 31 },
      { start: 40, end: 41 },
    ]);
    expect(r.sackRanges(2)).toEqual([
      { start: 10, end: 12 },
      { start: 40, end: 41 },
    ]);
  });

  it('10^5 disjoint SACK blocks leave at most MAX_SACK_SCOREBOARD_RANGES ranges', () => {
    const scoreboard = new SackScoreboard();
    let refused = 0;
    for (let i = 0; i < 100_000; i++) {
      const left = 1 + 2 * ((i * 7919) % 200_000);
      if (scoreboard.addBlock(left, left + 1, 0, 1_000_000) === SACK_BLOCK_OVER_RANGE_LIMIT) refused++;
    }
    expect(scoreboard.sackedRanges().length).toBe(MAX_SACK_SCOREBOARD_RANGES);
    expect(refused).toBe(100_000 - MAX_SACK_SCOREBOARD_RANGES);
    // A block touching a held range still merges at the cap.
    const [first] = scoreboard.sackedRanges();
    expect(scoreboard.addBlock(first!.end, first!.end + 1, 0, 1_000_000)).toBe(1);
  });
});
