/**
 * Address strings as Go's net package writes them: "host:port", where host may be empty
 * (":8080", any local address) and port may be 0 (pick one). Hosts to listen on are IPv4
 * literals; hosts to dial may be names, which a Resolver turns into IPv4 literals.
 */
import { NetError } from '../errors.js';
import { formatIPv4, LOOPBACK_ADDRESS, MAX_PORT, parseIPv4Address, type IPv4Address } from '../wire/address.js';
import type { IPAddress } from '../wire/address6.js';

/** An endpoint address, as Go's net.Addr: the network, the IPv4 address and the port. */
export interface NetAddr {
  /** `tcp` or `udp`. */
  readonly network: 'tcp' | 'udp';
  /** Dotted-quad IPv4 address. */
  readonly address: string;
  /** The port. */
  readonly port: number;
  /** "address:port", as Go's Addr.String(). */
  toString(): string;
}

export function makeAddr(network: 'tcp' | 'udp', address: IPAddress, port: number): NetAddr {
  if (typeof address !== 'number') throw new NetError('EINVAL', 'IPv6 addresses are not supported by the API yet');
  const text = formatIPv4(address);
  return Object.freeze({ network, address: text, port, toString: () => `${text}:${port}` });
}

export function transportOf(network: string): 'tcp' | 'udp' {
  if (network === 'tcp' || network === 'tcp4') return 'tcp';
  if (network === 'udp' || network === 'udp4') return 'udp';
  throw new NetError('EINVAL', `unknown network ${JSON.stringify(network)}: expected "tcp", "tcp4", "udp" or "udp4"`);
}

/** Split "host:port" (host optional, a name or an IPv4 literal) as Go's net.SplitHostPort. */
export function splitHostPort(text: string): { host: string; port: number } {
  if (typeof text !== 'string') throw new NetError('EINVAL', `address must be a string like "10.0.0.1:80"`);
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new NetError('EINVAL', `address ${JSON.stringify(text)}: missing port (want "host:port" or ":port")`);
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > MAX_PORT) {
    throw new NetError('EINVAL', `address ${JSON.stringify(text)}: invalid port ${JSON.stringify(portText)}`);
  }
  if (host.includes(':') || host.startsWith('[')) {
    throw new NetError('EINVAL', `address ${JSON.stringify(text)}: IPv6 is not supported; the stack speaks IPv4 only`);
  }
  return { host, port: Number(portText) };
}

/** Parse "host:port" (host optional, an IPv4 literal) into a numeric address and port. */
export function parseHostPort(text: string): { address: IPv4Address; port: number } {
  const { host, port } = splitHostPort(text);
  let address: IPv4Address = 0;
  if (host !== '') {
    const parsed = parseIPv4Address(host);
    if (parsed === undefined) {
      throw new NetError('EINVAL', `address ${JSON.stringify(text)}: host must be an IPv4 literal like 10.0.0.1`);
    }
    address = parsed;
  }
  return { address, port };
}

/**
 * Turns a host name into IPv4 literals, tried in order (Go's Resolver.LookupHost). Plug in DNS
 * with e.g. `(host) => dns.promises.resolve4(host)`; a failure becomes ENOTFOUND.
 */
export type Resolver = (host: string, options: { signal?: AbortSignal }) => Promise<readonly string[]>;

/**
 * The address to dial for a `host` that needs no lookup: an IPv4 literal, or the empty host
 * (and 0.0.0.0) as the stack's own address (Go: the local system). Undefined for a name.
 */
export function literalHost(host: string, stackAddress: IPv4Address): IPv4Address | undefined {
  if (host === '') return stackAddress;
  const literal = parseIPv4Address(host);
  if (literal === undefined) return undefined;
  return literal === 0 ? stackAddress : literal;
}

/**
 * The addresses to dial for the name `host`, through `resolver`. Without a resolver,
 * `localhost` is the stack's loopback address, 127.0.0.1 (as /etc/hosts says on Linux); any
 * other name fails with ENOTFOUND.
 */
export async function lookupHost(host: string, resolver: Resolver | undefined, signal: AbortSignal | undefined): Promise<IPv4Address[]> {
  if (resolver === undefined) {
    if (host.toLowerCase() === 'localhost') return [LOOPBACK_ADDRESS];
    throw new NetError(
      'ENOTFOUND',
      `lookup ${host}: no such host (no resolver: pass { resolver } to look names up; only "localhost" is known)`,
    );
  }
  let names: readonly string[];
  try {
    names = await resolver(host, { signal });
  } catch (error) {
    if (error instanceof NetError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new NetError('ENOTFOUND', `lookup ${host}: ${reason}`, { cause: error });
  }
  const addresses: IPv4Address[] = [];
  for (const name of names) {
    const address = parseIPv4Address(name);
    if (address !== undefined) addresses.push(address);
  }
  if (addresses.length === 0)
    throw new NetError('ENOTFOUND', `lookup ${host}: no IPv4 address (resolver answered ${JSON.stringify(names)})`);
  return addresses;
}
