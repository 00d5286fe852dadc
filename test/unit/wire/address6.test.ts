import { describe, expect, it } from 'vitest';
import {
  formatIPv6,
  IPV6_LOOPBACK,
  IPV6_UNSPECIFIED,
  ipv4FromMapped,
  ipv4MappedAddress,
  ipv6FromGroups,
  ipv6Groups,
  ipv6MartianClass,
  ipv6MulticastScope,
  ipv6PrefixMatches,
  isIPv4Mapped,
  isIPv6Documentation,
  isIPv6LinkLocal,
  isIPv6Loopback,
  isIPv6Multicast,
  isIPv6Unspecified,
  parseIPv6Address,
  parseIPv6Cidr,
  readIPv6,
  writeIPv6,
  type IPv6Address,
} from '../../../src/wire/address6.js';

function parse(text: string): IPv6Address {
  const address = parseIPv6Address(text);
  if (address === undefined) throw new Error(`expected ${text} to parse`);
  return address;
}

describe('IPv6 address text (RFC 4291 2.2)', () => {
  it('parses the full, compressed and mixed forms into 8 groups', () => {
    expect(ipv6Groups(parse('2001:db8:0:0:8:800:200c:417a'))).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(ipv6Groups(parse('2001:DB8::8:800:200C:417A'))).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(ipv6Groups(parse('ff01::101'))).toEqual([0xff01, 0, 0, 0, 0, 0, 0, 0x101]);
    expect(parse('::1')).toBe(IPV6_LOOPBACK);
    expect(parse('::')).toBe(IPV6_UNSPECIFIED);
    expect(parse('0:0:0:0:0:0:0:0')).toBe(IPV6_UNSPECIFIED);
    expect(ipv6Groups(parse('fd00::'))).toEqual([0xfd00, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Groups(parse('1:2:3:4:5:6:7::'))).toEqual([1, 2, 3, 4, 5, 6, 7, 0]); // `::` for a single group is accepted
    expect(ipv6Groups(parse('::2:3:4:5:6:7:8'))).toEqual([0, 2, 3, 4, 5, 6, 7, 8]);
    expect(ipv6Groups(parse('0:0:0:0:0:0:13.1.68.3'))).toEqual([0, 0, 0, 0, 0, 0, 0x0d01, 0x4403]);
    expect(ipv6Groups(parse('::ffff:129.144.52.38'))).toEqual([0, 0, 0, 0, 0, 0xffff, 0x8190, 0x3426]);
    expect(ipv6Groups(parse('1:2:3:4:5:6:1.2.3.4'))).toEqual([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]);
    expect(ipv6Groups(parse('0001:0002:000a:00ff:0fff:ffff:0:0'))).toEqual([1, 2, 0xa, 0xff, 0xfff, 0xffff, 0, 0]);
  });

  it('rejects zones, brackets, prefixes and every malformed form', () => {
    for (const text of [
      '',
      ':',
      ':::',
      'fe80::1%eth0',
      'fe80::1%1',
      '[::1]',
      'fd00::1/64',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
      '::1:2:3:4:5:6:7:8',
      '12345::',
      ':1::',
      '1::2:',
      '1:',
      ':1',
      'g::1',
      ' ::1',
      '::1 ',
      '::ffff:1.2.3',
      '::ffff:1.2.3.256',
      '::ffff:01.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4',
      '::1.2.3.4:5',
      '1.2.3.4',
      '::ffff:1.2.3.4.5',
      '1:2:3:4:5:6:7:8:1.2.3.4',
      '0000:0000:0000:0000:0000:0000:0000:0000:0',
    ]) {
      expect(parseIPv6Address(text), text).toBeUndefined();
    }
  });

  it('formats per RFC 5952: lowercase, no leading zeros, the longest zero run compressed', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // 4.1, 4.2.1
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: a single zero group stays
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3: the longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3: the first of equal runs
      ['2001:DB8::ABCD', '2001:db8::abcd'], // 4.3
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['fd00:0:0:0:0:0:0:2', 'fd00::2'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // section 5: mixed notation for IPv4-mapped
      ['::ffff:c000:201', '::ffff:192.0.2.1'],
      ['0:0:0:0:0:fffe:c000:201', '::fffe:c000:201'], // not mapped: plain hex
      ['fe80:0:1:0:0:0:0:0', 'fe80:0:1::'], // 4.2.3: the longest run, though later
      ['fe80::1:0:0:0', 'fe80::1:0:0:0'], // 4.2.3: equal runs, the first
    ];
    for (const [input, expected] of cases) expect(formatIPv6(parse(input)), input).toBe(expected);
  });

  it('round-trips formatted text for addresses of every zero pattern', () => {
    for (let mask = 0; mask < 256; mask++) {
      const groups = Array.from({ length: 8 }, (_, i) => ((mask >> i) & 1 ? 0 : 0x1000 + i * 0x111));
      const address = ipv6FromGroups(groups);
      const text = formatIPv6(address);
      expect(parseIPv6Address(text), text).toBe(address);
      expect(text).not.toMatch(/:::/);
    }
  });

  it('parses prefixes', () => {
    expect(parseIPv6Cidr('fd00::1/64')).toEqual({ address: parse('fd00::1'), prefixLength: 64 });
    expect(parseIPv6Cidr('::/0')).toEqual({ address: IPV6_UNSPECIFIED, prefixLength: 0 });
    expect(parseIPv6Cidr('::1/128')).toEqual({ address: IPV6_LOOPBACK, prefixLength: 128 });
    for (const text of ['fd00::1', 'fd00::1/129', 'fd00::1/', 'fd00::1/-1', 'fd00::1/64/1', 'fd00::g/64', 'fd00::1/0064']) {
      expect(parseIPv6Cidr(text), text).toBeUndefined();
    }
  });

  it('matches prefixes bit by bit', () => {
    const a = parse('fd00:1:2:3::1');
    expect(ipv6PrefixMatches(a, parse('fd00:1:2:3::ffff'), 64)).toBe(true);
    expect(ipv6PrefixMatches(a, parse('fd00:1:2:4::1'), 64)).toBe(false);
    expect(ipv6PrefixMatches(a, parse('fd00:1:2:3::1'), 128)).toBe(true);
    expect(ipv6PrefixMatches(a, parse('fd00:1:2:3::2'), 128)).toBe(false);
    expect(ipv6PrefixMatches(a, parse('::'), 0)).toBe(true);
    // fe80::/10 covers febf:: but not fec0::
    expect(ipv6PrefixMatches(parse('fe80::'), parse('febf::1'), 10)).toBe(true);
    expect(ipv6PrefixMatches(parse('fe80::'), parse('fec0::1'), 10)).toBe(false);
  });
});

describe('IPv6 address representation', () => {
  it('is 8 code units, the groups in network order, compared with ===', () => {
    const address = parse('2001:db8::1');
    expect(address).toHaveLength(8);
    expect(address).toBe('\u2001\u0db8\0\0\0\0\0\u0001');
    expect(parse('2001:0db8:0::0:1') === address).toBe(true);
    const map = new Map<string, number>([[address, 1]]);
    expect(map.get(parse('2001:db8:0:0:0:0:0:1'))).toBe(1);
  });

  it('reads and writes the 16 bytes of the wire form', () => {
    const bytes = new Uint8Array(20);
    const address = parse('fe80::d800:1:dfff:ffff'); // code units in the surrogate range are plain data
    writeIPv6(bytes, 2, address);
    expect([...bytes.subarray(2, 18)]).toEqual([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xd8, 0, 0, 1, 0xdf, 0xff, 0xff, 0xff]);
    expect(bytes[0]).toBe(0);
    expect(bytes[18]).toBe(0);
    expect(readIPv6(bytes, 2)).toBe(address);
    expect(formatIPv6(readIPv6(bytes, 2))).toBe('fe80::d800:1:dfff:ffff');
  });

  it('refuses a group count other than 8', () => {
    expect(() => ipv6FromGroups([1, 2, 3])).toThrow(RangeError);
  });

  it('maps IPv4 addresses into ::ffff:0:0/96 and back', () => {
    const mapped = ipv4MappedAddress(0xc0000201);
    expect(formatIPv6(mapped)).toBe('::ffff:192.0.2.1');
    expect(ipv4FromMapped(mapped)).toBe(0xc0000201);
    expect(ipv4FromMapped(ipv4MappedAddress(0xffffffff))).toBe(0xffffffff);
    expect(ipv4FromMapped(parse('::1.2.3.4'))).toBeUndefined(); // the deprecated compatible form is not mapped
    expect(ipv4FromMapped(parse('1::ffff:1.2.3.4'))).toBeUndefined();
  });
});

describe('IPv6 address classes', () => {
  it('classifies the special prefixes', () => {
    expect(isIPv6Unspecified(parse('::'))).toBe(true);
    expect(isIPv6Unspecified(parse('::1'))).toBe(false);
    expect(isIPv6Loopback(parse('::1'))).toBe(true);
    expect(isIPv6Loopback(parse('::2'))).toBe(false);
    expect(isIPv6Multicast(parse('ff02::1'))).toBe(true);
    expect(isIPv6Multicast(parse('fe80::1'))).toBe(false);
    expect(ipv6MulticastScope(parse('ff02::1'))).toBe(2);
    expect(ipv6MulticastScope(parse('ff0e::1'))).toBe(14);
    expect(isIPv6LinkLocal(parse('fe80::1'))).toBe(true);
    expect(isIPv6LinkLocal(parse('febf:ffff::1'))).toBe(true);
    expect(isIPv6LinkLocal(parse('fec0::1'))).toBe(false);
    expect(isIPv4Mapped(parse('::ffff:10.0.0.1'))).toBe(true);
    expect(isIPv4Mapped(parse('::10.0.0.1'))).toBe(false);
    expect(isIPv6Documentation(parse('2001:db8:ffff::1'))).toBe(true);
    expect(isIPv6Documentation(parse('2001:db9::1'))).toBe(false);
    expect(isIPv6Documentation(parse('3fff:fff::1'))).toBe(true); // 3fff::/20 (RFC 9637)
    expect(isIPv6Documentation(parse('3fff:1000::1'))).toBe(false);
  });

  it('gives the martian class of addresses that never name a peer', () => {
    const own = parse('fd00::2');
    expect(ipv6MartianClass(own, own)).toBe('self');
    expect(ipv6MartianClass(own)).toBeUndefined();
    expect(ipv6MartianClass(parse('::'))).toBe('unspecified');
    expect(ipv6MartianClass(parse('::1'))).toBe('loopback');
    expect(ipv6MartianClass(parse('ff02::2'))).toBe('multicast');
    expect(ipv6MartianClass(parse('::ffff:10.0.0.1'))).toBe('ipv4_mapped');
    // The kernel side of a TUN device speaks from its link-local address: a peer, not a martian.
    expect(ipv6MartianClass(parse('fe80::1234'), own)).toBeUndefined();
    expect(ipv6MartianClass(parse('2001:db8::1'), own)).toBeUndefined();
    expect(ipv6MartianClass(parse('fd00::1'), own)).toBeUndefined();
  });
});
