/**
 * What TCP makes of an ICMP message about one of its segments (RFC 1122 4.2.3.9): an error, hard
 * or soft (RFC 5461), or fragmentation needed (RFC 1191). A message quotes the start of the
 * segment it is about, and its sequence number must be one we sent and is not acknowledged yet,
 * which makes forging a message as hard as forging an in-window RST (RFC 5927 4.1); a blind
 * attacker would have to guess it. These functions judge and count; the connection
 * (connection.ts) acts on the verdict.
 */
import type { Counters } from '../counters.js';
import type { NegotiatedOptions } from './options.js';
import type { SeqNumber } from './seq.js';

/** The sequence space of what the connection sent, as stream offsets (the sender's). */
export interface SentSpace {
  readonly sndUna: number;
  /** The highest offset sent: the RFCs' SND.NXT (a timeout may have pulled our sndNxt back). */
  readonly sndMax: number;
  /** A wire sequence number as a send offset. */
  ackOffset(seq: SeqNumber): number;
}

/**
 * An ICMP error quoting `quotedSeq`. 'ignore' unless the quote lies in [SND.UNA, SND.MAX];
 * 'abort' for a hard error (protocol or port unreachable) while the connection is `opening`, as
 * Linux does for connect(); else 'soft' (RFC 5461), as is every error once synchronized: the
 * connection remembers it and reports it instead of ETIMEDOUT if it later times out.
 */
export function icmpErrorVerdict(
  sent: SentSpace,
  quotedSeq: SeqNumber,
  hard: boolean,
  opening: boolean,
  counters: Counters,
): 'ignore' | 'abort' | 'soft' {
  const offset = sent.ackOffset(quotedSeq);
  if (offset < sent.sndUna || offset > sent.sndMax) {
    counters.drop('icmp_out_of_window');
    return 'ignore';
  }
  counters.add('icmp_errors');
  return hard && opening ? 'abort' : 'soft';
}

/**
 * Fragmentation needed quoting `quotedSeq`: the path MTU to the peer is now `pathMtu`. It is
 * information, never an error a timeout reports. 'ignore' unless the quoted segment is in flight,
 * [SND.UNA, SND.MAX) (RFC 5927 sections 4.1 and 5.2); otherwise `options` take the new path MTU,
 * and the verdict says whether the segment size in use fell ('reduced': the sender must resize
 * what it sends). RFC 1191 section 6.4: only then does the sender act: every oversized segment
 * of a flight draws its own message, and resending the flight for each would multiply the copies.
 */
export function pathMtuVerdict(
  sent: SentSpace,
  quotedSeq: SeqNumber,
  pathMtu: number,
  options: Pick<NegotiatedOptions, 'limitToPathMtu'>,
  counters: Counters,
): 'ignore' | 'unchanged' | 'reduced' {
  const offset = sent.ackOffset(quotedSeq);
  if (offset < sent.sndUna || offset >= sent.sndMax) {
    counters.drop('pmtu_not_in_flight');
    return 'ignore';
  }
  if (!options.limitToPathMtu(pathMtu)) {
    counters.add('pmtu_mss_unchanged');
    return 'unchanged';
  }
  counters.add('pmtu_mss_reduced');
  return 'reduced';
}
