/**
 * Ephemeral port choice (RFC 6056 section 3.3): algorithm 4 with random increments for a known
 * destination, a random start without one; repeatable with a seeded RandomSource.
 */
import { describe, expect, it } from 'vitest';
import { EPHEMERAL_FIRST, EPHEMERAL_LAST, PortTable, type PortDestination } from '../../src/ports.js';
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
