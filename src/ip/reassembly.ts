/**
 * Reassembly for both families (IPv4: RFC 791 section 3.2; IPv6: RFC 8200 4.5), with the
 * bookkeeping idea of RFC 815. FragmentReassembler is the family-neutral core: the caller names
 * each fragment's datagram by a key (IPv4: source, destination, protocol and identification, RFC
 * 791 3.2; IPv6: source, destination and identification, RFC 8200 4.5), its offset, its M flag,
 * the header to keep from the offset-0 fragment and the largest end the datagram may reach.
 * Reassembler is the IPv4 face of it, taking IPv4 headers; the IPv6 layer uses the core directly.
 *
 * Each
 * incomplete datagram keeps its fragments sorted by offset and never overlapping, so the holes of
 * RFC 815 are exactly the gaps between consecutive fragments plus the gap before the end; the
 * datagram is complete when the end is known (a fragment with MF clear arrived) and the bytes
 * received equal it. Storing the fragments rather than one growing buffer means memory is only
 * ever spent on bytes that arrived.
 *
 * Policies (all bad input is counted with `counters.drop(reason)` and dropped, never thrown):
 * - Overlap: RFC 5722 for IPv6, and in its spirit for IPv4 (what Linux has done since 4.19), a fragment that overlaps received data without being an exact duplicate discards the
 *   whole datagram (`reassembly_overlap`): overlaps only come from broken or hostile senders, and
 *   choosing which copy of a byte to believe is how reassembly-based evasion attacks work. An
 *   exact duplicate (same offset, length and bytes), which retransmission or link duplication
 *   makes, is dropped alone (`reassembly_duplicate`); same offset and length with different bytes
 *   counts as an overlap.
 * - End: the fragment with MF clear fixes the datagram's length. A second one with a different
 *   end, a fragment reaching past the known end, or a last fragment ending before data already
 *   received discards the datagram (`reassembly_conflicting_end`).
 * - A fragment with MF set whose length is not a multiple of 8 cannot be followed by a correctly
 *   placed fragment (offsets count 8-byte units) and is dropped (`reassembly_bad_length`); so is
 *   an empty fragment (`reassembly_empty_fragment`), which carries nothing and only costs memory.
 * - Length: a fragment that would make the datagram exceed 65535 bytes (the "ping of death"; the
 *   caller's `maxEnd`) discards the datagram (`reassembly_oversize`).
 * - Memory: every datagram is charged its header copy, its fragments' bytes and a fixed overhead
 *   per fragment and per datagram (so floods of tiny fragments are bounded too). When a fragment
 *   would push the total past `maxBytes`, the oldest incomplete datagrams are evicted
 *   (`reassembly_evicted`, one per datagram) until it fits; a datagram that alone would exceed the
 *   cap is discarded (`reassembly_memory`). A new datagram beyond `maxDatagrams` evicts the oldest
 *   one. Eviction keeps fresh traffic flowing under a flood; refusing instead would let one
 *   flood block all reassembly for a whole timeout.
 * - Time: a datagram lives `timeoutMs` from its first fragment (Linux's fixed ipfrag_time rather
 *   than RFC 791's TTL-driven timer, which hosts cannot trust). `expire(now)` reports each expired
 *   datagram with its offset-0 fragment, if it arrived, for ICMP Time Exceeded code 1 (RFC 792,
 *   RFC 1122 3.2.1.2; ICMPv6 Time Exceeded code 1, RFC 8200 4.5: likewise).
 */
import type { Counters } from '../counters.js';
import type { DeadlineQueue, TimerHandle } from '../timers.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_HEADER, type IPv4Header } from '../wire/ipv4.js';
import { copyBytes } from '../bytes.js';

/** Memory charged per stored fragment on top of its bytes (object, array slot, typed array). */
export const FRAGMENT_OVERHEAD_BYTES = 64;
/** Memory charged per incomplete datagram on top of its fragments. */
export const DATAGRAM_OVERHEAD_BYTES = 256;

export interface ReassemblerOptions {
  /** How long an incomplete datagram waits for its missing pieces. Default 30 s (Linux ipfrag_time). */
  timeoutMs?: number;
  /** Cap on memory charged across all incomplete datagrams. Default 4 MiB. */
  maxBytes?: number;
  /** Cap on incomplete datagrams held at once. Default 256. */
  maxDatagrams?: number;
  counters: Counters;
}

export interface ReassembledDatagram {
  /** The offset-0 fragment's header with the fragment fields cleared and totalLength of the whole. */
  header: IPv4Header;
  /** A fresh buffer holding the whole datagram's payload. */
  payload: Uint8Array;
}

/** One received fragment, as the family's layer describes it to the core. */
export interface FragmentPiece<H> {
  /** Names the datagram the fragment belongs to (the family's reassembly key). */
  key: string;
  /** The fragment's header record; the offset-0 fragment's is the one kept. */
  header: H;
  /** Where the fragment's data goes in the reassembled payload, in bytes. */
  offset: number;
  moreFragments: boolean;
  /** Bytes of the packet in front of the fragment data (kept from the offset-0 fragment). */
  headerLength: number;
  /** The largest offset + length the datagram may reach (65535 less the headers it keeps). */
  maxEnd: number;
}

/** What the core returns for a completed datagram. */
export interface ReassembledPieces<H> {
  /** The offset-0 fragment's header record. */
  header: H;
  /** The offset-0 fragment's bytes in front of its data (headerLength of them), copied. */
  headerBytes: Uint8Array;
  /** A fresh buffer holding the whole datagram's payload. */
  payload: Uint8Array;
}

export interface ExpiredDatagram {
  /** The original bytes of the offset-0 fragment (header and data), if it arrived. */
  firstFragment: Uint8Array | undefined;
}

interface Fragment {
  offset: number;
  data: Uint8Array;
}

interface PendingDatagram<H> {
  key: string;
  deadline: number;
  /** Sorted by offset, never overlapping. */
  fragments: Fragment[];
  receivedBytes: number;
  /** Payload length, known once the fragment with MF clear has arrived. */
  end: number | undefined;
  /** Largest offset + length received so far. */
  highestEnd: number;
  /** Parsed header, raw header bytes and length limit of the offset-0 fragment. */
  firstHeader: H | undefined;
  firstHeaderBytes: Uint8Array | undefined;
  firstMaxEnd: number | undefined;
  chargedBytes: number;
}

export class FragmentReassembler<H> {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxDatagrams: number;
  private readonly counters: Counters;
  /** Insertion order is creation order, and every datagram gets the same timeout, so the first
   *  entry is both the oldest and the next to expire. */
  private readonly pending = new Map<string, PendingDatagram<H>>();
  private charged = 0;

  constructor(options: ReassemblerOptions) {
    const { timeoutMs = 30_000, maxBytes = 4 * 1024 * 1024, maxDatagrams = 256, counters } = options;
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${maxBytes}`);
    if (!Number.isInteger(maxDatagrams) || maxDatagrams < 1) {
      throw new RangeError(`maxDatagrams must be a positive integer, got ${maxDatagrams}`);
    }
    this.timeoutMs = timeoutMs;
    this.maxBytes = maxBytes;
    this.maxDatagrams = maxDatagrams;
    this.counters = counters;
  }

  /** Memory charged to incomplete datagrams (bytes held plus bookkeeping overhead). */
  get heldBytes(): number {
    return this.charged;
  }

  /** Incomplete datagrams held. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** When the oldest incomplete datagram times out, for arming a DeadlineQueue timer. */
  nextExpiry(): number | undefined {
    for (const datagram of this.pending.values()) return datagram.deadline;
    return undefined;
  }

  /**
   * Take one received fragment. `payload` is the fragment's data (a view; what is kept is
   * copied), `packet` the whole IP packet it came in (its first `piece.headerLength` bytes are
   * kept from the offset-0 fragment, for ICMP quoting). Returns the whole datagram when this
   * fragment completes it. A piece that is not a fragment (M clear, offset 0) is returned at once
   * with a copied payload.
   */
  acceptPiece(piece: FragmentPiece<H>, payload: Uint8Array, packet: Uint8Array, now: number): ReassembledPieces<H> | undefined {
    const { offset, key } = piece;
    const length = payload.length;
    const fragmentEnd = offset + length;
    const isLast = !piece.moreFragments;

    if (isLast && offset === 0) {
      return { header: piece.header, headerBytes: packet.slice(0, piece.headerLength), payload: copyBytes(payload) };
    }
    if (length === 0) {
      this.counters.drop('reassembly_empty_fragment');
      return undefined;
    }
    if (!isLast && (length & 7) !== 0) {
      this.counters.drop('reassembly_bad_length');
      return undefined;
    }

    let datagram = this.pending.get(key);

    // The offset-0 fragment's headers are kept, so its limit counts once it is known.
    const maxEnd = offset === 0 ? piece.maxEnd : (datagram?.firstMaxEnd ?? piece.maxEnd);
    if (fragmentEnd > maxEnd) {
      this.counters.drop('reassembly_oversize');
      if (datagram) this.discard(datagram);
      return undefined;
    }

    let index = 0;
    if (datagram) {
      if (
        (isLast && datagram.end !== undefined && datagram.end !== fragmentEnd) ||
        (isLast && fragmentEnd < datagram.highestEnd) ||
        (datagram.end !== undefined && fragmentEnd > datagram.end)
      ) {
        this.counters.drop('reassembly_conflicting_end');
        this.discard(datagram);
        return undefined;
      }
      const placement = findPlacement(datagram.fragments, offset, payload);
      if (placement === 'duplicate') {
        this.counters.drop('reassembly_duplicate');
        return undefined;
      }
      if (placement === 'overlap') {
        this.counters.drop('reassembly_overlap');
        this.discard(datagram);
        return undefined;
      }
      index = placement;
      const end = isLast ? fragmentEnd : datagram.end;
      // Held fragments never overlap and all lie below `end`, so byte count equal to `end`
      // means no hole is left (RFC 815's empty hole list).
      if (end !== undefined && datagram.receivedBytes + length === end) {
        // Completing fragment: nothing more is held, so no memory check is needed.
        insertFragment(datagram, index, offset, payload);
        if (offset === 0) this.recordFirst(datagram, piece, packet);
        datagram.end = end;
        return this.complete(datagram);
      }
    }

    const cost = FRAGMENT_OVERHEAD_BYTES + length + (offset === 0 ? piece.headerLength : 0);
    if (!datagram) {
      if (DATAGRAM_OVERHEAD_BYTES + cost > this.maxBytes) {
        this.counters.drop('reassembly_memory');
        return undefined;
      }
      if (this.pending.size >= this.maxDatagrams) this.evictOldest();
      this.makeRoom(DATAGRAM_OVERHEAD_BYTES + cost, undefined);
      datagram = {
        key,
        deadline: now + this.timeoutMs,
        fragments: [],
        receivedBytes: 0,
        end: undefined,
        highestEnd: 0,
        firstHeader: undefined,
        firstHeaderBytes: undefined,
        firstMaxEnd: undefined,
        chargedBytes: DATAGRAM_OVERHEAD_BYTES,
      };
      this.pending.set(key, datagram);
      this.charged += DATAGRAM_OVERHEAD_BYTES;
    } else {
      if (datagram.chargedBytes + cost > this.maxBytes) {
        this.counters.drop('reassembly_memory');
        this.discard(datagram);
        return undefined;
      }
      this.makeRoom(cost, datagram);
    }

    insertFragment(datagram, index, offset, payload);
    datagram.chargedBytes += FRAGMENT_OVERHEAD_BYTES + length;
    this.charged += FRAGMENT_OVERHEAD_BYTES + length;
    if (offset === 0) this.recordFirst(datagram, piece, packet);
    if (isLast) datagram.end = fragmentEnd;
    // A datagram created by this fragment cannot be complete: it would need a final fragment
    // at offset 0, which is not a fragment at all and returned above.
    return undefined;
  }

  /**
   * Drop every datagram whose time is up (deadline <= now), counting `reassembly_timeout` for
   * each. Returns one entry per dropped datagram, oldest first.
   */
  expire(now: number): ExpiredDatagram[] {
    const expired: ExpiredDatagram[] = [];
    for (const datagram of this.pending.values()) {
      if (datagram.deadline > now) break;
      this.counters.drop('reassembly_timeout');
      expired.push({ firstFragment: firstFragmentBytes(datagram) });
      this.discard(datagram);
    }
    return expired;
  }

  private recordFirst(datagram: PendingDatagram<H>, piece: FragmentPiece<H>, packet: Uint8Array): void {
    datagram.firstHeader = piece.header;
    datagram.firstHeaderBytes = packet.slice(0, piece.headerLength);
    datagram.firstMaxEnd = piece.maxEnd;
    datagram.chargedBytes += piece.headerLength;
    this.charged += piece.headerLength;
  }

  private complete(datagram: PendingDatagram<H>): ReassembledPieces<H> | undefined {
    this.discard(datagram);
    const total = datagram.end!;
    if (total > datagram.firstMaxEnd!) {
      this.counters.drop('reassembly_oversize');
      return undefined;
    }
    const payload = new Uint8Array(total);
    for (const fragment of datagram.fragments) payload.set(fragment.data, fragment.offset);
    this.counters.add('reassembled');
    return { header: datagram.firstHeader!, headerBytes: datagram.firstHeaderBytes!, payload };
  }

  /** Evict oldest datagrams (never `keep`) until `needed` more bytes fit under the cap. */
  private makeRoom(needed: number, keep: PendingDatagram<H> | undefined): void {
    while (this.charged + needed > this.maxBytes) {
      let victim: PendingDatagram<H> | undefined;
      for (const datagram of this.pending.values()) {
        if (datagram !== keep) {
          victim = datagram;
          break;
        }
      }
      if (!victim) return; // cannot happen: the callers checked that `needed` alone fits
      this.counters.drop('reassembly_evicted');
      this.discard(victim);
    }
  }

  private evictOldest(): void {
    for (const datagram of this.pending.values()) {
      this.counters.drop('reassembly_evicted');
      this.discard(datagram);
      return;
    }
  }

  private discard(datagram: PendingDatagram<H>): void {
    if (this.pending.get(datagram.key) !== datagram) return;
    this.pending.delete(datagram.key);
    this.charged -= datagram.chargedBytes;
  }
}

/**
 * IPv4 reassembly (RFC 791 3.2): the core keyed by source, destination, protocol and
 * identification, returning the offset-0 fragment's header made whole.
 */
export class Reassembler extends FragmentReassembler<IPv4Header> {
  /**
   * Take one received IPv4 fragment (see acceptPiece); `packet` is the whole IP packet it came in.
   * A packet that is not a fragment (MF clear, offset 0) is returned at once with a copied payload.
   */
  accept(header: IPv4Header, payload: Uint8Array, packet: Uint8Array, now: number): ReassembledDatagram | undefined {
    const offset = header.fragmentOffset;
    const piece: FragmentPiece<IPv4Header> = {
      key: `${header.source}/${header.destination}/${header.protocol}/${header.identification}`,
      header,
      offset,
      moreFragments: header.moreFragments,
      headerLength: header.headerLength,
      // The final header is the offset-0 fragment's, options included; before it arrives, the
      // 20 bytes every IPv4 header has.
      maxEnd: IPV4_MAX_DATAGRAM - (offset === 0 ? header.headerLength : IPV4_MIN_HEADER),
    };
    const whole = this.acceptPiece(piece, payload, packet, now);
    return whole === undefined ? undefined : { header: wholeHeader(whole.header, whole.payload.length), payload: whole.payload };
  }
}

function wholeHeader(header: IPv4Header, payloadLength: number): IPv4Header {
  return {
    ...header,
    moreFragments: false,
    fragmentOffset: 0,
    totalLength: header.headerLength + payloadLength,
  };
}

/**
 * Where a fragment goes among the sorted, non-overlapping fragments: its insertion index, or
 * 'duplicate' (same offset, length and bytes as one held), or 'overlap'. Held fragments never
 * overlap each other, so only the neighbours at the insertion point need checking.
 */
function findPlacement(fragments: readonly Fragment[], offset: number, data: Uint8Array): number | 'duplicate' | 'overlap' {
  let low = 0;
  let high = fragments.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (fragments[mid]!.offset < offset) low = mid + 1;
    else high = mid;
  }
  const end = offset + data.length;
  const next = fragments[low];
  if (next !== undefined && next.offset === offset && next.data.length === data.length) {
    return sameBytes(next.data, data) ? 'duplicate' : 'overlap';
  }
  const previous = low > 0 ? fragments[low - 1] : undefined;
  if (previous !== undefined && previous.offset + previous.data.length > offset) return 'overlap';
  if (next !== undefined && next.offset < end) return 'overlap';
  return low;
}

function insertFragment<H>(datagram: PendingDatagram<H>, index: number, offset: number, data: Uint8Array): void {
  datagram.fragments.splice(index, 0, { offset, data: copyBytes(data) });
  datagram.receivedBytes += data.length;
  if (offset + data.length > datagram.highestEnd) datagram.highestEnd = offset + data.length;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstFragmentBytes<H>(datagram: PendingDatagram<H>): Uint8Array | undefined {
  const headerBytes = datagram.firstHeaderBytes;
  const first = datagram.fragments[0];
  if (headerBytes === undefined || first === undefined || first.offset !== 0) return undefined;
  const packet = new Uint8Array(headerBytes.length + first.data.length);
  packet.set(headerBytes, 0);
  packet.set(first.data, headerBytes.length);
  return packet;
}

/**
 * The one deadline of a reassembler, for either family: armed for the earliest expiry
 * (`arm()` after each fragment accepted), it calls `expire` when due and hands the offset-0
 * fragment of each expired datagram that had one to `timedOut`, which sends the family's Time
 * Exceeded code 1 (RFC 792 and RFC 1122 3.2.1.2; RFC 8200 4.5), then re-arms for the next.
 */
export class ReassemblyDeadline {
  private timer: TimerHandle | undefined;

  constructor(
    private readonly reassembler: Pick<FragmentReassembler<unknown>, 'nextExpiry' | 'expire'>,
    private readonly timers: DeadlineQueue,
    private readonly timedOut: (firstFragment: Uint8Array) => void,
  ) {}

  arm(): void {
    const next = this.reassembler.nextExpiry();
    if (next === undefined) {
      this.timer?.cancel();
      this.timer = undefined;
      return;
    }
    if (this.timer?.active) return;
    this.timer = this.timers.schedule(next, (now) => {
      this.timer = undefined;
      for (const expired of this.reassembler.expire(now)) {
        if (expired.firstFragment !== undefined) this.timedOut(expired.firstFragment);
      }
      this.arm();
    });
  }
}
