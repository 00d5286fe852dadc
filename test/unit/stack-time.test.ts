/**
 * The stack's time: deadlines arm the real-time driver by themselves (nothing wakes it by hand),
 * close() waits on stack time (and gives no grace with manual timers, so it cannot hang), and a
 * seeded RandomSource with manual time repeats the same packets byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { dial, listen } from '../../src/api/net.js';
import { FakeClock } from '../../src/clock.js';
import { memoryLinkPair, type Link } from '../../src/link/link.js';
import { tapLink } from '../../src/link/tap.js';
import { seededRandom } from '../../src/random.js';
import { Stack } from '../../src/stack.js';
import { parseIPv4Packet, PROTOCOL_TCP } from '../../src/wire/ipv4.js';
import { parseTcpSegment } from '../../src/wire/tcp.js';
import { ReplayLink } from '../replay/replay-link.js';
import { ManualTime } from '../support/manual-time.js';
import { stackPair } from '../support/stack-pair.js';

/** Resolve with `value`, or reject after `ms` of real time. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(guard);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(guard);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

describe('the self-arming driver', () => {
  it('fires a deadline scheduled outside input handling, in real time, with nothing waking the driver by hand', async () => {
    const stack = new Stack({ link: new ReplayLink(), address: '10.0.0.2' });
    const started = performance.now();
    const fired = new Promise<number>((resolve) => stack.timers.schedule(stack.clock.now() + 20, (now) => resolve(now)));
    const firedAt = await within(1000, fired);
    expect(firedAt - started).toBeGreaterThanOrEqual(20);
    await stack.close();
  });

  it('wakes sooner for an earlier deadline scheduled after a later one', async () => {
    const stack = new Stack({ link: new ReplayLink(), address: '10.0.0.2' });
    const order: string[] = [];
    stack.timers.schedule(stack.clock.now() + 10_000, () => order.push('late'));
    await within(
      1000,
      new Promise<void>((resolve) => stack.timers.schedule(stack.clock.now() + 10, () => resolve(void order.push('early')))),
    );
    expect(order).toEqual(['early']);
    await stack.close();
  });

  it('times out a dial whose SYNs go nowhere: the retransmission and dial deadlines arm themselves', async () => {
    const link = new ReplayLink();
    const stack = new Stack({ link, address: '10.0.0.2', tcp: { initialRto: 20, minRto: 20 } });
    const error = await within(
      2000,
      dial('tcp', '10.0.0.1:80', { stack, timeout: 100 }).catch((caught: unknown) => caught),
    );
    expect(error).toMatchObject({ code: 'ETIMEDOUT' });
    expect(link.drain().length).toBeGreaterThanOrEqual(2); // the SYN and at least one retransmission
    await stack.close();
  });

  it('never arms a real timer with manual timers', async () => {
    const clock = new FakeClock();
    const stack = new Stack({ link: new ReplayLink(), address: '10.0.0.2', clock, manualTimers: true });
    let fired = false;
    stack.timers.schedule(1, () => (fired = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(false);
    ManualTime.of(stack).advance(1);
    expect(fired).toBe(true);
  });
});

/** A link that can be cut: after `cut = true` nothing passes in either direction. */
function cuttable(link: Link): Link & { cut: boolean } {
  const wrapper = {
    cut: false,
    get mtu() {
      return link.mtu;
    },
    setReceiver(receiver: (packets: readonly Uint8Array[]) => void) {
      link.setReceiver((packets) => {
        if (!wrapper.cut) receiver(packets);
      });
    },
    send(packet: Uint8Array) {
      if (!wrapper.cut) link.send(packet);
    },
    close: () => link.close(),
  };
  return wrapper;
}

describe('Stack.close', () => {
  it('returns as soon as every connection has finished its close handshake', async () => {
    const { a, b } = stackPair();
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    const client = await dial('tcp', '10.0.0.2:7', { stack: a });
    const server = await accepting;
    const started = performance.now();
    const closing = b.close(5000);
    expect(await client.read(new Uint8Array(1))).toBeNull();
    client.close();
    await within(2000, closing);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(server.state).toBe('TIME-WAIT');
    await a.close();
  });

  it('aborts what has not finished when the grace period of stack time runs out', async () => {
    let link: (Link & { cut: boolean }) | undefined;
    const { a, b } = stackPair({ wrap: (inner) => (link = cuttable(inner)) });
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    await dial('tcp', '10.0.0.2:7', { stack: a });
    await accepting;
    link!.cut = true; // the FIN will never be acknowledged
    const started = performance.now();
    await within(2000, a.close(50));
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(a.tcp.connectionCount).toBe(0);
    await b.close(0);
  });

  it('with manual timers gives no grace, so it cannot hang: unfinished connections are aborted at once', async () => {
    const clock = new FakeClock();
    const { a, b } = stackPair({ clock });
    const listener = await listen('tcp', ':7', { stack: b });
    const accepting = listener.accept();
    await dial('tcp', '10.0.0.2:7', { stack: a });
    await accepting;
    await within(1000, a.close(60_000));
    expect(a.tcp.connectionCount).toBe(0);
    expect(clock.now()).toBe(0);
    await b.close();
  });
});

/** Dial, exchange a line each way, close; return every packet stack A sent, in order. */
async function seededExchange(seed: number): Promise<Uint8Array[]> {
  const clock = new FakeClock(1000);
  const sent: Uint8Array[] = [];
  const [linkA, linkB] = memoryLinkPair(1500);
  const common = { clock, manualTimers: true };
  const a = new Stack({
    link: tapLink(linkA, (direction, packet) => direction === 'out' && sent.push(packet.slice())),
    address: '10.0.0.1',
    random: seededRandom(seed),
    ...common,
  });
  const b = new Stack({ link: linkB, address: '10.0.0.2', random: seededRandom(seed + 1), ...common });
  const time = ManualTime.of(a);
  const listener = await listen('tcp', ':7', { stack: b });
  const accepting = listener.accept();
  const client = await dial('tcp', '10.0.0.2:7', { stack: a });
  const server = await accepting;
  await client.write(new TextEncoder().encode('hello\n'));
  const buffer = new Uint8Array(16);
  await server.read(buffer);
  await server.write(new TextEncoder().encode('world\n'));
  await client.read(buffer);
  time.advance(500); // both delayed ACKs (a and b share the clock; b's timers run below)
  ManualTime.of(b).runDue();
  await new Promise((resolve) => setImmediate(resolve));
  client.close();
  server.close();
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  listener.close();
  await a.close();
  await b.close();
  return sent;
}

function synOf(packets: readonly Uint8Array[]): { isn: number; port: number } {
  const ip = parseIPv4Packet(packets[0]!);
  if (!ip.ok || ip.header.protocol !== PROTOCOL_TCP) throw new Error('the first packet is not TCP');
  const tcp = parseTcpSegment(ip.payload, ip.header.source, ip.header.destination);
  if (!tcp.ok) throw new Error(tcp.reason);
  return { isn: tcp.segment.seq, port: tcp.segment.sourcePort };
}

describe('seeded randomness with manual time', () => {
  it('repeats the same packets byte for byte for the same seed', async () => {
    const first = await seededExchange(42);
    const second = await seededExchange(42);
    expect(first.length).toBeGreaterThanOrEqual(5);
    expect(second.map((p) => Buffer.from(p).toString('hex'))).toEqual(first.map((p) => Buffer.from(p).toString('hex')));
  });

  it('draws another ISN and ephemeral port for another seed', async () => {
    const one = synOf(await seededExchange(42));
    const other = synOf(await seededExchange(43));
    expect(other.isn).not.toBe(one.isn);
    expect(other.port).not.toBe(one.port);
  });
});
