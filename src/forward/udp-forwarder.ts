/**
 * Forwarding mode for UDP (issue 12): the stack's transparent UDP socket takes every datagram
 * that arrives on the device for an address that is not the stack's own; each flow (client
 * address and port, destination address and port) gets a node:dgram socket in the process's
 * namespace that sends to the destination, and what the destination sends back to that socket
 * is written to the client from the destination's address, as if it had answered directly (the
 * NAT behaviour of RFC 4787: endpoint-independent mapping per flow, replies only from the
 * destination).
 *
 * - A flow ends after `idleTimeoutMs` without a datagram either way (RFC 4787 REQ-5: at least
 *   2 minutes by default; shorter is allowed for DNS-like traffic, which callers may choose).
 * - A cap on flows at once: beyond it, datagrams that would open a new flow are dropped and
 *   counted (`udp_over_limit`).
 * - Counters in the stack's `forward` layer: flows opened, open now and expired, datagrams and
 *   bytes each way, datagrams from anyone but the destination dropped.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { listenPacket } from '../api/net.js';
import type { UdpSocket } from '../api/udp.js';
import type { NetAddr } from '../api/address.js';
import type { Counters } from '../counters.js';
import { NetError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Stack } from '../stack.js';

/** Options of UdpForwarder.start. */
export interface UdpForwarderOptions {
  /** Flows at once; datagrams that would open more are dropped (`udp_over_limit`). Default 1024. */
  maxFlows?: number;
  /** A flow with no datagram either way for this long is closed. Default 120 s (RFC 4787 REQ-5). */
  idleTimeoutMs?: number;
  /** Logs each flow's open and close at debug level. */
  logger?: Logger;
  /** Opens the kernel-side socket of a flow to a destination of `type`'s family (default dgram's); for tests. */
  createSocket?: (type: 'udp4' | 'udp6') => DgramSocket;
  /** @internal Where the kernel-side socket sends a flow's datagrams (default: its destination); for tests. */
  redirect?: (destination: NetAddr) => { address: string; port: number };
}

interface UdpFlow {
  readonly client: NetAddr;
  readonly destination: NetAddr;
  /** Where its socket sends (the destination, unless redirected for tests). */
  readonly target: { address: string; port: number };
  readonly socket: DgramSocket;
  lastActive: number;
}

/** A running UDP forwarder; `close()` ends every flow. */
export class UdpForwarder {
  private readonly flows = new Map<string, UdpFlow>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly socket: UdpSocket,
    private readonly counters: Counters,
    private readonly options: Required<Omit<UdpForwarderOptions, 'logger' | 'redirect'>> & Pick<UdpForwarderOptions, 'logger' | 'redirect'>,
  ) {
    // Expiry by sweeping, not a timer per flow re-armed on every datagram.
    this.sweeper = setInterval(() => this.expireIdle(Date.now()), Math.max(10, Math.floor(options.idleTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Open the transparent UDP socket on `stack` and forward what it receives. */
  static async start(stack: Stack, options: UdpForwarderOptions = {}): Promise<UdpForwarder> {
    const socket = await listenPacket('udp', ':0', { stack, transparent: true });
    const forwarder = new UdpForwarder(socket, stack.counters('forward'), {
      maxFlows: options.maxFlows ?? 1024,
      idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
      logger: options.logger,
      createSocket: options.createSocket ?? ((type) => createSocket(type)),
      redirect: options.redirect,
    });
    void forwarder.readLoop();
    return forwarder;
  }

  /** Flows open now. */
  get openFlows(): number {
    return this.flows.size;
  }

  private async readLoop(): Promise<void> {
    const buffer = new Uint8Array(65535);
    for (;;) {
      let datagram;
      try {
        datagram = await this.socket.readFrom(buffer);
      } catch (error) {
        if (error instanceof NetError && error.code === 'ECLOSED') return;
        throw error;
      }
      const flow = this.flowFor(datagram.addr, datagram.to);
      if (flow === undefined) continue;
      flow.lastActive = Date.now();
      this.counters.add('udp_datagrams_to_server');
      this.counters.add('bytes_to_server', datagram.n);
      flow.socket.send(buffer.slice(0, datagram.n), flow.target.port, flow.target.address);
    }
  }

  /** The flow of client -> destination, opened if there is room. */
  private flowFor(client: NetAddr, destination: NetAddr): UdpFlow | undefined {
    const key = `${client.toString()}>${destination.toString()}`;
    const existing = this.flows.get(key);
    if (existing !== undefined) return existing;
    if (this.flows.size >= this.options.maxFlows) {
      this.counters.add('udp_over_limit');
      return undefined;
    }
    const target = this.options.redirect?.(destination) ?? destination;
    const socket = this.options.createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
    const flow: UdpFlow = { client, destination, target, socket, lastActive: Date.now() };
    socket.on('message', (message, remote) => {
      // Only the destination may answer through the flow (RFC 4787 REQ-8, address and port
      // dependent filtering): anything else reaching this socket is dropped.
      if (remote.address !== target.address || remote.port !== target.port) {
        this.counters.add('udp_foreign_replies_dropped');
        return;
      }
      flow.lastActive = Date.now();
      this.counters.add('udp_datagrams_to_client');
      this.counters.add('bytes_to_client', message.length);
      this.socket.writeTo(message, client, { from: destination }).catch(() => this.counters.add('udp_replies_failed'));
    });
    socket.on('error', (error) => {
      this.options.logger?.debug(`forward udp ${key}: ${error.message}`);
      this.counters.add('udp_socket_errors');
    });
    this.flows.set(key, flow);
    this.counters.add('udp_flows_opened');
    this.counters.add('udp_flows_open');
    this.options.logger?.debug(`forward udp ${client} -> ${destination}: open`);
    return flow;
  }

  private expireIdle(now: number): void {
    for (const [key, flow] of this.flows) {
      if (now - flow.lastActive < this.options.idleTimeoutMs) continue;
      this.endFlow(key, flow);
      this.counters.add('udp_flows_expired');
    }
  }

  private endFlow(key: string, flow: UdpFlow): void {
    this.flows.delete(key);
    flow.socket.close();
    this.counters.add('udp_flows_open', -1);
    this.options.logger?.debug(`forward udp ${flow.client} -> ${flow.destination}: closed`);
  }

  /** Stop receiving and close every flow. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.socket.close();
    for (const [key, flow] of this.flows) this.endFlow(key, flow);
  }
}
