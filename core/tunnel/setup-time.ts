/**
 * Tunnel setup time for /metrics: from the provider's INVITE arriving to the device's 2xx relayed
 * to it (the push, the wake-up, the REGISTER and the ringing included). Cumulative buckets in
 * seconds like core/push/metrics.ts, so Prometheus' histogram_quantile works on them.
 */
export const SETUP_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120] as const;

export class SetupTime {
  /** cumulative counts per SETUP_BUCKETS_S bound, plus +Inf last. */
  readonly buckets: number[] = new Array<number>(SETUP_BUCKETS_S.length + 1).fill(0);
  sumS = 0;
  count = 0;

  observe(ms: number): void {
    const s = ms / 1000;
    for (let i = 0; i < SETUP_BUCKETS_S.length; i++) if (s <= SETUP_BUCKETS_S[i]!) this.buckets[i]!++;
    this.buckets[SETUP_BUCKETS_S.length]!++;
    this.sumS += s;
    this.count++;
  }
}
