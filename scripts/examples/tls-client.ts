/**
 * An HTTPS client through the stack: https.get with the agent from createHttpsAgent, TLS over
 * the stack's connection. `--ca FILE` trusts that certificate (the examples' own by default), or
 * `--insecure` skips verification as curl -k does.
 *
 *   sudo npx tsx scripts/examples/tls-client.ts --url https://10.0.1.2:8443/ [--insecure] [stack flags]
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { createHttpsAgent } from '../../src/api/http.js';
import { runExample } from '../stack-flags.js';

const flags = {
  url: { type: 'string', default: 'https://10.0.0.1:8443/' },
  ca: { type: 'string', default: new URL('tls/cert.pem', import.meta.url).pathname },
  insecure: { type: 'boolean', default: false },
} as const;

await runExample('tls-client.ts [--url URL] [--ca FILE] [--insecure]', flags, async (options) => {
  const agent = createHttpsAgent({
    connectTimeout: 10_000,
    ca: readFileSync(options.ca as string),
    rejectUnauthorized: options.insecure !== true,
  });
  const text = await new Promise<string>((resolve, reject) => {
    get(options.url as string, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(`${response.statusCode} ${body.trim()}`));
      response.on('error', reject);
    }).on('error', reject);
  });
  console.log(`response: ${text}`);
  agent.destroy();
});
