/**
 * HTTP client through the stack with keep-alive: node:http's own http.get, with the agent from
 * createHttpAgent, so the requests share one connection as they would through Node's agent on
 * kernel sockets. Prints each response and how many connections the requests took.
 *
 *   sudo npx tsx scripts/examples/http-client.ts --url http://10.0.0.1:8080/ --requests 2 [stack flags]
 */
import { get, type IncomingMessage } from 'node:http';
import { createHttpAgent } from '../../src/api/http.js';
import { runExample } from '../stack-flags.js';

const flags = {
  url: { type: 'string', default: 'http://10.0.0.1:8080/' },
  requests: { type: 'string', default: '2' },
} as const;

/** GET `url`: the response, its body, and the local port of the connection that carried it. */
function fetchText(
  url: string,
  agent: ReturnType<typeof createHttpAgent>,
): Promise<{ response: IncomingMessage; text: string; localPort?: number }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      // Read now: once the body ends, the agent takes the socket back into its pool.
      const localPort = response.socket.localPort;
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ response, text, localPort }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

await runExample('http-client.ts [--url URL] [--requests N]', flags, async (options) => {
  const agent = createHttpAgent({ connectTimeout: 10_000 });
  const localPorts = new Set<number | undefined>();
  const count = Number(options.requests);
  for (let i = 1; i <= count; i++) {
    const { response, text, localPort } = await fetchText(options.url as string, agent);
    localPorts.add(localPort);
    console.log(`response ${i}: ${response.statusCode} from local port ${localPort}: ${text.trim()}`);
  }
  console.log(`${count} requests on ${localPorts.size} connection(s)`);
  agent.destroy();
});
