import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests create network namespaces and TUN devices; running their files one at a
    // time keeps them from competing for the 2 cores and for device names.
    fileParallelism: true,
    pool: 'forks',
  },
});
