/**
 * A link for replay tests: the test injects captured packets as if they came from the wire and
 * collects what the stack sends back.
 */
import { listenPacket } from '../../src/api/net.js';
import type { Link } from '../../src/link/link.js';
import type { Stack } from '../../src/stack.js';
import { parseIPv4Packet, type IPv4Header } from '../../src/wire/ipv4.js';
import { Reassembler } from '../../src/ip/reassembly.js';
import { Counters } from '../../src/counters.js';
import { copyBytes } from '../../src/bytes.js';

export class ReplayLink implements Link {
  readonly sent: Uint8Array[] = [];
  private receiver: ((packets: readonly Uint8Array[]) => void) | undefined;

  constructor(readonly mtu = 1500) {}

  setReceiver(receiver: (packets: readonly Uint8Array[]) => void): void {
    this.receiver = receiver;
  }

  send(packet: Uint8Array): void {
    this.sent.push(packet);
  }

  inject(packets: readonly Uint8Array[]): void {
    this.receiver?.(packets.map((p) => copyBytes(p)));
  }

  /** Take what was sent so far. */
  drain(): Uint8Array[] {
    return this.sent.splice(0);
  }

  async close(): Promise<void> {}
}

export interface Datagram {
  header: IPv4Header;
  payload: Uint8Array;
}

/** Parse and reassemble a list of IPv4 packets into whole datagrams, in completion order. */
export function datagramsOf(packets: readonly Uint8Array[]): Datagram[] {
  const reassembler = new Reassembler({ timeoutMs: 60_000, counters: new Counters('replay') });
  const out: Datagram[] = [];
  for (const packet of packets) {
    const parsed = parseIPv4Packet(packet);
    if (!parsed.ok) throw new Error(`replay: unparseable packet (${parsed.reason})`);
    if (parsed.header.moreFragments || parsed.header.fragmentOffset !== 0) {
      const whole = reassembler.accept(parsed.header, parsed.payload, packet, 0);
      if (whole) out.push({ header: whole.header, payload: whole.payload });
    } else {
      out.push({ header: parsed.header, payload: copyBytes(parsed.payload) });
    }
  }
  return out;
}

/**
 * Run a UDP echo service on port 7 of `stack` (on `link`), inject `packets` and return what the
 * stack sent in answer: the echoes, and whatever else it said (ICMP errors).
 */
export async function answersOfUdpEcho(stack: Stack, link: ReplayLink, packets: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const echo = await listenPacket('udp', ':7', { stack });
  const buffer = new Uint8Array(65536);
  const serving = (async () => {
    for (;;) {
      const { n, addr } = await echo.readFrom(buffer).catch(() => ({ n: -1, addr: undefined }));
      if (n < 0 || addr === undefined) return;
      await echo.writeTo(buffer.subarray(0, n), addr);
    }
  })();
  link.inject(packets);
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
  const sent = link.drain();
  echo.close();
  await serving;
  return sent;
}
