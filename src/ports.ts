/**
 * Port allocation for one transport protocol. Ephemeral ports come from 49152-65535 (RFC 6335
 * 6, the IANA dynamic range), chosen as RFC 6056 section 3.3 describes:
 *
 * - For a known destination (TCP's active open), algorithm 4, "double-hash" (3.3.4): the search
 *   starts at F(local address, remote address, remote port, secret) plus a per-destination
 *   counter table[G(...)], so each destination sees its own sequence of ports, which cycles
 *   through the whole range before a four-tuple (perhaps still in TIME-WAIT) comes back, while
 *   an off-path observer of one destination's ports learns nothing of another's. The counter
 *   also moves a random 1..8 after each choice, so that one destination's next port is not the
 *   last plus one (the random increments of algorithm 5, 3.3.5; Linux did the same after the
 *   2022 port-tracking attack on its double-hash table).
 * - Without a destination (a UDP socket, or a listener bound to port 0), algorithm 1, "simple
 *   port randomization" (3.3.1): a random starting point for each search.
 *
 * Either way the search then walks the range from there to the first suitable port.
 */
import { writeUint16 } from './bytes.js';
import { NetError } from './errors.js';
import type { RandomSource } from './random.js';
import { SipHash24 } from './siphash.js';
import { MAX_PORT } from './wire/address.js';
import type { IPAddress } from './wire/address6.js';
import { ipFamily, writeIPAddress } from './wire/ip.js';

export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_LAST = MAX_PORT;
const EPHEMERAL_SPAN = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
/** RFC 6056 3.3.4: the length of the counter table of algorithm 4. */
const PERTURBATION_TABLE_LENGTH = 256;
/** The largest random step the counter takes after a choice (algorithm 5's N, kept small). */
const MAX_RANDOM_STEP = 8;
/** RFC 6056 3.3.4 (and RFC 6528 3): the hash secret, 128 bits (SipHash-2-4's key). */
const PORT_SECRET_BYTES = 16;

/** The far end of a connection being opened, which algorithm 4 hashes. */
export interface PortDestination {
  localAddress: IPAddress;
  remoteAddress: IPAddress;
  remotePort: number;
}

/**
 * What a bound endpoint (a TCP listener, a UDP socket) restricts itself to: one local address
 * (undefined: any of ours), and one address family (Go's "tcp4" / "tcp6", "udp4" / "udp6";
 * undefined: both). Both transports judge it the same way (endpointAccepts).
 */
export interface EndpointBinding {
  readonly boundAddress?: IPAddress;
  readonly family?: 4 | 6;
}

/**
 * Whether an endpoint bound as `binding` takes traffic to our `destination`. Traffic of a family
 * no endpoint on its port accepts finds no endpoint at all: a RST or a port unreachable, as Linux
 * answers an IPv4 SYN to a port only a v6-only socket holds.
 */
export function endpointAccepts(binding: EndpointBinding, destination: IPAddress): boolean {
  if (binding.boundAddress !== undefined && binding.boundAddress !== destination) return false;
  return binding.family === undefined || binding.family === ipFamily(destination);
}

/** The family a binding is limited to: its own, else its bound address's; undefined for both. */
function bindingFamily(binding: EndpointBinding): 4 | 6 | undefined {
  if (binding.family !== undefined) return binding.family;
  return binding.boundAddress === undefined ? undefined : ipFamily(binding.boundAddress);
}

/**
 * Whether some destination is accepted by both bindings (endpointAccepts), so they cannot hold
 * one port together. This is Linux's bind conflict without SO_REUSEADDR (inet_csk_bind_conflict with
 * inet_rcv_saddr_equal(..., match_wildcard = true) for TCP, udp_lib_lport_inuse for UDP): two
 * sockets of different families (the IPv6 one IPV6_V6ONLY) or on different specific addresses
 * coexist, while a wildcard conflicts with every address of its family, including a specific one
 * (0.0.0.0:80 then 127.0.0.1:80 is EADDRINUSE), and a dual-stack wildcard with everything.
 */
export function bindingsOverlap(a: EndpointBinding, b: EndpointBinding): boolean {
  const familyA = bindingFamily(a);
  const familyB = bindingFamily(b);
  if (familyA !== undefined && familyB !== undefined && familyA !== familyB) return false;
  return a.boundAddress === undefined || b.boundAddress === undefined || a.boundAddress === b.boundAddress;
}

/** A binding that accepts every destination (and so overlaps every other): shares with nothing. */
export const EXCLUSIVE_BINDING: EndpointBinding = {};

/**
 * The owners of a port several bindings share (none overlapping), those with a specific bound
 * address first, so the first that accepts a destination is the most specific (as Linux's
 * lookup scores an exact address above a wildcard). A class, so that the table tells it from a
 * lone owner with one instanceof.
 */
class SharedPort<T> {
  constructor(readonly owners: T[]) {}
}

export class PortTable<T> {
  /** A port's owner, or its SharedPort while bindings share it (most ports have one owner). */
  private readonly owners = new Map<number, T | SharedPort<T>>();
  /** F and G of algorithm 4: SipHash-2-4 (src/siphash.ts) under the secret, as Linux's port offsets. */
  private readonly hasher: SipHash24;
  private readonly perturbation = new Uint32Array(PERTURBATION_TABLE_LENGTH);
  /** The destination serialised for hashing; reused. */
  private readonly destinationBytes = new Uint8Array(34);

  /**
   * @param random where the hash secret and the random starting points come from (the stack's RandomSource)
   * @param bindingOf what an owner restricts itself to; owners whose bindings do not overlap share a
   *   port (by default none do)
   */
  constructor(
    readonly protocol: string,
    private readonly random: RandomSource,
    private readonly bindingOf: (owner: T) => EndpointBinding = () => EXCLUSIVE_BINDING,
  ) {
    this.hasher = new SipHash24(random.bytes(PORT_SECRET_BYTES));
  }

  /** Ports with at least one owner. */
  get size(): number {
    return this.owners.size;
  }

  /** An owner of `port`: the only one unless owners whose bindings do not overlap share it. */
  get(port: number): T | undefined {
    const held = this.owners.get(port);
    return held instanceof SharedPort ? held.owners[0] : held;
  }

  /** Every owner of `port` (a snapshot). */
  ownersOf(port: number): T[] {
    const held = this.owners.get(port);
    if (held === undefined) return [];
    return held instanceof SharedPort ? [...held.owners] : [held];
  }

  /**
   * The owner of `port` that takes traffic to our `destination` (endpointAccepts), the most
   * specific if several did (they cannot: bind refuses overlapping bindings; see SharedPort).
   */
  lookup(port: number, destination: IPAddress): T | undefined {
    const held = this.owners.get(port);
    if (held === undefined) return undefined;
    if (!(held instanceof SharedPort)) return endpointAccepts(this.bindingOf(held), destination) ? held : undefined;
    for (const owner of held.owners) if (endpointAccepts(this.bindingOf(owner), destination)) return owner;
    return undefined;
  }

  /**
   * Bind `owner` to `port`, or to a free ephemeral port when `port` is 0. Throws EADDRINUSE when an
   * owner of the port has an overlapping binding (bindingsOverlap), or every ephemeral port is
   * taken; EINVAL for a port outside 0..65535.
   */
  bind(port: number, owner: T): number {
    if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
      throw new NetError('EINVAL', `${this.protocol} port ${port} is out of range 0-${MAX_PORT}`);
    }
    if (port === 0) port = this.chooseEphemeral((candidate) => !this.owners.has(candidate));
    const held = this.owners.get(port);
    if (held === undefined) {
      this.owners.set(port, owner);
      return port;
    }
    const binding = this.bindingOf(owner);
    const others = held instanceof SharedPort ? held.owners : [held];
    if (others.some((other) => bindingsOverlap(this.bindingOf(other), binding))) {
      throw new NetError('EADDRINUSE', `${this.protocol} port ${port} is already in use`);
    }
    // A specific address before the wildcards, so lookup's first match is the most specific.
    const owners = binding.boundAddress === undefined ? [...others, owner] : [owner, ...others];
    this.owners.set(port, new SharedPort(owners));
    return port;
  }

  /**
   * An ephemeral port for which `isSuitable` holds, by RFC 6056 algorithm 4 for a `destination`,
   * algorithm 1 without one (see the top of the file). It is not bound: the caller binds it or
   * shares it. Throws EADDRINUSE when no port of the range is suitable.
   */
  chooseEphemeral(isSuitable: (port: number) => boolean, destination?: PortDestination): number {
    let start: number;
    let index = -1;
    if (destination === undefined) {
      start = Math.floor(this.random.float() * EPHEMERAL_SPAN);
    } else {
      const f = this.hashDestination(destination);
      index = this.hasher.high % PERTURBATION_TABLE_LENGTH;
      start = f + this.perturbation[index]!;
    }
    for (let i = 0; i < EPHEMERAL_SPAN; i++) {
      const candidate = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_SPAN);
      if (!isSuitable(candidate)) continue;
      if (index >= 0) {
        const step = 1 + Math.floor(this.random.float() * MAX_RANDOM_STEP);
        this.perturbation[index] = this.perturbation[index]! + i + step;
      }
      return candidate;
    }
    throw new NetError('EADDRINUSE', `no free ephemeral ${this.protocol} port`);
  }

  /**
   * F and G of RFC 6056 algorithm 4: the two 32-bit halves of one keyed hash of the destination,
   * F (the low half) returned, G left in `hasher.high`.
   */
  private hashDestination(destination: PortDestination): number {
    const bytes = this.destinationBytes;
    const offset = writeIPAddress(bytes, writeIPAddress(bytes, 0, destination.localAddress), destination.remoteAddress);
    writeUint16(bytes, offset, destination.remotePort);
    return this.hasher.hash(bytes, offset + 2);
  }

  /** Every (port, owner) pair (a snapshot): a shared port once for each owner. */
  entries(): Array<[number, T]> {
    const pairs: Array<[number, T]> = [];
    for (const [port, held] of this.owners) {
      if (held instanceof SharedPort) for (const owner of held.owners) pairs.push([port, owner]);
      else pairs.push([port, held]);
    }
    return pairs;
  }

  /** Every current owner (a snapshot, safe to mutate the table while iterating). */
  allOwners(): T[] {
    return this.entries().map(([, owner]) => owner);
  }

  /** `owner` gives `port` up; its sharers keep it (the last of them alone again, as a lone owner). */
  release(port: number, owner: T): void {
    const held = this.owners.get(port);
    if (held === owner) {
      this.owners.delete(port);
    } else if (held instanceof SharedPort) {
      const rest = held.owners.filter((other) => other !== owner);
      if (rest.length === 1) this.owners.set(port, rest[0]!);
      else held.owners.splice(0, held.owners.length, ...rest);
    }
  }
}
