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
import type { IPAddress } from '../wire/address6.js';
import { lookupHost, parseHostPort, parseIPLiteral, parseNetwork, splitHostPort, type Resolver } from './address.js';
import { bindingFor, checkFamilyOn, checkReachable, destinationFor, isUnspecified } from './destination.js';
import { resolveSocketOptions, type SocketOptions } from './socket-options.js';
import { TcpConn, TcpListener, type ListenOptions, type LocalBinding } from './tcp.js';
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
 * Where a listener or packet socket listens, from its network and address text. Transparent:
 * every address and port (forwarding), so only ':0' (or '0.0.0.0:0', '[::]:0') may be asked for.
 * Otherwise the port, the family ("tcp4" / "tcp6"; undefined for both) and the address bound
 * (bindingFor: undefined for every address of the family, else one of ours).
 */
function localBinding(
  stack: Stack,
  call: string,
  networkName: string,
  text: string,
  transparent: boolean | undefined,
): LocalBinding | 'transparent' {
  const network = parseNetwork(networkName);
  const { address, port } = parseHostPort(text);
  if (transparent === true) {
    if ((address !== undefined && !isUnspecified(address)) || port !== 0)
      throw new NetError('EINVAL', `${call} ${text}: transparent means every address and port; use ":0"`);
    return 'transparent';
  }
  return { ...bindingFor(stack, network, networkName, address, `${call} ${networkName} ${text}`), port };
}

/** Which stack a call uses. */
export interface StackOption {
  /** Default: the one `openStack()` opened (or `setDefaultStack()` set). */
  stack?: Stack;
}

/**
 * listen('tcp', ':8080'): a Listener on both families; 'tcp4' / 'tcp6' for one, '[fd00::2]:80'
 * or '127.0.0.1:80' for one address (see bindingFor). EADDRINUSE if a listener whose binding
 * overlaps holds the port (tcp4 and tcp6 share one: PortTable.bind).
 */
export async function listen(
  network: 'tcp' | 'tcp4' | 'tcp6',
  address: string,
  options?: ListenOptions & StackOption,
): Promise<TcpListener> {
  if (parseNetwork(network).transport !== 'tcp')
    throw new NetError('EINVAL', `listen supports "tcp", "tcp4" and "tcp6"; use listenPacket for ${network}`);
  const stack = stackFrom(options);
  const local = localBinding(stack, 'listen', network, address, options?.transparent);
  return new TcpListener(stack, local, Math.max(1, options?.backlog ?? 128), options?.maxHalfOpen, options);
}

/** listenPacket('udp', ':53'): an unconnected PacketConn on both families ('udp4' / 'udp6' for one). */
export async function listenPacket(
  network: 'udp' | 'udp4' | 'udp6',
  address: string,
  options?: UdpSocketOptions & StackOption,
): Promise<UdpSocket> {
  if (parseNetwork(network).transport !== 'udp')
    throw new NetError('EINVAL', `listenPacket supports "udp", "udp4" and "udp6", not ${network}`);
  const stack = stackFrom(options);
  return new UdpSocket(stack, localBinding(stack, 'listenPacket', network, address, options?.transparent), undefined, options);
}

/** Options of `dial()` (and of `connect()`). */
export interface DialOptions extends StackOption, SocketOptions {
  /** Give up after this many ms with ETIMEDOUT (Go's DialTimeout); 0 or absent: no limit, as in Go. */
  timeout?: number;
  /** Aborting it ends the dial with `ABORT_ERR`. */
  signal?: AbortSignal;
  /** Looks host names up (see Resolver); without it only `localhost` (127.0.0.1, or ::1 for "tcp6") is known. */
  resolver?: Resolver;
}

/**
 * dial('tcp', '10.0.0.1:80') or dial('tcp', '[fd00::1]:80') resolves to a connected TcpConn, or
 * rejects with ECONNREFUSED, ETIMEDOUT, ENOTFOUND (a name not found), ENETUNREACH (an address
 * nothing can reach, or IPv6 while the stack has none), EADDRNOTAVAIL (no ephemeral port left)
 * or ABORT_ERR. A name with several addresses tries each in turn within the one timeout, as Go
 * (its IPv6 addresses skipped while the stack has IPv6 off); "tcp4" / "tcp6" keep one family.
 * dial('udp', '10.0.0.1:53') resolves to a connected UdpSocket.
 */
export async function dial(network: 'tcp' | 'tcp4' | 'tcp6', address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn>;
export async function dial(network: 'udp' | 'udp4' | 'udp6', address: string, options?: DialOptions & UdpSocketOptions): Promise<UdpSocket>;
export async function dial(network: string, address: string, options?: DialOptions & UdpSocketOptions): Promise<TcpConn | UdpSocket>;
export async function dial(network: string, address: string, options: DialOptions & UdpSocketOptions = {}): Promise<TcpConn | UdpSocket> {
  const parsedNetwork = parseNetwork(network);
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
  const what = `dial ${network} ${address}`;
  const literal = remote.host === '' ? undefined : parseIPLiteral(remote.host);
  let addresses: IPAddress[];
  if (remote.host === '' || literal !== undefined) {
    addresses = [destinationFor(stack, parsedNetwork, network, literal, what)];
    checkFamilyOn(stack, addresses[0]!, what);
  } else {
    const found = await lookupHost(remote.host, parsedNetwork.family, options.resolver, options.signal);
    // A name's IPv6 addresses are no use while the stack has IPv6 off; its IPv4 ones still are.
    addresses = stack.address6 === undefined ? found.filter((candidate) => typeof candidate === 'number') : found;
    if (addresses.length === 0) checkFamilyOn(stack, found[0]!, what);
  }
  for (const remoteAddress of addresses) checkReachable(remoteAddress, what);
  if (parsedNetwork.transport === 'udp')
    return new UdpSocket(
      stack,
      { address: undefined, family: parsedNetwork.family, port: 0 },
      { address: addresses[0]!, port: remote.port },
      options,
    );
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
  remoteAddress: IPAddress,
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
