/**
 * IPv6 packets and extension headers built byte by byte for tests, independent of the codecs
 * under test (src/wire/ipv6.ts, ipv6-extensions.ts), so that a test can also build packets that
 * lie.
 */
import { writeUint16, writeUint32 } from '../../src/bytes.js';
import { parseIPv6Address, writeIPv6, type IPv6Address } from '../../src/wire/address6.js';

function address(text: string): IPv6Address {
  const parsed = parseIPv6Address(text);
  if (parsed === undefined) throw new Error(`bad test address ${text}`);
  return parsed;
}

/** Default addresses of the test packets: fd00::1 -> fd00::2. */
export const TEST_SOURCE6 = address('fd00::1');
export const TEST_DESTINATION6 = address('fd00::2');

export interface IPv6PacketFields {
  nextHeader: number;
  payload?: Uint8Array;
  source?: IPv6Address;
  destination?: IPv6Address;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  /** Overrides the payload length field (for packets that lie). */
  payloadLength?: number;
  /** Overrides the version nibble. */
  version?: number;
}

/** A 40-byte IPv6 header followed by `payload`. */
export function ipv6Bytes(fields: IPv6PacketFields): Uint8Array {
  const payload = fields.payload ?? new Uint8Array(0);
  const packet = new Uint8Array(40 + payload.length);
  writeUint32(packet, 0, (((fields.version ?? 6) << 28) | ((fields.trafficClass ?? 0) << 20) | (fields.flowLabel ?? 0)) >>> 0);
  writeUint16(packet, 4, fields.payloadLength ?? payload.length);
  packet[6] = fields.nextHeader;
  packet[7] = fields.hopLimit ?? 64;
  writeIPv6(packet, 8, fields.source ?? TEST_SOURCE6);
  writeIPv6(packet, 24, fields.destination ?? TEST_DESTINATION6);
  packet.set(payload, 40);
  return packet;
}

/**
 * A hop-by-hop or destination options header: `options` (raw TLV bytes) padded with PadN (or
 * Pad1 for one byte) to a multiple of 8 bytes.
 */
export function optionsHeader(nextHeader: number, options: number[] = []): Uint8Array {
  const used = 2 + options.length;
  const length = Math.ceil(used / 8) * 8;
  const header = new Uint8Array(length);
  header[0] = nextHeader;
  header[1] = length / 8 - 1;
  header.set(options, 2);
  const pad = length - used;
  if (pad === 1) header[used] = 0;
  else if (pad >= 2) {
    header[used] = 1;
    header[used + 1] = pad - 2;
  }
  return header;
}

/** A routing header of `type` with `segmentsLeft`, and `addresses` 16-byte addresses after 4 reserved bytes (type 0's layout). */
export function routingHeader(nextHeader: number, type: number, segmentsLeft: number, addresses = 0): Uint8Array {
  const header = new Uint8Array(8 + 16 * addresses);
  header[0] = nextHeader;
  header[1] = 2 * addresses;
  header[2] = type;
  header[3] = segmentsLeft;
  return header;
}

/** A fragment header; `offset` in bytes (a multiple of 8). */
export function fragmentHeader(nextHeader: number, offset: number, more: boolean, identification: number): Uint8Array {
  const header = new Uint8Array(8);
  header[0] = nextHeader;
  writeUint16(header, 2, offset | (more ? 1 : 0));
  writeUint32(header, 4, identification);
  return header;
}

/** The pieces one after another. */
export function concatBytes(...pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
