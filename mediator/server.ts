/**
 * The mediator's HTTP edge on uWebSockets.js: `POST /v1/push` (the unified push protocol,
 * core/push/protocol.ts), `GET /healthz`, `GET /metrics` (Prometheus text format).
 * Everything a request can get wrong is answered here, before any push service is touched:
 * bearer key (compared in constant time), body size, JSON, verb, app, fields.
 * Every accepted request gets exactly one answer, also when the mediator shuts down.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import uWS from 'uWebSockets.js';
import {
  DEFAULT_LIMITS,
  PUSH_PATH,
  validatePushRequest,
  type PushRequest,
  type PushResponse,
  type ValidationLimits,
} from '../core/push/protocol.js';
import type { Dispatcher, DispatchResult } from './dispatcher.js';
import type { MediatorMetrics } from './metrics.js';

export interface ServerOptions {
  host: string;
  port: number;
  apiKeys: readonly string[];
  maxBodyBytes: number;
  limits?: ValidationLimits;
  dispatcher: Dispatcher;
  metrics: MediatorMetrics;
  log: Logger;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Content Too Large',
  415: '415 Unsupported Media Type',
  422: '422 Unprocessable Content',
  503: '503 Service Unavailable',
};

interface Open {
  res: uWS.HttpResponse;
  requestId: string;
  done: boolean;
}

/** Compares a presented key with every configured one in constant time (no early exit). */
export class ApiKeys {
  private readonly digests: Buffer[];
  constructor(keys: readonly string[]) {
    this.digests = keys.map((k) => createHash('sha256').update(k).digest());
  }
  check(authorization: string): boolean {
    // "Bearer <key>"; scheme is case-insensitive (RFC 9110 §11.1).
    if (authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    const d = createHash('sha256').update(authorization.slice(7).trim()).digest();
    let ok = false;
    for (const k of this.digests) ok = timingSafeEqual(k, d) || ok;
    return ok;
  }
}

export class PushServer {
  private readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | undefined;
  private draining = false;
  private readonly keys: ApiKeys;
  private readonly open = new Set<Open>();
  private readonly drainWaiters = new Set<() => void>();
  private readonly log: Logger;
  private readonly limits: ValidationLimits;

  constructor(private readonly opts: ServerOptions) {
    this.keys = new ApiKeys(opts.apiKeys);
    this.log = opts.log.child({ component: 'http' });
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.app = uWS.App();
    this.app.post(PUSH_PATH, (res, req) => this.onPush(res, req));
    this.app.get('/healthz', (res) => {
      const body = JSON.stringify({ status: this.draining ? 'draining' : 'ok', apps: opts.dispatcher.appIds().length, inFlight: opts.dispatcher.inFlight });
      res.cork(() => res.writeStatus(this.draining ? STATUS_TEXT[503]! : STATUS_TEXT[200]!).writeHeader('content-type', 'application/json').end(body));
    });
    this.app.get('/metrics', (res) => {
      const body = opts.metrics.registry.render();
      res.cork(() => res.writeStatus(STATUS_TEXT[200]!).writeHeader('content-type', 'text/plain; version=0.0.4').end(body));
    });
    this.app.any('/*', (res, req) => {
      const isPushPath = req.getUrl() === PUSH_PATH;
      // Not 404 on a wrong path: 404 is how this protocol says "token dead".
      this.reply(res, isPushPath ? 405 : 400, { outcome: 'rejected', reason: `no endpoint ${req.getMethod().toUpperCase()} ${req.getUrl()}` }, true);
    });
  }

  /** Binds; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(this.opts.host, this.opts.port, (sock) => {
        if (!sock) return reject(new Error(`cannot listen on ${this.opts.host}:${this.opts.port}`));
        this.listenSocket = sock;
        resolve(uWS.us_socket_local_port(sock));
      });
    });
  }

  /** Stops accepting connections; requests arriving on open keep-alive connections get 503. */
  stopAccepting(): void {
    this.draining = true;
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  /** Answers whatever is still open with retry-later, then closes every connection. */
  close(): void {
    this.stopAccepting();
    for (const o of this.open) {
      this.finish(o, { outcome: 'retry-later', requestId: o.requestId, reason: 'mediator shutting down', retryAfterMs: 1000 }, 503);
    }
    (this.app as unknown as { close(): void }).close();
  }

  get openRequests(): number {
    return this.open.size;
  }

  /** Resolves true once every accepted request has been answered, false after `ms`. */
  drained(ms: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.drainWaiters.delete(done);
        resolve(false);
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.drainWaiters.add(done);
    });
  }

  private settled(o: Open): void {
    this.open.delete(o);
    if (this.open.size === 0 && this.drainWaiters.size) {
      const w = [...this.drainWaiters];
      this.drainWaiters.clear();
      for (const f of w) f();
    }
  }

  private onPush(res: uWS.HttpResponse, req: uWS.HttpRequest): void {
    const started = performance.now();
    // uWS request objects die when this function returns: read every header now.
    const authorization = req.getHeader('authorization');
    const contentType = req.getHeader('content-type');
    const contentLength = req.getHeader('content-length');
    const o: Open = { res, requestId: '', done: false };
    res.onAborted(() => {
      o.done = true;
      this.settled(o);
    });
    const reject = (status: number, metric: string, reason: string, field?: string, close = false) => {
      this.opts.metrics.edgeRejects.inc({ reason: metric });
      const body: PushResponse = field === undefined ? { outcome: 'rejected', reason } : { outcome: 'rejected', reason, field };
      o.done = true;
      this.reply(res, status, body, close);
    };
    if (this.draining) {
      this.opts.metrics.edgeRejects.inc({ reason: 'draining' });
      o.done = true;
      this.reply(res, 503, { outcome: 'retry-later', reason: 'mediator shutting down', retryAfterMs: 1000 }, true);
      return;
    }
    if (!this.keys.check(authorization)) return reject(401, 'auth', 'missing or wrong bearer key', 'Authorization', true);
    if (contentType && !/^application\/json\b/i.test(contentType)) {
      return reject(415, 'content-type', `content-type must be application/json, not ${contentType.slice(0, 64)}`, 'Content-Type', true);
    }
    const max = this.opts.maxBodyBytes;
    if (contentLength && Number(contentLength) > max) {
      return reject(413, 'size', `body of ${contentLength} bytes is over the ${max}-byte limit`, '(body)', true);
    }
    let parts: Buffer[] | undefined;
    let size = 0;
    res.onData((chunk, isLast) => {
      if (o.done) return;
      size += chunk.byteLength;
      if (size > max) return reject(413, 'size', `body over the ${max}-byte limit`, '(body)', true);
      let body: Buffer;
      if (isLast && !parts) {
        // Common case, one chunk: parse in place (the ArrayBuffer is only valid during this call).
        body = Buffer.from(chunk);
      } else {
        (parts ??= []).push(Buffer.from(chunk.slice(0)));
        if (!isLast) return;
        body = Buffer.concat(parts);
      }
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (err) {
        return reject(400, 'json', `body is not valid JSON (${(err as Error).message})`, '(body)');
      }
      const v = validatePushRequest(json, this.limits);
      if (!v.ok) return reject(400, 'validation', v.reason, v.field);
      if (!this.opts.dispatcher.hasApp(v.request.appId)) {
        this.opts.metrics.pushes.inc({ verb: v.request.verb, platform: 'unknown', outcome: 'rejected' });
        return reject(400, 'unknown-app', `unknown app "${v.request.appId.slice(0, 255)}"`, 'appId');
      }
      o.requestId = v.request.requestId;
      this.open.add(o);
      void this.opts.dispatcher.dispatch(v.request).then((r) => this.answer(o, v.request, r, started));
    });
  }

  private answer(o: Open, r: PushRequest, result: DispatchResult, started: number): void {
    const platform = result.platform ?? 'unknown';
    const m = this.opts.metrics;
    m.pushes.inc({ verb: r.verb, platform, outcome: result.outcome });
    m.latency.observe({ platform, outcome: result.outcome }, (performance.now() - started) / 1000);
    let body: PushResponse;
    let status: number;
    switch (result.outcome) {
      case 'delivered':
        status = 200;
        body = { outcome: 'delivered', requestId: r.requestId, pushId: result.pushId, platform: result.platform ?? 'apns' };
        break;
      case 'token-dead':
        status = 404;
        body = { outcome: 'token-dead', requestId: r.requestId, reason: result.reason };
        this.log.info({ appId: r.appId, requestId: r.requestId, token: r.deviceToken.slice(0, 8), reason: result.reason }, 'token dead');
        break;
      case 'rejected':
        status = 422;
        body = result.field ? { outcome: 'rejected', requestId: r.requestId, reason: result.reason, field: result.field } : { outcome: 'rejected', requestId: r.requestId, reason: result.reason };
        this.log.warn({ appId: r.appId, requestId: r.requestId, verb: r.verb, reason: result.reason }, 'push rejected');
        break;
      case 'retry-later':
        status = 503;
        body = { outcome: 'retry-later', requestId: r.requestId, reason: result.reason, retryAfterMs: result.retryAfterMs };
        this.log.info({ appId: r.appId, requestId: r.requestId, reason: result.reason }, 'push deferred');
        break;
    }
    this.finish(o, body, status);
  }

  private finish(o: Open, body: PushResponse, status: number): void {
    if (!o.done) {
      o.done = true;
      this.reply(o.res, status, body, this.draining);
    }
    this.settled(o);
  }

  private reply(res: uWS.HttpResponse, status: number, body: PushResponse, close = false): void {
    const text = JSON.stringify(body);
    res.cork(() => {
      res.writeStatus(STATUS_TEXT[status] ?? `${status} Error`).writeHeader('content-type', 'application/json');
      if (body.outcome === 'retry-later') res.writeHeader('retry-after', String(Math.max(1, Math.ceil(body.retryAfterMs / 1000))));
      res.end(text, close);
    });
  }
}
