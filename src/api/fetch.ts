/**
 * fetch through the stack. Node's global fetch is undici, which opens its connections through a
 * dispatcher's `connect` function; stackConnector() is such a function, so
 *
 *   import { Agent } from 'undici';
 *   const dispatcher = new Agent({ connect: stackConnector({ stack }) });
 *   await fetch('http://10.0.0.1/', { dispatcher });
 *
 * sends the request over the stack (https too: TLS runs over the stack's connection). undici is
 * not a dependency of this package: the function only has to match the shape undici calls
 * (buildConnector.connector), so the application brings its own undici (the major version of
 * Node's bundled one, `process.versions.undici`, to pass it to the global fetch).
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { joinHostPort } from './address.js';
import { connectForAgent, type StackAgentOptions } from './http.js';

/** What undici passes to a connect function (buildConnector.Options), the part used here. */
export interface ConnectorTarget {
  /** The URL's host: an IP literal (IPv6 without brackets: undici strips them), or a name for the resolver. */
  hostname: string;
  /** `http:` or `https:`. */
  protocol: string;
  /** '' for the protocol's default port. */
  port: string;
  /** The TLS server name (SNI) undici asks for, if any. */
  servername?: string;
}

/** undici's callback: the connected socket, or the error. */
export type ConnectorCallback = (...args: [null, Socket] | [Error, null]) => void;

/** Options of `stackConnector()`: those of the agents, plus TLS options for `https:`. */
export type StackConnectorOptions = StackAgentOptions & {
  /** TLS options for https: URLs (ca, rejectUnauthorized, ...). */
  tls?: ConnectionOptions;
};

/** An undici `connect` function that connects through the stack. */
export function stackConnector(options: StackConnectorOptions = {}): (target: ConnectorTarget, callback: ConnectorCallback) => void {
  return (target, callback) => {
    const secure = target.protocol === 'https:';
    const port = target.port !== '' ? target.port : secure ? '443' : '80';
    const socket = connectForAgent(options, joinHostPort(target.hostname, port));
    // undici only calls what net.Socket and TcpDuplex share (read, write, events, destroy,
    // setNoDelay, setKeepAlive), and its type names net.Socket for any stream it is handed.
    const stream = secure
      ? tlsConnect({
          ALPNProtocols: ['http/1.1'],
          // RFC 6066 3: a server name is a host name, never an IP literal of either family.
          servername: target.servername ?? (isIP(target.hostname) !== 0 ? undefined : target.hostname),
          ...options.tls,
          socket,
        })
      : (socket as unknown as Socket);
    const onError = (error: Error) => callback(error, null);
    stream.once('error', onError);
    stream.once(secure ? 'secureConnect' : 'connect', () => {
      stream.off('error', onError);
      callback(null, stream);
    });
  };
}
