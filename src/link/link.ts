/**
 * A link moves raw IPv4 packets (no link-layer header) between the stack and something else:
 * a TUN device, a pcap replay, or another stack in memory.
 *
 * Ownership: a received packet is only valid until the handler returns (a link may hand out
 * views into a reused ring buffer), so whoever keeps bytes copies them. A packet given to
 * `send` belongs to the link from then on; the caller must not modify it afterwards, unless the
 * link declares `copiesOnSend`.
 *
 * Offloads (a TUN device with virtio-net headers, src/wire/virtio-net.ts) are optional on both
 * sides: a link that has none leaves `tcpSegmentation` out and never passes receive flags.
 */
export interface Link {
  /** Largest IP packet the link carries, in bytes (a TCP super-segment aside, see tcpSegmentation). */
  readonly mtu: number;
  /**
   * Whether `send` takes IPv4 TCP super-segments (TSO): one packet up to 65535 bytes with a
   * segment size, its TCP checksum field holding only the pseudo-header sum, which the link (the
   * kernel behind it) cuts into MTU-sized segments and finishes. Absent or false: every packet
   * sent fits the MTU and carries its full checksum.
   */
  readonly tcpSegmentation?: boolean;
  /**
   * Bytes queued for transmission that the link has not handed on yet (a TUN device's TX ring),
   * and the most it can queue: what does not fit is dropped, so senders hold back new data while
   * the queue is well filled (TCP: transmitQueueFull). Absent: the link keeps no queue of its own.
   */
  readonly queuedBytes?: number;
  /** The most bytes the link's queue holds (see `queuedBytes`). */
  readonly queueCapacity?: number;
  /**
   * Whether `send` is done with the packet when it returns (it copied the bytes, as a TUN device's
   * TX ring does), so the caller may build its next packet in the same memory. Absent or false:
   * the packet belongs to the link.
   */
  readonly copiesOnSend?: boolean;
  /**
   * Install the receiver. Packets arrive in batches; one call per batch. `flags`, when given,
   * holds RECEIVED_* bits per packet (same index); without it every packet has none.
   */
  setReceiver(receiver: LinkReceiver): void;
  /**
   * Queue one packet for transmission. Never blocks, never throws for a full queue (drops and
   * counts instead). `segmentSize` (only where tcpSegmentation is true) makes the packet a TCP
   * super-segment of segments carrying `segmentSize` payload bytes each (the last one fewer).
   */
  send(packet: Uint8Array, segmentSize?: number): void;
  /** Stop receiving, release every resource. Idempotent. */
  close(): Promise<void>;
}

/** What a link hands received packets to: one call per batch (see `Link.setReceiver`). */
export type LinkReceiver = (packets: readonly Uint8Array[], flags?: Uint8Array) => void;

/**
 * A received packet's TCP or UDP checksum needs no verification: the kernel verified it, or the
 * packet comes from the kernel's own stack with only the pseudo-header sum in the field (a GSO
 * super-packet always does). It may be larger than the MTU then (one TCP super-segment).
 */
export const RECEIVED_CHECKSUM_TRUSTED = 0x01;

/**
 * Two links joined back to back in memory: what one sends, the other receives (asynchronously,
 * batched per event-loop turn (setImmediate) so that a send from inside a receive handler does not recurse).
 * With `tcpSegmentation`, each side takes TCP super-segments and hands them to the other whole,
 * flagged RECEIVED_CHECKSUM_TRUSTED, as the kernel hands a TUN device its GSO packets.
 */
export function memoryLinkPair(mtu = 1500, options: { tcpSegmentation?: boolean } = {}): [Link, Link] {
  const tcpSegmentation = options.tcpSegmentation ?? false;
  const a = new MemoryLink(mtu, tcpSegmentation);
  const b = new MemoryLink(mtu, tcpSegmentation);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryLink implements Link {
  peer: MemoryLink | undefined;
  private receiver: LinkReceiver | undefined;
  private outgoing: Uint8Array[] = [];
  /** RECEIVED_* flags of the outgoing packets, once one has any. */
  private outgoingFlags: number[] | undefined;
  private flushScheduled = false;
  private closed = false;

  constructor(
    readonly mtu: number,
    readonly tcpSegmentation: boolean,
  ) {}

  setReceiver(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  send(packet: Uint8Array, segmentSize?: number): void {
    if (this.closed) return;
    if (segmentSize !== undefined) {
      if (!this.tcpSegmentation) throw new RangeError('this memory link takes no TCP super-segments');
      this.outgoingFlags ??= new Array<number>(this.outgoing.length).fill(0);
    }
    this.outgoing.push(packet);
    this.outgoingFlags?.push(segmentSize !== undefined ? RECEIVED_CHECKSUM_TRUSTED : 0);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outgoing;
    const flags = this.outgoingFlags;
    this.outgoing = [];
    this.outgoingFlags = undefined;
    const peer = this.peer;
    if (peer && !peer.closed && peer.receiver && batch.length > 0) peer.receiver(batch, flags && Uint8Array.from(flags));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outgoing = [];
    this.outgoingFlags = undefined;
  }
}
