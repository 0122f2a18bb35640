/**
 * `POST /v1/push/batch` (mediator/PROTOCOL.md, "Batches"): several push requests in one HTTP
 * request, each with its own answer. One HTTP exchange a push costs the mediator a receive and
 * a send in the kernel (uWS does not let a connection pipeline behind an unanswered request);
 * a client with a burst to send (a call forked to many devices, a reprovisioning wave) pays
 * them once for the batch. Each request is validated, dispatched and answered as if it came
 * alone; the batch is answered once every one of them has its answer.
 */
import { validatePushRequest, type PushRequest, type ValidationLimits } from '../core/push/protocol.js';

export const BATCH_PATH = '/v1/push/batch';
/** Most requests in one batch. */
export const MAX_BATCH_REQUESTS = 64;
/** A batch's body may be this many times the single request's limit (`maxBodyBytes`). */
export const BATCH_BODY_FACTOR = 16;

export type BatchItem = { ok: true; request: PushRequest } | { ok: false; reason: string; field: string };
export type BatchParse = { ok: true; items: BatchItem[] } | { ok: false; reason: string; field: string };

/** Checks the batch's shape, then each request on its own (a bad one fails alone). */
export function parseBatch(json: unknown, limits: ValidationLimits): BatchParse {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, field: '(body)', reason: 'a batch is a JSON object {"requests": [ … ]}' };
  }
  for (const key in json) {
    if (key !== 'requests') return { ok: false, field: key, reason: `unknown field "${key.slice(0, 64)}"` };
  }
  const requests = (json as { requests?: unknown }).requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    return { ok: false, field: 'requests', reason: `requests is required (an array of 1 to ${MAX_BATCH_REQUESTS} push requests)` };
  }
  if (requests.length > MAX_BATCH_REQUESTS) {
    return { ok: false, field: 'requests', reason: `at most ${MAX_BATCH_REQUESTS} requests in a batch, not ${requests.length}` };
  }
  const items: BatchItem[] = [];
  for (const r of requests) {
    const v = validatePushRequest(r, limits);
    items.push(v.ok ? { ok: true, request: v.request } : { ok: false, reason: v.reason, field: v.field });
  }
  return { ok: true, items };
}

/**
 * The answers of one batch by position, as JSON texts: each is the body `/v1/push` would have
 * sent, with the status it would have had as a first member `"status"`.
 */
export class BatchAnswers<P> {
  private readonly results: string[];
  private pending: number;

  constructor(
    /** The batch's own exchange, answered when the last result is in. */
    readonly parent: P,
    n: number,
  ) {
    this.results = new Array<string>(n).fill('');
    this.pending = n;
  }

  /** Stores answer `i` (`body` a JSON object text); true when it was the last one missing. */
  put(i: number, status: number, body: string): boolean {
    if (this.results[i] !== '') return false;
    this.results[i] = `{"status":${status},${body.slice(1)}`;
    return --this.pending === 0;
  }

  json(): string {
    return `{"results":[${this.results.join(',')}]}`;
  }
}
