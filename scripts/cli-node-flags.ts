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
 *
 * ArrayBuffers are swept within the scavenge that found them dead, not after it on a helper
 * thread. V8 11 (Node 20) counts ArrayBuffer bytes allocated since the last mark-compact as
 * old-generation bytes (Heap::OldGenerationSpaceAvailable adds
 * AllocatedExternalMemorySinceMarkCompact) and checks that limit at the end of every scavenge; a
 * concurrent sweep has not yet subtracted the buffers the scavenge freed, so the check counts
 * every buffer allocated since the previous scavenge. An upload allocates two bytes of them per
 * body byte (the Duplex's chunk, node:http's copy), and with 64 KiB super-packets (little JS
 * garbage per byte) scavenges come only every 20-40 MiB of them, against the 8 MiB of growth V8
 * grants a 9 MiB heap: every scavenge began a full collection, 5-6 mark-compacts per 64 MiB.
 * Incremental marking only starts above 8 MiB of old generation (kV8ActivationThreshold), which
 * is why Node on the kernel's sockets (6 MiB, one copy) ran none; given 3 MiB more it ran 3.
 * Measured with the CLI compiled, 3 MiB of extra heap, 6 uploads of 64 MiB each (medians): 5 -> 0
 * mark-compacts per upload, main thread 155 -> 115 ms, 362 -> 544 MB/s. A 64 MiB floor under the
 * limit (--initial-old-space-size=64) removed them too, but let 3000 requests' garbage stay (+17
 * MiB RSS in test/integration/time-wait.test.ts); --no-incremental-marking made a full collection
 * with 5000 idle connections one 33 ms pause.
 */
export const CLI_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--heap-growing-percent=10',
  '--no-concurrent-array-buffer-sweeping',
];
