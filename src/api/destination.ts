/**
 * Which of the stack's addresses an address text names, and whether a destination can be sent
 * to, for both families: what listen, dial and UDP writeTo share. Go's rules decide the
 * unspecified addresses (internetAddrList in src/net/ipsock.go, favoriteAddrFamily in
 * src/net/ipsock_posix.go):
 * - with "tcp" / "udp", the empty host, 0.0.0.0 and [::] all listen on both families: a wildcard
 *   listen gets a dual-stack AF_INET6 socket whichever family its literal is (Go documents it
 *   for Listen: "a literal unspecified IP address" listens on every address, and golang/go#17615
 *   confirms 0.0.0.0 included);
 * - with "tcp4", [::] is 0.0.0.0 (Go appends IPv4zero to the unspecified IPv6 address,
 *   golang/go#18806, then keeps the IPv4 one);
 * - with "tcp6", 0.0.0.0 (or any IPv4 address) is "no suitable address".
 */
import { NetError } from '../errors.js';
import type { Stack } from '../stack.js';
import { formatIPv4, LOOPBACK_ADDRESS, martianClass } from '../wire/address.js';
import { IPV6_LOOPBACK, IPV6_UNSPECIFIED, ipv4FromMapped, ipv6MartianClass, type IPAddress } from '../wire/address6.js';
import { ofFamily, type Network } from './address.js';

/** Whether `address` is an unspecified address of either family (0.0.0.0, ::). */
export function isUnspecified(address: IPAddress): boolean {
  return address === 0 || address === IPV6_UNSPECIFIED;
}

function noIPv6(what: string): NetError {
  return new NetError('EADDRNOTAVAIL', `${what}: the stack has no IPv6 address (IPv6 is off: set StackOptions.address6, or --addr6)`);
}

/** Go's "no suitable address": a literal of the other family than "tcp4" / "tcp6" asks for. */
function noSuitableAddress(what: string, network: string): NetError {
  return new NetError(
    'EINVAL',
    `${what}: no suitable address for network ${network} (it takes IPv${network.endsWith('4') ? 4 : 6} addresses only)`,
  );
}

/**
 * Where a socket binds, from the host of its local address (undefined: the empty host). `address`
 * is undefined for any address of the family (both for "tcp" / "udp"), else one of ours: the
 * stack's address or address6, or a loopback address (127.0.0.1, ::1), which only the stack's own
 * sockets reach (as on Linux). EADDRNOTAVAIL for an address the stack does not have.
 */
export function bindingFor(
  stack: Stack,
  network: Network,
  networkName: string,
  host: IPAddress | undefined,
  what: string,
): { address: IPAddress | undefined; family: 4 | 6 | undefined } {
  if (host === undefined || isUnspecified(host)) {
    if (network.family === 6 && host === 0) throw noSuitableAddress(what, networkName);
    if (network.family === 6 && stack.address6 === undefined) throw noIPv6(what);
    return { address: undefined, family: network.family };
  }
  if (!ofFamily(host, network.family)) throw noSuitableAddress(what, networkName);
  if (typeof host === 'number') {
    if (host === stack.address || host === LOOPBACK_ADDRESS) return { address: host, family: 4 };
  } else {
    if (stack.address6 === undefined) throw noIPv6(what);
    if (host === stack.address6 || host === IPV6_LOOPBACK) return { address: host, family: 6 };
  }
  const ours = [stack.addressText, '127.0.0.1', ...(stack.address6Text === undefined ? [] : [stack.address6Text, '::1'])];
  throw new NetError('EADDRNOTAVAIL', `${what}: cannot bind it: the stack's addresses are ${ours.join(', ')}`);
}

/**
 * The address a destination literal names: itself, or for the unspecified ones (and the empty
 * host, `undefined`) the stack's own address of the family asked for (Go dials "the local system").
 */
export function destinationFor(stack: Stack, network: Network, networkName: string, host: IPAddress | undefined, what: string): IPAddress {
  if (host === undefined || isUnspecified(host)) {
    if (network.family === 6 && host === 0) throw noSuitableAddress(what, networkName);
    // [::] with "tcp" is the IPv6 address, or the IPv4 one while IPv6 is off (Go's IPv4zero fallback).
    if (network.family === 6 || (host === IPV6_UNSPECIFIED && network.family === undefined && stack.address6 !== undefined)) {
      if (stack.address6 === undefined) throw noIPv6(what);
      return stack.address6;
    }
    return stack.address;
  }
  if (!ofFamily(host, network.family)) throw noSuitableAddress(what, networkName);
  return host;
}

/** An IPv6 destination needs the stack to have IPv6 on: ENETUNREACH, as Linux without an IPv6 route. */
export function checkFamilyOn(stack: Stack, remote: IPAddress, what: string): void {
  if (typeof remote !== 'number' && stack.address6 === undefined) {
    throw new NetError(
      'ENETUNREACH',
      `${what}: cannot reach an IPv6 address: the stack has no IPv6 address (IPv6 is off: set StackOptions.address6, or --addr6)`,
    );
  }
}

/**
 * A destination nothing can be sent to is refused at once rather than left to time out (TCP and
 * unicast UDP only). IPv4: a loopback address other than ours (the stack's loopback is 127.0.0.1
 * alone), 0/8, multicast, class E or broadcast (RFC 1122 3.2.1.3). IPv6: the unspecified address
 * (RFC 4291 2.5.2: never a destination), multicast (RFC 4291 2.7: a group, not a peer), and an
 * IPv4-mapped address (RFC 4291 2.5.5.2: an API form for an IPv4 peer on a dual-stack socket,
 * never on the wire; dial the IPv4 address itself).
 */
export function checkReachable(remote: IPAddress, what: string): void {
  if (remote === LOOPBACK_ADDRESS || remote === IPV6_LOOPBACK) return;
  if (typeof remote === 'number') {
    const martian = martianClass(remote);
    if (martian === undefined) return;
    const why = martian === 'loopback' ? "the stack's loopback address is 127.0.0.1 alone" : `it is a ${martian.replace('_', ' ')} address`;
    throw new NetError('ENETUNREACH', `${what}: cannot reach it: ${why}`);
  }
  const martian = ipv6MartianClass(remote);
  if (martian === undefined) return;
  const mapped = ipv4FromMapped(remote);
  const why =
    mapped !== undefined
      ? `it is an IPv4-mapped address, which never appears on the wire: dial ${formatIPv4(mapped)}`
      : `it is an IPv6 ${martian} address`;
  throw new NetError('ENETUNREACH', `${what}: cannot reach it: ${why}`);
}
