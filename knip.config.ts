// knip: the "no unused code" gate (unused files, exports, types and dependencies), run by
// `npm run lint:unused` as part of `npm run lint`. The vitest, ESLint and Prettier plugins find
// their own configs and the test files; only the entry points knip cannot infer are listed here.
// A trailing `!` marks production code, so `npx knip --production` lists the exports that only
// tests use.
import type { KnipConfig } from 'knip';

const config: KnipConfig = {
  entry: [
    // The package entry: everything it re-exports is the public API and counts as used.
    'src/index.ts!',
    // Loaded as a worker thread by src/tun/packet-fd-link.ts (new URL('./tun-worker.mjs', import.meta.url)).
    'src/tun/tun-worker.mjs!',
    // Programs run with tsx: the CLI, the benchmark, the fixture capture, the kernel demo server,
    // the example programs, and the child processes the benchmark and the integration tests start.
    'scripts/*.ts!',
    'scripts/examples/*.ts!',
    'scripts/bench/echo-client.ts!',
    'test/integration/clients/*.ts',
  ],
  project: ['src/**/*.{ts,mjs}!', 'scripts/**/*.ts!', 'test/**/*.ts'],
  // System programs the benchmark and the tests run (iproute2's ip, tcpdump), not npm packages.
  ignoreBinaries: ['ip', 'tcpdump'],
};

export default config;
