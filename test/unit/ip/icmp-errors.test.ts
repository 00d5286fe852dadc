import { describe, expect, it } from 'vitest';
import { socketErrorForIcmp, TokenBucket, shouldSendIcmpError } from '../../../src/ip/icmp-errors.js';
import {
  FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
  FRAGMENTATION_NEEDED,
  HOST_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  NET_UNREACHABLE,
  PORT_UNREACHABLE,
  PROTOCOL_UNREACHABLE,
  TTL_EXCEEDED_IN_TRANSIT,
} from '../../../src/wire/icmpv4.js';
import { PROTOCOL_ICMP, PROTOCOL_TCP, PROTOCOL_UDP, type IPv4Header } from '../../../src/wire/ipv4.js';

function header(overrides: Partial<IPv4Header> = {}): IPv4Header {
  return {
    headerLength: 20,
    tos: 0,
    totalLength: 40,
    identification: 1,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol: PROTOCOL_UDP,
    source: 0x0a000001,
    destination: 0x0a000002,
    ...overrides,
  };
}

describe('shouldSendIcmpError (RFC 1122 3.2.2)', () => {
  const echo = Uint8Array.from([ICMP_ECHO_REQUEST, 0, 0, 0, 0, 0, 0, 0]);

  it('allows an ordinary unicast datagram', () => {
    expect(shouldSendIcmpError(header(), new Uint8Array(8))).toBe(true);
    expect(shouldSendIcmpError(header({ protocol: PROTOCOL_TCP }), new Uint8Array(20))).toBe(true);
  });

  it('allows non-error ICMP (echo request, echo reply) but never an ICMP error', () => {
    expect(shouldSendIcmpError(header({ protocol: PROTOCOL_ICMP }), echo)).toBe(true);
    expect(shouldSendIcmpError(header({ protocol: PROTOCOL_ICMP }), Uint8Array.from([ICMP_ECHO_REPLY, 0]))).toBe(true);
    for (const type of [3, 4, 5, 11, 12, 200]) {
      expect(shouldSendIcmpError(header({ protocol: PROTOCOL_ICMP }), Uint8Array.from([type, 0])), `type ${type}`).toBe(false);
    }
    expect(shouldSendIcmpError(header({ protocol: PROTOCOL_ICMP }), new Uint8Array(0))).toBe(false);
  });

  it('never answers a datagram sent to broadcast or multicast', () => {
    expect(shouldSendIcmpError(header({ destination: 0xffffffff }), new Uint8Array(8))).toBe(false);
    expect(shouldSendIcmpError(header({ destination: 0xe00000fb }), new Uint8Array(8))).toBe(false);
  });

  it('never answers a non-initial fragment, but may answer the first', () => {
    expect(shouldSendIcmpError(header({ fragmentOffset: 1480 }), new Uint8Array(8))).toBe(false);
    expect(shouldSendIcmpError(header({ fragmentOffset: 0, moreFragments: true }), new Uint8Array(8))).toBe(true);
  });

  it("never answers a source that is not a single host; the stack's own loopback address is one", () => {
    for (const source of [0, 0xffffffff, 0xe0000001, 0x7f000002, 0xf0000001]) {
      expect(shouldSendIcmpError(header({ source }), new Uint8Array(8)), source.toString(16)).toBe(false);
    }
    expect(shouldSendIcmpError(header({ source: 0x7f000001 }), new Uint8Array(8))).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then one token per 1/rate seconds, driven by passed-in time', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 });
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, true, false]);
    expect(bucket.take(50)).toBe(false); // half a token
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(100)).toBe(false);
    expect(bucket.take(200)).toBe(true);
  });

  it('never holds more than the burst after a long idle period', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 5 });
    let granted = 0;
    for (let i = 0; i < 100; i++) if (bucket.take(1_000_000)) granted++;
    expect(granted).toBe(5);
  });

  it('limits the long-run rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 50, burst: 10 });
    let granted = 0;
    for (let now = 0; now <= 10_000; now += 1) if (bucket.take(now)) granted++;
    // 10 at start + 50 per second for 10 seconds.
    expect(granted).toBe(10 + 500);
  });

  it('ignores time going backwards instead of minting tokens', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 });
    expect(bucket.take(5000)).toBe(true);
    expect(bucket.take(1000)).toBe(false);
    expect(bucket.take(5500)).toBe(false);
    expect(bucket.take(6000)).toBe(true);
  });

  it('rejects invalid parameters', () => {
    expect(() => new TokenBucket({ ratePerSecond: -1, burst: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: Number.NaN, burst: 1 })).toThrow(RangeError);
  });
});

describe('socketErrorForIcmp (RFC 1122 4.2.3.9, 4.1.3.3; RFC 5927)', () => {
  const table: Array<[string, number, number, { tcp: [string, boolean]; udp: string }]> = [
    ['port unreachable', ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE, { tcp: ['ECONNREFUSED', true], udp: 'ECONNREFUSED' }],
    ['protocol unreachable', ICMP_DEST_UNREACHABLE, PROTOCOL_UNREACHABLE, { tcp: ['ECONNREFUSED', true], udp: 'EHOSTUNREACH' }],
    ['net unreachable', ICMP_DEST_UNREACHABLE, NET_UNREACHABLE, { tcp: ['ENETUNREACH', false], udp: 'ENETUNREACH' }],
    ['host unreachable', ICMP_DEST_UNREACHABLE, HOST_UNREACHABLE, { tcp: ['EHOSTUNREACH', false], udp: 'EHOSTUNREACH' }],
    ['fragmentation needed', ICMP_DEST_UNREACHABLE, FRAGMENTATION_NEEDED, { tcp: ['EHOSTUNREACH', false], udp: 'EHOSTUNREACH' }],
    ['an unassigned unreachable code', ICMP_DEST_UNREACHABLE, 15, { tcp: ['EHOSTUNREACH', false], udp: 'EHOSTUNREACH' }],
    ['TTL exceeded in transit', ICMP_TIME_EXCEEDED, TTL_EXCEEDED_IN_TRANSIT, { tcp: ['EHOSTUNREACH', false], udp: 'EHOSTUNREACH' }],
    [
      'reassembly time exceeded',
      ICMP_TIME_EXCEEDED,
      FRAGMENT_REASSEMBLY_TIME_EXCEEDED,
      { tcp: ['EHOSTUNREACH', false], udp: 'EHOSTUNREACH' },
    ],
  ];
  for (const [name, type, code, expected] of table) {
    it(`maps ${name} to ${expected.tcp[0]} (${expected.tcp[1] ? 'hard' : 'soft'}) for TCP and ${expected.udp} for UDP`, () => {
      const tcp = socketErrorForIcmp(type, code, PROTOCOL_TCP);
      expect([tcp.code, tcp.hard]).toEqual(expected.tcp);
      expect(socketErrorForIcmp(type, code, PROTOCOL_UDP).code).toBe(expected.udp);
    });
  }
});
