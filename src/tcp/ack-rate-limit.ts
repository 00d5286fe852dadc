/**
 * Rate limits on the ACKs TCP sends in answer to segments it drops (RFC 5961 section 7): an
 * out-of-window segment, a PAWS reject, an unacceptable ACK, a challenge ACK, a SYN-ACK resent
 * for a duplicate SYN, and every ACK a TIME-WAIT record sends. Unlimited, two ends that disagree on the sequence space answer each other
 * forever (an ACK loop), and a blind attacker gets one segment out per segment in. Time is data:
 * each check is handed the stack's time and keeps no timer.
 */
import type { Counters } from '../counters.js';
import { TCP_FIN, TCP_SYN, type TcpSegment } from '../wire/tcp.js';

/** Linux's tcp_invalid_ratelimit: one answer per 500 ms per connection. */
export const INVALID_SEGMENT_ANSWER_INTERVAL_MS = 500;
/** Linux's tcp_challenge_ack_limit: challenge ACKs per second for the whole stack. */
const CHALLENGE_ACKS_PER_SECOND = 1000;

/**
 * Whether an answer to an invalid segment may go out at `now` when the last one went out at
 * `lastAnswer` (stack time, ms; -Infinity for never): at most one per interval. The one rule for
 * connections (InvalidSegmentAnswers) and TIME-WAIT records (time-wait.ts, which keep the time in
 * the record: RFC 5961 section 7 holds there too, as Linux's tcp_timewait_state_process).
 */
export function invalidAnswerAllowed(lastAnswer: number, now: number): boolean {
  return now - lastAnswer >= INVALID_SEGMENT_ANSWER_INTERVAL_MS;
}

/** One connection's answers to invalid segments: at most one per interval. */
export class InvalidSegmentAnswers {
  private lastAnswer = Number.NEGATIVE_INFINITY;

  /** May an answer go out at `now`? When it may, the answer is taken to be sent. */
  allow(now: number): boolean {
    if (!invalidAnswerAllowed(this.lastAnswer, now)) return false;
    this.lastAnswer = now;
    return true;
  }

  /**
   * May the answer to `segment`, which the connection drops (out of window, PAWS, an unacceptable
   * ACK, RFC 9293 3.10.7.4; a SYN repeated in SYN-RECEIVED), go out at `now`? At most one per
   * interval, so that two ends cannot drive an ACK loop; but a segment with data or FIN (and no
   * SYN) is always answered, as Linux's tcp_oow_rate_limited does: a peer whose ACKs were lost
   * retransmits data and needs the answer (with its D-SACK) to move on. A refusal is counted.
   */
  allowAnswer(segment: TcpSegment, now: number, counters: Counters): boolean {
    const carriesText = (segment.payload.length > 0 || (segment.flags & TCP_FIN) !== 0) && (segment.flags & TCP_SYN) === 0;
    if (carriesText || this.allow(now)) return true;
    counters.add('ack_ratelimited');
    return false;
  }

  /**
   * May a challenge ACK (RFC 5961 3.2, 4.2, 5.2) go out at `now`? Limited per connection like
   * every answer to a dropped segment, then by the stack-wide `budget` (section 7). Counted either way.
   */
  allowChallenge(now: number, budget: ChallengeAckBudget, counters: Counters): boolean {
    if (!this.allow(now)) {
      counters.add('ack_ratelimited');
      return false;
    }
    if (!budget.take(now)) {
      counters.add('challenge_acks_suppressed');
      return false;
    }
    counters.add('challenge_acks');
    return true;
  }
}

/**
 * The stack-wide challenge ACK budget (RFC 5961 section 7). A fixed shared count per second is a
 * side channel (CVE-2016-5696: an off-path attacker counts the challenge ACKs left to learn that a
 * connection exists), so each second's budget is drawn at random between half and one and a half
 * times the limit, as Linux does since that report.
 */
export class ChallengeAckBudget {
  private second = Number.NEGATIVE_INFINITY;
  private left = 0;

  /** `random` returns numbers in [0, 1) (StackOptions.random). */
  constructor(
    private readonly random: () => number,
    private readonly perSecond = CHALLENGE_ACKS_PER_SECOND,
  ) {}

  /** Take one challenge ACK from the budget of the second `now` falls in; false when it is spent. */
  take(now: number): boolean {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      this.second = second;
      this.left = Math.floor(this.perSecond / 2 + this.random() * this.perSecond);
    }
    if (this.left <= 0) return false;
    this.left--;
    return true;
  }
}
