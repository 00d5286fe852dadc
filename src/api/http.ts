/**
 * http.Agent and https.Agent whose connections go through the stack: node:http's own pooling
 * (keep-alive, maxSockets, free sockets, timeouts) over connect(). Only createConnection
 * changes, so everything else an Agent does stays Node's.
 */
import { Agent as HttpAgent, type AgentOptions as HttpAgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions, type RequestOptions as HttpsRequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { joinHostPort } from './address.js';
import { connect, type ConnectOptions } from './connect.js';

/**
 * What connect() needs from an agent's options. `keepAlive` is the agent's HTTP keep-alive
 * (default true here: pooling is the point); TCP keepalive stays on, as the stack's sockets
 * have it by default.
 */
export type StackAgentOptions = Pick<ConnectOptions, 'stack' | 'resolver' | 'noDelay' | 'keepAliveInitialDelay'> & {
  /** Dial timeout in ms per connection (0 or absent: none). The agent's `timeout` is the idle one. */
  connectTimeout?: number;
};

/** connect() to `address` as an agent (or undici connector) with `dialing` does it. */
export function connectForAgent(dialing: StackAgentOptions, address: string): ReturnType<typeof connect> {
  return connect(address, {
    stack: dialing.stack,
    resolver: dialing.resolver,
    noDelay: dialing.noDelay,
    keepAliveInitialDelay: dialing.keepAliveInitialDelay,
    timeout: dialing.connectTimeout,
  });
}

function connectionFor(dialing: StackAgentOptions, request: ClientRequestArgs): ReturnType<typeof connect> {
  // node:http hands over an IPv6 host without brackets (urlToHttpOptions strips them); a caller's
  // own { host: '[fd00::1]' } is taken as well.
  const host = (request.host ?? request.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
  const port = request.port ?? request.defaultPort ?? 80;
  const socket = connectForAgent(dialing, joinHostPort(host, port));
  // net.createConnection's `timeout` option: the idle timeout (the agent passes its own).
  if (request.timeout !== undefined) socket.setTimeout(request.timeout);
  return socket;
}

class StackHttpAgent extends HttpAgent {
  constructor(
    private readonly dialing: StackAgentOptions,
    options: HttpAgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: ClientRequestArgs): Duplex {
    return connectionFor(this.dialing, options);
  }
}

class StackHttpsAgent extends HttpsAgent {
  constructor(
    private readonly dialing: StackAgentOptions,
    options: HttpsAgentOptions,
  ) {
    super(options);
  }

  /**
   * https.Agent's own createConnection runs tls.connect(options) (and keeps its TLS session
   * cache); given `socket`, TLS runs over the stack's connection instead of a kernel one.
   */
  override createConnection(options: HttpsRequestOptions): Duplex | null | undefined {
    const withSocket: HttpsRequestOptions & { socket: Duplex } = { ...options, socket: connectionFor(this.dialing, options) };
    return super.createConnection(withSocket);
  }
}

/** An http.Agent over the stack; `keepAlive` defaults to true. Use as `http.get(url, { agent })`. */
export function createHttpAgent(options: HttpAgentOptions & StackAgentOptions = {}): HttpAgent {
  return new StackHttpAgent(options, { keepAlive: true, ...options });
}

/** An https.Agent over the stack (TLS options as https.Agent's); `keepAlive` defaults to true. */
export function createHttpsAgent(options: HttpsAgentOptions & StackAgentOptions = {}): HttpsAgent {
  return new StackHttpsAgent(options, { keepAlive: true, ...options });
}
