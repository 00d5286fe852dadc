import { afterEach, describe, expect, it, vi } from 'vitest';
import { readUint16, writeUint16 } from '../../../src/bytes.js';
import { impairLink, parseImpairSpec, REORDER_HOLD_MS, type ImpairSpec } from '../../../src/link/impair.js';
import { memoryLinkPair, type Link } from '../../../src/link/link.js';

const NONE: ImpairSpec = { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0 };

/** A 40-byte stand-in packet whose bytes 4-5 carry a number identifying it. */
function numbered(id: number): Uint8Array {
  const packet = new Uint8Array(40);
  packet[0] = 0x45;
  writeUint16(packet, 4, id);
  for (let i = 6; i < packet.length; i++) packet[i] = i;
  return packet;
}

/** Let the memory link's setImmediate deliveries run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function collect(link: Link): Uint8Array[] {
  const received: Uint8Array[] = [];
  link.setReceiver((packets) => {
    for (const packet of packets) received.push(packet);
  });
  return received;
}

const ids = (packets: Uint8Array[]): number[] => packets.map((p) => readUint16(p, 4));

afterEach(() => {
  vi.useRealTimers();
});

describe('parseImpairSpec', () => {
  it('parses every key', () => {
    expect(parseImpairSpec('loss=0.05,dup=0.01,reorder=0.1,delay=20ms,corrupt=0.001,seed=42')).toEqual({
      loss: 0.05,
      dup: 0.01,
      reorder: 0.1,
      corrupt: 0.001,
      delayMs: 20,
      seed: 42,
    });
  });

  it('treats every key as optional and accepts spaces, 0, 1 and seconds', () => {
    expect(parseImpairSpec('')).toEqual(NONE);
    expect(parseImpairSpec(' loss = 1 , delay=0.5s ')).toEqual({ ...NONE, loss: 1, delayMs: 500 });
    expect(parseImpairSpec('dup=0,reorder=.25')).toEqual({ ...NONE, reorder: 0.25 });
  });

  it.each([
    ['loss=1.5', 'loss=1.5', /\[0, 1\]/],
    ['loss=-0.1', 'loss=-0.1', /\[0, 1\]/],
    ['dup=abc', 'dup=abc', /\[0, 1\]/],
    ['corrupt=', 'corrupt=', /\[0, 1\]/],
    ['delay=20', 'delay=20', /unit/],
    ['delay=20us', 'delay=20us', /unit/],
    ['seed=1.5', 'seed=1.5', /integer/],
    ['seed=4294967296', 'seed=4294967296', /integer/],
    ['jitter=5ms', 'jitter=5ms', /unknown key "jitter"/],
    ['loss', 'loss', /key=value/],
    ['loss=0.1,,dup=0.1', '', /key=value/],
    ['loss=0.1,loss=0.2', 'loss=0.2', /given twice/],
  ])('rejects %s, naming the part', (spec, part, why) => {
    expect(() => parseImpairSpec(spec)).toThrow(`bad impair spec part "${part}"`);
    expect(() => parseImpairSpec(spec)).toThrow(why);
  });
});

describe('impairLink', () => {
  it('passes everything through unchanged with no faults', async () => {
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, NONE);
    const atFar = collect(far);
    const atNear = collect(impaired);
    for (let i = 0; i < 10; i++) impaired.send(numbered(i));
    for (let i = 100; i < 110; i++) far.send(numbered(i));
    await settle();
    expect(ids(atFar)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(atNear)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(impaired.stats()).toEqual({ dropped: 0, duplicated: 0, reordered: 0, delayed: 0, corrupted: 0 });
    await impaired.close();
  });

  it('drops close to the loss rate over 10000 packets, in both directions', async () => {
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, { ...NONE, loss: 0.05, seed: 42 });
    const atFar = collect(far);
    const atNear = collect(impaired);
    for (let i = 0; i < 10000; i++) impaired.send(numbered(i));
    for (let i = 0; i < 10000; i++) far.send(numbered(i));
    await settle();
    // 5% of 10000 is 500 with a standard deviation near 22; allow a wide margin either way.
    expect(10000 - atFar.length).toBeGreaterThan(400);
    expect(10000 - atFar.length).toBeLessThan(600);
    expect(10000 - atNear.length).toBeGreaterThan(400);
    expect(10000 - atNear.length).toBeLessThan(600);
    expect(impaired.stats().dropped).toBe(20000 - atFar.length - atNear.length);
    // What survives keeps its order.
    const survivors = ids(atFar);
    expect([...survivors].sort((a, b) => a - b)).toEqual(survivors);
    await impaired.close();
  });

  it('makes the same decisions for the same seed', async () => {
    const spec: ImpairSpec = { ...NONE, loss: 0.2, dup: 0.1, corrupt: 0.1, reorder: 0.1, seed: 7 };
    const run = async (seed: number): Promise<string[]> => {
      const [near, far] = memoryLinkPair();
      const impaired = impairLink(near, { ...spec, seed });
      const atFar = collect(far);
      for (let i = 0; i < 500; i++) impaired.send(numbered(i));
      await new Promise((resolve) => setTimeout(resolve, REORDER_HOLD_MS * 3));
      await settle();
      await impaired.close();
      return atFar.map((p) => Buffer.from(p).toString('hex'));
    };
    const first = await run(7);
    expect(first.length).toBeGreaterThan(300);
    expect(await run(7)).toEqual(first);
    expect(await run(8)).not.toEqual(first);
  });

  it('uses an injected random source', async () => {
    const [near, far] = memoryLinkPair();
    // loss draws first: 0.1 < 0.5 drops packet 0, 0.9 keeps packet 1.
    const draws = [0.1, 0.9];
    const impaired = impairLink(near, { ...NONE, loss: 0.5 }, { random: () => draws.shift() ?? 0.9 });
    const atFar = collect(far);
    impaired.send(numbered(0));
    impaired.send(numbered(1));
    await settle();
    expect(ids(atFar)).toEqual([1]);
    await impaired.close();
  });

  it('delivers each packet twice with dup=1, as separate buffers', async () => {
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, { ...NONE, dup: 1, seed: 1 });
    const atFar = collect(far);
    const atNear = collect(impaired);
    impaired.send(numbered(1));
    impaired.send(numbered(2));
    far.send(numbered(3));
    await settle();
    expect(ids(atFar)).toEqual([1, 1, 2, 2]);
    expect(ids(atNear)).toEqual([3, 3]);
    expect(atNear[0]).not.toBe(atNear[1]);
    expect(impaired.stats().duplicated).toBe(3);
    await impaired.close();
  });

  it('reorders: a held packet follows its successor, and nothing is lost', async () => {
    const [near, far] = memoryLinkPair();
    const always = impairLink(near, { ...NONE, reorder: 1, seed: 1 });
    const atFar = collect(far);
    always.send(numbered(1)); // held
    always.send(numbered(2)); // released together with 1, after it
    await settle();
    expect(ids(atFar)).toEqual([2, 1]);
    await always.close();

    const [near2, far2] = memoryLinkPair();
    const sometimes = impairLink(near2, { ...NONE, reorder: 0.3, seed: 5 });
    const atFar2 = collect(far2);
    const atNear2 = collect(sometimes);
    for (let i = 0; i < 1000; i++) sometimes.send(numbered(i));
    for (let i = 0; i < 1000; i++) far2.send(numbered(i));
    // The last packet may be held until the hold timer lets it go.
    await new Promise((resolve) => setTimeout(resolve, REORDER_HOLD_MS * 3));
    await settle();
    for (const received of [atFar2, atNear2]) {
      const order = ids(received);
      expect(order).toHaveLength(1000);
      expect(order).not.toEqual([...order].sort((a, b) => a - b));
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }
    expect(sometimes.stats().reordered).toBeGreaterThan(300);
    await sometimes.close();
  });

  it('releases a held packet after a short timer when nothing follows', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, { ...NONE, reorder: 1, seed: 1 });
    const atFar = collect(far);
    impaired.send(numbered(9));
    await settle();
    expect(atFar).toHaveLength(0);
    vi.advanceTimersByTime(REORDER_HOLD_MS);
    await settle();
    expect(ids(atFar)).toEqual([9]);
    await impaired.close();
  });

  it('corrupts exactly one byte of a copy, leaving the sender buffer alone', async () => {
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, { ...NONE, corrupt: 1, seed: 3 });
    const atNear = collect(impaired);
    const atFar = collect(far);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const packet = numbered(i);
      sent.push(packet);
      far.send(packet); // inbound: the memory link hands the impaired link this very buffer
    }
    const outbound = numbered(500);
    impaired.send(outbound.slice());
    await settle();
    expect(atNear).toHaveLength(50);
    const changedPositions = new Set<number>();
    atNear.forEach((received, i) => {
      const original = numbered(i);
      expect(sent[i]).toEqual(original); // not mutated in place
      const differing = [...received.keys()].filter((k) => received[k] !== original[k]);
      expect(differing).toHaveLength(1);
      changedPositions.add(differing[0]!);
    });
    expect(changedPositions.size).toBeGreaterThan(10); // the byte is picked at random
    const differingOut = [...atFar[0]!.keys()].filter((k) => atFar[0]![k] !== outbound[k]);
    expect(differingOut).toHaveLength(1);
    expect(impaired.stats().corrupted).toBe(51);
    await impaired.close();
  });

  it('delays by the given time in both directions, keeping order, and copies received packets it keeps', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [near, far] = memoryLinkPair();
    const impaired = impairLink(near, parseImpairSpec('delay=20ms'));
    const atFar = collect(far);
    const atNear = collect(impaired);
    impaired.send(numbered(1));
    impaired.send(numbered(2));
    const inbound = numbered(3);
    far.send(inbound);
    await settle();
    inbound.fill(0); // what a link reusing its receive buffer would do once the handler returned
    expect(atFar).toHaveLength(0);
    expect(atNear).toHaveLength(0);
    vi.advanceTimersByTime(19);
    await settle();
    expect(atFar).toHaveLength(0);
    expect(atNear).toHaveLength(0);
    vi.advanceTimersByTime(1);
    await settle();
    expect(ids(atFar)).toEqual([1, 2]);
    expect(ids(atNear)).toEqual([3]);
    expect(atNear[0]).toEqual(numbered(3));
    expect(impaired.stats().delayed).toBe(3);
    await impaired.close();
  });

  it('close() cancels pending deliveries, clears its timers and closes the wrapped link', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [near, far] = memoryLinkPair();
    const closeInner = vi.spyOn(near, 'close');
    const impaired = impairLink(near, { ...NONE, delayMs: 1000, reorder: 0 });
    const atFar = collect(far);
    const atNear = collect(impaired);
    impaired.send(numbered(1));
    far.send(numbered(2));
    await settle();
    expect(vi.getTimerCount()).toBe(2);
    await impaired.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(closeInner).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(2000);
    await settle();
    expect(atFar).toHaveLength(0);
    expect(atNear).toHaveLength(0);
    impaired.send(numbered(3)); // ignored after close
    await settle();
    expect(atFar).toHaveLength(0);
    await impaired.close(); // idempotent
    expect(closeInner).toHaveBeenCalledTimes(1);
  });
});
