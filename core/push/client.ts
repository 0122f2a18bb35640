/**
 * The client of sipis-mediator (core/push/protocol.ts, mediator/PROTOCOL.md).
 *
 * What it promises the SIP side: `send` returns at once with a promise of the outcome and never
 * throws; a mediator that is slow or down only delays outcomes, it never blocks a caller (the
 * queue is bounded: when it is full the outcome is 'failed' at once). Each push has a deadline;
 * within it, connection errors and timeouts are retried with exponential backoff and jitter, and
 * a 'retry-later' answer is retried after the delay the mediator asked for. A 'token-dead' answer
 * (HTTP 404) tells the registrar, which drops the token.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Binding, PushTarget } from '../registrar/types.js';
import { PushError } from './errors.js';
import { makeEndpoint, postPush, type AttemptResult, type Endpoint } from './http.js';
import { PushMetrics } from './metrics.js';
import { PUSH_PATH, type PayloadByVerb, type PushRequest, type PushVerb } from './protocol.js';
import { isBinding, pickTarget } from './targets.js';

export type SendOutcome = 'delivered' | 'token-dead' | 'rejected' | 'retry-later' | 'failed';

export interface SendResult {
  outcome: SendOutcome;
  pushId?: string;
  reason?: string;
  /** HTTP attempts made. */
  attempts: number;
}

export interface SendOptions {
  /** UUID; becomes apns-id (default: a new one). */
  requestId?: string;
  /** total budget from now, ms (default: the client's deadlineMs). */
  deadlineMs?: number;
  /** the account (selector) echoed to the app; default the binding's account id. */
  selector?: string;
}

/** What the client needs from the registrar (core/registrar DeviceRegistrar fits). */
export interface BindingSource {
  bindingsOf(accountId: string): Binding[];
  tokenDead(token: string, provider?: string): Promise<void>;
}

export interface PushClientOptions {
  /** mediator base URL, e.g. `http://127.0.0.1:8089` (the protocol's /v1/push is appended). */
  url: string;
  apiKey: string;
  registrar?: BindingSource;
  /** pushes waiting, in flight or between retries, at most (default 10,000). */
  maxQueue?: number;
  /** HTTP requests in flight at most (default 64). */
  concurrency?: number;
  /** one HTTP attempt (default 4 s; keep it above the mediator's deadlineMs, see PUSH_CLIENT_DEFAULTS). */
  attemptTimeoutMs?: number;
  /** default deadline of a push including retries (default 10 s). */
  deadlineMs?: number;
  /** backoff after a connection error: base doubling up to max, ±50 % jitter (default 250 ms, 4 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** attempts per push at most (default 6). */
  maxAttempts?: number;
  log?: Logger;
}

/**
 * Defaults of the options above. attemptTimeoutMs stays above the mediator's deadlineMs (3 s,
 * mediator/config.ts) with a second to spare: the mediator answers every push within its
 * deadline, with retry-later and a Retry-After while APNs/FCM fail. An attempt cut off first
 * hears none of that and sends the same push again while the mediator still works on it (twice
 * the load on a push service already in trouble). sipis's own setting is push.attemptTimeoutS.
 */
export const PUSH_CLIENT_DEFAULTS = {
  maxQueue: 10_000,
  concurrency: 64,
  attemptTimeoutMs: 4000,
  deadlineMs: 10_000,
  backoffBaseMs: 250,
  backoffMaxMs: 4000,
  maxAttempts: 6,
} as const;

interface Job {
  body: PushRequest;
  json: string;
  target: PushTarget;
  deadlineAt: number;
  startedAt: number;
  attempts: number;
  resolve: (r: SendResult) => void;
}

export class PushClient {
  readonly metrics = new PushMetrics();
  private readonly ep: Endpoint;
  private readonly ready: Job[] = [];
  private readonly waiting = new Set<NodeJS.Timeout>();
  private pending = 0;
  private active = 0;
  private closed = false;
  private readonly log: Logger | undefined;
  private readonly o: Required<Omit<PushClientOptions, 'registrar' | 'log' | 'url' | 'apiKey'>>;

  constructor(private readonly opts: PushClientOptions) {
    const d = PUSH_CLIENT_DEFAULTS;
    this.o = {
      maxQueue: opts.maxQueue ?? d.maxQueue,
      concurrency: opts.concurrency ?? d.concurrency,
      attemptTimeoutMs: opts.attemptTimeoutMs ?? d.attemptTimeoutMs,
      deadlineMs: opts.deadlineMs ?? d.deadlineMs,
      backoffBaseMs: opts.backoffBaseMs ?? d.backoffBaseMs,
      backoffMaxMs: opts.backoffMaxMs ?? d.backoffMaxMs,
      maxAttempts: opts.maxAttempts ?? d.maxAttempts,
    };
    for (const [k, v] of Object.entries(this.o)) {
      if (!(Number.isFinite(v) && v > 0)) throw new PushError('ERR_PUSH_CONFIG', `push client ${k} must be a positive number, got ${v}`);
    }
    this.ep = makeEndpoint(opts.url, opts.apiKey, this.o.concurrency);
    this.log = opts.log?.child({ component: 'push' });
  }

  /** metric families for /metrics (core/server/metrics.ts `formatMetrics` takes them). */
  metricFamilies(): ReturnType<PushMetrics['families']> {
    return this.metrics.families(this.pending);
  }

  /** pushes accepted and not finished yet (queued, in flight, or waiting to retry). */
  get size(): number {
    return this.pending;
  }

  /**
   * One push to one device: to `to` itself when it is a PushTarget, or to the token of the
   * binding that fits the verb (VoIP token for calls on iOS, remote for the rest).
   */
  send<V extends PushVerb>(verb: V, to: Binding | PushTarget, payload: PayloadByVerb[V], opts: SendOptions = {}): Promise<SendResult> {
    try {
      const target = isBinding(to) ? pickTarget(to.pushTargets, verb) : to;
      if (!target) return Promise.resolve(this.finishEarly(verb, 'rejected', 'the device has no push token for this verb'));
      if (this.closed) return Promise.resolve(this.finishEarly(verb, 'failed', 'push client closed'));
      if (this.pending >= this.o.maxQueue) {
        this.metrics.queueFull++;
        return Promise.resolve(this.finishEarly(verb, 'failed', 'push queue full'));
      }
      const body = {
        verb,
        appId: target.appId,
        deviceToken: target.token,
        tokenKind: target.kind,
        selector: opts.selector ?? (isBinding(to) ? to.accountId : 'sipis'),
        requestId: opts.requestId ?? randomUUID(),
        payload,
      } as PushRequest;
      const now = Date.now();
      return new Promise<SendResult>((resolve) => {
        this.pending++;
        const job: Job = { body, json: JSON.stringify(body), target, deadlineAt: now + (opts.deadlineMs ?? this.o.deadlineMs), startedAt: now, attempts: 0, resolve };
        this.ready.push(job);
        this.pump();
      });
    } catch (err) {
      return Promise.resolve(this.finishEarly(verb, 'failed', `push not built: ${(err as Error).message}`));
    }
  }

  /** The push to every device of the account that has a fitting token; one result per device. */
  async sendToAccount<V extends PushVerb>(verb: V, accountId: string, payload: PayloadByVerb[V], opts: Omit<SendOptions, 'requestId'> = {}): Promise<Array<{ binding: Binding; result: SendResult }>> {
    const bindings = this.opts.registrar?.bindingsOf(accountId) ?? [];
    const targets = bindings.filter((b) => pickTarget(b.pushTargets, verb) !== undefined);
    return Promise.all(targets.map(async (binding) => ({ binding, result: await this.send(verb, binding, payload, opts) })));
  }

  /** Stops taking pushes; those waiting get 'failed'; in-flight ones finish. */
  close(): void {
    this.closed = true;
    for (const t of this.waiting) clearTimeout(t);
    this.waiting.clear();
    for (const job of this.ready.splice(0)) this.finish(job, { outcome: 'failed', reason: 'push client closed', attempts: job.attempts });
    this.ep.agent.destroy();
  }

  private finishEarly(verb: PushVerb, outcome: SendOutcome, reason: string): SendResult {
    this.metrics.record(verb, outcome, 0);
    return { outcome, reason, attempts: 0 };
  }

  private finish(job: Job, r: SendResult): void {
    this.pending--;
    this.metrics.record(job.body.verb, r.outcome, Date.now() - job.startedAt);
    job.resolve(r);
  }

  private pump(): void {
    while (this.active < this.o.concurrency && this.ready.length > 0) {
      const job = this.ready.shift()!;
      if (Date.now() >= job.deadlineAt) {
        this.finish(job, { outcome: 'failed', reason: 'deadline passed before the push could be sent', attempts: job.attempts });
        continue;
      }
      this.active++;
      void this.attempt(job).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  private async attempt(job: Job): Promise<void> {
    job.attempts++;
    this.metrics.attempts++;
    const left = job.deadlineAt - Date.now();
    const r: AttemptResult = await postPush(this.ep, PUSH_PATH, job.json, Math.max(1, Math.min(this.o.attemptTimeoutMs, left)));
    if (r.kind === 'error') return this.retryOrFail(job, this.backoff(job.attempts), r.error.message, 'failed');
    const b = r.body;
    switch (b.outcome) {
      case 'delivered':
        return this.finish(job, { outcome: 'delivered', pushId: b.pushId, attempts: job.attempts });
      case 'token-dead':
        await this.tokenDead(job);
        return this.finish(job, { outcome: 'token-dead', reason: b.reason, attempts: job.attempts });
      case 'rejected':
        this.log?.warn({ verb: job.body.verb, appId: job.body.appId, field: b.field, reason: b.reason }, 'push rejected by the mediator');
        return this.finish(job, { outcome: 'rejected', reason: b.reason, attempts: job.attempts });
      case 'retry-later':
        return this.retryOrFail(job, Math.max(r.retryAfterMs ?? 0, this.backoff(job.attempts)), b.reason, 'retry-later');
      default:
        return this.retryOrFail(job, this.backoff(job.attempts), `HTTP ${r.status} with an unknown outcome`, 'failed');
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (attempt - 1));
    return base * (0.5 + Math.random());
  }

  /** schedules another attempt after `delayMs` if the deadline and attempt budget allow. */
  private retryOrFail(job: Job, delayMs: number, reason: string, outcome: 'failed' | 'retry-later'): void {
    if (this.closed || job.attempts >= this.o.maxAttempts || Date.now() + delayMs >= job.deadlineAt) {
      this.log?.debug({ verb: job.body.verb, attempts: job.attempts, reason }, 'push given up');
      this.finish(job, { outcome, reason, attempts: job.attempts });
      return;
    }
    this.metrics.retries++;
    const t = setTimeout(() => {
      this.waiting.delete(t);
      this.ready.push(job);
      this.pump();
    }, delayMs);
    this.waiting.add(t);
  }

  private async tokenDead(job: Job): Promise<void> {
    try {
      await this.opts.registrar?.tokenDead(job.target.token, job.target.provider);
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'could not drop a dead token');
    }
  }
}
