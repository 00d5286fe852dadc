import { describe, expect, it } from 'vitest';
import {
  checksumNeedsNoVerification,
  parseVirtioNetHeader,
  tcpSuperSegmentHeader,
  VIRTIO_NET_HDR_BYTES,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_MRG_RXBUF_BYTES,
  writeVirtioNetHeader,
  type VirtioNetHeader,
} from '../../../src/wire/virtio-net.js';

const SAMPLE: VirtioNetHeader = {
  flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
  gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
  hdrLen: 52,
  gsoSize: 1448,
  csumStart: 20,
  csumOffset: 16,
  numBuffers: 1,
};

describe('virtio-net header', () => {
  it('writes the 12-byte form little-endian, field by field (struct virtio_net_hdr_mrg_rxbuf)', () => {
    const bytes = new Uint8Array(14).fill(0xee);
    expect(writeVirtioNetHeader(bytes, 1, SAMPLE, VIRTIO_NET_HDR_MRG_RXBUF_BYTES)).toBe(12);
    expect([...bytes]).toEqual([0xee, 0x01, 0x01, 52, 0, 0xa8, 0x05, 20, 0, 16, 0, 1, 0, 0xee]);
    expect(parseVirtioNetHeader(bytes, 1, VIRTIO_NET_HDR_MRG_RXBUF_BYTES)).toEqual(SAMPLE);
  });

  it('the 10-byte form has no num_buffers and leaves the bytes after it alone', () => {
    const bytes = new Uint8Array(12).fill(0xee);
    expect(writeVirtioNetHeader(bytes, 0, SAMPLE, VIRTIO_NET_HDR_BYTES)).toBe(10);
    expect([...bytes.subarray(10)]).toEqual([0xee, 0xee]);
    expect(parseVirtioNetHeader(bytes, 0, VIRTIO_NET_HDR_BYTES)).toEqual({ ...SAMPLE, numBuffers: 0 });
  });

  it('round-trips the largest field values', () => {
    const header: VirtioNetHeader = {
      flags: 0xff,
      gsoType: 0x85,
      hdrLen: 0xffff,
      gsoSize: 0xfffe,
      csumStart: 0x1234,
      csumOffset: 0xabcd,
      numBuffers: 0xffff,
    };
    const bytes = new Uint8Array(12);
    writeVirtioNetHeader(bytes, 0, header, VIRTIO_NET_HDR_MRG_RXBUF_BYTES);
    expect(parseVirtioNetHeader(bytes, 0, VIRTIO_NET_HDR_MRG_RXBUF_BYTES)).toEqual(header);
  });

  it('a header cut short is no header', () => {
    expect(parseVirtioNetHeader(new Uint8Array(11), 0, VIRTIO_NET_HDR_MRG_RXBUF_BYTES)).toBeUndefined();
    expect(parseVirtioNetHeader(new Uint8Array(12), 3, VIRTIO_NET_HDR_BYTES)).toBeUndefined();
    expect(parseVirtioNetHeader(new Uint8Array(12), 2, VIRTIO_NET_HDR_BYTES)).toBeDefined();
  });

  it('NEEDS_CSUM and DATA_VALID both mean the checksum needs no verification', () => {
    const none = { ...SAMPLE, flags: 0, gsoType: 0 };
    expect(checksumNeedsNoVerification(none)).toBe(false);
    expect(checksumNeedsNoVerification({ ...none, flags: VIRTIO_NET_HDR_F_NEEDS_CSUM })).toBe(true);
    expect(checksumNeedsNoVerification({ ...none, flags: VIRTIO_NET_HDR_F_DATA_VALID })).toBe(true);
    expect(checksumNeedsNoVerification({ ...none, gsoType: VIRTIO_NET_HDR_GSO_UDP_L4 })).toBe(false);
  });

  it('describes a TCP super-segment from its headers: hdr_len, csum_start and csum_offset', () => {
    const packet = new Uint8Array(20 + 32 + 3000);
    packet[0] = 0x45;
    packet[20 + 12] = 8 << 4; // data offset: 32 bytes (timestamps)
    expect(tcpSuperSegmentHeader(packet, 1448)).toEqual({
      flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
      gsoType: VIRTIO_NET_HDR_GSO_TCPV4,
      hdrLen: 52,
      gsoSize: 1448,
      csumStart: 20,
      csumOffset: 16,
      numBuffers: 0,
    });
    const packet6 = new Uint8Array(40 + 20 + 3000);
    packet6[0] = 0x60;
    packet6[40 + 12] = 5 << 4;
    expect(tcpSuperSegmentHeader(packet6, 1440)).toMatchObject({
      gsoType: VIRTIO_NET_HDR_GSO_TCPV6,
      hdrLen: 60,
      csumStart: 40,
      csumOffset: 16,
    });
  });
});
