/**
 * A pass-through link that shows every packet to an observer (the CLI's `--pcap` writer) on its
 * way in and out, without changing what is delivered. It sees what crosses the link: with TCP
 * segmentation offload, the super-segments themselves (with their partial checksums), as tcpdump
 * shows them on a host whose NIC segments.
 */
import type { Link } from './link.js';

export type TapDirection = 'in' | 'out';

/**
 * Wrap `link` so that `observe` sees each received packet before the receiver does, and each sent
 * packet before the wrapped link takes it. The observer must copy anything it keeps: received
 * packets are only valid during the call, and a sent packet belongs to the link right after.
 */
export function tapLink(link: Link, observe: (direction: TapDirection, packet: Uint8Array) => void): Link {
  return {
    get mtu() {
      return link.mtu;
    },
    get tcpSegmentation() {
      return link.tcpSegmentation;
    },
    get queuedBytes() {
      return link.queuedBytes;
    },
    get queueCapacity() {
      return link.queueCapacity;
    },
    get copiesOnSend() {
      return link.copiesOnSend;
    },
    setReceiver(receiver) {
      link.setReceiver((packets, flags) => {
        for (const packet of packets) observe('in', packet);
        receiver(packets, flags);
      });
    },
    send(packet, segmentSize) {
      observe('out', packet);
      link.send(packet, segmentSize);
    },
    close() {
      return link.close();
    },
  };
}
