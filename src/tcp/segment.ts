/**
 * The TCP segment as the state machine sees it, independent of its wire encoding. The codec
 * (src/tcp/codec.ts) converts between this and bytes; the connection (src/tcp/connection.ts)
 * only ever handles these objects.
 */
import type { SeqNumber } from './seq.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

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

/** Sequence space the segment occupies: payload plus one for SYN and one for FIN. */
export function segmentLength(segment: TcpSegment): number {
  return segment.payload.length + (segment.flags & TCP_SYN ? 1 : 0) + (segment.flags & TCP_FIN ? 1 : 0);
}
