/**
 * The path MTU cache on its own (RFC 1191): lowering, never raising, the 68-octet minimum, the
 * plateau table for old routers, expiry after ten minutes, and the bound on its size.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../../src/counters.js';
import { PATH_MTU_EXPIRY_MS, PathMtuCache, plateauBelow } from '../../../src/ip/path-mtu.js';

const PEER = 0x0a000101;
const OTHER = 0x0a000102;

/** A report screened and, when it passes, recorded (as the IP layer does once the transport validated it). */
function report(pmtu: PathMtuCache, destination: number, nextHopMtu: number, quotedLength: number, now: number): number | undefined {
  const pathMtu = pmtu.screenReport(destination, nextHopMtu, quotedLength, now);
  if (pathMtu !== undefined) pmtu.lower(destination, pathMtu, now);
  return pathMtu;
}

function cache(options: { maxEntries?: number } = {}) {
  const counters = new Counters('ip');
  return { counters, cache: new PathMtuCache({ linkMtu: 1500, counters, ...options }) };
}

describe('plateauBelow (RFC 1191 section 7)', () => {
  it('gives the largest plateau strictly below the datagram length, never below 68', () => {
    expect(plateauBelow(1500)).toBe(1492);
    expect(plateauBelow(1492)).toBe(1006);
    expect(plateauBelow(1006)).toBe(508);
    expect(plateauBelow(576)).toBe(508);
    expect(plateauBelow(297)).toBe(296);
    expect(plateauBelow(296)).toBe(68);
    expect(plateauBelow(68)).toBe(68);
    expect(plateauBelow(65535)).toBe(32000);
  });
});

describe('PathMtuCache', () => {
  it('starts at the link MTU and lowers only the destination reported', () => {
    const { cache: pmtu, counters } = cache();
    expect(pmtu.pathMtu(PEER, 0)).toBe(1500);
    expect(report(pmtu, PEER, 1000, 1500, 0)).toBe(1000);
    expect(pmtu.pathMtu(PEER, 1)).toBe(1000);
    expect(pmtu.pathMtu(OTHER, 1)).toBe(1500);
    expect(pmtu.size).toBe(1);
    expect(counters.get('pmtu_reduced')).toBe(1);
    // Lower again.
    expect(report(pmtu, PEER, 600, 1000, 2)).toBe(600);
    expect(pmtu.pathMtu(PEER, 3)).toBe(600);
    expect(counters.get('pmtu_reduced')).toBe(2);
  });

  it('never raises the estimate from a report, but confirms an equal one', () => {
    const { cache: pmtu, counters } = cache();
    report(pmtu, PEER, 1000, 1500, 0);
    expect(report(pmtu, PEER, 1400, 1500, 1)).toBeUndefined();
    expect(counters.get('drop.pmtu_increase')).toBe(1);
    expect(pmtu.pathMtu(PEER, 2)).toBe(1000);
    expect(report(pmtu, PEER, 1000, 1500, 3)).toBe(1000);
    expect(counters.get('pmtu_confirmed')).toBe(1);
  });

  it('changes nothing until a screened report is recorded', () => {
    const { cache: pmtu, counters } = cache();
    expect(pmtu.screenReport(PEER, 1000, 1500, 0)).toBe(1000);
    expect(pmtu.pathMtu(PEER, 0)).toBe(1500);
    expect(pmtu.size).toBe(0);
    expect(counters.get('pmtu_reduced')).toBe(0);
  });

  it('ignores an MTU below 68 or not below the datagram it is about', () => {
    const { cache: pmtu, counters } = cache();
    expect(report(pmtu, PEER, 67, 1500, 0)).toBeUndefined();
    expect(report(pmtu, PEER, 1, 1500, 0)).toBeUndefined();
    expect(counters.get('drop.pmtu_below_minimum')).toBe(2);
    expect(report(pmtu, PEER, 1500, 1500, 0)).toBeUndefined();
    expect(counters.get('drop.pmtu_not_below_datagram')).toBe(1);
    expect(report(pmtu, PEER, 68, 1500, 0)).toBe(68);
    expect(pmtu.size).toBe(1);
  });

  it('takes the plateau below the quoted length when the next-hop MTU is 0 (old routers)', () => {
    const { cache: pmtu } = cache();
    expect(report(pmtu, PEER, 0, 1500, 0)).toBe(1492);
    expect(report(pmtu, PEER, 0, 1492, 1)).toBe(1006);
    // The plateau of a datagram larger than the current estimate would raise it: ignored.
    expect(report(pmtu, PEER, 0, 1500, 2)).toBeUndefined();
    expect(pmtu.pathMtu(PEER, 3)).toBe(1006);
  });

  it('forgets an estimate ten minutes after it was last lowered or confirmed (RFC 1191 6.3)', () => {
    const { cache: pmtu, counters } = cache();
    report(pmtu, PEER, 1000, 1500, 1000);
    expect(pmtu.pathMtu(PEER, 1000 + PATH_MTU_EXPIRY_MS - 1)).toBe(1000);
    expect(pmtu.pathMtu(PEER, 1000 + PATH_MTU_EXPIRY_MS)).toBe(1500);
    expect(counters.get('pmtu_expired')).toBe(1);
    expect(pmtu.size).toBe(0);

    // A confirmation restarts the ten minutes.
    report(pmtu, PEER, 1000, 1500, 0);
    report(pmtu, PEER, 1000, 1500, PATH_MTU_EXPIRY_MS - 1);
    expect(pmtu.pathMtu(PEER, PATH_MTU_EXPIRY_MS + 5)).toBe(1000);
  });

  it('holds at most maxEntries destinations, evicting the one lowered longest ago, and counts it', () => {
    const { cache: pmtu, counters } = cache({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) report(pmtu, 0x0a000200 + i, 1000, 1500, i);
    expect(pmtu.size).toBe(3);
    expect(counters.get('pmtu_evicted')).toBe(2);
    expect(pmtu.pathMtu(0x0a000200, 10)).toBe(1500);
    expect(pmtu.pathMtu(0x0a000201, 10)).toBe(1500);
    expect(pmtu.pathMtu(0x0a000204, 10)).toBe(1000);
  });

  it('purges expired entries before evicting a live one', () => {
    const { cache: pmtu, counters } = cache({ maxEntries: 2 });
    report(pmtu, PEER, 1000, 1500, 0);
    report(pmtu, OTHER, 1000, 1500, PATH_MTU_EXPIRY_MS / 2);
    report(pmtu, 0x0a000103, 900, 1500, PATH_MTU_EXPIRY_MS + 1);
    expect(counters.get('pmtu_expired')).toBe(1);
    expect(counters.get('pmtu_evicted')).toBe(0);
    expect(pmtu.pathMtu(OTHER, PATH_MTU_EXPIRY_MS + 2)).toBe(1000);
  });
});
