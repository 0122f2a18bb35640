/**
 * What a push-service adapter (APNs, FCM) gives the dispatcher, and the retry loop they share.
 * Each attempt is classified into one `Attempt`; the loop turns those into exactly one
 * `PushResult` before the request's deadline, whatever the push service or the network does.
 */
import type { PushRequest } from '../core/push/protocol.js';
import { UpstreamError } from './errors.js';

export type Platform = 'apns' | 'fcm';

export type PushResult =
  | { outcome: 'delivered'; pushId: string }
  | { outcome: 'token-dead'; reason: string }
  | { outcome: 'rejected'; reason: string; field?: string }
  | { outcome: 'retry-later'; reason: string; retryAfterMs: number };

/** Receives the one result of a push started with `PushAdapter.start`. */
export interface PushSink {
  settle(result: PushResult): void;
}

export interface PushAdapter {
  readonly platform: Platform;
  /**
   * Settles by `deadline` (epoch ms; a timer's lateness aside), whatever the push service or the
   * network does, also while a connection is still being set up; never rejects. The caller's
   * own timeout is set above the mediator's deadline (PROTOCOL.md, Answers), so it hears this.
   */
  send(req: PushRequest, deadline: number): Promise<PushResult>;
  /**
   * The callback form of `send`, when the adapter has one: the same one result, handed to
   * `sink` (from inside this call only for a request refused at once), without a promise per
   * push on the hot path. `req` has passed validatePushRequest (the dispatcher's requests have).
   */
  start?(req: PushRequest, deadline: number, sink: PushSink): void;
  /** Requests on the wire or waiting for a stream toward the push service. */
  readonly pending: number;
  close(): Promise<void>;
}

export type Attempt =
  | { kind: 'delivered'; pushId: string }
  | { kind: 'token-dead'; reason: string }
  | { kind: 'rejected'; reason: string; field?: string }
  /** Transient: try again after max(delayMs, backoff). */
  | { kind: 'retry'; reason: string; delayMs?: number }
  /** Credentials refused (APNs ExpiredProviderToken, FCM 401): refresh them, retry once. */
  | { kind: 'reauth'; reason: string };

export interface RetryPolicy {
  /** First backoff step; doubled per retry with full jitter, capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Delay suggested to the client when the deadline passes with the service still failing. */
  retryLaterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 50, maxDelayMs: 2000, retryLaterMs: 5000 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What an attempt came to: its classification, or the error its exchange failed with. */
export type AttemptOutcome = { attempt: Attempt } | { error: unknown };

/** The answer an attempt gives when it is final (no retry, no re-authentication). */
export function finalResult(a: Attempt): PushResult | undefined {
  switch (a.kind) {
    case 'delivered':
      return { outcome: 'delivered', pushId: a.pushId };
    case 'token-dead':
      return { outcome: 'token-dead', reason: a.reason };
    case 'rejected':
      return a.field ? { outcome: 'rejected', reason: a.reason, field: a.field } : { outcome: 'rejected', reason: a.reason };
    default:
      return undefined;
  }
}

/**
 * Runs `attempt` until it gives a final answer or the deadline leaves no room for another
 * try. Transport errors that prove the request was not processed (GOAWAY refusal, stream
 * closed without response) are retried at once the first time: the pool is already
 * reconnecting and a push that waited for nothing should not also wait for a backoff.
 * `first`, when given, is the outcome of attempt 0 made by the caller (adapters make the
 * first attempt themselves and only come here when it was not final: the common push costs
 * no async loop).
 * `reauth` renews the credentials after a 'reauth' attempt; when the push service's rules do not
 * allow that yet (APNs: one provider token per 20 minutes) it returns the milliseconds until
 * they do, and the push is answered retry-later with that delay instead of retried.
 */
export async function runWithRetries(
  attempt: (n: number) => Promise<Attempt>,
  reauth: () => Promise<number | void> | number | void,
  deadline: number,
  policy: RetryPolicy,
  onRetry: (reason: string) => void,
  first?: AttemptOutcome,
): Promise<PushResult> {
  let reauthDone = false;
  let immediateUsed = false;
  let lastReason = 'push service unavailable';
  let lastHint: number | undefined;
  for (let n = 0; ; n++) {
    let a: Attempt;
    try {
      if (n === 0 && first) {
        if ('error' in first) throw first.error;
        a = first.attempt;
      } else {
        a = await attempt(n);
      }
    } catch (err) {
      const e = err instanceof UpstreamError ? err : undefined;
      if (e?.code === 'ERR_UPSTREAM_QUEUE_FULL') {
        return { outcome: 'retry-later', reason: 'upstream queue full', retryAfterMs: 1000 };
      }
      if (e?.code === 'ERR_UPSTREAM_CLOSED') {
        return { outcome: 'retry-later', reason: 'mediator shutting down', retryAfterMs: 1000 };
      }
      const reason = e ? `${e.code}: ${e.message}` : `transport error: ${(err as Error).message}`;
      if (e?.code === 'ERR_UPSTREAM_UNPROCESSED' && !immediateUsed) {
        immediateUsed = true;
        onRetry('unprocessed');
        if (Date.now() < deadline) continue;
      }
      a = { kind: 'retry', reason };
    }
    const done = finalResult(a);
    if (done) return done;
    switch (a.kind) {
      case 'reauth':
        if (reauthDone) {
          // Fresh credentials refused too: a configuration problem, not the token's fault.
          return { outcome: 'retry-later', reason: `credentials refused: ${a.reason}`, retryAfterMs: 60_000 };
        }
        reauthDone = true;
        const wait = await reauth();
        if (wait) return { outcome: 'retry-later', reason: `${a.reason}; credentials may be renewed in ${Math.ceil(wait / 1000)} s`, retryAfterMs: wait };
        onRetry('reauth');
        continue;
      case 'retry': {
        lastReason = a.reason;
        lastHint = a.delayMs;
        const backoff = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** n);
        const delay = Math.max(a.delayMs ?? 0, backoff);
        if (Date.now() + delay >= deadline) {
          return { outcome: 'retry-later', reason: lastReason, retryAfterMs: lastHint ?? policy.retryLaterMs };
        }
        onRetry(a.reason.split(':')[0] ?? 'retry');
        await sleep(delay);
        continue;
      }
    }
  }
}

/** Reads a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}
