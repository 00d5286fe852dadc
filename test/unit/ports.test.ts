/**
 * Ephemeral port choice (RFC 6056 section 3.3): algorithm 4 with random increments for a known
 * destination, a random start without one; repeatable with a seeded RandomSource. And owners
 * sharing a port when their bindings do not overlap (Linux's bind conflict rule).
 */
import { describe, expect, it } from 'vitest';
import {
  bindingsOverlap,
  EPHEMERAL_FIRST,
  EPHEMERAL_LAST,
  PortTable,
  type EndpointBinding,
  type PortDestination,
} from '../../src/ports.js';
import { parseIPv6Address } from '../../src/wire/address6.js';
import { seededRandom } from '../../src/random.js';

const SPAN = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
const LOCAL = 0x0a000002;

function destination(n: number): PortDestination {
  return { localAddress: LOCAL, remoteAddress: 0x0a000100 + (n >> 4), remotePort: 8000 + (n & 15) };
}

/** Distance from port a forward to port b within the ephemeral range. */
function forward(a: number, b: number): number {
  return (b - a + SPAN) % SPAN;
}

describe('ephemeral ports (RFC 6056)', () => {
  it('for one destination walks forward by a small random step, never plain +1 every time', () => {
    const table = new PortTable<string>('tcp', seededRandom(1));
    const ports = Array.from({ length: 40 }, () => table.chooseEphemeral(() => true, destination(0)));
    const steps = ports.slice(1).map((port, i) => forward(ports[i]!, port));
    for (const step of steps) {
      expect(step).toBeGreaterThanOrEqual(1);
      expect(step).toBeLessThanOrEqual(8);
    }
    expect(new Set(steps).size).toBeGreaterThan(3);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(EPHEMERAL_FIRST);
      expect(port).toBeLessThanOrEqual(EPHEMERAL_LAST);
    }
  });

  it('gives different destinations unrelated starting points (not one sequential counter)', () => {
    const table = new PortTable<string>('tcp', seededRandom(2));
    const ports = Array.from({ length: 64 }, (_, n) => table.chooseEphemeral(() => true, destination(n)));
    const neighbours = ports.slice(1).filter((port, i) => forward(ports[i]!, port) <= 8).length;
    // 64 independent draws from 16384 ports: two in a row within 8 is rare.
    expect(neighbours).toBeLessThan(4);
    expect(new Set(ports).size).toBeGreaterThan(60);
  });

  it('skips unsuitable ports and moves that destination past them', () => {
    const table = new PortTable<string>('tcp', seededRandom(3));
    const twin = new PortTable<string>('tcp', seededRandom(3));
    const first = twin.chooseEphemeral(() => true, destination(5));
    const taken = new Set([first, first + 1, first + 2].map((p) => (p > EPHEMERAL_LAST ? p - SPAN : p)));
    const chosen = table.chooseEphemeral((port) => !taken.has(port), destination(5));
    expect(taken.has(chosen)).toBe(false);
    expect(forward(first, chosen)).toBe(3);
    expect(() => table.chooseEphemeral(() => false, destination(5))).toThrow(/EADDRINUSE: no free ephemeral tcp port/);
  });

  it('repeats exactly with the same seed and differs with another', () => {
    const run = (seed: number) => {
      const table = new PortTable<string>('tcp', seededRandom(seed));
      return Array.from({ length: 10 }, (_, n) => [table.chooseEphemeral(() => true, destination(n % 3)), table.bind(0, `u${n}`)]).flat();
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('without a destination (UDP, a listener on port 0) starts each search at a random port', () => {
    const table = new PortTable<string>('udp', seededRandom(4));
    const ports = Array.from({ length: 40 }, (_, n) => table.bind(0, `s${n}`));
    const sequential = ports.slice(1).filter((port, i) => forward(ports[i]!, port) === 1).length;
    expect(sequential).toBeLessThan(3);
    expect(new Set(ports).size).toBe(40);
  });
});

describe('ports shared by bindings that do not overlap', () => {
  const LOOPBACK = 0x7f000001;
  const V6 = parseIPv6Address('fd00::2')!;
  const both: EndpointBinding = {};
  const any4: EndpointBinding = { family: 4 };
  const any6: EndpointBinding = { family: 6 };
  const local4: EndpointBinding = { boundAddress: LOCAL, family: 4 };
  const loop4: EndpointBinding = { boundAddress: LOOPBACK, family: 4 };
  const local6: EndpointBinding = { boundAddress: V6, family: 6 };

  it('overlap: a wildcard meets every address of its family, a dual-stack one everything', () => {
    const cases: Array<[EndpointBinding, EndpointBinding, boolean]> = [
      [any4, any6, false],
      [local4, loop4, false],
      [local4, any6, false],
      [local6, any4, false],
      [local4, local6, false],
      [both, any4, true],
      [both, local6, true],
      [any4, local4, true],
      [any6, local6, true],
      [local4, local4, true],
      [any4, any4, true],
      // A bound address implies its family when none is given.
      [{ boundAddress: V6 }, any4, false],
    ];
    for (const [a, b, overlap] of cases) {
      expect([a, b, bindingsOverlap(a, b)]).toEqual([a, b, overlap]);
      expect(bindingsOverlap(b, a)).toBe(overlap);
    }
  });

  it('binds sharers, looks up the one that accepts, and gives the port back owner by owner', () => {
    const table = new PortTable<EndpointBinding>('udp', seededRandom(5), (owner) => owner);
    table.bind(80, any6);
    table.bind(80, loop4);
    table.bind(80, local4);
    expect(() => table.bind(80, any4)).toThrow(/EADDRINUSE/);
    expect(() => table.bind(80, both)).toThrow(/EADDRINUSE/);
    expect(table.lookup(80, LOCAL)).toBe(local4);
    expect(table.lookup(80, LOOPBACK)).toBe(loop4);
    expect(table.lookup(80, V6)).toBe(any6);
    expect(table.lookup(80, 0x0a000009)).toBeUndefined();
    expect(table.size).toBe(1);
    expect(table.entries()).toHaveLength(3);
    table.release(80, loop4);
    table.release(80, any6);
    expect(table.ownersOf(80)).toEqual([local4]);
    expect(table.lookup(80, V6)).toBeUndefined();
    expect(table.lookup(80, LOCAL)).toBe(local4);
    table.release(80, local4);
    expect(table.ownersOf(80)).toEqual([]);
    expect(table.bind(80, both)).toBe(80);
  });

  it('puts a specific address before a wildcard, so lookup finds the most specific first', () => {
    const table = new PortTable<EndpointBinding>('tcp', seededRandom(6), (owner) => owner);
    table.bind(443, any4);
    table.bind(443, local6);
    expect(table.ownersOf(443)).toEqual([local6, any4]);
    expect(table.lookup(443, V6)).toBe(local6);
    expect(table.lookup(443, LOCAL)).toBe(any4);
  });

  it('shares nothing without a binding function', () => {
    const table = new PortTable<string>('tcp', seededRandom(7));
    table.bind(22, 'a');
    expect(() => table.bind(22, 'b')).toThrow(/EADDRINUSE/);
  });
});
