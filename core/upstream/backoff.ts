/**
 * Retry delays for failed registrations. Two kinds (the brief of issue 5):
 *  - transient failures (5xx, 6xx without Retry-After, timeouts, transport errors): exponential,
 *    base doubling up to a cap, each delay spread ± `jitter` so a provider outage that failed a
 *    million accounts at once does not bring them back at once;
 *  - permanent-looking failures (wrong password, 403, 404): one long delay (default 30 min), so a
 *    misconfigured account costs the provider two REGISTERs per half hour, not a tight loop.
 * A Retry-After from the server (RFC 3261 §20.33) overrides the exponential delay.
 */

export interface BackoffConfig {
  /** first retry delay in ms (default 30 s). */
  baseMs: number;
  /** cap in ms (default 30 min). */
  maxMs: number;
  /** relative spread, 0.2 = ± 20 %. */
  jitter: number;
  /** delay after an authentication/authorisation failure in ms (default 30 min). */
  authFailureMs: number;
  /**
   * the longest Retry-After honoured, in ms (default 24 h). Not `maxMs`: a server that asks for
   * more than our backoff cap must still not hear from us sooner (RFC 3261 §21.5.4); this bound
   * only keeps a broken header (`Retry-After: 4294967295`) from parking an account for ever.
   */
  retryAfterMaxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffConfig> = Object.freeze({
  baseMs: 30_000,
  maxMs: 30 * 60_000,
  jitter: 0.2,
  authFailureMs: 30 * 60_000,
  retryAfterMaxMs: 24 * 3_600_000,
});

/** A source of uniform numbers in [0, 1): Math.random in production, seeded in tests. */
export type Random = () => number;

/** Spreads `ms` uniformly over [ms·(1−j), ms·(1+j)]. */
export function jittered(ms: number, jitter: number, random: Random): number {
  if (jitter <= 0) return ms;
  return Math.round(ms * (1 - jitter + 2 * jitter * random()));
}

/**
 * Delay before retry number `failures` (1 = the first failure): base·2^(failures−1), capped,
 * jittered. The cap applies before the jitter so the spread is kept at the cap too.
 */
export function backoffDelay(failures: number, cfg: BackoffConfig, random: Random): number {
  const exp = Math.min(Math.max(failures - 1, 0), 30);
  const raw = Math.min(cfg.baseMs * 2 ** exp, cfg.maxMs);
  return jittered(raw, cfg.jitter, random);
}

/**
 * Delay honouring a Retry-After of `seconds` (RFC 3261 §20.33): never sooner than the server
 * asked, whatever the backoff cap, bounded only by `retryAfterMaxMs`; plus up to 10 % (never
 * minus) so that everyone told "come back in 60 s" does not return in the same millisecond.
 */
export function retryAfterDelay(seconds: number, cfg: BackoffConfig, random: Random): number {
  const ms = Math.min(Math.max(seconds, 1) * 1000, cfg.retryAfterMaxMs);
  return Math.ceil(ms * (1 + 0.1 * random()));
}

/** A small deterministic generator (mulberry32) for tests and benchmarks. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
