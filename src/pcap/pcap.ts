/**
 * Classic pcap files (the libpcap format, not pcapng): a writer for the CLI's `--pcap` and a
 * reader for the replay tests' fixtures.
 *
 * The writer always produces little-endian, microsecond, LINKTYPE_RAW files: every packet the
 * stack handles is a bare IPv4 or IPv6 packet, so no link header has to be invented (LINKTYPE_RAW
 * tells the two apart by the version nibble, as tcpdump does). The reader accepts what tcpdump and
 * Wireshark write on Linux (either byte order, micro- or nanosecond stamps, Ethernet and Linux
 * "cooked" captures) and returns only the IP packets, of both families.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { readUint16, copyBytes } from '../bytes.js';

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
const PCAP_SNAPLEN = 262144;

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;

const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
/** The first 32-bit word of a pcapng file (a Section Header Block), to name it in the error. */
const PCAPNG_BLOCK_TYPE = 0x0a0d0d0a;

/** Buffered bytes beyond which `write` hands the buffer to the kernel. */
const FLUSH_THRESHOLD = 256 * 1024;
/** Room for the threshold plus one maximal record, so a record never has to be split. */
const BUFFER_CAPACITY = FLUSH_THRESHOLD + RECORD_HEADER_LENGTH + PCAP_SNAPLEN;

/** One packet of a pcap file (`readPcap()`). */
export interface PcapRecord {
  /** Capture time in milliseconds since the Unix epoch (fractional: micro/nanoseconds kept). */
  timestampMs: number;
  /** The IP packet (IPv4 or IPv6: its version nibble says), link header removed; a copy, independent of the file's bytes. */
  data: Uint8Array;
}

/**
 * Appends packets to a pcap file. Records are gathered in memory and written with one
 * synchronous `writeSync` per ~256 KiB, so a busy stack pays for a system call rarely and never
 * waits on a callback; `flush()` and `close()` push out whatever is pending.
 */
export class PcapWriter {
  private readonly buffer = new Uint8Array(BUFFER_CAPACITY);
  private readonly view = new DataView(this.buffer.buffer);
  private used = 0;
  private fd: number | undefined;

  private constructor(
    fd: number,
    /** The file written. */
    readonly path: string,
  ) {
    this.fd = fd;
    this.writeGlobalHeader();
    // Written at once so that even a file that never sees a packet is a valid capture.
    this.flush();
  }

  /** Create (or truncate) `path` and write the file header. */
  static open(path: string): PcapWriter {
    return new PcapWriter(openSync(path, 'w'), path);
  }

  /**
   * Record one packet. The bytes are copied at once, so the caller may reuse its buffer (a
   * received packet is only valid until the receive handler returns).
   */
  write(packet: Uint8Array, timestampMs: number = Date.now()): void {
    if (this.fd === undefined) throw new Error(`pcap writer for ${this.path} is closed`);
    const capturedLength = Math.min(packet.length, PCAP_SNAPLEN);
    if (this.used + RECORD_HEADER_LENGTH + capturedLength > BUFFER_CAPACITY) this.flush();
    let seconds = Math.floor(timestampMs / 1000);
    let microseconds = Math.round((timestampMs - seconds * 1000) * 1000);
    // Rounding can carry into the next second (e.g. 999.9996 ms).
    if (microseconds >= 1_000_000) {
      seconds += 1;
      microseconds -= 1_000_000;
    }
    const at = this.used;
    this.view.setUint32(at, seconds >>> 0, true);
    this.view.setUint32(at + 4, microseconds, true);
    this.view.setUint32(at + 8, capturedLength, true);
    this.view.setUint32(at + 12, packet.length, true);
    this.buffer.set(capturedLength === packet.length ? packet : packet.subarray(0, capturedLength), at + RECORD_HEADER_LENGTH);
    this.used = at + RECORD_HEADER_LENGTH + capturedLength;
    if (this.used > FLUSH_THRESHOLD) this.flush();
  }

  /** Write every buffered record to the file. */
  flush(): void {
    if (this.fd === undefined) return;
    let offset = 0;
    while (offset < this.used) offset += writeSync(this.fd, this.buffer, offset, this.used - offset);
    this.used = 0;
  }

  /** Flush and close the file. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private writeGlobalHeader(): void {
    const v = this.view;
    v.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
    v.setUint16(4, 2, true); // version 2.4
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, PCAP_SNAPLEN, true);
    v.setUint32(20, LINKTYPE_RAW, true);
    this.used = GLOBAL_HEADER_LENGTH;
  }
}

/**
 * Parse a classic pcap file and return its IPv4 and IPv6 packets in file order. Frames of other
 * protocols (ARP, ...) are skipped. A file that is not pcap, uses an unsupported link type, or is
 * cut short throws an Error that says where and why.
 */
export function readPcap(bytes: Uint8Array): PcapRecord[] {
  if (bytes.length < GLOBAL_HEADER_LENGTH) {
    throw new Error(`not a pcap file: ${bytes.length} bytes, shorter than the ${GLOBAL_HEADER_LENGTH}-byte file header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBigEndian = view.getUint32(0, false);
  const magicLittleEndian = view.getUint32(0, true);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicBigEndian === PCAP_MAGIC_MICROSECONDS || magicBigEndian === PCAP_MAGIC_NANOSECONDS) {
    littleEndian = false;
    nanoseconds = magicBigEndian === PCAP_MAGIC_NANOSECONDS;
  } else if (magicLittleEndian === PCAP_MAGIC_MICROSECONDS || magicLittleEndian === PCAP_MAGIC_NANOSECONDS) {
    littleEndian = true;
    nanoseconds = magicLittleEndian === PCAP_MAGIC_NANOSECONDS;
  } else if (magicBigEndian === PCAPNG_BLOCK_TYPE) {
    throw new Error('pcapng files are not supported; convert with `editcap -F pcap IN OUT` or `tcpdump -r IN -w OUT`');
  } else {
    throw new Error(`not a pcap file: unknown magic number 0x${magicBigEndian.toString(16).padStart(8, '0')}`);
  }
  const versionMajor = view.getUint16(4, littleEndian);
  if (versionMajor !== 2) throw new Error(`unsupported pcap version ${versionMajor}.${view.getUint16(6, littleEndian)}`);
  // The upper bits of this word may carry an FCS length; the link type is the low 16 bits.
  const linkType = view.getUint32(20, littleEndian) & 0xffff;
  const extractIP = linkExtractors.get(linkType);
  if (!extractIP) throw new Error(`unsupported pcap link type ${linkType}`);

  const records: PcapRecord[] = [];
  let offset = GLOBAL_HEADER_LENGTH;
  while (offset < bytes.length) {
    if (offset + RECORD_HEADER_LENGTH > bytes.length) {
      throw new Error(`truncated pcap record header at byte ${offset}: ${bytes.length - offset} of ${RECORD_HEADER_LENGTH} bytes`);
    }
    const seconds = view.getUint32(offset, littleEndian);
    const fraction = view.getUint32(offset + 4, littleEndian);
    const capturedLength = view.getUint32(offset + 8, littleEndian);
    const dataStart = offset + RECORD_HEADER_LENGTH;
    if (dataStart + capturedLength > bytes.length) {
      throw new Error(`truncated pcap record at byte ${offset}: claims ${capturedLength} bytes, ${bytes.length - dataStart} remain`);
    }
    const frame = bytes.subarray(dataStart, dataStart + capturedLength);
    const packet = extractIP(frame);
    const version = packet !== undefined && packet.length > 0 ? packet[0]! >> 4 : 0;
    if (packet !== undefined && (version === 4 || version === 6)) {
      records.push({
        timestampMs: seconds * 1000 + (nanoseconds ? fraction / 1e6 : fraction / 1e3),
        data: copyBytes(packet),
      });
    }
    offset = dataStart + capturedLength;
  }
  return records;
}

/** Whether an EtherType (or a cooked capture's protocol) is one of the IP families. */
function isIPEtherType(etherType: number): boolean {
  return etherType === ETHERTYPE_IPV4 || etherType === ETHERTYPE_IPV6;
}

/** Per link type: the IP packet inside a captured frame, or undefined if it carries something else. */
const linkExtractors = new Map<number, (frame: Uint8Array) => Uint8Array | undefined>([
  [LINKTYPE_RAW, (frame) => frame],
  [LINKTYPE_ETHERNET, ethernetPayload],
  // Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, then the protocol.
  [LINKTYPE_LINUX_SLL, (frame) => (frame.length >= 16 && isIPEtherType(readUint16(frame, 14)) ? frame.subarray(16) : undefined)],
  // Linux cooked v2 puts the protocol first, in a 20-byte header.
  [LINKTYPE_LINUX_SLL2, (frame) => (frame.length >= 20 && isIPEtherType(readUint16(frame, 0)) ? frame.subarray(20) : undefined)],
]);

function ethernetPayload(frame: Uint8Array): Uint8Array | undefined {
  let typeOffset = 12;
  if (frame.length < typeOffset + 2) return undefined;
  let etherType = readUint16(frame, typeOffset);
  // Step over 802.1Q / 802.1ad tags: each is the tag type followed by a 2-byte tag control.
  while ((etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) && frame.length >= typeOffset + 6) {
    typeOffset += 4;
    etherType = readUint16(frame, typeOffset);
  }
  if (!isIPEtherType(etherType)) return undefined;
  const packet = frame.subarray(typeOffset + 2);
  // Ethernet pads frames to 60 bytes; the IPv4 total length (IPv6: 40 + payload length) says
  // where the packet really ends.
  if (etherType === ETHERTYPE_IPV4 && packet.length >= 4) {
    const totalLength = readUint16(packet, 2);
    if (totalLength >= 20 && totalLength < packet.length) return packet.subarray(0, totalLength);
  }
  if (etherType === ETHERTYPE_IPV6 && packet.length >= 40) {
    const totalLength = 40 + readUint16(packet, 4);
    if (totalLength < packet.length) return packet.subarray(0, totalLength);
  }
  return packet;
}
