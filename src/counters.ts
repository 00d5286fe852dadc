/**
 * Per-layer counters: packets received, sent, and dropped by reason. Every drop of bad input
 * from the wire goes through `drop(reason)` so nothing is lost silently.
 */
export class Counters {
  private readonly values = new Map<string, number>();
  /** The names in snapshot order, kept until a new name appears: the demo page shows them on every request. */
  private sortedNames: string[] | undefined;
  /** formatValues' `name=` (` name=` after the first) for sortedNames, made with them. */
  private labels: string[] | undefined;

  constructor(
    /** The layer counted: `ip`, `tcp`, `udp`, ... */
    readonly layer: string,
  ) {}

  /** Add `amount` to the counter `name`. */
  add(name: string, amount = 1): void {
    const value = this.values.get(name);
    if (value === undefined) this.sortedNames = this.labels = undefined;
    this.values.set(name, (value ?? 0) + amount);
  }

  /** Count a dropped packet under `drop.<reason>` and in the `dropped` total. */
  drop(reason: string): void {
    this.add(`drop.${reason}`);
    this.add('dropped');
  }

  /** The counter `name`, 0 if never counted. */
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Every counter of the layer, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of this.names()) out[name] = this.values.get(name)!;
    return out;
  }

  /** `name=value` for every counter, sorted by name, space-separated; `(none)` when there is none. */
  formatValues(): string {
    const names = this.names();
    if (names.length === 0) return '(none)';
    // The labels are kept with the names: a line is then one concatenation per counter.
    const labels = (this.labels ??= names.map((name, i) => (i === 0 ? `${name}=` : ` ${name}=`)));
    let line = '';
    for (let i = 0; i < names.length; i++) line += labels[i]! + this.values.get(names[i]!)!;
    return line;
  }

  private names(): string[] {
    return (this.sortedNames ??= [...this.values.keys()].sort((a, b) => a.localeCompare(b)));
  }
}

/** All layers' counters, keyed by layer name. */
export class CounterSet {
  private readonly layers = new Map<string, Counters>();

  layer(name: string): Counters {
    let counters = this.layers.get(name);
    if (!counters) {
      counters = new Counters(name);
      this.layers.set(name, counters);
    }
    return counters;
  }

  snapshot(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, counters] of this.layers) out[name] = counters.snapshot();
    return out;
  }

  /** One line per layer, for logs and the shutdown summary. */
  format(): string {
    let text = '';
    for (const counters of this.layers.values()) text += `${text === '' ? '' : '\n'}${counters.layer}: ${counters.formatValues()}`;
    return text;
  }
}
