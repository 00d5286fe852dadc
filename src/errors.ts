/**
 * Typed errors for callers of the API, named after the POSIX codes that Node and Go use, so
 * `err.code === 'ECONNREFUSED'` works as it does with node:net.
 */
export type NetErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ECONNABORTED'
  | 'ETIMEDOUT'
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EINVAL'
  | 'EPIPE'
  | 'ENOTCONN'
  | 'EMSGSIZE'
  | 'ENOBUFS'
  | 'ENETUNREACH'
  | 'EHOSTUNREACH'
  | 'ECLOSED'
  | 'ABORT_ERR';

export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(
    readonly code: NetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
  }
}

/** A deadline passed (Go's os.ErrDeadlineExceeded). `timeout` is true as in Go's net.Error. */
export class TimeoutError extends NetError {
  readonly timeout = true;
  constructor(message = 'i/o timeout: deadline exceeded') {
    super('ETIMEDOUT', message);
  }
}

export function abortError(signal: AbortSignal): NetError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new NetError('ABORT_ERR', `operation aborted: ${detail}`, { cause: reason });
}
