/**
 * Reading a packet file descriptor on the main thread's event loop: libuv polls the fd with the
 * rest of the process's I/O and calls back when a packet is readable, so a received packet
 * reaches the stack with one thread wake-up (the kernel waking this thread's epoll), as a
 * socket's data reaches a Node server. Through the worker thread it took two: the kernel waking
 * the worker, then the worker waking this thread (measured on a 2-core VM: a ping answered
 * through the worker 375 µs median at 10 ms intervals, on the event loop 82 µs).
 *
 * Node has no public handle for a character device, but its pipe handle (libuv's uv_pipe_t)
 * takes any fd that reads and writes like a stream: `uv_pipe_open` only makes it non-blocking.
 * `process.binding('pipe_wrap')` is the one way to reach it; where a runtime does not offer it,
 * `readOnEventLoop` returns undefined and the link keeps reading on its worker.
 *
 * libuv reads once per readiness (it stops when a read does not fill the buffer, and every
 * packet is shorter than the buffer), into a buffer we lend it (`useUserBuffer`, the mechanism
 * behind net.Socket's `onread` option), so no allocation happens per packet. Whoever is called
 * then reads the rest of what is queued itself, for one batch per wake-up.
 */
import { TunError } from './tun-error.js';

/** What libuv's pipe handle offers that this module uses (Node's pipe_wrap.Pipe). */
interface PipeHandle {
  open(fd: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  close(callback: () => void): void;
  onread: (arrayBuffer: ArrayBuffer | undefined) => void;
}

interface PipeWrapBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

interface StreamWrapBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

/** libuv's end of file (UV_EOF): the handle stops reading after it, as after any error. */
const UV_EOF = -4095;

export interface EventLoopReader {
  /** Begin reading (once the packets have somewhere to go). */
  start(): void;
  /** Stop reading; the fd stays open. */
  stop(): void;
  /** Stop reading and close the fd (the handle owns it). */
  close(): Promise<void>;
}

/** Node's bindings, or undefined where the runtime does not offer them. */
function bindings(): { pipe: PipeWrapBinding; stream: StreamWrapBinding } | undefined {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (typeof binding !== 'function') return undefined;
  try {
    const pipe = binding('pipe_wrap') as Partial<PipeWrapBinding>;
    const stream = binding('stream_wrap') as Partial<StreamWrapBinding>;
    if (typeof pipe.Pipe !== 'function' || pipe.constants === undefined) return undefined;
    if (!(stream.streamBaseState instanceof Int32Array) || typeof stream.kReadBytesOrError !== 'number') return undefined;
    return { pipe: pipe as PipeWrapBinding, stream: stream as StreamWrapBinding };
  } catch {
    return undefined;
  }
}

/**
 * A reader that, once started, has the event loop read `fd` into `buffer` (longer than any
 * packet the fd can hold) and calls `onPacket(length)` with the packet's length once one is
 * there. `onFailure` is called once if the fd reports end of file or an error; reading has
 * stopped then. The reader owns the fd from then on (close() closes it). Undefined when this
 * runtime cannot do it: nothing was changed and the caller still owns the fd.
 */
export function readOnEventLoop(
  fd: number,
  buffer: Uint8Array,
  onPacket: (length: number) => void,
  onFailure: (error: TunError) => void,
): EventLoopReader | undefined {
  const found = bindings();
  if (!found) return undefined;
  const { streamBaseState, kReadBytesOrError } = found.stream;
  let handle: PipeHandle;
  try {
    handle = new found.pipe.Pipe(found.pipe.constants.SOCKET);
    if (handle.open(fd) !== 0) return undefined;
  } catch {
    return undefined;
  }
  let reading = false;
  let closing: Promise<void> | undefined;
  handle.useUserBuffer(buffer);
  handle.onread = () => {
    const result = streamBaseState[kReadBytesOrError]!;
    if (result > 0) {
      onPacket(result);
    } else if (result < 0) {
      // libuv has stopped reading (EOF or an error such as EIO or EBADFD on a detached device).
      reading = false;
      onFailure(new TunError('EIO', result === UV_EOF ? 'end of file' : `read failed (libuv error ${result})`));
    }
    // 0: libuv found nothing after all (EAGAIN); it keeps polling.
  };
  return {
    start() {
      if (reading || closing) return;
      const started = handle.readStart();
      // Only a write-only fd is refused, and a packet fd is opened read-write.
      if (started !== 0) onFailure(new TunError('EIO', `cannot poll the device on the event loop (libuv error ${started})`));
      else reading = true;
    },
    stop() {
      if (!reading) return;
      reading = false;
      handle.readStop();
    },
    close() {
      this.stop();
      closing ??= new Promise((resolve) => handle.close(resolve));
      return closing;
    },
  };
}
