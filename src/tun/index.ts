export {
  openTun,
  DEFAULT_MTU,
  DEFAULT_TX_QUEUE_LENGTH,
  DEFAULT_TUN_PATH,
  type TunDevice,
  type TunOptions,
  type TunStats,
} from './tun-device.js';
export { TunError, type TunErrorCode } from './tun-error.js';
export { PacketFdLink, type PacketFdLinkOptions, type PacketFdLinkStats } from './packet-fd-link.js';
