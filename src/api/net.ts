/**
 * Go's net package entry points, async: listen, dial, listenPacket. Each takes the stack to use
 * in its options, or uses the default stack (the one set with setDefaultStack, which openStack
 * does), so a program reads like its Go twin:
 *
 *   const listener = await listen('tcp', ':8080');
 *   for await (const conn of listener) { ... }
 */
import { NetError, TimeoutError } from '../errors.js';
import type { Stack } from '../stack.js';
import { LOOPBACK_ADDRESS, martianClass, type IPv4Address } from '../wire/address.js';
import { literalHost, lookupHost, parseHostPort, splitHostPort, transportOf, type Resolver } from './address.js';
import { resolveSocketOptions, type SocketOptions } from './socket-options.js';
import { TcpConn, TcpListener, type ListenOptions } from './tcp.js';
import { UdpSocket, type UdpSocketOptions } from './udp.js';

let defaultStack: Stack | undefined;

/** The stack calls use when they name none (`openStack()` sets it; `undefined` clears it). */
export function setDefaultStack(stack: Stack | undefined): void {
  defaultStack = stack;
}

function stackFrom(options: { stack?: Stack } | undefined): Stack {
  const stack = options?.stack ?? defaultStack;
  if (stack === undefined) throw new NetError('EINVAL', 'no stack: pass { stack } or open one with openStack() first');
  return stack;
}

/**
 * Where a listener or packet socket listens, from its address text. Transparent: every address
 * and port (forwarding), so only ':0' or '0.0.0.0:0' may be asked for. Otherwise the port, and
 * the address bound: undefined for the empty host or 0.0.0.0 (every address of ours), else one
 * of ours: the stack's address, or the loopback address 127.0.0.1, which only the stack's own
 * sockets can reach (as on Linux).
 */
function localBinding(
  stack: Stack,
  call: string,
  text: string,
  transparent: boolean | undefined,
): { address: IPv4Address | undefined; port: number } | 'transparent' {
  const { address, port } = parseHostPort(text);
  if (transparent === true) {
    if (address !== 0 || port !== 0) throw new NetError('EINVAL', `${call} ${text}: transparent means every address and port; use ":0"`);
    return 'transparent';
  }
  if (address === 0) return { address: undefined, port };
  if (address !== stack.address && address !== LOOPBACK_ADDRESS) {
    throw new NetError('EADDRNOTAVAIL', `cannot bind ${text}: the stack's addresses are ${stack.addressText} and 127.0.0.1`);
  }
  return { address, port };
}

/**
 * A destination nothing can be sent to is refused at once rather than left to time out: a
 * loopback address other than ours (the stack's loopback is 127.0.0.1 alone), 0/8, multicast,
 * class E or broadcast (RFC 1122 3.2.1.3; TCP and unicast UDP only).
 */
function checkReachable(remote: IPv4Address, text: string): void {
  if (remote === LOOPBACK_ADDRESS) return;
  const martian = martianClass(remote);
  if (martian === undefined) return;
  const why = martian === 'loopback' ? "the stack's loopback address is 127.0.0.1 alone" : `it is a ${martian.replace('_', ' ')} address`;
  throw new NetError('ENETUNREACH', `dial ${text}: cannot reach it: ${why}`);
}

/** Which stack a call uses. */
export interface StackOption {
  /** Default: the one `openStack()` opened (or `setDefaultStack()` set). */
  stack?: Stack;
}

/** listen('tcp', ':8080'): a Listener. EADDRINUSE if the port is taken. */
export async function listen(network: 'tcp' | 'tcp4', address: string, options?: ListenOptions & StackOption): Promise<TcpListener> {
  if (transportOf(network) !== 'tcp') throw new NetError('EINVAL', `listen supports "tcp"; use listenPacket for ${network}`);
  const stack = stackFrom(options);
  const local = localBinding(stack, 'listen', address, options?.transparent);
  return new TcpListener(stack, local, Math.max(1, options?.backlog ?? 128), options?.maxHalfOpen, options);
}

/** listenPacket('udp', ':53'): an unconnected PacketConn. */
export async function listenPacket(network: 'udp' | 'udp4', address: string, options?: UdpSocketOptions & StackOption): Promise<UdpSocket> {
  if (transportOf(network) !== 'udp') throw new NetError('EINVAL', `listenPacket supports "udp", not ${network}`);
  const stack = stackFrom(options);
  return new UdpSocket(stack, localBinding(stack, 'listenPacket', address, options?.transparent), undefined, options);
}

/** Options of `dial()` (and of `connect()`). */
export interface DialOptions extends StackOption, SocketOptions {
  /** Give up after this many ms with ETIMEDOUT (Go's DialTimeout); 0 or absent: no limit, as in Go. */
  timeout?: number;
  /** Aborting it ends the dial with `ABORT_ERR`. */
  signal?: AbortSignal;
  /** Looks host names up (see Resolver); without it only `localhost` (127.0.0.1) is known. */
  resolver?: Resolver;
}

/**
 * dial('tcp', '10.0.0.1:80') resolves to a connected TcpConn, or rejects with ECONNREFUSED,
 * ETIMEDOUT, ENOTFOUND (a name not found), EADDRNOTAVAIL (no ephemeral port left) or
 * ABORT_ERR. A name with several addresses tries each in turn within the one timeout, as Go.
 * dial('udp', '10.0.0.1:53') resolves to a connected UdpSocket.
 */
export async function dial(network: 'tcp' | 'tcp4', address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn>;
export async function dial(network: 'udp' | 'udp4', address: string, options?: DialOptions & UdpSocketOptions): Promise<UdpSocket>;
export async function dial(network: string, address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn | UdpSocket>;
export async function dial(network: string, address: string, options: DialOptions & UdpSocketOptions = {}): Promise<TcpConn | UdpSocket> {
  const transport = transportOf(network);
  const stack = stackFrom(options);
  const remote = splitHostPort(address);
  if (remote.port === 0) throw new NetError('EINVAL', `dial ${network} ${address}: missing port`);
  const timeout = options.timeout ?? 0;
  if (!(Number.isFinite(timeout) && timeout >= 0))
    throw new NetError('EINVAL', `dial ${address}: timeout ${timeout} is not a number of ms >= 0`);
  const socketOptions = resolveSocketOptions(stack.socketDefaults, options);
  if (options.signal?.aborted) throw new NetError('ABORT_ERR', `dial ${address}: aborted`);
  const deadline = timeout > 0 ? stack.clock.now() + timeout : undefined;
  // A literal is dialled without an await first, so the SYN leaves in this call, as before names.
  const literal = literalHost(remote.host, stack.address);
  const addresses = literal !== undefined ? [literal] : await lookupHost(remote.host, options.resolver, options.signal);
  for (const remoteAddress of addresses) checkReachable(remoteAddress, `${network} ${address}`);
  if (transport === 'udp')
    return new UdpSocket(stack, { address: undefined, port: 0 }, { address: addresses[0]!, port: remote.port }, options);
  let lastError: unknown;
  for (const remoteAddress of addresses) {
    try {
      return await dialTcp(stack, remoteAddress, remote.port, socketOptions, deadline, options.signal);
    } catch (error) {
      if (error instanceof TimeoutError) throw new TimeoutError(`dial tcp ${address}: i/o timeout after ${timeout} ms`);
      if (error instanceof NetError && (error.code === 'ABORT_ERR' || error.code === 'EADDRNOTAVAIL')) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

async function dialTcp(
  stack: Stack,
  remoteAddress: IPv4Address,
  remotePort: number,
  socketOptions: Required<SocketOptions>,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
): Promise<TcpConn> {
  let connection;
  try {
    connection = stack.tcp.connect(remoteAddress, remotePort);
  } catch (error) {
    // The port table says EADDRINUSE when no ephemeral port is left (right for bind); a connect
    // that finds none fails with EADDRNOTAVAIL on Linux, and so in Go.
    if (error instanceof NetError && error.code === 'EADDRINUSE') {
      throw new NetError('EADDRNOTAVAIL', `dial tcp: no free local port for a connection to this destination`, { cause: error });
    }
    throw error;
  }
  const conn = new TcpConn(stack, connection, socketOptions);
  try {
    await conn.waitEstablished(deadline, signal);
  } catch (error) {
    conn.destroy();
    throw error;
  }
  return conn;
}
