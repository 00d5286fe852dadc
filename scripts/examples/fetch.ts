/**
 * fetch through the stack: Node's global fetch with an undici Agent whose connections the stack
 * makes (stackConnector). undici is the application's own dependency (this repository has it as
 * a dev dependency); its major version should be Node's bundled one (`process.versions.undici`).
 *
 *   sudo npx tsx scripts/examples/fetch.ts --url http://10.0.0.1:8080/ [stack flags]
 */
import { Agent } from 'undici';
import { stackConnector } from '../../src/api/fetch.js';
import { runExample } from '../stack-flags.js';

await runExample('fetch.ts [--url URL]', { url: { type: 'string', default: 'http://10.0.0.1:8080/' } }, async (options) => {
  const dispatcher = new Agent({ connect: stackConnector({ connectTimeout: 10_000 }) });
  const response = await fetch(options.url as string, { dispatcher, signal: AbortSignal.timeout(20_000) });
  console.log(`status ${response.status}: ${(await response.text()).trim()}`);
  await dispatcher.close();
});
