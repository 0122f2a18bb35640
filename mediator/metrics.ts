/**
 * A tiny Prometheus registry (text exposition format 0.0.4): counters and histograms with
 * label values fixed at first use. The hot path holds a series' cell (`counter.cell(labels)`,
 * `histogram.series(labels)`) and bumps a number: no label object and no key string per
 * push. `inc(labels)` stays for the cold paths. Text is only built on a scrape.
 */
import { PUSH_VERBS, type PushOutcome, type PushVerb } from '../core/push/protocol.js';

type Labels = Readonly<Record<string, string>>;

/** Map key of a label set: values only (a metric's label names are fixed), no escaping. */
function keyOf(labels: Labels): string {
  let k = '';
  for (const name in labels) k += labels[name] + '\u0001';
  return k;
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

interface Metric {
  render(out: string[]): void;
}

/** One labelled series of a counter; `value` is bumped in place by the hot path. */
export interface CounterCell {
  readonly labels: Labels;
  value: number;
}

export class Counter implements Metric {
  private readonly values = new Map<string, CounterCell>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }
  /** The series for `labels`, created at 0 (it shows on /metrics from then on). */
  cell(labels: Labels): CounterCell {
    const key = keyOf(labels);
    let c = this.values.get(key);
    if (!c) {
      c = { labels, value: 0 };
      this.values.set(key, c);
    }
    return c;
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const v of this.values.values()) out.push(`${this.name}${labelText(v.labels)} ${v.value}`);
  }
}

export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`);
  }
}

/** One labelled series of a histogram: per-bucket counts (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Float64Array(buckets.length);
  }
  observe(value: number): void {
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class Histogram implements Metric {
  private readonly all = new Map<string, HistogramSeries>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    this.series(labels).observe(value);
  }
  /** The series for `labels`, created empty; the hot path keeps it and calls `observe`. */
  series(labels: Labels): HistogramSeries {
    const key = keyOf(labels);
    let s = this.all.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.buckets);
      this.all.set(key, s);
    }
    return s;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.all.values()) {
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(this.buckets[i]) })} ${cum}`);
      }
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    const m = new Counter(name, help);
    this.metrics.push(m);
    return m;
  }
  gauge(name: string, help: string, read: () => number): Gauge {
    const m = new Gauge(name, help, read);
    this.metrics.push(m);
    return m;
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const m = new Histogram(name, help, buckets);
    this.metrics.push(m);
    return m;
  }
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join('\n') + '\n';
  }
}

const PLATFORMS = ['apns', 'fcm', 'unknown'] as const;
const OUTCOMES: readonly PushOutcome[] = ['delivered', 'token-dead', 'rejected', 'retry-later'];
const VERB_INDEX = new Map<string, number>(PUSH_VERBS.map((v, i) => [v, i]));
const platformIndex = (p: string): number => (p === 'apns' ? 0 : p === 'fcm' ? 1 : 2);
const outcomeIndex = (o: PushOutcome): number => (o === 'delivered' ? 0 : o === 'token-dead' ? 1 : o === 'rejected' ? 2 : 3);

/** The mediator's metric set, created once per process and passed to each component. */
export class MediatorMetrics {
  /** Cells of `pushes` by verb × platform × outcome, filled on first use. */
  private readonly pushCells: Array<CounterCell | undefined> = new Array(PUSH_VERBS.length * PLATFORMS.length * OUTCOMES.length);
  /** Series of `latency` by platform × outcome, filled on first use. */
  private readonly latencyCells: Array<HistogramSeries | undefined> = new Array(PLATFORMS.length * OUTCOMES.length);

  readonly registry = new MetricsRegistry();
  readonly pushes = this.registry.counter('sipis_mediator_pushes_total', 'Push requests answered, by verb, platform and outcome.');
  readonly latency = this.registry.histogram(
    'sipis_mediator_push_duration_seconds',
    'Time from request received to answer sent, by platform and outcome.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly edgeRejects = this.registry.counter('sipis_mediator_edge_rejects_total', 'Requests refused before reaching a push service, by reason.');
  readonly upstreamAttempts = this.registry.counter('sipis_mediator_upstream_attempts_total', 'Requests sent to APNs/FCM, by platform and HTTP status (or transport error).');
  readonly upstreamRetries = this.registry.counter('sipis_mediator_upstream_retries_total', 'Retries toward APNs/FCM, by platform and reason.');
  readonly authRefreshes = this.registry.counter('sipis_mediator_auth_refreshes_total', 'Provider tokens (APNs JWT) and access tokens (FCM OAuth2) minted, by platform.');
  readonly connections = this.registry.counter('sipis_mediator_upstream_connections_total', 'HTTP/2 connections opened and closed, by platform and event.');
  readonly registryReloads = this.registry.counter('sipis_mediator_registry_reloads_total', 'App registry reloads on SIGHUP, by result.');

  /** The `pushes` series of one answer, by index: no label object or key string per push. */
  pushCell(verb: PushVerb, platform: 'apns' | 'fcm' | 'unknown', outcome: PushOutcome): CounterCell {
    const i = (VERB_INDEX.get(verb)! * PLATFORMS.length + platformIndex(platform)) * OUTCOMES.length + outcomeIndex(outcome);
    return (this.pushCells[i] ??= this.pushes.cell({ verb, platform, outcome }));
  }

  latencySeries(platform: 'apns' | 'fcm' | 'unknown', outcome: PushOutcome): HistogramSeries {
    const i = platformIndex(platform) * OUTCOMES.length + outcomeIndex(outcome);
    return (this.latencyCells[i] ??= this.latency.series({ platform, outcome }));
  }
}
