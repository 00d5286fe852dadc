/** `npm start` runs the CLI with the Node flags the benchmark and the integration tests use. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI_NODE_FLAGS } from '../../scripts/cli-node-flags.js';

describe('the CLI node flags', () => {
  it('package.json start passes CLI_NODE_FLAGS to tsx, before the script', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(manifest.scripts.start).toBe(['tsx', ...CLI_NODE_FLAGS, 'scripts/cli.ts'].join(' '));
  });
});
