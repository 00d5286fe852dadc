/**
 * Address strings as Go's net package writes them: "host:port", where host may be empty
 * (":8080", any local address), an IPv4 literal, an IPv6 literal in brackets ("[fd00::1]:80"),
 * or, to dial, a name that a Resolver turns into literals; port may be 0 (pick one). Network
 * names as Go's: "tcp" and "udp" for both families, "tcp4" / "udp4" and "tcp6" / "udp6" for one.
 */
import { NetError } from '../errors.js';
import { LOOPBACK_ADDRESS, MAX_PORT, parseIPv4Address } from '../wire/address.js';
import { IPV6_LOOPBACK, parseIPv6Address, type IPAddress } from '../wire/address6.js';
import { formatIPAddress, ipFamily } from '../wire/ip.js';

/** An address family as Node names it (net.Socket's `remoteFamily`, `address().family`). */
export type AddressFamily = 'IPv4' | 'IPv6';

/** An endpoint address, as Go's net.Addr: the network, the family, the address and the port. */
export interface NetAddr {
  /** `tcp` or `udp`. */
  readonly network: 'tcp' | 'udp';
  /** `IPv4` or `IPv6`, as Node's net.Socket names them. */
  readonly family: AddressFamily;
  /** The address without brackets: a dotted quad, or IPv6 text as RFC 5952 writes it. */
  readonly address: string;
  /** The port. */
  readonly port: number;
  /** "10.0.0.2:80" or "[fd00::2]:80", as Go's Addr.String() (joinHostPort). */
  toString(): string;
}

export function makeAddr(network: 'tcp' | 'udp', address: IPAddress, port: number): NetAddr {
  const text = formatIPAddress(address);
  const family = familyOf(address);
  return Object.freeze({ network, family, address: text, port, toString: () => joinHostPort(text, port) });
}

/** The family of an address: IPv4 addresses are numbers, IPv6 ones strings (wire/address6.ts). */
function familyOf(address: IPAddress): AddressFamily {
  return ipFamily(address) === 4 ? 'IPv4' : 'IPv6';
}

/** What a network name asks for: the transport, and one family ("tcp4", "udp6") or both ("tcp"). */
export interface Network {
  readonly transport: 'tcp' | 'udp';
  /** 4 or 6 for "tcp4" / "tcp6" / "udp4" / "udp6"; undefined for "tcp" / "udp" (both). */
  readonly family: 4 | 6 | undefined;
}

const NETWORKS: Readonly<Record<string, Network>> = {
  tcp: { transport: 'tcp', family: undefined },
  tcp4: { transport: 'tcp', family: 4 },
  tcp6: { transport: 'tcp', family: 6 },
  udp: { transport: 'udp', family: undefined },
  udp4: { transport: 'udp', family: 4 },
  udp6: { transport: 'udp', family: 6 },
};

/** Go's network names: "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"; anything else is EINVAL. */
export function parseNetwork(network: string): Network {
  const known = Object.hasOwn(NETWORKS, network) ? NETWORKS[network] : undefined;
  if (known === undefined) {
    throw new NetError('EINVAL', `unknown network ${JSON.stringify(network)}: expected "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6"`);
  }
  return known;
}

function addressError(text: string, why: string): NetError {
  return new NetError('EINVAL', `address ${JSON.stringify(text)}: ${why}`);
}

/**
 * Split "host:port" as Go's net.SplitHostPort does: the host of an IPv6 literal (or any host with
 * a colon) is in brackets ("[fd00::1]:80", "missing ']'" without the closing one), and brackets
 * appear nowhere else. The port must be a number 0-65535 (no service names). A zone ("%eth0",
 * RFC 4007 11) is refused: the stack has one link and no scoped addresses.
 */
export function splitHostPort(text: string): { host: string; port: number } {
  if (typeof text !== 'string') throw new NetError('EINVAL', `address must be a string like "10.0.0.1:80" or "[fd00::1]:80"`);
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw addressError(text, 'missing port in address (want "host:port", "[ipv6]:port" or ":port")');
  let host: string;
  /** Where '[' may no longer appear, and ']' may no longer appear. */
  let openFrom = 0;
  let closeFrom = 0;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw addressError(text, "missing ']' in address");
    if (end + 1 === text.length) throw addressError(text, 'missing port in address');
    if (end + 1 !== colon) {
      throw addressError(text, text[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    }
    host = text.slice(1, end);
    openFrom = 1;
    closeFrom = end + 1;
  } else {
    host = text.slice(0, colon);
    if (host.includes(':')) throw addressError(text, 'too many colons in address (put an IPv6 address in brackets: "[fd00::1]:80")');
  }
  if (text.indexOf('[', openFrom) >= 0) throw addressError(text, "unexpected '[' in address");
  if (text.indexOf(']', closeFrom) >= 0) throw addressError(text, "unexpected ']' in address");
  if (host.includes('%')) throw addressError(text, 'zones (%name) are not supported: the stack has one link and no link-local addresses');
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > MAX_PORT) throw addressError(text, `invalid port ${JSON.stringify(portText)}`);
  return { host, port: Number(portText) };
}

/** "host:port", with an IPv6 host (any host with a colon) in brackets, as Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An IPv4 literal (a number) or an IPv6 literal (wire/address6.ts), or undefined for anything else. */
export function parseIPLiteral(host: string): IPAddress | undefined {
  return parseIPv4Address(host) ?? parseIPv6Address(host);
}

/**
 * Parse "host:port" where the host is empty or a literal of either family: the empty host is
 * `undefined` (any local address, as Go's ":80"), and a name is EINVAL.
 */
export function parseHostPort(text: string): { address: IPAddress | undefined; port: number } {
  const { host, port } = splitHostPort(text);
  if (host === '') return { address: undefined, port };
  const address = parseIPLiteral(host);
  if (address === undefined) {
    throw addressError(text, 'host must be an IP literal like 10.0.0.1 or [fd00::1] (names are for dial, with a resolver)');
  }
  return { address, port };
}

/**
 * Turns a host name into IP literals of either family, tried in order (Go's Resolver.LookupHost).
 * Plug in DNS with e.g. `(host) => dns.promises.resolve4(host)` (or `resolve6`, or both);
 * a failure becomes ENOTFOUND.
 */
export type Resolver = (host: string, options: { signal?: AbortSignal }) => Promise<readonly string[]>;

/** Whether `address` is of the family a network asks for (any, for "tcp" and "udp"). */
export function ofFamily(address: IPAddress, family: 4 | 6 | undefined): boolean {
  return family === undefined || family === ipFamily(address);
}

/**
 * The addresses to dial for the name `host`, of the family asked for, through `resolver`.
 * Without a resolver `localhost` is the stack's loopback address, 127.0.0.1 for "tcp" and
 * "tcp4" and ::1 for "tcp6" (as Go's loopbackIP picks by network); any other name fails with
 * ENOTFOUND.
 */
export async function lookupHost(
  host: string,
  family: 4 | 6 | undefined,
  resolver: Resolver | undefined,
  signal: AbortSignal | undefined,
): Promise<IPAddress[]> {
  if (resolver === undefined) {
    if (host.toLowerCase() === 'localhost') return [family === 6 ? IPV6_LOOPBACK : LOOPBACK_ADDRESS];
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
  const addresses: IPAddress[] = [];
  for (const name of names) {
    const address = parseIPLiteral(name);
    if (address !== undefined && ofFamily(address, family)) addresses.push(address);
  }
  if (addresses.length === 0) {
    const wanted = family === undefined ? 'IP' : `IPv${family}`;
    throw new NetError('ENOTFOUND', `lookup ${host}: no ${wanted} address (resolver answered ${JSON.stringify(names)})`);
  }
  return addresses;
}
