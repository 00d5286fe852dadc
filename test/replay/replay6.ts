/**
 * What the IPv6 replay tests share (replay-link.ts is the IPv4 side, and its ReplayLink serves
 * both): the IPv6 packets of a fixture, and whole datagrams reassembled from what the kernel or
 * the stack sent. The reassembly is the test's own (RFC 8200 4.5, no overlap or timeout
 * handling: the input is the kernel's or the stack's output, which has neither), so that the
 * stack's fragments are checked by code that is not the stack's.
 */
import { readFileSync } from 'node:fs';
import { readPcap } from '../../src/pcap/pcap.js';
import { parseIPv6Address, type IPv6Address } from '../../src/wire/address6.js';
import { parseIPv6Packet, PROTOCOL_ICMPV6, type IPv6Header } from '../../src/wire/ipv6.js';
import { walkIPv6Extensions } from '../../src/wire/ipv6-extensions.js';

/** The addresses of the capture (scripts/capture-fixtures.ts): a kernel client and the server the stack stands in for. */
export const CLIENT6 = parseIPv6Address('fd77::1')!;
export const SERVER6 = parseIPv6Address('fd77::2')!;
/** The IPv4 address the replayed stack also has (a Stack always has one). */
export const SERVER4 = '10.77.0.2';

/** The IPv6 packets (link header removed, copies) of test/fixtures/`file`, in file order. */
export function ipv6PacketsOf(file: string): Uint8Array[] {
  return readPcap(readFileSync(new URL(`../fixtures/${file}`, import.meta.url)))
    .map((record) => record.data)
    .filter((packet) => packet[0]! >> 4 === 6);
}

/** RFC 4861 4: router and neighbour solicitations and advertisements, and redirects (ICMPv6 133-137). */
export function isNeighbourDiscovery(packet: Uint8Array): boolean {
  return packet[6] === PROTOCOL_ICMPV6 && packet[40]! >= 133 && packet[40]! <= 137;
}

/** The packets from `source`, neighbour discovery left out (a TUN device has no link layer to resolve). */
export function packetsFrom(packets: readonly Uint8Array[], source: IPv6Address): Uint8Array[] {
  return packets.filter((p) => readSource(p) === source && !isNeighbourDiscovery(p));
}

function readSource(packet: Uint8Array): IPv6Address | undefined {
  const parsed = parseIPv6Packet(packet);
  return parsed.ok ? parsed.header.source : undefined;
}

export interface Datagram6 {
  header: IPv6Header;
  /** The upper-layer protocol (after the extension headers, or the fragments' first next header). */
  protocol: number;
  /** The upper-layer bytes (reassembled if the datagram came in fragments). */
  payload: Uint8Array;
  /** How many packets carried it (1 if it was not fragmented). */
  fragments: number;
}

interface Partial6 {
  header: IPv6Header;
  protocol: number;
  pieces: Array<{ offset: number; data: Uint8Array; more: boolean }>;
}

/** Parse and reassemble IPv6 packets into whole datagrams, in completion order. Throws on anything malformed. */
export function datagrams6Of(packets: readonly Uint8Array[]): Datagram6[] {
  const pending = new Map<string, Partial6>();
  const out: Datagram6[] = [];
  for (const packet of packets) {
    const parsed = parseIPv6Packet(packet);
    if (!parsed.ok) throw new Error(`replay: unparseable IPv6 packet (${parsed.reason})`);
    const chain = walkIPv6Extensions(parsed.packet, 'process');
    if (!chain.ok) throw new Error(`replay: bad extension header chain (${chain.reason})`);
    const { fragment } = chain;
    if (fragment === undefined) {
      out.push({ header: parsed.header, protocol: chain.protocol, payload: parsed.packet.slice(chain.offset), fragments: 1 });
      continue;
    }
    const key = `${parsed.header.source}${parsed.header.destination}${fragment.identification}`;
    const entry = pending.get(key) ?? { header: parsed.header, protocol: fragment.nextHeader, pieces: [] };
    pending.set(key, entry);
    entry.pieces.push({ offset: fragment.fragmentOffset, data: parsed.packet.slice(chain.offset), more: fragment.moreFragments });
    const whole = joined(entry.pieces);
    if (whole !== undefined) {
      pending.delete(key);
      out.push({ header: entry.header, protocol: entry.protocol, payload: whole, fragments: entry.pieces.length });
    }
  }
  if (pending.size > 0) throw new Error(`replay: ${pending.size} datagram(s) left incomplete`);
  return out;
}

/** The fragments' data joined, once they cover everything up to the last one (M clear). */
function joined(pieces: Partial6['pieces']): Uint8Array | undefined {
  const last = pieces.find((p) => !p.more);
  if (last === undefined) return undefined;
  const total = last.offset + last.data.length;
  const sorted = [...pieces].sort((a, b) => a.offset - b.offset);
  let covered = 0;
  for (const piece of sorted) {
    if (piece.offset !== covered) return undefined;
    covered += piece.data.length;
  }
  if (covered !== total) return undefined;
  const whole = new Uint8Array(total);
  for (const piece of sorted) whole.set(piece.data, piece.offset);
  return whole;
}
