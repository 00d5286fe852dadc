/**
 * Why a TUN device could not be opened or stopped working. The codes are the POSIX names a
 * caller would look for; the message says what to do about it.
 *
 * - ENOENT: the clone device (/dev/net/tun) is missing.
 * - EPERM: not root / no CAP_NET_ADMIN.
 * - EBUSY: the interface is attached to another file descriptor.
 * - EINVAL: a bad name, MTU, address, or a name that belongs to a non-TUN interface.
 * - EIO: anything else from the kernel or from iproute2 (the message carries the detail).
 */
export type TunErrorCode = 'ENOENT' | 'EPERM' | 'EBUSY' | 'EINVAL' | 'EIO';

/** The error `openTun()` rejects with, and a running device reports when it fails. */
export class TunError extends Error {
  /** Always `TunError`. */
  override readonly name = 'TunError';
  constructor(
    /** What went wrong (see TunErrorCode). */
    readonly code: TunErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
