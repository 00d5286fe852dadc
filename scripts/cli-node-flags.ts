/**
 * Node flags the stack's CLI runs with; `npm start` (package.json) passes the same, the benchmark
 * and the integration harness take them from here, and a unit test keeps package.json in step.
 * A 2 MiB semi-space caps V8's young generation (16 MiB each by default, grown under load): a
 * stack turns every packet into short-lived objects, and the default lets a burst (a download, a
 * flood of connections) grow the process by tens of MiB that it never gives back. Scavenges
 * then run more often, but each costs what survives, which for packets is little.
 */
export const CLI_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
