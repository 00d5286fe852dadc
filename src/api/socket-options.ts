/**
 * The options every TCP connection of the API starts with. The defaults are Go's, not the TCP
 * core's (RFC 1122: Nagle on, keepalive off): Go's net package sets TCP_NODELAY on every
 * connection and keepalive probes every 15 s (net.Dialer.KeepAlive, net.ListenConfig.KeepAlive),
 * and code ported from Go that writes twice and then reads would otherwise wait on the peer's
 * delayed ACK each round. The names are net.connect's, so one options object serves dial,
 * listen, connect and an http.Agent. A stack's own defaults (`StackOptions.sockets`) come
 * between Go's and a call's.
 */
import { NetError } from '../errors.js';

/** The socket options of a TCP connection (Go's defaults: NoDelay on, keepalive every 15 s). */
export interface SocketOptions {
  /** TCP_NODELAY: small writes go out at once (no Nagle). Default true. */
  noDelay?: boolean;
  /** Keepalive probes on an idle connection (RFC 1122 4.2.3.6). Default true. */
  keepAlive?: boolean;
  /** Idle ms before the first keepalive probe, also the interval between probes; 0 keeps the default, 15000. */
  keepAliveInitialDelay?: number;
}

const GO_KEEPALIVE_MS = 15_000;

const GO_SOCKET_OPTIONS: Required<SocketOptions> = { noDelay: true, keepAlive: true, keepAliveInitialDelay: GO_KEEPALIVE_MS };

/** The options a new connection gets: the call's, else the stack's, else Go's. */
export function resolveSocketOptions(stackDefaults: SocketOptions | undefined, call: SocketOptions | undefined): Required<SocketOptions> {
  const delay = call?.keepAliveInitialDelay || stackDefaults?.keepAliveInitialDelay || GO_SOCKET_OPTIONS.keepAliveInitialDelay;
  if (!Number.isFinite(delay) || delay < 0) throw new NetError('EINVAL', `keepAliveInitialDelay ${delay} is not a number of ms >= 0`);
  return {
    noDelay: call?.noDelay ?? stackDefaults?.noDelay ?? GO_SOCKET_OPTIONS.noDelay,
    keepAlive: call?.keepAlive ?? stackDefaults?.keepAlive ?? GO_SOCKET_OPTIONS.keepAlive,
    keepAliveInitialDelay: delay,
  };
}
