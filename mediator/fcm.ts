/**
 * FCM HTTP v1 adapter: `POST /v1/projects/<project>/messages:send` over HTTP/2 with an OAuth2
 * bearer token. Calls travel as high-priority data messages (the app must run code to show
 * its call UI; a notification message would be drawn by the system instead), texts as
 * notification messages. Errors follow FCM's ErrorCode enum (UNREGISTERED, INVALID_ARGUMENT,
 * SENDER_ID_MISMATCH, QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, THIRD_PARTY_AUTH_ERROR).
 */
import type { Logger } from 'pino';
import type { PushRequest } from '../core/push/protocol.js';
import { DEFAULT_RETRY, parseRetryAfter, runWithRetries, type Attempt, type PushAdapter, type PushResult, type RetryPolicy } from './adapter.js';
import { AccessTokenSource } from './fcm-auth.js';
import { buildFcmMessage, DEFAULT_FCM_TTL, type FcmTtl } from './fcm-payload.js';
import { H2Pool } from './h2pool.js';
import type { MediatorMetrics } from './metrics.js';
import type { FcmApp } from './registry.js';

export interface FcmAdapterOptions {
  app: FcmApp;
  log: Logger;
  metrics?: MediatorMetrics;
  ttl?: FcmTtl;
  retry?: RetryPolicy;
  attemptTimeoutMs?: number;
  maxQueue?: number;
}

/** FCM caps a message at 4096 bytes of payload. */
export const FCM_MAX_MESSAGE = 4096;

interface FcmErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{ '@type'?: string; errorCode?: string; fieldViolations?: Array<{ field?: string; description?: string }> }>;
  };
}

export class FcmAdapter implements PushAdapter {
  readonly platform = 'fcm' as const;
  private readonly pool: H2Pool;
  private readonly tokenPool: H2Pool;
  private readonly tokens: AccessTokenSource;
  private readonly ttl: FcmTtl;
  private readonly retry: RetryPolicy;
  private readonly attemptTimeoutMs: number;
  private readonly log: Logger;
  private readonly path: string;
  private readonly authority: string;

  constructor(private readonly opts: FcmAdapterOptions) {
    const { app, metrics } = opts;
    this.log = opts.log.child({ component: 'fcm', appId: app.appId });
    this.ttl = opts.ttl ?? DEFAULT_FCM_TTL;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 5000;
    this.path = `/v1/projects/${encodeURIComponent(app.projectId)}/messages:send`;
    this.authority = new URL(app.endpoint).host;
    const tls = app.ca ? { ca: app.ca } : {};
    const onConnectionEvent = (event: string) => metrics?.connections.inc({ platform: 'fcm', event });
    this.pool = new H2Pool({ origin: app.endpoint, connections: app.connections, maxQueue: opts.maxQueue ?? 10_000, tls, log: this.log, onConnectionEvent });
    const tokenOrigin = new URL(app.serviceAccount.tokenUri).origin;
    this.tokenPool = new H2Pool({ origin: tokenOrigin, connections: 1, maxQueue: 100, tls, log: this.log, onConnectionEvent });
    this.tokens = new AccessTokenSource(app.serviceAccount, this.tokenPool, this.log, 10_000, () => metrics?.authRefreshes.inc({ platform: 'fcm' }));
  }

  get pending(): number {
    return this.pool.inFlight + this.pool.queued;
  }

  async send(r: PushRequest, deadline: number): Promise<PushResult> {
    const body = Buffer.from(JSON.stringify({ message: buildFcmMessage(r, this.ttl) }));
    if (body.length > FCM_MAX_MESSAGE + 512) {
      return { outcome: 'rejected', reason: `FCM message is ${body.length} bytes, over the 4096-byte payload limit`, field: 'payload' };
    }
    const metrics = this.opts.metrics;
    let used = '';
    const attempt = async (): Promise<Attempt> => {
      used = await this.tokens.get(deadline - Date.now());
      const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, deadline - Date.now()));
      let res;
      try {
        res = await this.pool.request(
          {
            ':method': 'POST',
            ':path': this.path,
            ':authority': this.authority,
            authorization: `Bearer ${used}`,
            'content-type': 'application/json',
          },
          body,
          timeout,
        );
      } catch (err) {
        metrics?.upstreamAttempts.inc({ platform: 'fcm', status: (err as { code?: string }).code ?? 'error' });
        throw err;
      }
      metrics?.upstreamAttempts.inc({ platform: 'fcm', status: String(res.status) });
      return this.classify(res.status, res.body, res.headers['retry-after']);
    };
    return runWithRetries(
      attempt,
      () => this.tokens.invalidate(used),
      deadline,
      this.retry,
      (reason) => metrics?.upstreamRetries.inc({ platform: 'fcm', reason }),
    );
  }

  private classify(status: number, body: Buffer, retryAfter: string | string[] | undefined): Attempt {
    let j: FcmErrorBody | { name?: unknown } = {};
    try {
      j = JSON.parse(body.toString('utf8')) as typeof j;
    } catch {
      // a proxy's HTML error page; the status decides
    }
    if (status === 200) {
      const name = 'name' in j && typeof j.name === 'string' ? j.name : '';
      return { kind: 'delivered', pushId: name };
    }
    const e = 'error' in j ? j.error : undefined;
    const fcmCode = e?.details?.find((d) => d.errorCode)?.errorCode ?? e?.status ?? `HTTP ${status}`;
    const reason = `fcm: ${fcmCode}${e?.message ? ` (${e.message})` : ''}`;
    if (fcmCode === 'UNREGISTERED' || (status === 404 && fcmCode === 'NOT_FOUND')) return { kind: 'token-dead', reason };
    if (fcmCode === 'SENDER_ID_MISMATCH') return { kind: 'token-dead', reason };
    if (status === 400 || fcmCode === 'INVALID_ARGUMENT') {
      const aboutToken =
        e?.details?.some((d) => d.fieldViolations?.some((v) => v.field === 'message.token')) ||
        /registration token/i.test(e?.message ?? '');
      if (aboutToken) return { kind: 'token-dead', reason };
      this.log.warn({ status, fcmCode }, 'FCM refused the message');
      return { kind: 'rejected', reason };
    }
    if (status === 401) return { kind: 'reauth', reason };
    if (status === 429 || status >= 500) {
      const delayMs = parseRetryAfter(retryAfter);
      return delayMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, delayMs };
    }
    this.log.warn({ status, fcmCode }, 'FCM refused the message');
    return { kind: 'rejected', reason };
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.tokenPool.close()]);
  }
}
