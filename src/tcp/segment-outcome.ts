/**
 * What one arriving segment asks of the connection once it is processed: an immediate ACK, and
 * the events to raise. The connection resets one record at the start of each handleSegment call,
 * the parts that process the segment (receiver, sender, state machine) set its flags, and the
 * connection acts on it at the end: it sends the ACK unless a segment sent meanwhile carried one,
 * then raises the events in a fixed order.
 */
export class SegmentOutcome {
  /** An ACK must go out now (RFC 9293 3.10.7.4, RFC 5681 4.2); any segment carrying an ACK satisfies it. */
  ackNow = false;
  /**
   * An ACK is due by the ACK-every-second-segment rule (RFC 5681 4.2) and may wait for the end of
   * the batch of packets this segment came in, so that a burst read in one wake-up draws one ACK
   * (what Linux's GRO achieves by merging the burst before TCP sees it).
   */
  ackAtBatchEnd = false;
  /** The handshake completed: raise onEstablished. */
  established = false;
  /** Acknowledged data freed send buffer space: raise onWritable. */
  writable = false;
  /** New in-order data or the peer's FIN can be read: raise onReadable. */
  readable = false;

  reset(): void {
    this.ackNow = false;
    this.ackAtBatchEnd = false;
    this.established = false;
    this.writable = false;
    this.readable = false;
  }
}
