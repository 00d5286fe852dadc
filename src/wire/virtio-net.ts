/**
 * The virtio-net header (struct virtio_net_hdr, <linux/virtio_net.h>; virtio 1.x spec 5.1.6)
 * that a TUN device opened with IFF_VNET_HDR puts in front of every packet it reads and expects
 * in front of every packet written to it. It carries the offloads: a checksum left for the other
 * side to finish (NEEDS_CSUM), a checksum already verified (DATA_VALID), and segmentation
 * (gso_type, gso_size: one super-packet that stands for several MTU-sized ones).
 *
 * Byte order: the fields are in the device's vnet byte order, which for a TUN device is the
 * host's unless TUNSETVNETBE / TUNSETVNETLE say otherwise (drivers/net/tun_vnet.h). This codec
 * reads and writes little-endian, the virtio 1.x order and the host order of the machines the
 * stack runs on (x86_64, arm64); the TUN device turns offloads off on a big-endian host
 * (src/tun/tun-device.ts), so the two never disagree.
 *
 * Two sizes: the 10-byte header, and the 12-byte one with num_buffers (struct
 * virtio_net_hdr_mrg_rxbuf) that the stack asks for with TUNSETVNETHDRSZ, the size virtio 1.x
 * devices always use. The stack never merges receive buffers, so num_buffers is written as 0.
 */

/** flags: the checksum from csum_start to the end is to be finished (the field holds the pseudo-header sum). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 0x01;
/** flags: the checksum was verified by the device. */
export const VIRTIO_NET_HDR_F_DATA_VALID = 0x02;

/** gso_type: not a super-packet. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
/** gso_type: an IPv4 TCP super-segment, cut into gso_size payload bytes per segment. */
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
// gso_type 3 (UDP, fragmentation offload, no longer produced by Linux) has no constant: the
// stack neither asks for it nor accepts it.
/** gso_type: an IPv6 TCP super-segment, cut into gso_size payload bytes per segment. */
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** gso_type: UDP segmentation (USO): several datagrams of gso_size payload bytes behind one header. */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
/** gso_type bit: the TCP segments carry ECN (CWR on the first only). */
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** struct virtio_net_hdr. */
export const VIRTIO_NET_HDR_BYTES = 10;
/** struct virtio_net_hdr_mrg_rxbuf: the header with num_buffers. */
export const VIRTIO_NET_HDR_MRG_RXBUF_BYTES = 12;

export type VirtioNetHeaderBytes = typeof VIRTIO_NET_HDR_BYTES | typeof VIRTIO_NET_HDR_MRG_RXBUF_BYTES;

export interface VirtioNetHeader {
  /** VIRTIO_NET_HDR_F_* bits. */
  flags: number;
  /** VIRTIO_NET_HDR_GSO_* (with the ECN bit). */
  gsoType: number;
  /** Bytes of headers (network and transport) in front of the payload the segments share. */
  hdrLen: number;
  /** Payload bytes per segment of a super-packet. */
  gsoSize: number;
  /** Where the checksummed range starts (the transport header), from the packet's first byte. */
  csumStart: number;
  /** Where the checksum field lies, from csumStart (16 for TCP, 6 for UDP). */
  csumOffset: number;
  /** Receive buffers merged into this packet (the 12-byte header only; 0 otherwise). */
  numBuffers: number;
}

function readLe16(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

function writeLe16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
}

/**
 * Read the `size`-byte header at `offset`; undefined when fewer bytes are there. Any values are
 * accepted: what they mean for the packet behind is its receiver's to check.
 */
export function parseVirtioNetHeader(bytes: Uint8Array, offset: number, size: VirtioNetHeaderBytes): VirtioNetHeader | undefined {
  if (offset < 0 || bytes.length - offset < size) return undefined;
  return {
    flags: bytes[offset]!,
    gsoType: bytes[offset + 1]!,
    hdrLen: readLe16(bytes, offset + 2),
    gsoSize: readLe16(bytes, offset + 4),
    csumStart: readLe16(bytes, offset + 6),
    csumOffset: readLe16(bytes, offset + 8),
    numBuffers: size === VIRTIO_NET_HDR_MRG_RXBUF_BYTES ? readLe16(bytes, offset + 10) : 0,
  };
}

/** Write `header` as `size` bytes at `offset` (the caller's buffer has room); returns `size`. */
export function writeVirtioNetHeader(
  buffer: Uint8Array,
  offset: number,
  header: Readonly<VirtioNetHeader>,
  size: VirtioNetHeaderBytes,
): number {
  buffer[offset] = header.flags;
  buffer[offset + 1] = header.gsoType;
  writeLe16(buffer, offset + 2, header.hdrLen);
  writeLe16(buffer, offset + 4, header.gsoSize);
  writeLe16(buffer, offset + 6, header.csumStart);
  writeLe16(buffer, offset + 8, header.csumOffset);
  if (size === VIRTIO_NET_HDR_MRG_RXBUF_BYTES) writeLe16(buffer, offset + 10, header.numBuffers);
  return size;
}

/** Whether the transport checksum of a received packet needs no verification (see the flags). */
export function checksumNeedsNoVerification(header: Readonly<VirtioNetHeader>): boolean {
  // NEEDS_CSUM: the packet comes from the kernel's own stack and carries only the pseudo-header
  // sum (CHECKSUM_PARTIAL: the "hardware" was to finish it); DATA_VALID: the kernel verified it
  // (CHECKSUM_UNNECESSARY). virtio_net_hdr_from_skb in <linux/virtio_net.h> sets one or the other.
  return (header.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0;
}

/** TCP's checksum field, from the start of its header (RFC 9293 3.1). */
const TCP_CHECKSUM_OFFSET = 16;
/** IPv6's fixed header (RFC 8200 3). */
const IPV6_HEADER_BYTES = 40;

/**
 * The header for a TCP super-segment in `packet` (an IPv4 header, or IPv6's fixed header with no
 * extension headers, as the stack sends; then the TCP header and the payload) to be cut into
 * `gsoSize` payload bytes per segment, its TCP checksum field holding the pseudo-header partial
 * sum (writeTcpSegment's 'partial' checksum). Both the kernel (virtio_net_hdr_to_skb and
 * tcp_gso_segment / tcp6_gso_segment) and a virtio device segment it this way: the headers
 * copied to each segment, the sequence number advanced, the IPv4 identification counted up (IPv6
 * has none), the length fields rewritten, FIN and PSH kept on the last segment only, each
 * checksum finished. The gso_type follows the version nibble (GSO_TCPV4 or GSO_TCPV6).
 */
export function tcpSuperSegmentHeader(packet: Uint8Array, gsoSize: number): VirtioNetHeader {
  const ipv6 = packet[0]! >>> 4 === 6;
  const ipHeaderBytes = ipv6 ? IPV6_HEADER_BYTES : (packet[0]! & 0x0f) * 4;
  const tcpHeaderBytes = (packet[ipHeaderBytes + 12]! >>> 4) * 4;
  return {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gsoType: ipv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
    hdrLen: ipHeaderBytes + tcpHeaderBytes,
    gsoSize,
    csumStart: ipHeaderBytes,
    csumOffset: TCP_CHECKSUM_OFFSET,
    numBuffers: 0,
  };
}
