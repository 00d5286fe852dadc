// TEMPORARY stub (lead): replaced by helper cc's file on merge.
export class ProportionalRateReduction {
  private ssthresh = 0;
  private recoverFs = 1;
  private smss = 1;
  private delivered = 0;
  private out = 0;
  start(ssthresh: number, recoverFs: number, smss: number): void {
    this.ssthresh = ssthresh;
    this.recoverFs = Math.max(1, recoverFs);
    this.smss = smss;
    this.delivered = 0;
    this.out = 0;
  }
  onAck(deliveredData: number, pipe: number): number {
    this.delivered += deliveredData;
    if (pipe > this.ssthresh) return Math.max(0, Math.ceil((this.delivered * this.ssthresh) / this.recoverFs) - this.out);
    const limit = Math.max(this.delivered - this.out, deliveredData) + this.smss;
    return Math.max(0, Math.min(this.ssthresh - pipe, limit));
  }
  onSent(bytes: number): void {
    this.out += bytes;
  }
}
