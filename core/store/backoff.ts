/**
 * Reconnect delays: exponential with "full jitter" (each delay uniform in [0, cap·2^n]), so a
 * fleet of sipis processes that lost the database together does not reconnect in lock-step.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 100;
    this.maxMs = opts.maxMs ?? 5_000;
  }
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // never below a tenth of the ceiling: a zero delay would spin on a refusing server
    return Math.round(ceiling * (0.1 + 0.9 * Math.random()));
  }
  reset(): void {
    this.attempt = 0;
  }
}
