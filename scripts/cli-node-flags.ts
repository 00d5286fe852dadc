/**
 * Node flags the stack's CLI runs with; `npm start` (package.json) passes the same, the benchmark
 * and the integration harness take them from here, and a unit test keeps package.json in step.
 *
 * A 1 MiB semi-space caps V8's young generation (16 MiB each by default, grown under load): a
 * stack turns every packet into short-lived objects, and the default lets a burst (a download, a
 * flood of connections) grow the process by tens of MiB that it never gives back. Scavenges
 * then run more often, but each costs what survives, which for packets is little.
 *
 * A small young generation promotes more, so the old generation's growth is held to 10% over
 * what the last full collection kept (V8 picks 10% to 100% or more by itself): after the
 * benchmark's 5000 idle connections closed, the heap stayed sized for them and the next phase
 * filled it with garbage before any full collection. `npm run bench` (medians, stack peak RSS):
 * 2 MiB semi-space 141 MB (3 runs), both flags 135 (6 runs); 2 MiB + 10% 139, 1 MiB alone 206
 * (it promotes garbage the default growth lets pile up). Downloads are no slower; upload medians
 * came out 5-13% lower in three alternated sets of 3-5 runs, within the run-to-run spread of this
 * 2-core machine but each time on the same side (the 1 MiB semi-space alone made no difference:
 * the more frequent full collections are the likely cost).
 */
export const CLI_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--heap-growing-percent=10'];
