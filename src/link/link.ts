/**
 * A link moves raw IPv4 packets (no link-layer header) between the stack and something else:
 * a TUN device, a pcap replay, or another stack in memory.
 *
 * Ownership: a received packet is only valid until the handler returns (a link may hand out
 * views into a reused ring buffer), so whoever keeps bytes copies them. A packet given to
 * `send` belongs to the link from then on; the caller must not modify it afterwards.
 */
export interface Link {
  /** Largest IP packet the link carries, in bytes. */
  readonly mtu: number;
  /** Install the receiver. Packets arrive in batches; one call per batch. */
  setReceiver(receiver: (packets: readonly Uint8Array[]) => void): void;
  /** Queue one packet for transmission. Never blocks, never throws for a full queue (drops and counts instead). */
  send(packet: Uint8Array): void;
  /** Stop receiving, release every resource. Idempotent. */
  close(): Promise<void>;
}

/**
 * Two links joined back to back in memory: what one sends, the other receives (asynchronously,
 * batched per event-loop turn (setImmediate) so that a send from inside a receive handler does not recurse).
 */
export function memoryLinkPair(mtu = 1500): [Link, Link] {
  const a = new MemoryLink(mtu);
  const b = new MemoryLink(mtu);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryLink implements Link {
  peer: MemoryLink | undefined;
  private receiver: ((packets: readonly Uint8Array[]) => void) | undefined;
  private outgoing: Uint8Array[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(readonly mtu: number) {}

  setReceiver(receiver: (packets: readonly Uint8Array[]) => void): void {
    this.receiver = receiver;
  }

  send(packet: Uint8Array): void {
    if (this.closed) return;
    this.outgoing.push(packet);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.outgoing;
    this.outgoing = [];
    const peer = this.peer;
    if (peer && !peer.closed && peer.receiver && batch.length > 0) peer.receiver(batch);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.outgoing = [];
  }
}
