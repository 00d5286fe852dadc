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
  | 'EACCES'
  | 'EPROTO'
  | 'ECLOSED'
  | 'ENOTFOUND'
  | 'ABORT_ERR';

/** Options of `new NetError()`. */
export interface NetErrorOptions {
  /** The underlying error, as `Error.cause`. */
  cause?: unknown;
  /** For a failed write: the bytes it had accepted before failing (Go's `n` beside `err`). */
  bytesWritten?: number;
}

/**
 * The error every API call rejects with: `code` is the POSIX name (`ECONNREFUSED`, ...) that
 * node:net and Go use, and the message starts with it.
 */
export class NetError extends Error {
  /** `NetError`, for TimeoutError too. */
  override readonly name = 'NetError';
  /** Set on the errors write() rejects with: how many of its bytes went into the send buffer. */
  readonly bytesWritten: number | undefined;
  /** The message without the code in front, so the error can be remade with a byte count. */
  readonly detail: string;
  constructor(
    /** What went wrong, as a POSIX error name. */
    readonly code: NetErrorCode,
    message: string,
    options?: NetErrorOptions,
  ) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.detail = message;
    this.bytesWritten = options?.bytesWritten;
  }
}

/** A deadline passed (Go's os.ErrDeadlineExceeded). `timeout` is true as in Go's net.Error. */
export class TimeoutError extends NetError {
  /** Always true, as Go's net.Error Timeout(). */
  readonly timeout = true;
  constructor(message = 'i/o timeout: deadline exceeded', options?: NetErrorOptions) {
    super('ETIMEDOUT', message, options);
  }
}

/**
 * The same error (code, message, class, cause) carrying the bytes a write accepted before it:
 * a connection's stored error is shared by every call that fails with it, so it is copied, not
 * changed.
 */
export function withBytesWritten(error: NetError, bytesWritten: number): NetError {
  const options = { cause: error.cause, bytesWritten };
  return error instanceof TimeoutError ? new TimeoutError(error.detail, options) : new NetError(error.code, error.detail, options);
}

export function abortError(signal: AbortSignal): NetError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new NetError('ABORT_ERR', `operation aborted: ${detail}`, { cause: reason });
}
