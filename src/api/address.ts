/**
 * Address strings as Go's net package writes them: "host:port", where host may be empty
 * (":8080", any local address) and port may be 0 (pick one). Only IPv4 literals: the stack has
 * no resolver.
 */
import { NetError } from '../errors.js';
import { formatIPv4, MAX_PORT, parseIPv4Address, type IPv4Address } from '../wire/address.js';

export interface NetAddr {
  readonly network: 'tcp' | 'udp';
  readonly address: string;
  readonly port: number;
  toString(): string;
}

export function makeAddr(network: 'tcp' | 'udp', address: IPv4Address, port: number): NetAddr {
  const text = formatIPv4(address);
  return Object.freeze({ network, address: text, port, toString: () => `${text}:${port}` });
}

export function transportOf(network: string): 'tcp' | 'udp' {
  if (network === 'tcp' || network === 'tcp4') return 'tcp';
  if (network === 'udp' || network === 'udp4') return 'udp';
  throw new NetError('EINVAL', `unknown network ${JSON.stringify(network)}: expected "tcp", "tcp4", "udp" or "udp4"`);
}

/** Parse "host:port" (host optional) into a numeric address and port. */
export function parseHostPort(text: string): { address: IPv4Address; port: number } {
  if (typeof text !== 'string') throw new NetError('EINVAL', `address must be a string like "10.0.0.1:80"`);
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new NetError('EINVAL', `address ${JSON.stringify(text)}: missing port (want "host:port" or ":port")`);
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > MAX_PORT) {
    throw new NetError('EINVAL', `address ${JSON.stringify(text)}: invalid port ${JSON.stringify(portText)}`);
  }
  let address: IPv4Address = 0;
  if (host !== '') {
    const parsed = parseIPv4Address(host);
    if (parsed === undefined) {
      throw new NetError('EINVAL', `address ${JSON.stringify(text)}: host must be an IPv4 literal like 10.0.0.1`);
    }
    address = parsed;
  }
  return { address, port: Number(portText) };
}
