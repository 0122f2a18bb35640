/**
 * Shared harness for the micro-benchmarks. Each `*.bench.ts` module exports a default
 * `BenchSuite`; `bench/run.ts` finds and runs them. Operations that take nanoseconds are
 * batched (`batch` calls per tinybench sample) so the timer's own cost does not swamp them.
 * Results are reported as median ns per operation and as ratios against a named baseline
 * row measured in the same run: one machine's absolute numbers are noise, ratios are not.
 */
import { Bench } from 'tinybench';

export interface BenchOptions {
  /** A few seconds in all: CI checks that every benchmark still runs. */
  quick: boolean;
  json: boolean;
}

export interface BenchRow {
  suite: string;
  name: string;
  /** median nanoseconds per operation (per call of the task, divided by the batch). */
  medianNs: number;
  /** operations per second derived from the median. */
  opsPerSec: number;
  samples: number;
  /** name of the row the ratio is taken against, if any. */
  baseline?: string;
  /** this row's median divided by the baseline's median (lower is faster). */
  ratio?: number;
  /** free-form extra figures a suite wants to report (RSS, p99, …). */
  extra?: Record<string, number | string>;
}

export interface BenchSuite {
  name: string;
  run(opts: BenchOptions): Promise<BenchRow[]>;
}

export interface MicroTask {
  name: string;
  fn: () => unknown;
  /** calls of fn per timed sample; default 1. */
  batch?: number;
}

/** Runs synchronous micro tasks with tinybench and returns one row per task. */
export async function runMicro(suite: string, tasks: MicroTask[], opts: BenchOptions): Promise<BenchRow[]> {
  const bench = new Bench({
    name: suite,
    time: opts.quick ? 60 : 800,
    warmupTime: opts.quick ? 20 : 200,
    iterations: opts.quick ? 5 : 50,
  });
  let sink: unknown;
  for (const t of tasks) {
    const batch = t.batch ?? 1;
    const fn = t.fn;
    bench.add(t.name, () => {
      for (let i = 0; i < batch; i++) sink = fn();
    });
  }
  await bench.run();
  if (sink === Symbol.for('never')) console.log(sink); // keep the results observable to the JIT
  const rows: BenchRow[] = [];
  for (const t of tasks) {
    const task = bench.getTask(t.name);
    const res = task?.result as { latency?: { p50?: number; samplesCount?: number } } | undefined;
    const p50ms = res?.latency?.p50;
    if (p50ms === undefined) throw new Error(`benchmark ${suite}/${t.name} produced no result`);
    const medianNs = (p50ms * 1e6) / (t.batch ?? 1);
    rows.push({
      suite,
      name: t.name,
      medianNs,
      opsPerSec: medianNs > 0 ? 1e9 / medianNs : 0,
      samples: res?.latency?.samplesCount ?? 0,
    });
  }
  return rows;
}

/** Sets `ratio` on every row against the row named `baseline`. */
export function withRatios(rows: BenchRow[], baseline: string): BenchRow[] {
  const base = rows.find((r) => r.name === baseline);
  if (!base) return rows;
  for (const r of rows) {
    r.baseline = baseline;
    r.ratio = r.medianNs / base.medianNs;
  }
  return rows;
}

export function formatTable(rows: BenchRow[]): string {
  const head = ['suite', 'task', 'median ns/op', 'ops/s', 'ratio', 'vs', 'extra'];
  const body = rows.map((r) => [
    r.suite,
    r.name,
    r.medianNs.toFixed(r.medianNs < 100 ? 1 : 0),
    Math.round(r.opsPerSec).toLocaleString('en-US'),
    r.ratio === undefined ? '' : r.ratio.toFixed(2) + '×',
    r.baseline ?? '',
    r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${v}`).join(' ') : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** One load run against a process under test: work done, wall time, that process's CPU time. */
export interface LoadMeasure {
  name: string;
  /** requests or calls completed */
  count: number;
  wallS: number;
  cpuS: number;
  failed: number;
}

/**
 * The row of a load run. Wall-clock rates depend on the load generator and the neighbours, so
 * the figure that compares servers is work per CPU-second of the process under test, set against
 * the baseline (Kamailio) measured in the same run.
 */
export function loadRow(suite: string, m: LoadMeasure, perCpuKey: string, base?: LoadMeasure): BenchRow {
  const ops = m.count / m.wallS;
  const perCpu = m.cpuS > 0 ? m.count / m.cpuS : 0;
  const basePerCpu = base && base.cpuS > 0 ? base.count / base.cpuS : 0;
  return {
    suite,
    name: m.name,
    medianNs: ops > 0 ? 1e9 / ops : 0,
    opsPerSec: ops,
    samples: 1,
    ...(base ? { baseline: base.name, ratio: base.count / base.wallS / ops } : {}),
    extra: {
      [perCpuKey]: Math.round(perCpu),
      cpuS: m.cpuS.toFixed(2),
      failed: m.failed,
      ...(base && basePerCpu > 0 ? { perCpuVsKamailio: (perCpu / basePerCpu).toFixed(2) } : {}),
    },
  };
}
