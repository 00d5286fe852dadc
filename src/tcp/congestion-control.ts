// TEMPORARY stub (lead): replaced by helper cc's file on merge.
export type CongestionControlName = 'cubic' | 'newreno';
export interface AckSample {
  now: number;
  ackedBytes: number;
  flightBefore: number;
  rttSample: number | undefined;
  minRtt: number;
  smoothedRtt: number;
  sndUna: number;
  sndNxt: number;
}
export interface CongestionControl {
  readonly name: CongestionControlName;
  cwnd: number;
  ssthresh: number;
  readonly inSlowStart: boolean;
  onAck(sample: AckSample): void;
  onCongestionEvent(now: number, flightSize: number): void;
  onRecoveryEnd(now: number): void;
  onRetransmissionTimeout(now: number, flightSize: number): void;
  undo(): void;
  onIdleRestart(now: number): void;
  setMss(smss: number): void;
}
export function initialWindow(smss: number, synLost: boolean): number {
  return synLost ? smss : Math.min(10 * smss, Math.max(2 * smss, 14600));
}
class StubNewReno implements CongestionControl {
  readonly name = 'newreno' as const;
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  private priorCwnd = 0;
  private priorSsthresh = 0;
  private acc = 0;
  constructor(
    private smss: number,
    synLost: boolean,
  ) {
    this.cwnd = initialWindow(smss, synLost);
  }
  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }
  onAck(s: AckSample): void {
    if (this.cwnd < this.ssthresh) {
      if (2 * s.flightBefore >= this.cwnd) this.cwnd += Math.min(s.ackedBytes, 2 * this.smss);
    } else if (s.flightBefore + this.smss >= this.cwnd) {
      this.acc += s.ackedBytes;
      if (this.acc >= this.cwnd) {
        this.acc -= this.cwnd;
        this.cwnd += this.smss;
      }
    }
  }
  onCongestionEvent(_now: number, flightSize: number): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.smss);
  }
  onRecoveryEnd(): void {
    this.cwnd = this.ssthresh;
  }
  onRetransmissionTimeout(now: number, flightSize: number): void {
    this.onCongestionEvent(now, flightSize);
    this.cwnd = this.smss;
  }
  undo(): void {
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
  }
  onIdleRestart(): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(this.smss, false));
  }
  setMss(smss: number): void {
    this.smss = smss;
  }
}
export function createCongestionControl(_name: CongestionControlName, smss: number, synLost: boolean): CongestionControl {
  return new StubNewReno(smss, synLost);
}
