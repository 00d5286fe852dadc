/**
 * A stand-in for a TUN file descriptor that needs no root: two connected SOCK_SEQPACKET sockets,
 * where, as on a TUN fd, one read returns one whole packet.
 */
import { libc, O_CLOEXEC, O_NONBLOCK } from '../../src/tun/libc.js';

/** Linux <sys/socket.h>; SOCK_NONBLOCK and SOCK_CLOEXEC have the values of O_NONBLOCK and O_CLOEXEC. */
const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;

/** Two connected, non-blocking, close-on-exec SOCK_SEQPACKET sockets. */
export function seqpacketPair(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().socketpair(AF_UNIX, SOCK_SEQPACKET | O_NONBLOCK | O_CLOEXEC, 0, fds) !== 0) {
    throw new Error(`socketpair failed: errno ${libc().errno()}`);
  }
  return [fds[0]!, fds[1]!];
}
