/**
 * TCP segment codec (RFC 9293 section 3.1) with the options the stack speaks: MSS (RFC 9293
 * 3.2), window scale and timestamps (RFC 7323), SACK-permitted and SACK blocks (RFC 2018); the
 * segment record and flags the connection (src/tcp) handles; and the home of the TCP option and
 * window limits.
 *
 * The same parts as every codec in src/wire:
 * - checkTcpSegment: data offset, checksum (with the pseudo-header) and option list checks,
 *   giving a checked TcpSegmentView or a drop reason (never a throw on wire input);
 * - parseTcpSegment: the same checks, giving the plain TcpSegment record with the payload as a
 *   view of the caller's bytes;
 * - writeTcpSegment into a caller's buffer at an offset (returns the bytes written), sized by
 *   tcpSegmentLength;
 * - encodeTcpSegment: the allocating convenience with headroom for the IP header, built on
 *   writeTcpSegment, so the IP layer can write its header in front without a copy.
 *
 * Parsing and writing run for every segment, so they avoid closures, iterators and allocations
 * for options that are absent.
 */
import { readUint16, readUint32, writeUint16, writeUint32 } from '../bytes.js';
import type { IPAddress } from './address6.js';
import { finishChecksum, partialChecksum, transportPseudoHeaderSum, sumWords, type ChecksumCheck } from './checksum.js';
import { PROTOCOL_TCP } from './ipv4.js';
import type { SeqNumber } from '../tcp/seq.js';

/**
 * Control bits (RFC 9293 3.1). URG (0x20), ECE (0x40) and CWR (0x80, RFC 3168) have no constant:
 * the stack never sets them and never reads them (urgent data is delivered inline, RFC 6093; ECN
 * is not negotiated).
 */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface SackBlock {
  /** First sequence number of the block. */
  left: SeqNumber;
  /** Sequence number just after the block. */
  right: SeqNumber;
}

/** TCP options (RFC 9293 3.2, RFC 7323, RFC 2018). Absent means not present in the segment. */
export interface TcpOptions {
  mss?: number;
  /** Shift count 0..14 (RFC 7323 2.3; larger values are clamped to 14 by the receiver). */
  windowScale?: number;
  sackPermitted?: boolean;
  sackBlocks?: SackBlock[];
  timestamp?: { value: number; echo: number };
}

/**
 * The segment as a plain record: what parseTcpSegment returns and the encoders take. The
 * connection (src/tcp) only ever handles these records.
 */
export interface TcpSegment {
  sourcePort: number;
  destinationPort: number;
  seq: SeqNumber;
  ack: SeqNumber;
  /** Bitmask of TCP_* flags. */
  flags: number;
  /** The raw 16-bit window field; the receiver applies the window scale. */
  window: number;
  urgentPointer: number;
  options: TcpOptions;
  /** Payload bytes. On receive, a view valid only while the segment is being handled. */
  payload: Uint8Array;
}

/**
 * SEG.LEN (RFC 9293 3.3.1): the sequence space the segment occupies, payload plus one for SYN and
 * one for FIN. (Its size in bytes on the wire is tcpSegmentLength.)
 */
export function segmentLength(segment: TcpSegment): number {
  return segment.payload.length + (segment.flags & TCP_SYN ? 1 : 0) + (segment.flags & TCP_FIN ? 1 : 0);
}

/** RFC 9293 3.1: data offset of 5 words. */
export const TCP_MIN_HEADER = 20;
/** The data offset field is 4 bits of 32-bit words: 60 bytes of header, 40 of options. */
const TCP_MAX_OPTIONS = 40;
/** The largest TCP header: the fixed 20 bytes and 40 of options (RFC 9293 3.1, data offset 15). */
export const TCP_MAX_HEADER = TCP_MIN_HEADER + TCP_MAX_OPTIONS;

const OPTION_EOL = 0;
const OPTION_NOP = 1;
const OPTION_MSS = 2;
const OPTION_WINDOW_SCALE = 3;
const OPTION_SACK_PERMITTED = 4;
const OPTION_SACK = 5;
const OPTION_TIMESTAMP = 8;

const LENGTH_MSS = 4;
const LENGTH_WINDOW_SCALE = 3;
const LENGTH_SACK_PERMITTED = 2;
const LENGTH_TIMESTAMP = 10;

/** The 4-byte groups the writer lays out (see the layout below). */
const MSS_GROUP_BYTES = 4;
const SACK_PERMITTED_GROUP_BYTES = 4;
const WINDOW_SCALE_GROUP_BYTES = 4;

/** RFC 9293 3.7.1: the send MSS when the peer sent no MSS option. */
export const TCP_DEFAULT_MSS = 536;
/** RFC 9293 3.1: the 16-bit window field. */
export const TCP_MAX_WINDOW_FIELD = 0xffff;
/** RFC 7323 2.3: the largest shift count; a larger one received is treated as 14. */
export const TCP_MAX_WINDOW_SHIFT = 14;
/** Timestamps option as laid out by Linux: NOP, NOP, kind 8 length 10 (RFC 7323 3.2 / appendix A). */
export const TCP_TIMESTAMP_OPTION_BYTES = 12;
/** SACK option: NOP, NOP, kind 5, length, then 8 bytes per block (RFC 2018 section 3). */
export const TCP_SACK_OPTION_OVERHEAD = 4;
export const TCP_SACK_BLOCK_BYTES = 8;
/** RFC 2018 section 3: 2 + 8 * 4 = 34 bytes is the most a SACK option can be within 40 bytes of options. */
export const TCP_MAX_SACK_BLOCKS = 4;
/** RFC 2018 section 3: at most 3 blocks fit next to timestamps. */
export const TCP_MAX_SACK_BLOCKS_WITH_TIMESTAMPS = 3;

type TcpDropReason =
  | 'truncated' // fewer than 20 bytes
  | 'bad_data_offset' // data offset < 5, or the header runs past the bytes received
  | 'bad_checksum' // pseudo header + segment does not verify (RFC 9293 3.1)
  | 'bad_option'; // malformed option list (length byte < 2, past the header, wrong fixed length)

/** A segment that passed checkTcpSegment; the accessors read the bytes in place. */
class TcpSegmentView {
  constructor(readonly bytes: Uint8Array) {}

  get sourcePort(): number {
    return readUint16(this.bytes, 0);
  }
  get destinationPort(): number {
    return readUint16(this.bytes, 2);
  }
  get seq(): SeqNumber {
    return readUint32(this.bytes, 4);
  }
  get ack(): SeqNumber {
    return readUint32(this.bytes, 8);
  }
  /** Data offset in bytes, options included. */
  get headerLength(): number {
    return (this.bytes[12]! >>> 4) * 4;
  }
  /** The low 8 of the 12 control bits (TCP_* flags); see parseTcpSegment. */
  get flags(): number {
    return this.bytes[13]!;
  }
  get window(): number {
    return readUint16(this.bytes, 14);
  }
  get checksum(): number {
    return readUint16(this.bytes, 16);
  }
  get urgentPointer(): number {
    return readUint16(this.bytes, 18);
  }
  /** The option bytes between the fixed header and the data. */
  get optionBytes(): Uint8Array {
    return this.bytes.subarray(TCP_MIN_HEADER, this.headerLength);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
  /** The options as a record (a new object each call; the list was validated by the check). */
  options(): TcpOptions {
    const options: TcpOptions = {};
    readOptions(this.bytes, this.headerLength, options);
    return options;
  }
}

export type TcpCheckResult = { ok: true; view: TcpSegmentView } | { ok: false; reason: TcpDropReason };
export type TcpParseResult = { ok: true; segment: TcpSegment } | { ok: false; reason: TcpDropReason };

/** The header and checksum checks of RFC 9293 3.1; the option list is checked by readOptions. */
function headerDropReason(
  bytes: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumCheck,
): TcpDropReason | undefined {
  const length = bytes.length;
  if (length < TCP_MIN_HEADER) return 'truncated';
  const headerLength = (bytes[12]! >>> 4) * 4;
  if (headerLength < TCP_MIN_HEADER || headerLength > length) return 'bad_data_offset';
  if (checksum === 'trusted') return undefined;
  // A segment containing a correct checksum sums to zero (RFC 1071 section 1).
  const sum = sumWords(bytes, 0, length, transportPseudoHeaderSum(source, destination, PROTOCOL_TCP, length));
  if (finishChecksum(sum) !== 0) return 'bad_checksum';
  return undefined;
}

/**
 * Check a TCP segment (the IP payload). `source` and `destination` are the addresses the
 * checksum's pseudo header covers (RFC 9293 3.1; for IPv6 addresses, RFC 8200 8.1).
 */
export function checkTcpSegment(
  bytes: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumCheck = 'verify',
): TcpCheckResult {
  const reason = headerDropReason(bytes, source, destination, checksum);
  if (reason !== undefined) return { ok: false, reason };
  const headerLength = (bytes[12]! >>> 4) * 4;
  if (headerLength > TCP_MIN_HEADER && !readOptions(bytes, headerLength, undefined)) return { ok: false, reason: 'bad_option' };
  return { ok: true, view: new TcpSegmentView(bytes) };
}

/**
 * Check a TCP segment and read it into a record. Per segment, so it makes no view object: the
 * same checks, then the view's fields read in one go, the options filled in by the same walk
 * that validates them.
 */
export function parseTcpSegment(
  bytes: Uint8Array,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumCheck = 'verify',
): TcpParseResult {
  const reason = headerDropReason(bytes, source, destination, checksum);
  if (reason !== undefined) return { ok: false, reason };
  const headerLength = (bytes[12]! >>> 4) * 4;
  const options: TcpOptions = {};
  if (headerLength > TCP_MIN_HEADER && !readOptions(bytes, headerLength, options)) {
    return { ok: false, reason: 'bad_option' };
  }
  return {
    ok: true,
    segment: {
      sourcePort: readUint16(bytes, 0),
      destinationPort: readUint16(bytes, 2),
      seq: readUint32(bytes, 4),
      ack: readUint32(bytes, 8),
      // The low 8 bits of the 12 control bits; the reserved bits (and the historic NS bit) are
      // ignored on receipt (RFC 9293 3.1).
      flags: bytes[13]!,
      window: readUint16(bytes, 14),
      urgentPointer: readUint16(bytes, 18),
      options,
      payload: bytes.subarray(headerLength, bytes.length),
    },
  };
}

/**
 * Walk the option list (RFC 9293 3.2), filling `options` when given (a check passes none).
 * Returns false for a malformed list. EOL ends the list, NOP is one byte of padding, and options
 * we do not know are skipped by their length byte, as RFC 9293 3.2 requires of a receiver
 * ("must be prepared to handle an illegal option length").
 */
function readOptions(bytes: Uint8Array, headerLength: number, options: TcpOptions | undefined): boolean {
  let i = TCP_MIN_HEADER;
  while (i < headerLength) {
    const kind = bytes[i]!;
    if (kind === OPTION_EOL) return true;
    if (kind === OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= headerLength) return false; // the length byte itself is missing
    const optionLength = bytes[i + 1]!;
    if (optionLength < 2 || i + optionLength > headerLength) return false;
    switch (kind) {
      case OPTION_MSS:
        if (optionLength !== LENGTH_MSS) return false;
        if (options !== undefined) options.mss = readUint16(bytes, i + 2);
        break;
      case OPTION_WINDOW_SCALE: {
        if (optionLength !== LENGTH_WINDOW_SCALE) return false;
        const shift = bytes[i + 2]!;
        if (options !== undefined) options.windowScale = shift > TCP_MAX_WINDOW_SHIFT ? TCP_MAX_WINDOW_SHIFT : shift;
        break;
      }
      case OPTION_SACK_PERMITTED:
        if (optionLength !== LENGTH_SACK_PERMITTED) return false;
        if (options !== undefined) options.sackPermitted = true;
        break;
      case OPTION_SACK: {
        const blockBytes = optionLength - 2;
        const count = blockBytes / TCP_SACK_BLOCK_BYTES;
        if (blockBytes % TCP_SACK_BLOCK_BYTES !== 0 || count < 1 || count > TCP_MAX_SACK_BLOCKS) return false;
        if (options === undefined) break;
        const blocks: SackBlock[] = new Array<SackBlock>(count);
        for (let b = 0, at = i + 2; b < count; b++, at += TCP_SACK_BLOCK_BYTES) {
          blocks[b] = { left: readUint32(bytes, at), right: readUint32(bytes, at + 4) };
        }
        options.sackBlocks = blocks;
        break;
      }
      case OPTION_TIMESTAMP:
        if (optionLength !== LENGTH_TIMESTAMP) return false;
        if (options !== undefined) options.timestamp = { value: readUint32(bytes, i + 2), echo: readUint32(bytes, i + 6) };
        break;
      default:
        break; // unknown option with a sane length: skip it
    }
    i += optionLength;
  }
  return true;
}

/*
 * Option layout on the wire. Every option is placed in a 4-byte group padded with leading NOPs so
 * the fixed-size fields stay 32-bit aligned, as RFC 7323 appendix A suggests for timestamps and
 * as Linux does:
 *   MSS                         02 04 mm mm
 *   SACK-permitted + timestamp  04 02 08 0a <TSval> <TSecr>
 *   timestamp alone             01 01 08 0a <TSval> <TSecr>
 *   SACK-permitted alone        01 01 04 02
 *   window scale                01 03 03 ss
 *   SACK blocks                 01 01 05 <2+8n> <blocks>
 * Since every group is a multiple of 4 bytes, no trailing padding is needed.
 */

/** Bytes of options other than SACK blocks, always a multiple of 4 and at most 20. */
function fixedOptionsLength(options: TcpOptions): number {
  let length = 0;
  if (options.mss !== undefined) length += MSS_GROUP_BYTES;
  if (options.timestamp !== undefined) length += TCP_TIMESTAMP_OPTION_BYTES;
  else if (options.sackPermitted) length += SACK_PERMITTED_GROUP_BYTES;
  if (options.windowScale !== undefined) length += WINDOW_SCALE_GROUP_BYTES;
  return length;
}

/**
 * How many SACK blocks fit after the other options within 40 bytes (RFC 2018 3: 3 with
 * timestamps, 4 without). The receiver of our SACKs learns most from the first block, which the
 * caller puts first (RFC 2018 4), so dropping from the end is right.
 */
function sackBlocksThatFit(options: TcpOptions, fixedLength: number): number {
  const blocks = options.sackBlocks;
  if (blocks === undefined || blocks.length === 0) return 0;
  const room = Math.floor((TCP_MAX_OPTIONS - fixedLength - TCP_SACK_OPTION_OVERHEAD) / TCP_SACK_BLOCK_BYTES);
  const fit = room < TCP_MAX_SACK_BLOCKS ? room : TCP_MAX_SACK_BLOCKS;
  if (fit <= 0) return 0;
  return blocks.length < fit ? blocks.length : fit;
}

function headerLengthFor(fixedLength: number, sackCount: number): number {
  return TCP_MIN_HEADER + fixedLength + (sackCount > 0 ? TCP_SACK_OPTION_OVERHEAD + sackCount * TCP_SACK_BLOCK_BYTES : 0);
}

/** Length of the TCP header, options included, that writeTcpSegment writes for these options. */
export function tcpHeaderLength(options: TcpOptions): number {
  const fixedLength = fixedOptionsLength(options);
  return headerLengthFor(fixedLength, sackBlocksThatFit(options, fixedLength));
}

/** Bytes writeTcpSegment writes for a segment with these options and `payloadLength` bytes of data. */
export function tcpSegmentLength(options: TcpOptions, payloadLength: number): number {
  return tcpHeaderLength(options) + payloadLength;
}

/**
 * What writeTcpSegment puts in the checksum field: 'full', the checksum (RFC 9293 3.1); or
 * 'partial', only the pseudo-header's sum (with the whole segment's length), for a link that
 * finishes it, as the kernel does for a TSO super-segment (partialChecksum in checksum.ts).
 */
export type ChecksumFill = 'full' | 'partial';

/**
 * Write a segment at `offset` of a caller-provided buffer, which must have room for
 * tcpSegmentLength(segment.options, segment.payload.length) bytes there. The checksum covers the
 * pseudo header built from `source` and `destination` (RFC 9293 3.1). Returns the bytes written.
 */
export function writeTcpSegment(
  buffer: Uint8Array,
  offset: number,
  segment: TcpSegment,
  source: IPAddress,
  destination: IPAddress,
  checksum: ChecksumFill = 'full',
): number {
  const options = segment.options;
  const fixedLength = fixedOptionsLength(options);
  const sackCount = sackBlocksThatFit(options, fixedLength);
  const headerLength = headerLengthFor(fixedLength, sackCount);
  const payload = segment.payload;
  const segmentLength = headerLength + payload.length;

  writeUint16(buffer, offset, segment.sourcePort);
  writeUint16(buffer, offset + 2, segment.destinationPort);
  writeUint32(buffer, offset + 4, segment.seq);
  writeUint32(buffer, offset + 8, segment.ack);
  buffer[offset + 12] = (headerLength / 4) << 4;
  buffer[offset + 13] = segment.flags & 0xff;
  writeUint16(buffer, offset + 14, segment.window);
  writeUint16(buffer, offset + 16, 0);
  writeUint16(buffer, offset + 18, segment.urgentPointer);

  let at = offset + TCP_MIN_HEADER;
  if (options.mss !== undefined) {
    buffer[at] = OPTION_MSS;
    buffer[at + 1] = LENGTH_MSS;
    writeUint16(buffer, at + 2, options.mss);
    at += MSS_GROUP_BYTES;
  }
  const timestamp = options.timestamp;
  if (timestamp !== undefined) {
    if (options.sackPermitted) {
      buffer[at] = OPTION_SACK_PERMITTED;
      buffer[at + 1] = LENGTH_SACK_PERMITTED;
    } else {
      buffer[at] = OPTION_NOP;
      buffer[at + 1] = OPTION_NOP;
    }
    buffer[at + 2] = OPTION_TIMESTAMP;
    buffer[at + 3] = LENGTH_TIMESTAMP;
    writeUint32(buffer, at + 4, timestamp.value);
    writeUint32(buffer, at + 8, timestamp.echo);
    at += TCP_TIMESTAMP_OPTION_BYTES;
  } else if (options.sackPermitted) {
    buffer[at] = OPTION_NOP;
    buffer[at + 1] = OPTION_NOP;
    buffer[at + 2] = OPTION_SACK_PERMITTED;
    buffer[at + 3] = LENGTH_SACK_PERMITTED;
    at += SACK_PERMITTED_GROUP_BYTES;
  }
  if (options.windowScale !== undefined) {
    buffer[at] = OPTION_NOP;
    buffer[at + 1] = OPTION_WINDOW_SCALE;
    buffer[at + 2] = LENGTH_WINDOW_SCALE;
    buffer[at + 3] = options.windowScale;
    at += WINDOW_SCALE_GROUP_BYTES;
  }
  if (sackCount > 0) {
    const blocks = options.sackBlocks!;
    buffer[at] = OPTION_NOP;
    buffer[at + 1] = OPTION_NOP;
    buffer[at + 2] = OPTION_SACK;
    buffer[at + 3] = 2 + sackCount * TCP_SACK_BLOCK_BYTES;
    at += TCP_SACK_OPTION_OVERHEAD;
    for (let b = 0; b < sackCount; b++, at += TCP_SACK_BLOCK_BYTES) {
      const block = blocks[b]!;
      writeUint32(buffer, at, block.left);
      writeUint32(buffer, at + 4, block.right);
    }
  }

  if (payload.length > 0) buffer.set(payload, offset + headerLength);
  const pseudoHeader = transportPseudoHeaderSum(source, destination, PROTOCOL_TCP, segmentLength);
  if (checksum === 'partial') writeUint16(buffer, offset + 16, partialChecksum(pseudoHeader));
  else writeUint16(buffer, offset + 16, finishChecksum(sumWords(buffer, offset, segmentLength, pseudoHeader)));
  return segmentLength;
}

/**
 * A new buffer of `headroom` bytes (left zero, for the IP header) followed by the segment, so
 * the IP layer writes its header in place.
 */
export function encodeTcpSegment(
  segment: TcpSegment,
  source: IPAddress,
  destination: IPAddress,
  headroom = 0,
  checksum: ChecksumFill = 'full',
): Uint8Array {
  const buffer = new Uint8Array(headroom + tcpSegmentLength(segment.options, segment.payload.length));
  writeTcpSegment(buffer, headroom, segment, source, destination, checksum);
  return buffer;
}
