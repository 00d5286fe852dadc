/**
 * The few libc calls the main thread makes through koffi to set a TUN device up and tear it
 * down. The hot path (poll / read / write per packet) lives in the worker (tun-worker.mjs), which
 * binds its own functions because koffi bindings cannot cross threads.
 *
 * Constants are the Linux generic values (x86_64, arm64, riscv64); Node's fs.constants has no
 * O_CLOEXEC, and the TUN ioctl numbers come from <linux/if_tun.h>.
 */
import koffi from 'koffi';

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

/** _IOW('T', 202, int) */
export const TUNSETIFF = 0x400454ca;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
/** Every read and write carries a struct virtio_net_hdr in front of the packet (src/wire/virtio-net.ts). */
export const IFF_VNET_HDR = 0x4000;
/** _IOW('T', 216, int): the size of that header (10, or 12 with num_buffers). */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** _IOW('T', 208, unsigned int): the offloads the kernel may use on packets it hands us (TUN_F_*). */
export const TUNSETOFFLOAD = 0x400454d0;
/** TUNSETOFFLOAD bits: partial checksums (NEEDS_CSUM), TCP segmentation over IPv4 and IPv6. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** TUNSETOFFLOAD bits: UDP segmentation over IPv4 and IPv6 (Linux 6.2). */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
export const IFNAMSIZ = 16;
/** sizeof(struct ifreq) on 64-bit Linux: the name, then a 24-byte union (flags is a short at 16). */
export const IFREQ_SIZE = 40;

/** errno numbers by name, as the platform defines them. */
export const errnoNumbers: Readonly<Record<string, number>> = koffi.os.errno;

const errnoNames = new Map<number, string>(Object.entries(errnoNumbers).map(([name, value]) => [value, name]));

/** The symbolic name of an errno value ('EBUSY'), or `errno <n>` when the platform has none. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export interface LibcBindings {
  open(path: string, flags: number): number;
  ioctlPointer(fd: number, request: number, argument: Uint8Array | Int32Array): number;
  /** An ioctl whose argument is the value itself (TUNSETOFFLOAD), not a pointer. */
  ioctlValue(fd: number, request: number, value: number): number;
  pipe2(fds: Int32Array, flags: number): number;
  /** Only the tests call it (test/support/seqpacket-pair.ts): a socket pair stands in for a TUN fd. */
  socketpair(domain: number, type: number, protocol: number, fds: Int32Array): number;
  /** Read at most `length` bytes; a packet fd returns the whole packet's length even when that is more. */
  read(fd: number, buffer: Uint8Array, length: number): number;
  write(fd: number, buffer: Uint8Array, length: number): number;
  close(fd: number): number;
  /** errno of the last call made through koffi on this thread; read it right after the call. */
  errno(): number;
}

let bindings: LibcBindings | undefined;

/** Bind lazily so that importing this module costs nothing until a device is opened. */
export function libc(): LibcBindings {
  if (bindings) return bindings;
  // dlopen(NULL): the symbols already loaded into the process, whichever libc that is.
  const lib = koffi.load(null);
  const open = lib.func('int open(const char *path, int flags, ...)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const pipe2 = lib.func('int pipe2(_Out_ int *fds, int flags)');
  const socketpair = lib.func('int socketpair(int domain, int type, int protocol, _Out_ int *fds)');
  const read = lib.func('long read(int fd, void *buffer, unsigned long length)');
  const write = lib.func('long write(int fd, const void *buffer, unsigned long length)');
  const close = lib.func('int close(int fd)');
  bindings = {
    open: (path, flags) => Number(open(path, flags)),
    ioctlPointer: (fd, request, argument) => Number(ioctl(fd, request, 'void *', argument)),
    ioctlValue: (fd, request, value) => Number(ioctl(fd, request, 'unsigned long', value)),
    pipe2: (fds, flags) => Number(pipe2(fds, flags)),
    socketpair: (domain, type, protocol, fds) => Number(socketpair(domain, type, protocol, fds)),
    read: (fd, buffer, length) => Number(read(fd, buffer, length)),
    write: (fd, buffer, length) => Number(write(fd, buffer, length)),
    close: (fd) => Number(close(fd)),
    errno: () => koffi.errno(),
  };
  return bindings;
}
