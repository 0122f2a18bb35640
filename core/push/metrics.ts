/**
 * Counters of the push client for the metrics endpoint: pushes by verb and outcome, a latency
 * histogram (accept → outcome, retries included), attempts and retries. Plain numbers; the
 * server formats them (core/server/metrics.ts).
 */
import type { PushVerb } from './protocol.js';

/** upper bounds in seconds (Prometheus `le`), then +Inf. */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** The shapes core/server/metrics.ts formats (structurally the same types; push does not import server). */
export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: Array<{ labels?: Record<string, string>; value: number }> }
  | { name: string; help: string; type: 'histogram'; bounds: readonly number[]; cumulative: readonly number[]; sum: number; count: number };

export class PushMetrics {
  /** `${verb} ${outcome}` → count. */
  readonly pushes = new Map<string, number>();
  /** cumulative counts per LATENCY_BUCKETS_S bound, plus +Inf last. */
  readonly latencyBuckets: number[] = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0);
  latencySumS = 0;
  latencyCount = 0;
  attempts = 0;
  retries = 0;
  queueFull = 0;

  record(verb: PushVerb, outcome: string, ms: number): void {
    const key = `${verb} ${outcome}`;
    this.pushes.set(key, (this.pushes.get(key) ?? 0) + 1);
    const s = ms / 1000;
    this.latencySumS += s;
    this.latencyCount++;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) if (s <= LATENCY_BUCKETS_S[i]!) this.latencyBuckets[i]!++;
    this.latencyBuckets[LATENCY_BUCKETS_S.length]!++;
  }

  /** pushes by verb and outcome as rows. */
  byVerbAndOutcome(): Array<{ verb: string; outcome: string; count: number }> {
    return [...this.pushes].map(([k, count]) => {
      const [verb, outcome] = k.split(' ') as [string, string];
      return { verb, outcome, count };
    });
  }

  count(verb: PushVerb, outcome: string): number {
    return this.pushes.get(`${verb} ${outcome}`) ?? 0;
  }

  /** Families for /metrics; the latency is a Prometheus histogram (cumulative buckets). */
  families(queued: number): MetricFamily[] {
    return [
      {
        name: 'sipis_pushes_total',
        help: 'pushes finished, by verb and outcome (delivered, token-dead, rejected, retry-later, failed)',
        type: 'counter',
        samples: this.byVerbAndOutcome().map((r) => ({ labels: { verb: r.verb, outcome: r.outcome }, value: r.count })),
      },
      { name: 'sipis_push_duration_seconds', help: 'push latency from accept to outcome, retries included', type: 'histogram', bounds: LATENCY_BUCKETS_S, cumulative: this.latencyBuckets, sum: this.latencySumS, count: this.latencyCount },
      { name: 'sipis_push_attempts_total', help: 'HTTP requests to the mediator', type: 'counter', samples: [{ value: this.attempts }] },
      { name: 'sipis_push_retries_total', help: 'push attempts repeated after an error or retry-later', type: 'counter', samples: [{ value: this.retries }] },
      { name: 'sipis_push_queue_full_total', help: 'pushes refused because the queue was full', type: 'counter', samples: [{ value: this.queueFull }] },
      { name: 'sipis_push_pending', help: 'pushes queued, in flight or waiting to retry', type: 'gauge', samples: [{ value: queued }] },
    ];
  }
}
