/**
 * ICMP errors for TCP (RFC 1122 4.2.3.9, RFC 5927): matched to the connection by the quoted
 * four-tuple, accepted only when the quoted sequence number is one we have in flight, hard
 * errors abort an opening connection, soft ones are reported if it later times out.
 */
import { describe, expect, it } from 'vitest';
import { dial } from '../../../src/api/net.js';
import { FakeClock } from '../../../src/clock.js';
import { parseIPv4Address } from '../../../src/wire/address.js';
import { encodeIcmpError, HOST_UNREACHABLE, ICMP_DEST_UNREACHABLE, PORT_UNREACHABLE } from '../../../src/wire/icmpv4.js';
import { IPV4_MIN_HEADER, PROTOCOL_ICMP, writeIPv4Header } from '../../../src/wire/ipv4.js';
import { Stack } from '../../../src/stack.js';
import { readUint32, writeUint32 } from '../../../src/bytes.js';
import { ReplayLink } from '../../replay/replay-link.js';
import { ManualTime } from '../../support/manual-time.js';
import { expectCode } from '../../support/stack-pair.js';

const ROUTER = parseIPv4Address('10.0.0.1')!;
const STACK = parseIPv4Address('10.0.0.2')!;

/** An ICMP error from the router about `offending` (a packet the stack sent). */
function icmpAbout(offending: Uint8Array, code: number): Uint8Array {
  const message = encodeIcmpError(ICMP_DEST_UNREACHABLE, code, offending);
  const packet = new Uint8Array(IPV4_MIN_HEADER + message.length);
  writeIPv4Header(packet, 0, { source: ROUTER, destination: STACK, protocol: PROTOCOL_ICMP, payloadLength: message.length });
  packet.set(message, IPV4_MIN_HEADER);
  return packet;
}

function setup() {
  const link = new ReplayLink(1500);
  const clock = new FakeClock(0);
  const stack = new Stack({ link, address: STACK, clock, manualTimers: true });
  return { link, time: ManualTime.of(stack), stack };
}

describe('ICMP errors for TCP', () => {
  it('port unreachable for our SYN makes dial reject with ECONNREFUSED', async () => {
    const { link, stack } = setup();
    const pending = dial('tcp', '10.0.0.1:80', { stack });
    const [syn] = link.drain();
    expect(syn).toBeDefined();
    link.inject([icmpAbout(syn!, PORT_UNREACHABLE)]);
    await expectCode(pending, 'ECONNREFUSED');
    expect(stack.tcp.connectionCount).toBe(0);
    expect(stack.counters('tcp').get('icmp_errors')).toBe(1);
  });

  it('ignores an error whose quoted sequence number is not in flight (RFC 5927 4.1)', async () => {
    const { link, time, stack } = setup();
    const pending = dial('tcp', '10.0.0.1:80', { stack, timeout: 500 });
    const [syn] = link.drain();
    const forged = Uint8Array.from(syn!);
    // A quarter of the sequence space away from the SYN we sent.
    writeUint32(forged, IPV4_MIN_HEADER + 4, (readUint32(forged, IPV4_MIN_HEADER + 4) + 0x40000000) >>> 0);
    link.inject([icmpAbout(forged, PORT_UNREACHABLE)]);
    expect(stack.counters('tcp').get('drop.icmp_out_of_window')).toBe(1);
    expect(stack.tcp.connectionCount).toBe(1);
    time.advance(500);
    await expectCode(pending, 'ETIMEDOUT');
  });

  it('reports a soft error (host unreachable) when the handshake finally times out', async () => {
    const { link, time, stack } = setup();
    const pending = dial('tcp', '10.0.0.1:80', { stack });
    const [syn] = link.drain();
    link.inject([icmpAbout(syn!, HOST_UNREACHABLE)]);
    expect(stack.tcp.connectionCount).toBe(1);
    let settled = false;
    pending.catch(() => {}).finally(() => (settled = true));
    for (let i = 0; i < 200 && !settled; i++) {
      time.advance(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expectCode(pending, 'EHOSTUNREACH');
  });
});
