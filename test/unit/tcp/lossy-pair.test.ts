/**
 * Two stacks in memory through the fault-injecting link (src/link/impair.ts) at 10%, 20% and 30%
 * loss, with reordering and duplication, on manual time: bulk data both ways at once through the
 * public API must arrive intact (over IPv4; over IPv6 at 10% loss, through the TCP layer until
 * the API dials IPv6), and the retransmission timeouts per 1000 segments sent (the TCP
 * counters `timeouts` and `segments_sent` of both stacks) are reported and bounded. An RTO is the
 * expensive way out of a loss; the new recovery (SACK, RACK-TLP, PRR) should need few.
 *
 * Time: both stacks run on one FakeClock with manual timers. The driver below lets packets flow
 * (the memory link delivers on setImmediate) until nothing moves, then moves the clock to the next
 * deadline of either stack, so a run costs CPU time only, however many RTOs it waits for, and
 * repeats the same decisions for the same seed. The one real timer is the impair link's hold on a
 * packet picked for reordering (REORDER_HOLD_MS): when the stacks are idle while it holds one, the
 * driver waits for it in real time instead of moving the clock.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../../src/api/net.js';
import type { TcpConn } from '../../../src/api/tcp.js';
import { FakeClock } from '../../../src/clock.js';
import { impairLink, REORDER_HOLD_MS } from '../../../src/link/impair.js';
import { memoryLinkPair, type Link } from '../../../src/link/link.js';
import { mulberry32 } from '../../../src/random.js';
import { Stack } from '../../../src/stack.js';
import type { TcpConnection } from '../../../src/tcp/connection.js';
import { parseIPv6Address } from '../../../src/wire/address6.js';
import { ManualTime } from '../../support/manual-time.js';

/** Bytes written each way at once (1 MB = 10^6 bytes). */
const BYTES_EACH_WAY = 10_000_000;

interface LossRun {
  /** Probability that a packet is lost, in each direction. */
  loss: number;
  /** Bound on RTOs per 1000 segments sent (both stacks together). */
  maxRtosPer1000Segments: number;
}

/**
 * Bounds with a margin over the measured 0.1, 9 and 36 (the reorder hold runs on real time, so
 * runs vary a little). Before SACK recovery, RACK-TLP and PRR the same runs gave 9.3 RTOs per 1000
 * segments at 10% and 51.4 at 20%, and 30% did not finish within an hour of stack time.
 */
const RUNS: readonly LossRun[] = [
  { loss: 0.1, maxRtosPer1000Segments: 5 },
  { loss: 0.2, maxRtosPer1000Segments: 15 },
  { loss: 0.3, maxRtosPer1000Segments: 60 },
];

/** Reordering and duplication on top of the loss, in each direction. */
const REORDER = 0.05;
const DUPLICATE = 0.02;

/** Bounds on one run: stack time, real time, and the driver's steps. */
const MAX_SIMULATED_MS = 6 * 3_600_000;
const MAX_WALL_MS = 240_000;
const MAX_STEPS = 10_000_000;

/** A link that counts the packets passing through it, each way. */
function counting(link: Link): Link & { sent: number; received: number } {
  const counted = {
    sent: 0,
    received: 0,
    get mtu() {
      return link.mtu;
    },
    setReceiver(receiver: (packets: readonly Uint8Array[]) => void) {
      link.setReceiver((packets) => {
        counted.received += packets.length;
        receiver(packets);
      });
    },
    send(packet: Uint8Array) {
      counted.sent++;
      link.send(packet);
    },
    close: () => link.close(),
  };
  return counted;
}

function randomData(size: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = Math.floor(random() * 256);
  return data;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What the transfer uses of a connection: the API's TcpConn, or a LayerConn. */
type Conn = Pick<TcpConn, 'write' | 'read' | 'closeWrite' | 'close'>;

/**
 * A TCP layer connection with the calls the transfer makes, for IPv6 until the API dials it
 * (issue 11): waits on the connection's events where the API's TcpConn would.
 */
class LayerConn implements Conn {
  private waiters: Array<() => void> = [];

  constructor(private readonly connection: TcpConnection) {
    const wake = () => {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    };
    connection.events = { ...connection.events, onEstablished: wake, onReadable: wake, onWritable: wake, onClosed: wake };
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async established(): Promise<this> {
    while (this.connection.state === 'SYN-SENT' || this.connection.state === 'SYN-RECEIVED') await this.changed();
    if (this.connection.state !== 'ESTABLISHED') throw new Error(`connection ${this.connection.state}`);
    return this;
  }

  async write(data: Uint8Array): Promise<number> {
    for (let at = 0; at < data.length;) {
      if (this.connection.state === 'CLOSED') throw new Error('connection closed while writing');
      at += this.connection.write(data.subarray(at));
      if (at < data.length) await this.changed();
    }
    return data.length;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.connection.readableLength > 0) return this.connection.read(buffer);
      if (this.connection.receivedFin || this.connection.state === 'CLOSED') return null;
      await this.changed();
    }
  }

  closeWrite(): void {
    this.connection.shutdownWrite();
  }

  close(): void {
    this.connection.close();
  }
}

/**
 * Connect A to B's port 7 and return both ends: through the API over IPv4, through the TCP layer
 * (a listener endpoint of our own) over IPv6.
 */
async function connectPair(a: Stack, b: Stack, family: 4 | 6): Promise<{ client: Conn; server: Conn; close: () => void }> {
  if (family === 4) {
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:7', { stack: a, timeout: 600_000 });
    return { client, server: await accepting, close: () => listener.close() };
  }
  let accepted: (connection: TcpConnection) => void = () => {};
  const accepting = new Promise<TcpConnection>((resolve) => (accepted = resolve));
  const endpoint = { acceptQueueRoom: 1, maxHalfOpen: 1, enqueue: (connection: TcpConnection) => accepted(connection) };
  b.tcp.listen(7, endpoint);
  const connection = a.tcp.connect(b.address6!, 7);
  const client = new LayerConn(connection);
  const server = new LayerConn(await accepting);
  await client.established();
  // RFC 8200 8.3: MTU 1500 less 60 bytes of IPv6 and TCP headers.
  expect(connection.maxSegmentSize.peer).toBe(1440);
  return { client, server, close: () => b.tcp.unlisten(7, endpoint) };
}

async function writeAllThenClose(conn: Conn, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 65536) await conn.write(data.subarray(offset, offset + 65536));
  conn.closeWrite();
}

async function readAll(conn: Conn, expected: number): Promise<Uint8Array> {
  const received = new Uint8Array(expected);
  let have = 0;
  const buffer = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return received.subarray(0, have);
    if (have + n > expected) throw new Error(`read ${have + n} bytes, ${expected} were sent`);
    received.set(buffer.subarray(0, n), have);
    have += n;
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface RunResult {
  simulatedMs: number;
  wallMs: number;
  timeouts: number;
  segmentsSent: number;
  retransmissions: number;
  impair: { dropped: number; duplicated: number; reordered: number };
}

/**
 * Drive both stacks until `work` settles: let packets flow until three event-loop turns pass with
 * no packet moved and no byte read; then wait for a packet held for reordering (real time), or
 * move the shared clock to the earliest deadline of either stack.
 */
async function drive(
  a: Stack,
  b: Stack,
  links: { outer: ReturnType<typeof counting>; inner: ReturnType<typeof counting>; dropped(): number; duplicated(): number },
  work: Promise<unknown>,
  progress: () => number,
): Promise<void> {
  let settled = false;
  const settle = () => (settled = true);
  work.then(settle, settle);
  const timeA = ManualTime.of(a);
  const timeB = ManualTime.of(b);
  const wallStart = performance.now();
  const activity = () =>
    links.outer.sent +
    links.outer.received +
    links.inner.sent +
    links.inner.received +
    progress() +
    a.counters('tcp').get('segments_received');
  let quietTurns = 0;
  let last = activity();
  for (let step = 0; !settled; step++) {
    if (step > MAX_STEPS) throw new Error(`not done after ${MAX_STEPS} driver steps`);
    if (performance.now() - wallStart > MAX_WALL_MS) throw new Error(`not done within ${MAX_WALL_MS} ms of real time`);
    if (timeA.now() > MAX_SIMULATED_MS) throw new Error(`not done within ${MAX_SIMULATED_MS} ms of stack time`);
    await nextTurn();
    const now = activity();
    if (now !== last) {
      last = now;
      quietTurns = 0;
      continue;
    }
    if (++quietTurns < 3) continue;
    quietTurns = 0;
    // Packets in the impair link = what went in (both ways) - dropped + duplicated - what came out.
    const held = links.outer.sent + links.inner.received - links.dropped() + links.duplicated() - links.inner.sent - links.outer.received;
    if (held > 0) {
      await realSleep(REORDER_HOLD_MS + 2);
      continue;
    }
    const deadlines = [a.timers.nextDeadline(), b.timers.nextDeadline()].filter((d): d is number => d !== undefined);
    if (deadlines.length === 0) throw new Error('stalled: nothing in flight and no timer pending');
    const next = Math.max(timeA.now(), Math.min(...deadlines));
    timeA.advanceTo(next);
    timeB.runDue();
  }
  await work; // rethrows its failure
}

async function runLossyPair(loss: number, bytesEachWay: number, seed: number, family: 4 | 6 = 4): Promise<RunResult> {
  const clock = new FakeClock(0);
  const [linkA, linkB] = memoryLinkPair(1500);
  const inner = counting(linkA);
  const impaired = impairLink(inner, { loss, dup: DUPLICATE, reorder: REORDER, corrupt: 0, delayMs: 0, seed });
  const outer = counting(impaired);
  const common = { clock, manualTimers: true };
  const a = new Stack({ link: outer, address: '10.0.0.1', address6: parseIPv6Address('fd00::1'), ...common });
  const b = new Stack({ link: linkB, address: '10.0.0.2', address6: parseIPv6Address('fd00::2'), ...common });
  const links = {
    outer,
    inner,
    dropped: () => impaired.stats().dropped,
    duplicated: () => impaired.stats().duplicated,
  };
  const up = randomData(bytesEachWay, seed + 1);
  const down = randomData(bytesEachWay, seed + 2);
  let bytesRead = 0;
  const wallStart = performance.now();
  try {
    let closeListener = () => {};
    const transfer = (async () => {
      const { client, server, close } = await connectPair(a, b, family);
      closeListener = close;
      const counted = async (conn: Conn) => {
        const data = await readAll(conn, bytesEachWay);
        bytesRead += data.length;
        return data;
      };
      const [, , atServer, atClient] = await Promise.all([
        writeAllThenClose(client, up),
        writeAllThenClose(server, down),
        counted(server),
        counted(client),
      ]);
      client.close();
      server.close();
      return { atServer, atClient };
    })();
    await drive(a, b, links, transfer, () => bytesRead);
    const { atServer, atClient } = await transfer;
    closeListener();
    expect(atServer.length).toBe(bytesEachWay);
    expect(atClient.length).toBe(bytesEachWay);
    expect(sha256(atServer)).toBe(sha256(up));
    expect(sha256(atClient)).toBe(sha256(down));
    // Every data segment went over the family asked for.
    expect(a.counters(family === 4 ? 'ip' : 'ipv6').get('delivered')).toBeGreaterThan(bytesEachWay / 1500);
    const total = (name: string) => a.counters('tcp').get(name) + b.counters('tcp').get(name);
    const stats = impaired.stats();
    return {
      simulatedMs: clock.now(),
      wallMs: performance.now() - wallStart,
      timeouts: total('timeouts'),
      segmentsSent: total('segments_sent'),
      retransmissions: total('retransmissions'),
      impair: { dropped: stats.dropped, duplicated: stats.duplicated, reordered: stats.reordered },
    };
  } finally {
    await a.close();
    await b.close();
  }
}

describe('TCP between two stacks through a lossy, reordering, duplicating link (manual time)', () => {
  it.each(RUNS)(
    `moves ${BYTES_EACH_WAY} bytes each way at once intact at $loss loss, RTOs per 1000 segments <= $maxRtosPer1000Segments`,
    async ({ loss, maxRtosPer1000Segments }) => {
      const result = await runLossyPair(loss, BYTES_EACH_WAY, Math.round(loss * 1000));
      const rtosPer1000 = (result.timeouts * 1000) / result.segmentsSent;
      console.log(
        `lossy pair: loss ${loss * 100}%, ${BYTES_EACH_WAY} B each way: ${rtosPer1000.toFixed(1)} RTOs per 1000 segments ` +
          `(${result.timeouts} RTOs, ${result.segmentsSent} segments sent, ${result.retransmissions} retransmissions); ` +
          `stack time ${(result.simulatedMs / 1000).toFixed(1)} s, real time ${(result.wallMs / 1000).toFixed(1)} s; ` +
          `link: ${result.impair.dropped} dropped, ${result.impair.duplicated} duplicated, ${result.impair.reordered} reordered`,
      );
      expect(result.segmentsSent).toBeGreaterThan(0);
      expect(rtosPer1000).toBeLessThanOrEqual(maxRtosPer1000Segments);
    },
    MAX_WALL_MS + 30_000,
  );

  it(
    `moves ${BYTES_EACH_WAY} bytes each way at once intact over IPv6 at 0.1 loss, RTOs per 1000 segments <= 5`,
    async () => {
      const result = await runLossyPair(0.1, BYTES_EACH_WAY, 106, 6);
      const rtosPer1000 = (result.timeouts * 1000) / result.segmentsSent;
      console.log(
        `lossy pair over IPv6: loss 10%, ${BYTES_EACH_WAY} B each way: ${rtosPer1000.toFixed(1)} RTOs per 1000 segments ` +
          `(${result.timeouts} RTOs, ${result.segmentsSent} segments sent); stack time ${(result.simulatedMs / 1000).toFixed(1)} s`,
      );
      expect(result.segmentsSent).toBeGreaterThan(0);
      expect(rtosPer1000).toBeLessThanOrEqual(5);
    },
    MAX_WALL_MS + 30_000,
  );
});
