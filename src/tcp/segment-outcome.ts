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
  /** The handshake completed: raise onEstablished. */
  established = false;
  /** Acknowledged data freed send buffer space: raise onWritable. */
  writable = false;
  /** New in-order data or the peer's FIN can be read: raise onReadable. */
  readable = false;

  reset(): void {
    this.ackNow = false;
    this.established = false;
    this.writable = false;
    this.readable = false;
  }
}
