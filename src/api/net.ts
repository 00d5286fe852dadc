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
import { parseHostPort, transportOf } from './address.js';
import { TcpConn, TcpListener, type ListenOptions } from './tcp.js';
import { UdpSocket, type UdpSocketOptions } from './udp.js';

let defaultStack: Stack | undefined;

export function setDefaultStack(stack: Stack | undefined): void {
  defaultStack = stack;
}

function stackFrom(options: { stack?: Stack } | undefined): Stack {
  const stack = options?.stack ?? defaultStack;
  if (stack === undefined) throw new NetError('EINVAL', 'no stack: pass { stack } or open one with openStack() first');
  return stack;
}

function checkLocalHost(stack: Stack, address: number, text: string): void {
  if (address !== 0 && address !== stack.address) {
    throw new NetError('EADDRNOTAVAIL', `cannot bind ${text}: the stack's address is ${stack.addressText}`);
  }
}

export interface StackOption {
  stack?: Stack;
}

/** listen('tcp', ':8080'): a Listener. EADDRINUSE if the port is taken. */
export async function listen(network: 'tcp' | 'tcp4', address: string, options?: ListenOptions & StackOption): Promise<TcpListener> {
  if (transportOf(network) !== 'tcp') throw new NetError('EINVAL', `listen supports "tcp"; use listenPacket for ${network}`);
  const stack = stackFrom(options);
  const local = parseHostPort(address);
  checkLocalHost(stack, local.address, address);
  return new TcpListener(stack, local.port, Math.max(1, options?.backlog ?? 128), options?.maxHalfOpen);
}

/** listenPacket('udp', ':53'): an unconnected PacketConn. */
export async function listenPacket(network: 'udp' | 'udp4', address: string, options?: UdpSocketOptions & StackOption): Promise<UdpSocket> {
  if (transportOf(network) !== 'udp') throw new NetError('EINVAL', `listenPacket supports "udp", not ${network}`);
  const stack = stackFrom(options);
  const local = parseHostPort(address);
  checkLocalHost(stack, local.address, address);
  return new UdpSocket(stack, local.port, undefined, options);
}

export interface DialOptions extends StackOption {
  /** Give up after this many ms with ETIMEDOUT (Go's DialTimeout). */
  timeout?: number;
  signal?: AbortSignal;
}

/**
 * dial('tcp', '10.0.0.1:80') resolves to a connected TcpConn, or rejects with ECONNREFUSED,
 * ETIMEDOUT or ABORT_ERR. dial('udp', '10.0.0.1:53') resolves at once to a connected UdpSocket.
 */
export async function dial(network: 'tcp' | 'tcp4', address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn>;
export async function dial(network: 'udp' | 'udp4', address: string, options?: DialOptions & UdpSocketOptions): Promise<UdpSocket>;
export async function dial(network: string, address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn | UdpSocket>;
export async function dial(network: string, address: string, options: DialOptions & UdpSocketOptions = {}): Promise<TcpConn | UdpSocket> {
  const transport = transportOf(network);
  const stack = stackFrom(options);
  const remote = parseHostPort(address);
  if (remote.port === 0) throw new NetError('EINVAL', `dial ${network} ${address}: missing port`);
  const remoteAddress = remote.address === 0 ? stack.address : remote.address;
  if (transport === 'udp') return new UdpSocket(stack, 0, { address: remoteAddress, port: remote.port }, options);
  if (options.signal?.aborted) throw new NetError('ABORT_ERR', `dial ${address}: aborted`);
  const connection = stack.tcp.connect(remoteAddress, remote.port);
  const conn = new TcpConn(stack, connection);
  const deadline = options.timeout !== undefined ? stack.clock.now() + options.timeout : undefined;
  try {
    await conn.waitEstablished(deadline, options.signal);
  } catch (error) {
    conn.destroy();
    if (error instanceof TimeoutError) throw new TimeoutError(`dial tcp ${address}: i/o timeout after ${options.timeout} ms`);
    throw error;
  }
  return conn;
}
