import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Test files run in parallel, integration files too. These do not collide: each works in its
    // own network namespace (createNamespace in test/integration/harness.ts, named by uniqueName
    // with a random suffix), so the fixed device names and addresses inside it (tsn0, tsnc0,
    // 10.0.0.x) are private to it; tun-device.test.ts, which opens devices in the root namespace,
    // gives each a random name and a random /24 of 10.231.0.0/16; temporary files come from
    // mkdtemp or uniqueName. The long timeouts leave room for files sharing the cores.
    fileParallelism: true,
    pool: 'forks',
  },
});
