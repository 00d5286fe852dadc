/**
 * Integration tests need root (TUN devices, network namespaces). Without it they are skipped
 * with a one-line reason, except under CI, where a skip would hide a broken setup and so fails.
 */
import { it } from 'vitest';

export const isRoot = process.getuid?.() === 0;

const integrationSkipReason: string | undefined = isRoot
  ? undefined
  : `integration tests skipped: they need root (uid 0) for TUN devices and network namespaces; running as uid ${process.getuid?.() ?? 'unknown'}`;

/**
 * Call once at the top of an integration test file (outside any describe). As root it does
 * nothing; otherwise it registers one test that fails under CI=true and, elsewhere, passes after
 * logging the skip reason. The root-only suites use `describe.skipIf(!isRoot)`.
 */
export function declareRootRequirement(): void {
  if (isRoot) return;
  it('has root for the integration tests', () => {
    if (process.env.CI === 'true') throw new Error(`${integrationSkipReason} (CI=true: a skip counts as a failure)`);
    console.log(integrationSkipReason);
  });
}
