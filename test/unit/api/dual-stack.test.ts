/**
 * Which addresses and families listen, listenPacket and dial take, as Go's net package decides
 * them (src/api/destination.ts): "tcp" with the empty host, 0.0.0.0 or [::] takes both families
 * (golang/go#17615), "tcp4" takes [::] as 0.0.0.0 (golang/go#18806), "tcp6" refuses IPv4
 * literals; a bound address is one of the stack's own or a loopback address; IPv6 needs the
 * stack's IPv6 address (StackOptions.address6).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dial, listen, listenPacket } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { Stack } from '../../../src/stack.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { IPV6_LOOPBACK, parseIPv6Address } from '../../../src/wire/address6.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { expectCode } from '../../support/stack-pair.js';

const ADDRESS6 = parseIPv6Address('fd00::2')!;

const stacks: Stack[] = [];
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.close(0);
});

/** A stack at 10.0.0.2 and fd00::2 (IPv4 alone with `ipv6: false`) on a link that records what it sends. */
function makeStack(options: { ipv6?: boolean } = {}): { link: ReplayLink; stack: Stack } {
  const link = new ReplayLink(1500);
  const address6 = options.ipv6 === false ? undefined : 'fd00::2';
  const stack = new Stack({ link, address: '10.0.0.2', address6, clock: new FakeClock(0), manualTimers: true });
  stacks.push(stack);
  return { link, stack };
}

describe('the stack options', () => {
  it('takes the IPv6 address as text or in the internal form, and refuses what is not one', () => {
    expect(makeStack().stack.address6).toBe(ADDRESS6);
    expect(makeStack().stack.address6Text).toBe('fd00::2');
    expect(makeStack({ ipv6: false }).stack.address6).toBeUndefined();
    expect(makeStack({ ipv6: false }).stack.address6Text).toBeUndefined();
    expect(() => new Stack({ link: new ReplayLink(1500), address: '10.0.0.2', address6: 'fd00::g' })).toThrow(/not an IPv6 address/);
  });
});

describe('listen: families and bound addresses', () => {
  it.each([
    ['tcp', ':0', undefined],
    ['tcp', '0.0.0.0:0', undefined],
    ['tcp', '[::]:0', undefined],
    ['tcp4', ':0', 4],
    ['tcp4', '0.0.0.0:0', 4],
    ['tcp4', '[::]:0', 4],
    ['tcp6', ':0', 6],
    ['tcp6', '[::]:0', 6],
  ] as const)('%s %s listens on every address of family %s', async (network, address, family) => {
    const { stack } = makeStack();
    const listener = await listen(network, address, { stack });
    expect(listener.family).toBe(family);
    expect(listener.boundAddress).toBeUndefined();
    expect(listener.addr.family).toBe(family === 6 ? 'IPv6' : 'IPv4');
    expect(listener.addr.toString()).toBe(family === 6 ? `[fd00::2]:${listener.addr.port}` : `10.0.0.2:${listener.addr.port}`);
  });

  it.each([
    ['tcp', '[fd00::2]:80', 'fd00::2', 6],
    ['tcp6', '[fd00::2]:80', 'fd00::2', 6],
    ['tcp', '[::1]:80', '::1', 6],
    ['tcp', '10.0.0.2:80', '10.0.0.2', 4],
    ['tcp4', '127.0.0.1:80', '127.0.0.1', 4],
  ] as const)('%s %s binds %s alone', async (network, address, text, family) => {
    const { stack } = makeStack();
    const listener = await listen(network, address, { stack });
    expect(listener.family).toBe(family);
    expect(listener.boundAddress).toBe(family === 6 ? parseIPv6Address(text) : parseIPv4Address(text));
    expect(listener.addr.address).toBe(text);
    expect(listener.addr.toString()).toBe(family === 6 ? `[${text}]:80` : `${text}:80`);
  });

  it('refuses an address of the other family than tcp4 / tcp6 asks for (Go: no suitable address)', async () => {
    const { stack } = makeStack();
    for (const [network, address] of [
      ['tcp6', '0.0.0.0:80'],
      ['tcp6', '10.0.0.2:80'],
      ['tcp4', '[fd00::2]:80'],
      ['tcp4', '[::1]:80'],
    ] as const) {
      const error = await expectCode(listen(network, address, { stack }), 'EINVAL');
      expect(error.message).toContain(`no suitable address for network ${network}`);
    }
  });

  it('refuses an IPv6 address that is not the stack own with EADDRNOTAVAIL, naming the ones it has', async () => {
    const { stack } = makeStack();
    const error = await expectCode(listen('tcp', '[fd00::3]:80', { stack }), 'EADDRNOTAVAIL');
    expect(error.message).toContain('10.0.0.2, 127.0.0.1, fd00::2, ::1');
    await expectCode(listen('tcp', '[::ffff:10.0.0.2]:80', { stack }), 'EADDRNOTAVAIL');
    await expectCode(listenPacket('udp', '[fe80::2]:53', { stack }), 'EADDRNOTAVAIL');
  });

  it('refuses IPv6 with EADDRNOTAVAIL while the stack has IPv6 off, and still listens on both for "tcp"', async () => {
    const { stack } = makeStack({ ipv6: false });
    for (const [network, address] of [
      ['tcp6', ':80'],
      ['tcp', '[::1]:80'],
      ['tcp', '[fd00::2]:80'],
    ] as const) {
      const error = await expectCode(listen(network, address, { stack }), 'EADDRNOTAVAIL');
      expect(error.message).toContain('IPv6 is off');
    }
    await expectCode(listenPacket('udp6', ':53', { stack }), 'EADDRNOTAVAIL');
    const listener = await listen('tcp', '[::]:80', { stack });
    expect(listener.family).toBeUndefined();
    expect(listener.addr.toString()).toBe('10.0.0.2:80');
  });

  it('transparent listeners take :0, 0.0.0.0:0 and [::]:0 alone', async () => {
    const { stack } = makeStack();
    const listener = await listen('tcp', '[::]:0', { stack, transparent: true });
    expect(listener.transparent).toBe(true);
    listener.close();
    await expectCode(listen('tcp', '[fd00::2]:0', { stack, transparent: true }), 'EINVAL');
  });
});

describe('listenPacket: families', () => {
  it('binds udp6 to the IPv6 address, udp4 to the IPv4 one, udp to both', async () => {
    const { stack } = makeStack();
    const v6 = await listenPacket('udp6', ':0', { stack });
    expect(v6.family).toBe(6);
    expect(v6.localAddr.toString()).toBe(`[fd00::2]:${v6.localAddr.port}`);
    const v4 = await listenPacket('udp4', '[::]:0', { stack });
    expect(v4.family).toBe(4);
    expect(v4.localAddr.family).toBe('IPv4');
    const both = await listenPacket('udp', ':0', { stack });
    expect(both.family).toBeUndefined();
    const loopback = await listenPacket('udp', '[::1]:0', { stack });
    expect(loopback.boundAddress).toBe(IPV6_LOOPBACK);
  });

  it('writeTo keeps to the socket family and refuses IPv6 while it is off', async () => {
    const data = new Uint8Array([1, 2, 3]);
    const { stack } = makeStack();
    const v6 = await listenPacket('udp6', ':0', { stack });
    const wrongFamily = await expectCode(v6.writeTo(data, '10.0.0.1:53'), 'EINVAL');
    expect(wrongFamily.message).toContain('no suitable address for network udp6');
    const bound4 = await listenPacket('udp', '10.0.0.2:0', { stack });
    await expectCode(bound4.writeTo(data, '[fd00::1]:53'), 'EINVAL');
    const off = makeStack({ ipv6: false }).stack;
    const socket = await listenPacket('udp', ':0', { stack: off });
    const error = await expectCode(socket.writeTo(data, '[fd00::1]:53'), 'ENETUNREACH');
    expect(error.message).toContain('IPv6 is off');
    await expectCode(v6.writeTo(data, '[fd00::1]:0'), 'EINVAL');
  });
});

describe('dial: IPv6 destinations', () => {
  it('refuses every IPv6 destination while the stack has IPv6 off, with ENETUNREACH', async () => {
    const { stack, link } = makeStack({ ipv6: false });
    for (const address of ['[fd00::1]:80', '[2001:db8::1]:443']) {
      const error = await expectCode(dial('tcp', address, { stack }), 'ENETUNREACH');
      expect(error.message).toContain('IPv6 is off');
    }
    await expectCode(dial('udp', '[fd00::1]:53', { stack }), 'ENETUNREACH');
    await expectCode(dial('tcp6', 'localhost:80', { stack }), 'ENETUNREACH');
    expect(link.sent).toHaveLength(0);
  });

  it('refuses destinations that are never a peer: multicast, unspecified, IPv4-mapped', async () => {
    const { stack, link } = makeStack();
    const mapped = await expectCode(dial('tcp', '[::ffff:10.0.0.1]:80', { stack }), 'ENETUNREACH');
    expect(mapped.message).toContain('dial 10.0.0.1');
    const multicast = await expectCode(dial('tcp', '[ff02::1]:80', { stack }), 'ENETUNREACH');
    expect(multicast.message).toContain('multicast');
    await expectCode(dial('udp', '[ff05::2]:53', { stack }), 'ENETUNREACH');
    expect(link.sent).toHaveLength(0);
  });

  it('refuses a literal of the other family than tcp4 / tcp6 asks for', async () => {
    const { stack } = makeStack();
    await expectCode(dial('tcp4', '[fd00::1]:80', { stack }), 'EINVAL');
    await expectCode(dial('tcp6', '10.0.0.1:80', { stack }), 'EINVAL');
    await expectCode(dial('udp6', '0.0.0.0:80', { stack }), 'EINVAL');
    await expectCode(dial('tcp', '[fe80::1%eth0]:80', { stack }), 'EINVAL');
  });

  it('skips a name resolving to IPv6 while IPv6 is off, and dials its IPv4 address', async () => {
    const { stack, link } = makeStack({ ipv6: false });
    const dialing = dial('tcp', 'example.test:80', { stack, resolver: async () => ['fd00::1', '10.0.0.1'] });
    // Nothing answers on the replay link: the dial ends when the stack closes after the test.
    dialing.catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(link.sent).toHaveLength(1);
    expect(link.sent[0]![0]! >>> 4).toBe(4); // the SYN, over IPv4
    expect(link.sent[0]!.subarray(16, 20)).toEqual(new Uint8Array([10, 0, 0, 1]));
  });

  it('keeps a name to the family asked for, failing with ENOTFOUND when it has none', async () => {
    const { stack } = makeStack();
    const resolver = async () => ['10.0.0.1'];
    const error = await expectCode(dial('tcp6', 'example.test:80', { stack, resolver }), 'ENOTFOUND');
    expect(error.message).toContain('no IPv6 address');
  });
});
