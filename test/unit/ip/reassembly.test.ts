import { describe, expect, it } from 'vitest';
import { writeUint16 } from '../../../src/bytes.js';
import { Counters } from '../../../src/counters.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { PROTOCOL_TCP, PROTOCOL_UDP, parseIPv4Packet, writeIPv4Header, type IPv4Header } from '../../../src/wire/ipv4.js';
import { DATAGRAM_OVERHEAD_BYTES, FRAGMENT_OVERHEAD_BYTES, Reassembler } from '../../../src/ip/reassembly.js';
import { mulberry32 as prng } from '../../../src/random.js';

const SOURCE = 0x0a000001;
const DESTINATION = 0x0a000002;

interface Fragment {
  header: IPv4Header;
  payload: Uint8Array;
  packet: Uint8Array;
}

interface FragmentSpec {
  id?: number;
  offset: number;
  data: Uint8Array;
  more: boolean;
  protocol?: number;
  source?: number;
  /** Total IP header length, options (NOPs) included. */
  headerLength?: number;
}

function fragment(spec: FragmentSpec): Fragment {
  const headerLength = spec.headerLength ?? 20;
  const packet = new Uint8Array(headerLength + spec.data.length);
  writeIPv4Header(packet, 0, {
    source: spec.source ?? SOURCE,
    destination: DESTINATION,
    protocol: spec.protocol ?? PROTOCOL_UDP,
    payloadLength: spec.data.length,
    identification: spec.id ?? 1,
    moreFragments: spec.more,
    fragmentOffset: spec.offset,
  });
  if (headerLength > 20) {
    packet[0] = 0x40 | (headerLength / 4);
    packet.fill(0x01, 20, headerLength);
    writeUint16(packet, 2, packet.length);
    writeUint16(packet, 10, 0);
    writeUint16(packet, 10, internetChecksum(packet, 0, headerLength));
  }
  packet.set(spec.data, headerLength);
  const parsed = parseIPv4Packet(packet);
  if (!parsed.ok) throw new Error(`test fragment does not parse: ${parsed.reason}`);
  return { header: parsed.header, payload: parsed.payload, packet };
}

function patterned(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) % 256);
}

/** Split `data` into fragments of `size` bytes (a multiple of 8). */
function split(data: Uint8Array, size: number, id = 1): Fragment[] {
  const out: Fragment[] = [];
  for (let offset = 0; offset < data.length; offset += size) {
    const piece = data.subarray(offset, Math.min(offset + size, data.length));
    out.push(fragment({ id, offset, data: piece, more: offset + piece.length < data.length }));
  }
  return out;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function setup(options: { timeoutMs?: number; maxBytes?: number; maxDatagrams?: number } = {}) {
  const counters = new Counters('ip');
  const reassembler = new Reassembler({ ...options, counters });
  const feed = (f: Fragment, now = 0) => reassembler.accept(f.header, f.payload, f.packet, now);
  return { counters, reassembler, feed };
}

describe('Reassembler (RFC 791 3.2, RFC 815)', () => {
  it('reassembles fragments that arrive in order', () => {
    const { reassembler, feed, counters } = setup();
    const data = patterned(3000);
    const fragments = split(data, 1480);
    expect(feed(fragments[0]!)).toBeUndefined();
    expect(feed(fragments[1]!)).toBeUndefined();
    expect(reassembler.pendingCount).toBe(1);
    // Charged: the datagram, two fragments with their bytes, and the first fragment's header.
    expect(reassembler.heldBytes).toBe(DATAGRAM_OVERHEAD_BYTES + 2 * FRAGMENT_OVERHEAD_BYTES + 2960 + 20);
    const result = feed(fragments[2]!);
    expect(result).toBeDefined();
    expect(result!.payload).toEqual(data);
    expect(result!.header).toMatchObject({
      headerLength: 20,
      totalLength: 3020,
      moreFragments: false,
      fragmentOffset: 0,
      identification: 1,
      protocol: PROTOCOL_UDP,
      source: SOURCE,
      destination: DESTINATION,
    });
    expect(reassembler.pendingCount).toBe(0);
    expect(reassembler.heldBytes).toBe(0);
    expect(reassembler.nextExpiry()).toBeUndefined();
    expect(counters.get('reassembled')).toBe(1);
    expect(counters.get('dropped')).toBe(0);
  });

  it('reassembles fragments that arrive in reverse order', () => {
    const { feed, reassembler } = setup();
    const data = patterned(1001);
    const fragments = split(data, 96).reverse();
    const results = fragments.map((f) => feed(f));
    expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(results.at(-1)!.payload).toEqual(data);
    expect(reassembler.heldBytes).toBe(0);
  });

  it('reassembles random orders with exact duplicates mixed in, counting the duplicates', () => {
    const random = prng(815);
    for (let trial = 0; trial < 50; trial++) {
      const { feed, counters, reassembler } = setup();
      const data = patterned(200 + Math.floor(random() * 5000), trial);
      const fragments = split(data, 8 * (1 + Math.floor(random() * 40)), trial);
      const duplicates = fragments.filter(() => random() < 0.3);
      const order = shuffle([...fragments, ...duplicates], random);
      let completions = 0;
      let result: Uint8Array | undefined;
      let afterCompletion = 0;
      for (const f of order) {
        const r = feed(f);
        if (completions > 0) afterCompletion++;
        if (r) {
          completions++;
          result = r.payload;
        }
      }
      expect(completions).toBe(1);
      expect(result).toEqual(data);
      // Duplicates before completion are counted; those after it start a new (incomplete) datagram.
      expect(counters.get('drop.reassembly_duplicate')).toBeLessThanOrEqual(duplicates.length);
      expect(counters.get('drop.reassembly_overlap')).toBe(0);
      expect(reassembler.pendingCount).toBe(afterCompletion > 0 ? 1 : 0);
    }
  });

  it('drops an exact duplicate alone and still completes', () => {
    const { feed, counters } = setup();
    const data = patterned(64);
    const [a, b] = split(data, 32);
    expect(feed(a!)).toBeUndefined();
    expect(feed(a!)).toBeUndefined();
    expect(counters.get('drop.reassembly_duplicate')).toBe(1);
    expect(feed(b!)!.payload).toEqual(data);
  });

  it("keeps only what it copied: later changes to the caller's buffers do not leak in", () => {
    const { feed } = setup();
    const data = patterned(64);
    const [a, b] = split(data, 32);
    feed(a!);
    a!.packet.fill(0xff);
    const result = feed(b!);
    b!.packet.fill(0xff);
    expect(result!.payload).toEqual(data);
  });

  describe('overlap policy: discard the datagram unless the fragment is an exact duplicate (RFC 5722 style)', () => {
    it('discards on a partial overlap', () => {
      const { feed, counters, reassembler } = setup();
      feed(fragment({ offset: 0, data: patterned(32), more: true }));
      expect(feed(fragment({ offset: 24, data: patterned(32, 5), more: true }))).toBeUndefined();
      expect(counters.get('drop.reassembly_overlap')).toBe(1);
      expect(reassembler.pendingCount).toBe(0);
      expect(reassembler.heldBytes).toBe(0);
      // The rest of the datagram can no longer complete it.
      expect(feed(fragment({ offset: 32, data: patterned(8), more: false }))).toBeUndefined();
      expect(reassembler.pendingCount).toBe(1);
    });

    it('discards on a fragment overlapping the one before it from the left', () => {
      const { feed, counters } = setup();
      feed(fragment({ offset: 16, data: patterned(16), more: true }));
      feed(fragment({ offset: 8, data: patterned(16), more: true }));
      expect(counters.get('drop.reassembly_overlap')).toBe(1);
    });

    it('discards on a fragment covering several held ones', () => {
      const { feed, counters, reassembler } = setup();
      feed(fragment({ offset: 8, data: patterned(8), more: true }));
      feed(fragment({ offset: 24, data: patterned(8), more: true }));
      feed(fragment({ offset: 0, data: patterned(40), more: true }));
      expect(counters.get('drop.reassembly_overlap')).toBe(1);
      expect(reassembler.pendingCount).toBe(0);
    });

    it('discards on the same offset and length with different bytes', () => {
      const { feed, counters, reassembler } = setup();
      feed(fragment({ offset: 0, data: patterned(16, 1), more: true }));
      feed(fragment({ offset: 0, data: patterned(16, 2), more: true }));
      expect(counters.get('drop.reassembly_overlap')).toBe(1);
      expect(counters.get('drop.reassembly_duplicate')).toBe(0);
      expect(reassembler.pendingCount).toBe(0);
    });

    it('treats adjacent fragments as no overlap', () => {
      const { feed, counters } = setup();
      feed(fragment({ offset: 0, data: patterned(16), more: true }));
      feed(fragment({ offset: 32, data: patterned(5), more: false }));
      const result = feed(fragment({ offset: 16, data: patterned(16), more: true }));
      expect(result!.payload.length).toBe(37);
      expect(counters.get('dropped')).toBe(0);
    });
  });

  describe('conflicting ends', () => {
    it('discards when two final fragments disagree on the end', () => {
      const { feed, counters, reassembler } = setup();
      feed(fragment({ offset: 16, data: patterned(8), more: false }));
      feed(fragment({ offset: 32, data: patterned(8), more: false }));
      expect(counters.get('drop.reassembly_conflicting_end')).toBe(1);
      expect(reassembler.pendingCount).toBe(0);
    });

    it('discards when a fragment reaches past the known end', () => {
      const { feed, counters } = setup();
      feed(fragment({ offset: 16, data: patterned(8), more: false }));
      feed(fragment({ offset: 24, data: patterned(8), more: true }));
      expect(counters.get('drop.reassembly_conflicting_end')).toBe(1);
    });

    it('discards when a final fragment ends before data already received', () => {
      const { feed, counters } = setup();
      feed(fragment({ offset: 64, data: patterned(8), more: true }));
      feed(fragment({ offset: 8, data: patterned(8), more: false }));
      expect(counters.get('drop.reassembly_conflicting_end')).toBe(1);
    });
  });

  it('rejects a non-final fragment whose length is not a multiple of 8, keeping the datagram', () => {
    const { feed, counters, reassembler } = setup();
    feed(fragment({ offset: 0, data: patterned(16), more: true }));
    expect(feed(fragment({ offset: 16, data: patterned(12), more: true }))).toBeUndefined();
    expect(counters.get('drop.reassembly_bad_length')).toBe(1);
    expect(reassembler.pendingCount).toBe(1);
    // A final fragment may have any length.
    expect(feed(fragment({ offset: 16, data: patterned(13), more: false }))!.payload.length).toBe(29);
  });

  it('drops empty fragments', () => {
    const { feed, counters, reassembler } = setup();
    expect(feed(fragment({ offset: 8, data: new Uint8Array(0), more: true }))).toBeUndefined();
    expect(counters.get('drop.reassembly_empty_fragment')).toBe(1);
    expect(reassembler.pendingCount).toBe(0);
  });

  it('rejects a datagram that would exceed 65535 bytes (ping of death)', () => {
    const { feed, counters, reassembler } = setup();
    feed(fragment({ offset: 0, data: patterned(1480), more: true }));
    // 20 + 65512 + 8 = 65540 > 65535
    expect(feed(fragment({ offset: 65512, data: patterned(8), more: false }))).toBeUndefined();
    expect(counters.get('drop.reassembly_oversize')).toBe(1);
    expect(reassembler.pendingCount).toBe(0);
    // Exactly 65535 is fine.
    expect(feed(fragment({ id: 2, offset: 65512, data: patterned(3), more: false }))).toBeUndefined();
    expect(counters.get('drop.reassembly_oversize')).toBe(1);
    expect(reassembler.pendingCount).toBe(1);
  });

  it("counts the first fragment's options toward the 65535 limit", () => {
    const { feed, counters } = setup();
    feed(fragment({ offset: 65504, data: patterned(11), more: false })); // 20 + 65515 = 65535: fits
    // A 24-byte header on the first fragment makes the datagram 65539 bytes.
    const data = patterned(65504);
    feed(fragment({ offset: 0, data: data.subarray(0, 65000), more: true, headerLength: 24 }));
    expect(feed(fragment({ offset: 65000, data: data.subarray(65000), more: true }))).toBeUndefined();
    expect(counters.get('drop.reassembly_oversize')).toBe(1);
    expect(counters.get('reassembled')).toBe(0);
  });

  it('keeps apart datagrams that differ in source, protocol or identification', () => {
    const { feed, reassembler } = setup();
    const a = patterned(16, 1);
    const b = patterned(16, 2);
    const c = patterned(16, 3);
    const d = patterned(16, 4);
    feed(fragment({ id: 7, offset: 0, data: a.subarray(0, 8), more: true }));
    feed(fragment({ id: 8, offset: 0, data: b.subarray(0, 8), more: true }));
    feed(fragment({ id: 7, protocol: PROTOCOL_TCP, offset: 0, data: c.subarray(0, 8), more: true }));
    feed(fragment({ id: 7, source: 0x0a000009, offset: 0, data: d.subarray(0, 8), more: true }));
    expect(reassembler.pendingCount).toBe(4);
    expect(feed(fragment({ id: 8, offset: 8, data: b.subarray(8), more: false }))!.payload).toEqual(b);
    expect(feed(fragment({ id: 7, source: 0x0a000009, offset: 8, data: d.subarray(8), more: false }))!.payload).toEqual(d);
    expect(feed(fragment({ id: 7, offset: 8, data: a.subarray(8), more: false }))!.payload).toEqual(a);
    const last = feed(fragment({ id: 7, protocol: PROTOCOL_TCP, offset: 8, data: c.subarray(8), more: false }));
    expect(last!.payload).toEqual(c);
    expect(last!.header.protocol).toBe(PROTOCOL_TCP);
    expect(reassembler.pendingCount).toBe(0);
  });

  it('returns a packet that is not a fragment at once, with a copied payload', () => {
    const { feed, reassembler } = setup();
    const whole = fragment({ offset: 0, data: patterned(10), more: false });
    const result = feed(whole);
    expect(result!.payload).toEqual(patterned(10));
    whole.packet.fill(0);
    expect(result!.payload).toEqual(patterned(10));
    expect(reassembler.pendingCount).toBe(0);
  });

  it("keeps the first fragment's header, options included, for the whole datagram", () => {
    const { feed } = setup();
    feed(fragment({ offset: 16, data: patterned(4), more: false }));
    const result = feed(fragment({ offset: 0, data: patterned(16), more: true, headerLength: 28 }));
    expect(result!.header.headerLength).toBe(28);
    expect(result!.header.totalLength).toBe(28 + 20);
    expect(result!.payload.length).toBe(20);
  });

  describe('timeout', () => {
    it('expires an incomplete datagram after timeoutMs from its first fragment and reports the first fragment', () => {
      const { feed, counters, reassembler } = setup({ timeoutMs: 30_000 });
      const data = patterned(3000);
      const [first, , last] = split(data, 1480);
      // Link padding after the packet must not be part of the reported bytes.
      const padded = new Uint8Array(first!.packet.length + 6);
      padded.set(first!.packet);
      feed({ ...first!, packet: padded }, 1000);
      feed(last!, 20_000); // later fragments do not extend the lifetime
      expect(reassembler.nextExpiry()).toBe(31_000);
      expect(reassembler.expire(30_999)).toEqual([]);
      expect(reassembler.pendingCount).toBe(1);
      const expired = reassembler.expire(31_000);
      expect(expired).toHaveLength(1);
      expect(expired[0]!.firstFragment).toEqual(first!.packet);
      expect(counters.get('drop.reassembly_timeout')).toBe(1);
      expect(reassembler.pendingCount).toBe(0);
      expect(reassembler.heldBytes).toBe(0);
      expect(reassembler.nextExpiry()).toBeUndefined();
    });

    it('reports no first fragment when offset 0 never arrived', () => {
      const { feed, reassembler } = setup({ timeoutMs: 100 });
      feed(fragment({ offset: 8, data: patterned(8), more: true }), 0);
      const expired = reassembler.expire(100);
      expect(expired).toEqual([{ firstFragment: undefined }]);
    });

    it('reports the first fragment with its options', () => {
      const { feed, reassembler } = setup({ timeoutMs: 100 });
      const first = fragment({ offset: 0, data: patterned(8), more: true, headerLength: 32 });
      feed(first, 0);
      expect(reassembler.expire(100)[0]!.firstFragment).toEqual(first.packet);
    });

    it('expires only what is due, oldest first', () => {
      const { feed, reassembler } = setup({ timeoutMs: 100 });
      feed(fragment({ id: 1, offset: 0, data: patterned(8, 1), more: true }), 0);
      feed(fragment({ id: 2, offset: 0, data: patterned(8, 2), more: true }), 50);
      feed(fragment({ id: 3, offset: 8, data: patterned(8, 3), more: true }), 80);
      expect(reassembler.nextExpiry()).toBe(100);
      const expired = reassembler.expire(150);
      expect(expired.map((e) => e.firstFragment?.[20])).toEqual([patterned(8, 1)[0], patterned(8, 2)[0]]);
      expect(reassembler.pendingCount).toBe(1);
      expect(reassembler.nextExpiry()).toBe(180);
    });
  });

  describe('memory bounds', () => {
    it('evicts the oldest incomplete datagram when the byte cap would be exceeded', () => {
      const { feed, counters, reassembler } = setup({ maxBytes: 5000 });
      feed(fragment({ id: 1, offset: 0, data: patterned(2000), more: true }));
      feed(fragment({ id: 2, offset: 0, data: patterned(2000), more: true }));
      expect(reassembler.pendingCount).toBe(2);
      feed(fragment({ id: 3, offset: 0, data: patterned(2000), more: true }));
      expect(counters.get('drop.reassembly_evicted')).toBe(1);
      expect(reassembler.pendingCount).toBe(2);
      expect(reassembler.heldBytes).toBeLessThanOrEqual(5000);
      // Datagram 1 is gone; 2 and 3 can still complete.
      expect(feed(fragment({ id: 1, offset: 2000, data: patterned(8), more: false }))).toBeUndefined();
      expect(feed(fragment({ id: 3, offset: 2000, data: patterned(8), more: false }))).toBeDefined();
    });

    it('discards a datagram that alone would exceed the cap, without evicting others', () => {
      // Each datagram is charged 256 + per fragment 64 + its bytes (+ 20 header bytes for offset 0).
      const { feed, counters, reassembler } = setup({ maxBytes: 3500 });
      feed(fragment({ id: 1, offset: 0, data: patterned(800), more: true }));
      feed(fragment({ id: 2, offset: 0, data: patterned(1600), more: true }));
      expect(counters.get('drop.reassembly_evicted')).toBe(0);
      feed(fragment({ id: 2, offset: 1600, data: patterned(1600), more: true }));
      expect(counters.get('drop.reassembly_memory')).toBe(1);
      expect(counters.get('drop.reassembly_evicted')).toBe(0);
      expect(reassembler.pendingCount).toBe(1);
      feed(fragment({ id: 3, offset: 0, data: patterned(4000), more: true }));
      expect(counters.get('drop.reassembly_memory')).toBe(2);
      expect(reassembler.pendingCount).toBe(1);
    });

    it('lets a completing fragment through without evicting anything', () => {
      const { feed, counters } = setup({ maxBytes: 5000 });
      feed(fragment({ id: 1, offset: 0, data: patterned(2000), more: true }));
      feed(fragment({ id: 2, offset: 0, data: patterned(2000), more: true }));
      expect(feed(fragment({ id: 2, offset: 2000, data: patterned(2000), more: false }))).toBeDefined();
      expect(counters.get('drop.reassembly_evicted')).toBe(0);
    });

    it('evicts the oldest datagram beyond maxDatagrams', () => {
      const { feed, counters, reassembler } = setup({ maxDatagrams: 3 });
      for (let id = 1; id <= 4; id++) feed(fragment({ id, offset: 0, data: patterned(8, id), more: true }), id);
      expect(reassembler.pendingCount).toBe(3);
      expect(counters.get('drop.reassembly_evicted')).toBe(1);
      expect(reassembler.nextExpiry()).toBe(2 + 30_000);
      expect(feed(fragment({ id: 4, offset: 8, data: patterned(8), more: false }))).toBeDefined();
      expect(feed(fragment({ id: 1, offset: 8, data: patterned(8), more: false }))).toBeUndefined();
    });

    it('stays within its caps under a flood of random fragments', () => {
      const random = prng(4096);
      const maxBytes = 8 * 1024;
      const maxDatagrams = 16;
      const { feed, reassembler, counters } = setup({ maxBytes, maxDatagrams, timeoutMs: 1000 });
      let peakBytes = 0;
      let peakDatagrams = 0;
      let lowestBytes = Infinity;
      for (let i = 0; i < 20_000; i++) {
        const length = 8 * (1 + Math.floor(random() * 64)) - (random() < 0.1 ? 3 : 0);
        const offset = 8 * Math.floor(random() * 8000);
        const now = i;
        feed(
          fragment({
            id: Math.floor(random() * 64),
            offset,
            data: patterned(length, i),
            more: random() < 0.8,
          }),
          now,
        );
        if (i % 100 === 0) reassembler.expire(now);
        peakBytes = Math.max(peakBytes, reassembler.heldBytes);
        peakDatagrams = Math.max(peakDatagrams, reassembler.pendingCount);
        lowestBytes = Math.min(lowestBytes, reassembler.heldBytes);
      }
      expect(peakBytes).toBeLessThanOrEqual(maxBytes);
      expect(peakBytes).toBeGreaterThan(maxBytes / 2); // the flood did fill it
      expect(peakDatagrams).toBe(maxDatagrams);
      expect(lowestBytes).toBeGreaterThanOrEqual(0);
      expect(counters.get('dropped')).toBeGreaterThan(0);
      reassembler.expire(1e9);
      expect(reassembler.pendingCount).toBe(0);
      expect(reassembler.heldBytes).toBe(0);
    });
  });

  it('rejects invalid options with RangeError', () => {
    const counters = new Counters('ip');
    expect(() => new Reassembler({ counters, timeoutMs: 0 })).toThrow(RangeError);
    expect(() => new Reassembler({ counters, maxBytes: -1 })).toThrow(RangeError);
    expect(() => new Reassembler({ counters, maxDatagrams: 0 })).toThrow(RangeError);
  });
});
