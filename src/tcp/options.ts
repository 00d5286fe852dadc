/**
 * TCP option negotiation for one connection: what our SYN offers, what the peer's SYN leaves us
 * with (RFC 9293 3.7.1 MSS, RFC 7323 window scaling and timestamps, RFC 2018 SACK-permitted), the
 * timestamp state that lives on afterwards (TS.Recent and PAWS, RFC 7323 4.3 and 5), and the
 * segment size the path MTU allows (RFC 1191, RFC 1122 4.2.3.9).
 */
import type { IPAddress } from '../wire/address6.js';
import { ipHeaderLength } from '../wire/ip.js';
import { IPV4_MIN_HEADER } from '../wire/ipv4.js';
import {
  TCP_DEFAULT_MSS,
  TCP_MAX_WINDOW_FIELD,
  TCP_MAX_WINDOW_SHIFT,
  TCP_MIN_HEADER,
  TCP_TIMESTAMP_OPTION_BYTES,
  type TcpOptions,
} from '../wire/tcp.js';
import { seqGe, seqLt } from './seq.js';
import type { TcpConfig } from './types.js';

/** Smallest peer MSS we honour, so a hostile option cannot make us send 1-byte segments. */
const MIN_PEER_MSS = 64;
/** RFC 7323 5.5: TS.Recent older than 24 days is no longer a valid PAWS reference. */
const PAWS_IDLE_LIMIT_MS = 24 * 24 * 60 * 60 * 1000;
/**
 * The fixed IP and TCP headers of a segment to `remote`, which the MSS leaves out of an MTU (RFC
 * 9293 3.7.1): 20 + 20 over IPv4, MSS = MTU - 40; 40 + 20 over IPv6, MSS = MTU - 60 (RFC 8200 8.3).
 */
function tcpIpHeaderBytes(remote: IPAddress): number {
  return ipHeaderLength(remote) + TCP_MIN_HEADER;
}

/**
 * The path MTU below which TCP does not shrink its segments further: 536 + 40 = 576, the datagram
 * every IPv4 host must be able to take (RFC 1122 3.3.2). The choice, and why: RFC 9293 3.7.1 makes
 * 536 the MSS assumed of any peer, and Linux keeps a floor of the same kind (a minimum path MTU of
 * 552) because a forged fragmentation needed with a tiny MTU (RFC 5927 section 7) would otherwise
 * cut a connection to 28-byte segments, 60% headers. Below the floor our segments would not fit
 * the path with DF set, so the TCP layer sends them without DF and IP fragments them to the path
 * MTU (src/tcp/tcp-layer.ts): slower, but never a black hole. An IPv6 path is never below 1280
 * (RFC 8200 5), so the floor never applies to it.
 */
export const TCP_MIN_PATH_MTU = TCP_DEFAULT_MSS + IPV4_MIN_HEADER + TCP_MIN_HEADER;

/** RFC 7323 2.3: the smallest shift that lets the 16-bit field describe the whole buffer. */
export function chooseWindowShift(bufferSize: number): number {
  let shift = 0;
  while (shift < TCP_MAX_WINDOW_SHIFT && bufferSize > TCP_MAX_WINDOW_FIELD * 2 ** shift) shift++;
  return shift;
}

/** The window of our SYN or SYN-ACK: never scaled (RFC 7323 2.2), so at most 65535. */
export function synWindow(config: TcpConfig): number {
  return Math.min(config.receiveBufferSize, TCP_MAX_WINDOW_FIELD);
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
/**
 * "No path MTU known" for NegotiatedOptions: above any MTU (IPv6 jumbograms end at 2^32 - 1, and
 * no link here carries those) and a small integer, so V8 keeps the two fields untagged instead of
 * boxing a double (Infinity) per field for every connection.
 */
const PATH_MTU_UNKNOWN = 2 ** 30 - 1;

export class NegotiatedOptions {
  /** The peer's SYN was seen and options were negotiated. */
  synNegotiated = false;
  peerMss = TCP_DEFAULT_MSS;
  /** min(peer MSS, our MSS): the segment size before options (RFC 9293 3.7.1). */
  mssBase = TCP_DEFAULT_MSS;
  /** SMSS: payload bytes per full segment after the fixed options (timestamps), within the path MTU. */
  smss = TCP_DEFAULT_MSS;
  /**
   * The largest segment before options that fits the path MTU (RFC 1191; MMS_S - 20 in RFC 9293
   * 3.7.1), never below TCP_DEFAULT_MSS; PATH_MTU_UNKNOWN while no path MTU below the link's is known.
   */
  private pathMss = PATH_MTU_UNKNOWN;
  /** The path MTU to the peer as far as this connection knows (RFC 1191); PATH_MTU_UNKNOWN while unknown. */
  pathMtu = PATH_MTU_UNKNOWN;
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

  /** What the path MTU less this is the largest segment before options: tcpIpHeaderBytes. */
  private readonly headerBytes: number;

  /**
   * @param config the TCP configuration for the connection's family (TcpLayer.configFor: its MSS
   *   is the one the link MTU leaves over that family)
   * @param remote the peer's address, whose family sizes segments from a path MTU
   */
  constructor(
    private readonly config: TcpConfig,
    remote: IPAddress,
  ) {
    this.headerBytes = tcpIpHeaderBytes(remote);
  }

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

  /**
   * Options from the peer's SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2-3, RFC 2018 2), or those a
   * SYN cookie's ACK proves it sent (src/tcp/syn-cookies.ts).
   */
  negotiate(o: TcpOptions, now: number): void {
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
    this.smss = this.sendMss();
  }

  /**
   * The path MTU to the peer is `pathMtu` (RFC 1191: lowered by ICMP fragmentation needed, or
   * known from the IP layer's estimate when the connection was made). SMSS becomes
   * min(MSS, path MTU - 40, or 60 over IPv6) less the options of every segment, never below the floor of
   * TCP_MIN_PATH_MTU. Only ever lowers it (RFC 1191 section 3: a report never raises the path
   * MTU). Returns true when SMSS fell, which is when the sender must resize what it sends.
   */
  limitToPathMtu(pathMtu: number): boolean {
    this.pathMtu = Math.min(this.pathMtu, pathMtu);
    const pathMss = Math.max(TCP_DEFAULT_MSS, pathMtu - this.headerBytes);
    if (pathMss >= this.pathMss) return false;
    this.pathMss = pathMss;
    const previous = this.smss;
    // Before the peer's SYN, negotiate() applies the limit.
    if (this.synNegotiated) this.smss = this.sendMss();
    return this.smss < previous;
  }

  /**
   * RFC 9293 3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - 20 - the options sent in every segment.
   * Linux-like, the timestamp option (when negotiated it is in every segment, RFC 7323 3.2) comes
   * out of the payload; SACK blocks, present only sometimes, are taken off by the sender per segment.
   */
  private sendMss(): number {
    return Math.max(1, Math.min(this.mssBase, this.pathMss) - (this.timestamps ? TCP_TIMESTAMP_OPTION_BYTES : 0));
  }

  /** TS.Recent when timestamps are on (what TIME-WAIT keeps for PAWS and RFC 6191), else undefined. */
  get recentTimestamp(): number | undefined {
    return this.timestamps ? this.tsRecent : undefined;
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
