/**
 * Layout of the shared memory between the main thread and the TUN worker (tun-worker.mjs).
 * The worker is plain JavaScript and cannot import TypeScript, so it receives these numbers in
 * workerData; this file is the single definition.
 *
 * Two single-producer single-consumer byte rings, one per direction. A record is a 4-byte
 * length (native endian, Int32) followed by the packet, padded to 4 bytes. A length of
 * WRAP_MARKER means "the rest of the ring is unused, continue at offset 0", which keeps every
 * packet contiguous so that read() and write() can work on the ring in place.
 *
 * Head and tail are free-running 32-bit byte counters (offset = counter & (capacity - 1)), so
 * `(head - tail) | 0` is the number of bytes in use and a full ring is told apart from an empty
 * one without wasting a slot. The capacity is a power of two well below 2^31.
 */
import { IPV4_MAX_DATAGRAM } from '../wire/ipv4.js';

/** Int32 slots between control words, so that words written by different threads sit on different 64-byte cache lines. */
const STRIDE = 16;

/** Indexes into the control Int32Array. */
export const Control = {
  /** RX ring: bytes produced by the worker (also the word the main thread waits on). */
  rxHead: 0 * STRIDE,
  /** RX ring: bytes consumed by the main thread. */
  rxTail: 1 * STRIDE,
  /** TX ring: bytes produced by the main thread. */
  txHead: 2 * STRIDE,
  /** TX ring: bytes written to the device by the worker. */
  txTail: 3 * STRIDE,
  /** 1 while the worker is in (or about to enter) poll(); the main thread must write the wake pipe to reach it. */
  workerSleeping: 4 * STRIDE,
  /** 1 once a wake byte has been written and not yet consumed, so the main thread writes at most one. */
  wakePending: 4 * STRIDE + 1,
  /** 1 when the worker stopped reading because the RX ring is full; the main thread wakes it after freeing space. */
  rxStalled: 5 * STRIDE,
  /** Set by the main thread to make the worker exit. */
  stop: 6 * STRIDE,
  /** Writes the device refused (the packet was dropped), and the errno of the last one. */
  txWriteErrors: 7 * STRIDE,
  txLastErrno: 7 * STRIDE + 1,
  /** Times the worker found the RX ring full (the kernel queues or drops meanwhile). */
  rxStalls: 7 * STRIDE + 2,
} as const;

export const CONTROL_INTS = 8 * STRIDE;

export const WRAP_MARKER = -1;

/**
 * Largest IPv4 packet. A record holds one, behind the device's virtio-net header when it has
 * one (so the largest record payload, and the size of every read, is this plus the header).
 */
export const MAX_PACKET = IPV4_MAX_DATAGRAM;

/** Bytes a record of `length` payload bytes occupies: the length word plus the payload, padded to 4. */
export function recordBytes(length: number): number {
  return (length + 7) & ~3;
}

/** Smallest ring allowed: room for two maximum-size records so that a wrap can always make progress. */
export const MIN_RING_BYTES = 1 << 18;
export const DEFAULT_RING_BYTES = 1 << 22;

export interface WorkerConfig {
  fd: number;
  wakeFd: number;
  control: SharedArrayBuffer;
  rx: SharedArrayBuffer;
  tx: SharedArrayBuffer;
  layout: typeof Control;
  wrapMarker: number;
  /** The largest record payload: MAX_PACKET plus the virtio-net header, if any. */
  maxPacket: number;
  /** Whether the worker reads the device into the RX ring; false when the main thread's event loop does. */
  readDevice: boolean;
}
