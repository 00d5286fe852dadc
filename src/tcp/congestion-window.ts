/**
 * Window rules shared by the congestion controllers (src/tcp/newreno.ts, src/tcp/cubic.ts): the
 * initial window (RFC 6928), the initial ssthresh (RFC 5681 3.1), the cwnd-limited test (RFC 7661)
 * and rescaling on an SMSS change. src/tcp/congestion-control.ts re-exports initialWindow.
 */

/** RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)); one SMSS after a lost SYN (RFC 5681 3.1). */
export function initialWindow(smss: number, synLost: boolean): number {
  if (synLost) return smss;
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

/** RFC 5681 3.1: "The initial value of ssthresh SHOULD be set arbitrarily high". */
export const INITIAL_SSTHRESH = Number.MAX_SAFE_INTEGER;

/**
 * RFC 7661 (and Linux's is_cwnd_limited): cwnd grows only while it limits the sender; an
 * application- or receiver-limited sender has not shown that the path holds a larger window.
 * In slow start a flight of half the window counts (ACK clocking doubles it); in congestion
 * avoidance a nearly full one (within one SMSS).
 */
export function wasCwndLimited(cwnd: number, ssthresh: number, smss: number, flightBefore: number): boolean {
  if (cwnd < ssthresh) return 2 * flightBefore >= cwnd;
  return flightBefore + smss >= cwnd;
}

/**
 * The cwnd to keep when the SMSS changes from `oldSmss` to `newSmss`: the same number of
 * segments (a path MTU drop keeps the packet rate; RFC 1191 asks for no window cut), and at least
 * one segment. The "arbitrarily high" initial ssthresh stays as it is.
 */
export function rescaleWindow(bytes: number, oldSmss: number, newSmss: number): number {
  if (bytes >= INITIAL_SSTHRESH) return bytes;
  return Math.max(newSmss, Math.round((bytes / oldSmss) * newSmss));
}
