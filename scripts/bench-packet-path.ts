/**
 * The cost of the stack's receive path per TCP segment, without a device (issue 10's
 * micro-benchmark, to guide work on the data path; never a test):
 *
 *   npm run bench:packet -- [--segments N] [--batch N]
 *
 * One stack on a link that goes nowhere accepts a connection on port 5001 and reads it to the
 * end, like the discard service. The script plays the peer: it completes the handshake (MSS 1460,
 * window scale, SACK, timestamps, as Linux offers them) and hands the stack full-sized in-order
 * data segments in batches, as the TUN link hands over what one wake-up of its worker read
 * (32 by default), never beyond the window the stack advertised. Between batches the event loop
 * turns so that the reader drains the connection.
 *
 * Printed, over the segments after a warm-up of a quarter of them:
 *   - ns_per_segment: main-thread time inside the link's receive call (IP and TCP input, the
 *     receive buffer, and the ACKs the stack sends meanwhile), per segment;
 *   - acks_per_segment: packets the stack sent, per segment received;
 *   - heap_bytes_per_segment: V8 heap allocated inside those calls, per segment (the growth of
 *     heapUsed across each call, over the calls during which no garbage collection ran: with
 *     young-generation space of 64 MiB, as `npm run bench:packet` runs it, that is nearly all).
 * The figures vary with the machine; compare runs made one after the other.
 */
import { parseArgs } from 'node:util';
import { listen } from '../src/api/net.js';
import type { Link } from '../src/link/link.js';
import { Stack } from '../src/stack.js';
import { IPV4_MIN_HEADER, parseIPv4Packet, PROTOCOL_TCP, writeIPv4Header } from '../src/wire/ipv4.js';
import { encodeTcpSegment, parseTcpSegment, TCP_ACK, TCP_SYN, type TcpSegment } from '../src/wire/tcp.js';

const { values } = parseArgs({
  options: { segments: { type: 'string', default: '40000' }, batch: { type: 'string', default: '32' } },
  strict: true,
});
const segmentCount = Number(values.segments);
const batchSize = Number(values.batch);
if (!Number.isInteger(segmentCount) || segmentCount < 100 || !Number.isInteger(batchSize) || batchSize < 1) {
  console.error('usage: npm run bench:packet -- [--segments N >= 100] [--batch N >= 1]');
  process.exit(2);
}

const PEER = 0x0a000001;
const STACK = 0x0a000002;
const PEER_PORT = 40000;
const STACK_PORT = 5001;
/** 1460 less the 12 bytes of the timestamp option every segment carries. */
const PAYLOAD = 1448;
const PEER_ISN = 1000;

/** A link whose far end is this script: what the stack sends is kept for inspection. */
class ScriptedLink implements Link {
  readonly mtu = 1500;
  receiver: ((packets: readonly Uint8Array[]) => void) | undefined;
  sent = 0;
  lastSent: Uint8Array | undefined;
  setReceiver(receiver: (packets: readonly Uint8Array[]) => void): void {
    this.receiver = receiver;
  }
  send(packet: Uint8Array): void {
    this.sent++;
    this.lastSent = packet;
  }
  async close(): Promise<void> {}
}

function packetOf(segment: TcpSegment): Uint8Array {
  const packet = encodeTcpSegment(segment, PEER, STACK, IPV4_MIN_HEADER);
  writeIPv4Header(packet, 0, { source: PEER, destination: STACK, protocol: PROTOCOL_TCP, payloadLength: packet.length - IPV4_MIN_HEADER });
  return packet;
}

/** The TCP segment in a packet the stack sent. */
function segmentOf(packet: Uint8Array): TcpSegment {
  const ip = parseIPv4Packet(packet);
  if (!ip.ok) throw new Error(`the stack sent a bad IPv4 packet: ${ip.reason}`);
  const tcp = parseTcpSegment(ip.payload, STACK, PEER);
  if (!tcp.ok) throw new Error(`the stack sent a bad TCP segment: ${tcp.reason}`);
  return tcp.segment;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const link = new ScriptedLink();
const stack = new Stack({ link, address: STACK });
const listener = await listen('tcp', `:${STACK_PORT}`, { stack });
let bytesRead = 0;
void (async () => {
  const conn = await listener.accept();
  const sink = new Uint8Array(256 * 1024);
  for (;;) {
    const n = await conn.read(sink);
    if (n === null) break;
    bytesRead += n;
  }
})();

const deliver = (packets: readonly Uint8Array[]) => link.receiver!(packets);
let tsval = 1;
deliver([
  packetOf({
    sourcePort: PEER_PORT,
    destinationPort: STACK_PORT,
    seq: PEER_ISN,
    ack: 0,
    flags: TCP_SYN,
    window: 64240,
    urgentPointer: 0,
    options: { mss: 1460, sackPermitted: true, timestamp: { value: tsval, echo: 0 }, windowScale: 7 },
    payload: new Uint8Array(0),
  }),
]);
const synAck = segmentOf(link.lastSent!);
const stackIsn = synAck.seq;
const echo = synAck.options.timestamp?.value ?? 0;
const ack = (stackIsn + 1) >>> 0;
const windowShift = synAck.options.windowScale ?? 0;
const data = new Uint8Array(PAYLOAD).map((_, i) => i % 251);
const dataPacket = (offset: number): Uint8Array =>
  packetOf({
    sourcePort: PEER_PORT,
    destinationPort: STACK_PORT,
    seq: (PEER_ISN + 1 + offset) >>> 0,
    ack,
    flags: TCP_ACK,
    window: 502,
    urgentPointer: 0,
    options: { timestamp: { value: ++tsval, echo } },
    payload: data,
  });
deliver([
  packetOf({
    sourcePort: PEER_PORT,
    destinationPort: STACK_PORT,
    seq: PEER_ISN + 1,
    ack,
    flags: TCP_ACK,
    window: 502,
    urgentPointer: 0,
    options: { timestamp: { value: ++tsval, echo } },
    payload: new Uint8Array(0),
  }),
]);
await turn();

// Built before measuring, so that the measured calls see only the stack's own work.
const packets = Array.from({ length: segmentCount }, (_, i) => dataPacket(i * PAYLOAD));
const warmUp = Math.floor(segmentCount / 4);
let measuredNs = 0n;
let measuredSegments = 0;
let heapBytes = 0;
let heapSegments = 0;
let sentBefore: number | undefined;
let next = 0;
/** The right edge of the stack's advertised window, as a byte offset of our data. */
let windowEnd = 65535;
while (next < segmentCount) {
  let count = Math.min(batchSize, segmentCount - next);
  while (count > 0 && (next + count) * PAYLOAD > windowEnd) count--;
  if (count === 0) {
    await turn();
    const last = segmentOf(link.lastSent!);
    windowEnd = ((last.ack - PEER_ISN - 1) >>> 0) + last.window * 2 ** windowShift;
    continue;
  }
  const batch = packets.slice(next, next + count);
  if (next >= warmUp) sentBefore ??= link.sent;
  const heapBefore = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  deliver(batch);
  const elapsed = process.hrtime.bigint() - started;
  const heapAfter = process.memoryUsage().heapUsed;
  if (next >= warmUp) {
    measuredNs += elapsed;
    measuredSegments += count;
    if (heapAfter >= heapBefore) {
      heapBytes += heapAfter - heapBefore;
      heapSegments += count;
    }
  }
  next += count;
  const last = segmentOf(link.lastSent!);
  windowEnd = ((last.ack - PEER_ISN - 1) >>> 0) + last.window * 2 ** windowShift;
  await turn();
}
for (let i = 0; i < 100 && bytesRead < segmentCount * PAYLOAD; i++) await turn();
if (bytesRead !== segmentCount * PAYLOAD) throw new Error(`the reader got ${bytesRead} bytes of ${segmentCount * PAYLOAD}`);
const acks = link.sent - (sentBefore ?? 0);
console.log(
  [
    `segments ${measuredSegments} batch ${batchSize}`,
    `ns_per_segment ${Math.round(Number(measuredNs) / measuredSegments)}`,
    `acks_per_segment ${(acks / measuredSegments).toFixed(3)}`,
    `heap_bytes_per_segment ${heapSegments > 0 ? Math.round(heapBytes / heapSegments) : 'n/a'}`,
  ].join(' '),
);
listener.close();
await stack.close();
