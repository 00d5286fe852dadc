/**
 * Forwarding mode for TCP (issue 12, `npm start -- --forward`): every connection that arrives on
 * the device for a destination that is not the stack's own is accepted by a transparent listener,
 * dialled again through the kernel's sockets (node:net) of the namespace the process runs in, and
 * spliced to that dial by relayTcp. As tun2socks and Tailscale's userspace mode do with gVisor.
 *
 * - A dial that fails (refused, unreachable, timed out) resets the client's connection at once.
 *   The client has seen its handshake complete by then: the stack answers the SYN before it knows
 *   whether the destination will (a forwarder that holds the SYN until its dial succeeds needs
 *   the TCP core to defer the SYN-ACK; not built yet).
 * - A cap on flows open at once: beyond it a new connection is reset and counted.
 * - Counters in the stack's `forward` layer (so in /stats and the exit counters): flows opened,
 *   open now, ended by how, dials refused and failed, bytes each way.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { TcpConn } from '../api/tcp.js';
import { listen } from '../api/net.js';
import type { TcpListener } from '../api/tcp.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { Stack } from '../stack.js';
import { relayTcp } from './tcp-relay.js';

/** Options of TcpForwarder.start. */
export interface TcpForwarderOptions {
  /** Flows open at once; beyond it new connections are reset (counted `tcp_over_limit`). Default 4096. */
  maxFlows?: number;
  /** How long a dial to the destination may take before the client is reset. Default 10 s. */
  connectTimeoutMs?: number;
  /** Logs each flow's open and close at debug level. */
  logger?: Logger;
  /** Opens the kernel-side socket (default node:net connect with allowHalfOpen); for tests. */
  connect?: (host: string, port: number) => Socket;
}

/** A running TCP forwarder; `close()` resets every flow and stops accepting. */
export class TcpForwarder {
  private readonly flows = new Set<AbortController>();
  private closed = false;

  private constructor(
    private readonly listener: TcpListener,
    private readonly counters: Counters,
    private readonly options: Required<Omit<TcpForwarderOptions, 'logger'>> & { logger: Logger | undefined },
  ) {}

  /** Open the transparent listener on `stack` and forward what it accepts. */
  static async start(stack: Stack, options: TcpForwarderOptions = {}): Promise<TcpForwarder> {
    const listener = await listen('tcp', ':0', { stack, transparent: true });
    const forwarder = new TcpForwarder(listener, stack.counters('forward'), {
      maxFlows: options.maxFlows ?? 4096,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      logger: options.logger,
      connect: options.connect ?? ((host, port) => netConnect({ host, port, allowHalfOpen: true })),
    });
    void forwarder.acceptLoop();
    return forwarder;
  }

  /** Flows open now. */
  get openFlows(): number {
    return this.flows.size;
  }

  private async acceptLoop(): Promise<void> {
    for await (const conn of this.listener) {
      if (this.flows.size >= this.options.maxFlows) {
        this.counters.add('tcp_over_limit');
        conn.destroy();
        continue;
      }
      void this.forward(conn);
    }
  }

  private async forward(client: TcpConn): Promise<void> {
    const counters = this.counters;
    const flow = new AbortController();
    this.flows.add(flow);
    counters.add('tcp_flows_opened');
    counters.add('tcp_flows_open');
    const name = `${client.remoteAddr} -> ${client.localAddr}`;
    try {
      const server = await this.dial(client.localAddr.address, client.localAddr.port, flow.signal);
      if (server === undefined) {
        client.destroy();
        return;
      }
      this.options.logger?.debug(`forward tcp ${name}: open`);
      const result = await relayTcp(client, server, { signal: flow.signal });
      counters.add(`tcp_flows_${result.end}`);
      counters.add('bytes_to_server', result.bytesToServer);
      counters.add('bytes_to_client', result.bytesToClient);
      this.options.logger?.debug(`forward tcp ${name}: ${result.end}, ${result.bytesToServer} bytes out, ${result.bytesToClient} back`);
    } finally {
      this.flows.delete(flow);
      counters.add('tcp_flows_open', -1);
    }
  }

  /** The kernel-side socket once connected, or undefined (counted and logged) when it fails. */
  private dial(host: string, port: number, signal: AbortSignal): Promise<Socket | undefined> {
    return new Promise((resolve) => {
      const socket = this.options.connect(host, port);
      const settle = (result: Socket | undefined, reason?: string): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        if (result === undefined) {
          socket.on('error', () => undefined);
          socket.destroy();
          this.options.logger?.debug(`forward tcp to ${host}:${port}: ${reason ?? 'failed'}`);
        }
        resolve(result);
      };
      const onConnect = (): void => settle(socket);
      const onError = (error: NodeJS.ErrnoException): void => {
        this.counters.add(error.code === 'ECONNREFUSED' ? 'tcp_dials_refused' : 'tcp_dials_failed');
        settle(undefined, error.code ?? error.message);
      };
      const onAbort = (): void => settle(undefined, 'forwarder closed');
      const timer = setTimeout(() => {
        this.counters.add('tcp_dials_failed');
        settle(undefined, `no answer in ${this.options.connectTimeoutMs} ms`);
      }, this.options.connectTimeoutMs);
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stop accepting and reset every open flow. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    for (const flow of this.flows) flow.abort();
  }
}
