/**
 * Per-segment transmit records of the send side: for every segment in flight, its send-offset
 * range, when it was last sent, and whether it was retransmitted, SACKed or deemed lost. Time-based
 * loss detection (RACK-TLP, RFC 8985) and RFC 6675 recovery decide from these; today they are
 * bookkeeping only and change no decision.
 *
 * The records cover [SND.UNA, SND.MAX) with disjoint ranges in send order, which is offset order.
 * They are kept as parallel typed arrays in a ring that doubles when full and reuses its slots, so
 * recording a segment allocates nothing on the hot path.
 */

const RETRANSMITTED = 1;
const SACKED = 2;
const LOST = 4;
const INITIAL_CAPACITY = 64;

export class TransmitRecords {
  private starts: Float64Array;
  private ends: Float64Array;
  private sendTimes: Float64Array;
  private flags: Uint8Array;
  /** Ring slot of the oldest record; the capacity is a power of two. */
  private head = 0;
  private size = 0;
  private mask: number;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.starts = new Float64Array(capacity);
    this.ends = new Float64Array(capacity);
    this.sendTimes = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.mask = capacity - 1;
  }

  /** Records in flight. */
  get count(): number {
    return this.size;
  }

  /** Send offset where the records end (SND.MAX as far as they know), or -Infinity when empty. */
  get endOffset(): number {
    return this.size === 0 ? Number.NEGATIVE_INFINITY : this.ends[(this.head + this.size - 1) & this.mask]!;
  }

  // The i-th record in flight, 0 the oldest.
  start(i: number): number {
    return this.starts[this.slot(i)]!;
  }

  end(i: number): number {
    return this.ends[this.slot(i)]!;
  }

  sendTime(i: number): number {
    return this.sendTimes[this.slot(i)]!;
  }

  isRetransmitted(i: number): boolean {
    return (this.flags[this.slot(i)]! & RETRANSMITTED) !== 0;
  }

  isSacked(i: number): boolean {
    return (this.flags[this.slot(i)]! & SACKED) !== 0;
  }

  isLost(i: number): boolean {
    return (this.flags[this.slot(i)]! & LOST) !== 0;
  }

  /**
   * A segment covering [start, end) left at `now`; `highestSent` is SND.MAX before it. The part
   * below SND.MAX is a retransmission: every record it touches is marked retransmitted and takes
   * the new send time. The part above is new: it gets its own record.
   */
  onSend(start: number, end: number, now: number, highestSent: number): void {
    if (end <= start) return;
    if (start < highestSent) this.markRetransmitted(start, Math.min(end, highestSent), now);
    if (end > highestSent) this.append(Math.max(start, highestSent), end, now);
  }

  /** The cumulative ACK reached `una`: drop the records below it and trim the one it cuts. */
  acknowledge(una: number): void {
    const mask = this.mask;
    while (this.size > 0 && this.ends[this.head]! <= una) {
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    if (this.size > 0 && this.starts[this.head]! < una) this.starts[this.head] = una;
  }

  /** The scoreboard holds [start, end): mark the records entirely inside it as SACKed. */
  markSacked(start: number, end: number): void {
    const mask = this.mask;
    for (let i = this.firstEndingAfter(start); i < this.size; i++) {
      const slot = (this.head + i) & mask;
      if (this.starts[slot]! >= end) break;
      if (this.starts[slot]! >= start && this.ends[slot]! <= end) this.flags[slot] = this.flags[slot]! | SACKED;
    }
  }

  /**
   * A retransmission timeout: every record in flight is deemed lost, and (RFC 2018 section 8: the
   * receiver may have reneged) none counts as SACKed any more.
   */
  onRetransmissionTimeout(): void {
    const mask = this.mask;
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) & mask;
      this.flags[slot] = (this.flags[slot]! & ~SACKED) | LOST;
    }
  }

  private markRetransmitted(start: number, end: number, now: number): void {
    const mask = this.mask;
    for (let i = this.firstEndingAfter(start); i < this.size; i++) {
      const slot = (this.head + i) & mask;
      if (this.starts[slot]! >= end) break;
      this.flags[slot] = this.flags[slot]! | RETRANSMITTED;
      this.sendTimes[slot] = now;
    }
  }

  private append(start: number, end: number, now: number): void {
    if (this.size > this.mask) this.grow();
    const slot = (this.head + this.size) & this.mask;
    this.starts[slot] = start;
    this.ends[slot] = end;
    this.sendTimes[slot] = now;
    this.flags[slot] = 0;
    this.size++;
  }

  /** Index (0 the oldest) of the first record whose end lies beyond `offset`: a binary search. */
  private firstEndingAfter(offset: number): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.ends[(this.head + middle) & this.mask]! <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private slot(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`no transmit record ${i}`);
    return (this.head + i) & this.mask;
  }

  /** Double the ring, copying the records in order to the start of the new arrays. */
  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const starts = new Float64Array(capacity);
    const ends = new Float64Array(capacity);
    const sendTimes = new Float64Array(capacity);
    const flags = new Uint8Array(capacity);
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) & this.mask;
      starts[i] = this.starts[slot]!;
      ends[i] = this.ends[slot]!;
      sendTimes[i] = this.sendTimes[slot]!;
      flags[i] = this.flags[slot]!;
    }
    this.starts = starts;
    this.ends = ends;
    this.sendTimes = sendTimes;
    this.flags = flags;
    this.head = 0;
    this.mask = capacity - 1;
  }
}
