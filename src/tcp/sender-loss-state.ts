/**
 * The sender's loss-detection state (RFC 6675 / RFC 6582 recovery, the SACK scoreboard, RFC 8985
 * RACK and TLP), each part made when first needed: a connection that only receives, as most idle
 * server connections do, needs none of them, and servers hold many (~600 B per connection end).
 * Until a part exists its state would be a fresh one's, and the sender reads that without making
 * it: an empty scoreboard, recovery open with nothing counted (its pipe is the records'), a probe
 * never sent. TcpSender extends this class, so the parts cost no object of their own.
 */
import type { Counters } from '../counters.js';
import { LossRecovery } from './loss-recovery.js';
import { RACK_MIN_RTT_WINDOW_MS, RackLossDetection } from './rack.js';
import { SackScoreboard } from './sack-scoreboard.js';
import { TailLossProbe } from './tail-loss-probe.js';
import { TransmitRecords } from './transmit-records.js';

/** The state of a tail loss probe that was never sent (read only: probeDeadline, chooseProbe). */
const IDLE_LOSS_PROBE = new TailLossProbe();

export class SenderLossState {
  /** One record per segment in flight: what recovery and RACK decide from. */
  readonly records = new TransmitRecords();
  /** The SACKed ranges as the peer reported them, merged (RFC 6675 section 3). */
  protected sackScoreboard: SackScoreboard | undefined;
  /** RFC 6675 / RFC 6582 loss recovery, made for the first ACK of data or the first timeout. */
  protected lossRecovery: LossRecovery | undefined;
  /**
   * RFC 8985 RACK: time-based loss detection (with SACK), made when an ACK first finds data in
   * flight or first updates the reordering window. Until then the RTT samples RACK would have
   * taken (the handshake's) keep its windowed minimum here, given to it when it is made.
   */
  protected rackState: RackLossDetection | undefined;
  private firstMinRtt = Number.POSITIVE_INFINITY;
  private firstMinRttAt = Number.NEGATIVE_INFINITY;
  /** RFC 8985 section 7 TLP: tail loss probes (with SACK), made when the first probe is sent. */
  protected lossProbeState: TailLossProbe | undefined;

  constructor(protected readonly counters: Counters) {}

  /** Loss recovery, made on first use. */
  get recovery(): LossRecovery {
    return (this.lossRecovery ??= new LossRecovery(this.records, this.counters));
  }

  /** The SACK scoreboard, made on first use. */
  get scoreboard(): SackScoreboard {
    return (this.sackScoreboard ??= new SackScoreboard());
  }

  /** RACK, made on first use with the RTT samples taken before (RFC 8985 6.2 step 1). */
  get rack(): RackLossDetection {
    let rack = this.rackState;
    if (rack === undefined) {
      rack = new RackLossDetection();
      if (this.firstMinRtt !== Number.POSITIVE_INFINITY) rack.onRttSample(this.firstMinRtt, this.firstMinRttAt);
      this.rackState = rack;
      this.records.deliveryObserver = rack;
    }
    return rack;
  }

  /** The tail loss probe's state, for reading (probeDeadline, chooseProbe): a fresh one's until a probe is sent. */
  protected get lossProbe(): TailLossProbe {
    return this.lossProbeState ?? IDLE_LOSS_PROBE;
  }

  /** RFC 6675 pipe, without making loss recovery: before it exists, the records' pipe. */
  protected get pipe(): number {
    return this.lossRecovery === undefined ? this.records.pipe : this.lossRecovery.pipe;
  }

  /** A valid RTT sample: RACK's min_RTT (RFC 8985 6.2 step 1) and TLP's next probe (7.2). */
  protected onRttSample(rtt: number, now: number): void {
    if (this.rackState !== undefined) {
      this.rackState.onRttSample(rtt, now);
    } else if (rtt <= this.firstMinRtt || now - this.firstMinRttAt > RACK_MIN_RTT_WINDOW_MS) {
      // RackLossDetection.onRttSample's windowed minimum, for the RACK not made yet.
      this.firstMinRtt = rtt;
      this.firstMinRttAt = now;
    }
    this.lossProbeState?.onRttSample();
  }
}
