/**
 * A tiny Prometheus registry (text exposition format 0.0.4): counters and histograms with
 * label values fixed at first use. Hot-path cost is a Map lookup by a pre-joined key; the
 * text is only built when /metrics is scraped.
 */

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

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
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

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.series.values()) {
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

/** The mediator's metric set, created once per process and passed to each component. */
export class MediatorMetrics {
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
}
