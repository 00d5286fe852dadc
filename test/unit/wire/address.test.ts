import { describe, expect, it } from 'vitest';
import {
  ANY_ADDRESS,
  BROADCAST_ADDRESS,
  formatIPv4,
  isMulticast,
  martianClass,
  parseCidr,
  parseIPv4Address,
  readIPv4,
  writeIPv4,
} from '../../../src/wire/address.js';

describe('IPv4 addresses', () => {
  it('parses dotted quads into network-order uint32 values', () => {
    expect(parseIPv4Address('10.0.0.2')).toBe(0x0a000002);
    expect(parseIPv4Address('192.168.0.199')).toBe(0xc0a800c7);
    expect(parseIPv4Address('0.0.0.0')).toBe(ANY_ADDRESS);
    expect(parseIPv4Address('255.255.255.255')).toBe(BROADCAST_ADDRESS);
    expect(parseIPv4Address('255.255.255.255')).toBeGreaterThan(0); // unsigned, not -1
  });

  it('formats back to the same text', () => {
    for (const text of ['10.0.0.2', '0.0.0.0', '255.255.255.255', '1.2.3.4', '224.0.0.251', '128.0.0.1']) {
      expect(formatIPv4(parseIPv4Address(text)!)).toBe(text);
    }
    expect(formatIPv4(0xc0a80001)).toBe('192.168.0.1');
  });

  it('rejects malformed text', () => {
    for (const text of [
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      '1.2.3.04',
      '',
      '1.2.3.4.5',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '1..3.4',
      'a.b.c.d',
      '1.2.3.-4',
      '1234.1.1.1',
      '0x1.2.3.4',
    ]) {
      expect(parseIPv4Address(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('parses CIDR notation and rejects bad prefixes', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ address: 0x0a000001, prefixLength: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefixLength: 0 });
    expect(parseCidr('1.2.3.4/32')).toEqual({ address: 0x01020304, prefixLength: 32 });
    for (const text of [
      '10.0.0.1',
      '10.0.0.1/',
      '10.0.0.1/33',
      '10.0.0.1/-1',
      '10.0.0.1/a',
      '10.0.0/24',
      '/24',
      '10.0.0.1/24/1',
      '10.0.0.1/100',
    ]) {
      expect(parseCidr(text), text).toBeUndefined();
    }
  });

  it('reads and writes addresses big-endian', () => {
    const bytes = new Uint8Array(6);
    writeIPv4(bytes, 1, 0xc0a800c7);
    expect([...bytes]).toEqual([0, 0xc0, 0xa8, 0x00, 0xc7, 0]);
    expect(readIPv4(bytes, 1)).toBe(0xc0a800c7);
    writeIPv4(bytes, 2, BROADCAST_ADDRESS);
    expect(readIPv4(bytes, 2)).toBe(0xffffffff);
  });

  it('recognises multicast (224.0.0.0/4) only', () => {
    expect(isMulticast(parseIPv4Address('224.0.0.1')!)).toBe(true);
    expect(isMulticast(parseIPv4Address('239.255.255.255')!)).toBe(true);
    expect(isMulticast(parseIPv4Address('223.255.255.255')!)).toBe(false);
    expect(isMulticast(parseIPv4Address('240.0.0.0')!)).toBe(false);
    expect(isMulticast(BROADCAST_ADDRESS)).toBe(false);
  });

  it('classifies martian addresses (RFC 1122 3.2.1.3, RFC 1812 5.3.7), our own address only when given', () => {
    const classOf = (text: string, own?: string) =>
      martianClass(parseIPv4Address(text)!, own === undefined ? undefined : parseIPv4Address(own));
    expect(classOf('10.0.0.2', '10.0.0.2')).toBe('self');
    expect(classOf('10.0.0.2')).toBeUndefined();
    expect(classOf('0.0.0.0')).toBe('zero_net');
    expect(classOf('0.255.255.255')).toBe('zero_net');
    expect(classOf('127.0.0.1')).toBe('loopback');
    expect(classOf('127.255.0.9')).toBe('loopback');
    expect(classOf('224.0.0.5')).toBe('multicast');
    expect(classOf('239.255.255.255')).toBe('multicast');
    expect(classOf('240.0.0.1')).toBe('class_e');
    expect(classOf('255.255.255.254')).toBe('class_e');
    expect(classOf('255.255.255.255')).toBe('broadcast');
    for (const ordinary of ['1.0.0.0', '126.255.255.255', '128.0.0.0', '223.255.255.255', '10.0.0.1', '192.168.1.1']) {
      expect(classOf(ordinary, '10.0.0.2'), ordinary).toBeUndefined();
    }
  });
});
