/**
 * Prometheus text exposition (format 0.0.4) for /metrics, without a client library: the
 * metrics are a handful of counters, gauges and histograms that already live as plain numbers
 * in the layers (transport counters, engine counters, bucket arrays), read when scraped.
 */

/** A counter or a gauge: one line per sample. */
export interface SampleMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

/**
 * A histogram (exposition format "Histograms and summaries"): `name_bucket{le=…}` per upper
 * bound, cumulative, then `le="+Inf"`, `name_sum` and `name_count`, so `histogram_quantile`
 * works on it. `cumulative` has one count per bound plus the +Inf count last.
 */
export interface HistogramMetric {
  name: string;
  help: string;
  type: 'histogram';
  bounds: readonly number[];
  cumulative: readonly number[];
  sum: number;
  count: number;
  labels?: Record<string, string>;
}

export type Metric = SampleMetric | HistogramMetric;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

const labelText = (labels: Record<string, string> | undefined, extra = ''): string => {
  const parts = labels ? Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`) : [];
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (v: number): number => (Number.isFinite(v) ? v : 0);

export function formatMetrics(metrics: readonly Metric[]): string {
  let out = '';
  for (const m of metrics) {
    out += `# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${m.name} ${m.type}\n`;
    if (m.type === 'histogram') {
      for (let i = 0; i <= m.bounds.length; i++) {
        const le = i < m.bounds.length ? String(m.bounds[i]) : '+Inf';
        out += `${m.name}_bucket${labelText(m.labels, `le="${le}"`)} ${num(m.cumulative[i] ?? m.count)}\n`;
      }
      out += `${m.name}_sum${labelText(m.labels)} ${num(m.sum)}\n${m.name}_count${labelText(m.labels)} ${num(m.count)}\n`;
      continue;
    }
    for (const s of m.samples) out += `${m.name}${labelText(s.labels)} ${num(s.value)}\n`;
  }
  return out;
}

/**
 * The same numbers as a JSON object for a person or a script that does not speak Prometheus
 * (GET /stats): the name without `sipis_` and `_total`, a lone sample as its value, labelled
 * samples as `{"label=value,…": value}`, a histogram as its count and sum.
 */
export function statsJson(metrics: readonly Metric[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of metrics) {
    const key = m.name.replace(/^sipis_/, '').replace(/_total$/, '');
    if (m.type === 'histogram') {
      out[key] = { count: m.count, sum: m.sum };
      continue;
    }
    if (m.samples.length === 1 && !m.samples[0]!.labels) {
      out[key] = m.samples[0]!.value;
      continue;
    }
    const by: Record<string, number> = {};
    for (const x of m.samples) {
      by[
        Object.entries(x.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      ] = x.value;
    }
    out[key] = by;
  }
  return out;
}

export const counter = (name: string, help: string, value: number): Metric => ({ name, help, type: 'counter', samples: [{ value }] });
export const gauge = (name: string, help: string, value: number): Metric => ({ name, help, type: 'gauge', samples: [{ value }] });
export const histogram = (name: string, help: string, h: { bounds: readonly number[]; cumulative: readonly number[]; sum: number; count: number }): HistogramMetric => ({
  name,
  help,
  type: 'histogram',
  bounds: h.bounds,
  cumulative: h.cumulative,
  sum: h.sum,
  count: h.count,
});
