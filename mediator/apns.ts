/**
 * APNs adapter: one app's pushes over a pool of HTTP/2 connections to its endpoint
 * (`POST /3/device/<token>`, Apple's "Sending notification requests to APNs"), with token
 * (JWT) or certificate (TLS client auth) credentials, and APNs's answers mapped onto our
 * four outcomes ("Handling notification responses from APNs").
 */
import type { Logger } from 'pino';
import type { PushRequest } from '../core/push/protocol.js';
import { finalResult, runWithRetries, parseRetryAfter, type Attempt, type AttemptOutcome, type PushAdapter, type PushResult, type PushSink, type RetryPolicy, DEFAULT_RETRY } from './adapter.js';
import { PROVIDER_TOKEN_MIN_AGE_MS, ProviderTokenSigner, ProviderTokenSigners } from './apns-auth.js';
import { apnsPayloadLimit, apnsTopics, buildApnsNotification, DEFAULT_APNS_TTL, type ApnsTopics, type ApnsTtl } from './apns-payload.js';
import type { ResponseSink } from './h2/stream.js';
import { H2Pool, type H2Response } from './h2pool.js';
import type { CounterCell, MediatorMetrics } from './metrics.js';
import type { ApnsApp } from './registry.js';

export interface ApnsAdapterOptions {
  app: ApnsApp;
  log: Logger;
  metrics?: MediatorMetrics;
  ttl?: ApnsTtl;
  retry?: RetryPolicy;
  /** Most time one HTTP/2 exchange may take before it is cancelled and retried. */
  attemptTimeoutMs?: number;
  maxQueue?: number;
  maxStreamsPerConnection?: number;
  /**
   * The provider token's clock (default Date.now): tests move it past the 20- and 40-minute
   * marks. Deadlines and attempt timeouts always run on Date.now.
   */
  tokenClock?: () => number;
  /** signers shared with the other apps of the same key, and across reloads (the dispatcher's). */
  signers?: ProviderTokenSigners;
}

/** The request headers of one push (RFC 9113 §8.3.1 pseudo-headers, then Apple's). */
type ApnsHeaders = {
  ':method': 'POST';
  ':path': string;
  ':authority': string;
  'apns-topic': string;
  'apns-push-type': string;
  'apns-priority': string;
  'apns-expiration': string;
  'apns-id': string;
  'apns-collapse-id'?: string;
  authorization?: string;
};

/** Reasons after which the token will never work again for this topic. */
const DEAD_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'Unregistered', 'ExpiredToken']);

export class ApnsAdapter implements PushAdapter {
  readonly platform = 'apns' as const;
  private readonly pool: H2Pool;
  private readonly signer: ProviderTokenSigner | undefined;
  private readonly ttl: ApnsTtl;
  private readonly retry: RetryPolicy;
  private readonly attemptTimeoutMs: number;
  private readonly log: Logger;
  private readonly authority: string;
  private readonly statusCells = new Map<number, CounterCell>();
  private readonly topics: ApnsTopics;
  /** Per kind of token trouble, the token (by mint time) last warned about: one line per token. */
  private readonly warned = { expired: -1, tooManyUpdates: -1 };

  constructor(private readonly opts: ApnsAdapterOptions) {
    const { app, metrics } = opts;
    this.log = opts.log.child({ component: 'apns', appId: app.appId });
    this.ttl = opts.ttl ?? DEFAULT_APNS_TTL;
    this.topics = apnsTopics(app.bundleId);
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 5000;
    this.authority = new URL(app.endpoint).host;
    const tls: NonNullable<ConstructorParameters<typeof H2Pool>[0]['tls']> = {};
    if (app.ca) tls.ca = app.ca;
    if (app.auth.type === 'certificate') {
      tls.cert = app.auth.certPem;
      tls.key = app.auth.keyPem;
    } else {
      const onMint = () => metrics?.authRefreshes.inc({ platform: 'apns' });
      const { teamId, keyId, key } = app.auth;
      this.signer = opts.signers && !opts.tokenClock ? opts.signers.get(teamId, keyId, key, onMint) : new ProviderTokenSigner(teamId, keyId, key, opts.tokenClock ?? Date.now, onMint);
    }
    this.pool = new H2Pool({
      origin: app.endpoint,
      connections: app.connections,
      maxQueue: opts.maxQueue ?? 10_000,
      maxStreamsPerConnection: opts.maxStreamsPerConnection ?? 1000,
      tls,
      log: this.log,
      onConnectionEvent: (event) => metrics?.connections.inc({ platform: 'apns', event }),
    });
  }

  get pending(): number {
    return this.pool.inFlight + this.pool.queued;
  }

  send(r: PushRequest, deadline: number): Promise<PushResult> {
    return new Promise((resolve) => this.begin(r, deadline, { settle: resolve }, false));
  }

  /** The dispatcher's form: `r` passed validatePushRequest (token charset, UUID requestId). */
  start(r: PushRequest, deadline: number, sink: PushSink): void {
    this.begin(r, deadline, sink, true);
  }

  /**
   * `validated`: every header value is then fit for HTTP/2 by construction (token and UUID
   * checked at the edge, topic from the registry's bundle-id pattern, digits, collapse ids
   * visible ASCII or hashed, a base64url JWT), and the pool need not scan them again.
   */
  private begin(r: PushRequest, deadline: number, sink: PushSink, validated: boolean): void {
    const now = Date.now();
    const n = buildApnsNotification(r, this.topics, this.ttl, Math.floor(now / 1000));
    if (!n.ok) return sink.settle({ outcome: 'rejected', reason: n.reason, field: n.field });
    const body = n.payload;
    if (body.length > apnsPayloadLimit(n.pushType)) {
      return sink.settle({ outcome: 'rejected', reason: `APNs payload is ${body.length} bytes, over ${apnsPayloadLimit(n.pushType)}`, field: 'payload' });
    }
    // One object of one shape per push, kept by the pool while the request is in flight.
    // Absent headers are undefined (the pool skips them); `authorization` is set per attempt.
    const headers: ApnsHeaders = {
      ':method': 'POST',
      ':path': '/3/device/' + r.deviceToken,
      ':authority': this.authority,
      'apns-topic': n.topic,
      'apns-push-type': n.pushType,
      'apns-priority': n.priority === 10 ? '10' : '5',
      'apns-expiration': String(n.expiration),
      'apns-id': r.requestId,
      'apns-collapse-id': n.collapseId,
      authorization: undefined,
    };
    // The first attempt outside the retry loop and without a promise: most pushes end with it.
    if (this.signer) headers.authorization = this.signer.header();
    const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, deadline - now));
    this.pool.requestTo(headers, body, timeout, false, new FirstAttempt(this, headers, body, deadline, sink), validated);
  }

  /** The first attempt's answer (through FirstAttempt). */
  firstAnswer(f: FirstAttempt, res: H2Response): void {
    if (res.status === 200) {
      // The common answer, without the classification objects.
      const m = this.opts.metrics;
      if (m) this.attemptCell(m, 200).value++;
      const id = res.headers['apns-id'];
      return f.sink.settle({ outcome: 'delivered', pushId: typeof id === 'string' ? id : '' });
    }
    const a = this.answered(res);
    const done = finalResult(a);
    if (done) return f.sink.settle(done);
    this.settleFrom(this.retryFrom(f.headers, f.body, f.deadline, { attempt: a }), f.sink);
  }

  /** The first attempt failed in transport (through FirstAttempt). */
  firstFailed(f: FirstAttempt, error: Error): void {
    this.failed(error);
    this.settleFrom(this.retryFrom(f.headers, f.body, f.deadline, { error }), f.sink);
  }

  /** The retry loop's result to `sink`; should the loop ever throw, the push still gets an answer. */
  private settleFrom(p: Promise<PushResult>, sink: PushSink): void {
    p.then(
      (r) => sink.settle(r),
      (err: unknown) => {
        this.log.error({ err }, 'APNs retry loop failed');
        sink.settle({ outcome: 'retry-later', reason: 'internal error', retryAfterMs: 5000 });
      },
    );
  }

  /** Sends one attempt (with a fresh provider token when token auth is used). */
  private exchange(headers: ApnsHeaders, body: Buffer, deadline: number): Promise<H2Response> {
    if (this.signer) headers.authorization = this.signer.header();
    const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, deadline - Date.now()));
    return this.pool.request(headers, body, timeout, false);
  }

  /** Counts an answer by status and classifies it. */
  private answered(res: H2Response): Attempt {
    const m = this.opts.metrics;
    if (m) this.attemptCell(m, res.status).value++;
    return this.classify(res.status, res.headers['apns-id'], res.body, res.headers['retry-after']);
  }

  private failed(err: unknown): void {
    this.opts.metrics?.upstreamAttempts.inc({ platform: 'apns', status: (err as { code?: string }).code ?? 'error' });
  }

  /** Attempts after a first one that was not final: backoff, re-authentication, deadline. */
  private retryFrom(headers: ApnsHeaders, body: Buffer, deadline: number, first: AttemptOutcome): Promise<PushResult> {
    const metrics = this.opts.metrics;
    let used = headers.authorization ?? '';
    return runWithRetries(
      () => {
        const p = this.exchange(headers, body, deadline);
        used = headers.authorization ?? '';
        return p.then(
          (res) => this.answered(res),
          (err: unknown) => {
            this.failed(err);
            throw err;
          },
        );
      },
      () => this.renewToken(used),
      deadline,
      this.retry,
      (reason) => metrics?.upstreamRetries.inc({ platform: 'apns', reason }),
      first,
    );
  }

  /**
   * After ExpiredProviderToken for `used`: 0 once a fresh token is in place, else the time until
   * Apple allows one (the push is then answered retry-later with it; see ProviderTokenSigner).
   */
  private renewToken(used: string): number {
    if (!this.signer) return 0;
    const wait = this.signer.refresh(used);
    if (wait > 0) {
      this.warnOncePerToken(
        'expired',
        { keyId: this.signer.keyId, ageS: Math.round((PROVIDER_TOKEN_MIN_AGE_MS - wait) / 1000), retryAfterS: Math.ceil(wait / 1000) },
        'APNs called a provider token younger than 20 minutes expired; keeping it until Apple allows a new one (is the clock right?)',
      );
    }
    return wait;
  }

  /** Token trouble is the same for every push until the token changes: one log line per token. */
  private warnOncePerToken(kind: 'expired' | 'tooManyUpdates', fields: Record<string, unknown>, msg: string): void {
    const t = this.signer?.issuedAt ?? 0;
    if (t === this.warned[kind]) return;
    this.warned[kind] = t;
    this.log.warn(fields, msg);
  }

  /** The attempts counter of one HTTP status, looked up once per status. */
  private attemptCell(m: MediatorMetrics, status: number): CounterCell {
    let c = this.statusCells.get(status);
    if (!c) {
      c = m.upstreamAttempts.cell({ platform: 'apns', status: String(status) });
      this.statusCells.set(status, c);
    }
    return c;
  }

  private classify(status: number, apnsId: string | string[] | undefined, body: Buffer, retryAfter: string | string[] | undefined): Attempt {
    if (status === 200) return { kind: 'delivered', pushId: typeof apnsId === 'string' ? apnsId : '' };
    let reason = `HTTP ${status}`;
    try {
      const j = JSON.parse(body.toString('utf8')) as { reason?: unknown };
      if (typeof j.reason === 'string') reason = j.reason;
    } catch {
      // APNs always sends {"reason": …}; a proxy in between may not.
    }
    if (DEAD_REASONS.has(reason) || status === 410) return { kind: 'token-dead', reason: `apns: ${reason}` };
    if (status === 403 && reason === 'ExpiredProviderToken') return { kind: 'reauth', reason: `apns: ${reason}` };
    if (reason === 'TooManyProviderTokenUpdates') {
      // This adapter mints at most one token per 20 minutes, so something else signs with the
      // key too: another mediator, another app of this registry with the same key, a restart.
      // Not a reason to mint (that is what Apple objects to): backoff, like any 429.
      this.warnOncePerToken('tooManyUpdates', { keyId: this.signer?.keyId }, 'APNs says the provider token changes too often: is the same key used by another mediator, app or tool?');
    }
    if (status === 429 || status >= 500 || reason === 'TooManyProviderTokenUpdates') {
      const delayMs = parseRetryAfter(retryAfter);
      return delayMs === undefined ? { kind: 'retry', reason: `apns: ${reason}` } : { kind: 'retry', reason: `apns: ${reason}`, delayMs };
    }
    if (status === 413 || reason === 'PayloadTooLarge') return { kind: 'rejected', reason: `apns: ${reason}`, field: 'payload' };
    this.log.warn({ status, reason }, 'APNs refused the request');
    return { kind: 'rejected', reason: `apns: ${reason}` };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** A push's first attempt in flight: the pool's response sink, no closure per push. */
class FirstAttempt implements ResponseSink {
  constructor(
    private readonly adapter: ApnsAdapter,
    readonly headers: ApnsHeaders,
    readonly body: Buffer,
    readonly deadline: number,
    readonly sink: PushSink,
  ) {}
  resolve(res: H2Response): void {
    this.adapter.firstAnswer(this, res);
  }
  reject(err: Error): void {
    this.adapter.firstFailed(this, err);
  }
}
