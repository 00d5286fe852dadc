/**
 * Initial sequence numbers (RFC 6528 section 3): ISN = M + F(localip, localport, remoteip,
 * remoteport, secretkey), where M is a timer ticking every 4 microseconds (RFC 9293 3.4.1) and
 * F is a keyed hash of the connection's four-tuple. The clock part keeps successive incarnations
 * of one four-tuple moving forward through the sequence space; the keyed part keeps an off-path
 * attacker who does not know the secret from predicting the ISN of a connection it cannot see.
 * RFC 6528 3 asks for F to be a pseudorandom function of the tuple and the secret that cannot be
 * computed from outside: here SipHash-2-4 (src/siphash.ts), a PRF made for short inputs under a
 * 128-bit key, as Linux's secure_tcp_seq uses.
 */
import { writeUint16 } from '../bytes.js';
import { SipHash24 } from '../siphash.js';
import { writeIPAddress } from '../wire/ip.js';
import type { SeqNumber } from './seq.js';
import type { TcpFourTuple } from './types.js';

/** M advances by 250 per millisecond: one tick per 4 microseconds (RFC 9293 3.4.1). */
const TICKS_PER_MS = 250;
/** RFC 6528 3: the secret should be at least 128 bits; SipHash-2-4's key is exactly that. */
export const ISN_SECRET_BYTES = 16;

export class IsnGenerator {
  private readonly clock: () => number;
  private readonly hasher: SipHash24;
  /**
   * The four-tuple serialised for hashing, reused so each ISN costs only the hash: two addresses
   * of up to 16 bytes and two ports; the hash covers only what one tuple fills.
   */
  private readonly tupleBytes = new Uint8Array(36);

  /**
   * @param clock the stack's clock in milliseconds
   * @param secret the hash key, ISN_SECRET_BYTES long: RFC 6528 3 asks for an unguessable
   *   secret, so the stack draws it from its RandomSource (the OS CSPRNG unless a test seeds it)
   */
  constructor(clock: () => number, secret: Uint8Array) {
    this.clock = clock;
    // The key is read into numbers here: later changes to `secret` by the caller do not alter F.
    this.hasher = new SipHash24(secret);
  }

  /** The ISN for a new connection on `tuple`, an unsigned 32-bit number. */
  next(tuple: TcpFourTuple): SeqNumber {
    const tupleBytes = this.tupleBytes;
    let offset = writeIPAddress(tupleBytes, 0, tuple.localAddress);
    writeUint16(tupleBytes, offset, tuple.localPort);
    offset = writeIPAddress(tupleBytes, offset + 2, tuple.remoteAddress);
    writeUint16(tupleBytes, offset, tuple.remotePort);
    const keyedHash = this.hasher.hash(tupleBytes, offset + 2);
    // Clocks given in fractional ms are floored to whole ticks. The sum stays far below 2^53
    // for any realistic clock, so `>>> 0` reduces it exactly modulo 2^32.
    const timer = Math.floor(this.clock() * TICKS_PER_MS);
    return (timer + keyedHash) >>> 0;
  }
}
