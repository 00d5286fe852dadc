/** Public API of the stack. */
export { openStack, type OpenStackOptions, type RunningStack } from './open.js';
export { Stack, type StackOptions } from './stack.js';
export { listen, dial, listenPacket, setDefaultStack, type DialOptions } from './api/net.js';
export { TcpConn, TcpListener, type ListenOptions, type ReadOptions } from './api/tcp.js';
export { UdpSocket, MAX_UDP_PAYLOAD, type UdpSocketOptions } from './api/udp.js';
export { TcpDuplex, toDuplex, type DuplexOptions, type SocketAddress } from './api/duplex.js';
export { type SocketOptions } from './api/socket-options.js';
export { type NetAddr, type Resolver, parseHostPort, splitHostPort } from './api/address.js';
export { NetError, TimeoutError, type NetErrorCode, type NetErrorOptions } from './errors.js';
export { FakeClock, monotonicClock, type Clock } from './clock.js';
export { cryptoRandom, seededRandom, type RandomSource } from './random.js';
export { memoryLinkPair, type Link } from './link/link.js';
export { impairLink, parseImpairSpec } from './link/impair.js';
export { PcapWriter, readPcap } from './pcap/pcap.js';
export { openTun, type TunDevice } from './tun/tun-device.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/types.js';
