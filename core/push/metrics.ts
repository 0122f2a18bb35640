/**
 * Counters of the push client for the metrics endpoint: pushes by verb and outcome, a latency
 * histogram (accept → outcome, retries included), attempts and retries. Plain numbers; the
 * server formats them (core/server/metrics.ts).
 */
import type { PushVerb } from './protocol.js';

/** upper bounds in seconds (Prometheus `le`), then +Inf. */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

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
}
