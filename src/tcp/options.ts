/**
 * TCP option negotiation for one connection: what our SYN offers, what the peer's SYN leaves us
 * with (RFC 9293 3.7.1 MSS, RFC 7323 window scaling and timestamps, RFC 2018 SACK-permitted), and
 * the timestamp state that lives on afterwards (TS.Recent and PAWS, RFC 7323 4.3 and 5).
 */
import {
  TCP_DEFAULT_MSS,
  TCP_MAX_WINDOW_FIELD,
  TCP_MAX_WINDOW_SHIFT,
  TCP_TIMESTAMP_OPTION_BYTES,
  type TcpOptions,
  type TcpSegment,
} from '../wire/tcp.js';
import { seqGe, seqLt } from './seq.js';
import type { TcpConfig } from './types.js';

/** Smallest peer MSS we honour, so a hostile option cannot make us send 1-byte segments. */
const MIN_PEER_MSS = 64;
/** RFC 7323 5.5: TS.Recent older than 24 days is no longer a valid PAWS reference. */
const PAWS_IDLE_LIMIT_MS = 24 * 24 * 60 * 60 * 1000;

/** RFC 7323 2.3: the smallest shift that lets the 16-bit field describe the whole buffer. */
export function chooseWindowShift(bufferSize: number): number {
  let shift = 0;
  while (shift < TCP_MAX_WINDOW_SHIFT && bufferSize > TCP_MAX_WINDOW_FIELD * 2 ** shift) shift++;
  return shift;
}

/** RFC 7323 4.1: TSval from a millisecond clock, modulo 2^32. */
export function timestampAt(now: number): number {
  return Math.floor(now) >>> 0;
}

/**
 * The negotiated options. Before the peer's SYN is seen they hold the defaults of a peer that
 * offered nothing (MSS 536, no scaling, no timestamps, no SACK). The fields are written only by
 * this class.
 */
export class NegotiatedOptions {
  /** The peer's SYN was seen and options were negotiated. */
  synNegotiated = false;
  peerMss = TCP_DEFAULT_MSS;
  /** min(peer MSS, our MSS): the segment size before options (RFC 9293 3.7.1). */
  mssBase = TCP_DEFAULT_MSS;
  /** SMSS: payload bytes per full segment after the fixed options (timestamps). */
  smss = TCP_DEFAULT_MSS;
  windowScaling = false;
  /** Shift applied to the peer's window field (RFC 7323 2.3). */
  sndShift = 0;
  /** Shift applied to our window field. */
  rcvShift = 0;
  timestamps = false;
  sackPermitted = false;
  /** RFC 7323 4.3 TS.Recent: the TSval we echo, with when it was taken and whether it is set. */
  private tsRecent = 0;
  private tsRecentTime = 0;
  private tsRecentValid = false;

  constructor(private readonly config: TcpConfig) {}

  /** Active open: our SYN offers the window scale the buffer needs, if configured. */
  offerWindowScale(): void {
    this.rcvShift = this.config.windowScaling ? chooseWindowShift(this.config.receiveBufferSize) : 0;
  }

  /**
   * The options of our SYN (`withAck` false: the first SYN of an active open) or SYN-ACK. The
   * first SYN offers what the configuration allows; a SYN-ACK only what the peer offered too
   * (RFC 7323 2.2 and 3.2, RFC 2018 section 2).
   */
  synOptions(withAck: boolean, now: number): TcpOptions {
    const options: TcpOptions = { mss: this.config.mss };
    // A SYN without ACK is only ever sent from SYN-SENT, before the peer's SYN was negotiated.
    const offering = !withAck && !this.synNegotiated;
    if (offering ? this.config.windowScaling : this.windowScaling) options.windowScale = this.rcvShift;
    if (offering ? this.config.sack : this.sackPermitted) options.sackPermitted = true;
    if (offering ? this.config.timestamps : this.timestamps) {
      options.timestamp = { value: timestampAt(now), echo: withAck ? this.tsRecent : 0 };
    }
    return options;
  }

  /** Options from the peer's SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2-3, RFC 2018 2). */
  negotiate(syn: TcpSegment, now: number): void {
    const o = syn.options;
    this.synNegotiated = true;
    this.peerMss = o.mss !== undefined ? Math.max(o.mss, MIN_PEER_MSS) : TCP_DEFAULT_MSS;
    this.windowScaling = this.config.windowScaling && o.windowScale !== undefined;
    if (this.windowScaling) {
      // RFC 7323 2.3: shifts above 14 are treated as 14.
      this.sndShift = Math.min(o.windowScale!, TCP_MAX_WINDOW_SHIFT);
      this.rcvShift = chooseWindowShift(this.config.receiveBufferSize);
    } else {
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.timestamps = this.config.timestamps && o.timestamp !== undefined;
    if (this.timestamps) {
      this.tsRecent = o.timestamp!.value;
      this.tsRecentTime = now;
      this.tsRecentValid = true;
    }
    this.sackPermitted = this.config.sack && o.sackPermitted === true;
    this.mssBase = Math.min(this.peerMss, this.config.mss);
    // Linux-like: the timestamp option comes out of every segment's payload.
    this.smss = Math.max(1, this.mssBase - (this.timestamps ? TCP_TIMESTAMP_OPTION_BYTES : 0));
  }

  /** The timestamp option of an outgoing non-SYN segment: our clock, and TS.Recent echoed. */
  timestampOption(now: number): { value: number; echo: number } {
    return { value: timestampAt(now), echo: this.tsRecent };
  }

  /**
   * RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than TS.Recent is an old duplicate, to
   * be dropped. After 24 idle days TS.Recent is stale (RFC 7323 5.5): it is forgotten instead.
   */
  isOldDuplicate(tsValue: number, now: number): boolean {
    if (!this.tsRecentValid || !seqLt(tsValue, this.tsRecent)) return false;
    if (now - this.tsRecentTime > PAWS_IDLE_LIMIT_MS) {
      this.tsRecentValid = false;
      return false;
    }
    return true;
  }

  /**
   * RFC 7323 4.3 (R3): TS.Recent takes the TSval of an acceptable segment that covers
   * Last.ACK.sent (`coversLastAckSent`), unless the TSval is older.
   */
  updateRecent(tsValue: number, coversLastAckSent: boolean, now: number): void {
    if ((!this.tsRecentValid || seqGe(tsValue, this.tsRecent)) && coversLastAckSent) {
      this.tsRecent = tsValue;
      this.tsRecentTime = now;
      this.tsRecentValid = true;
    }
  }
}
