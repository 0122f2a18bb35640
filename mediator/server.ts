/**
 * The mediator's HTTP edge on uWebSockets.js: `POST /v1/push` (the unified push protocol,
 * core/push/protocol.ts), `GET /healthz`, `GET /metrics` (Prometheus text format).
 * Everything a request can get wrong is answered here, before any push service is touched:
 * bearer key (compared in constant time), body size, JSON, verb, app, fields, token kind.
 * Every accepted request gets exactly one answer, also when the mediator shuts down.
 *
 * One request in flight per connection: uWS closes a connection whose next request arrives
 * before the previous one is answered (HttpContext.h: a request parsed while the response is
 * HTTP_RESPONSE_PENDING closes the socket; only synchronously answered pipelining works), so
 * each push costs a kernel receive and send here; `POST /v1/push/batch` (batch.ts) shares them
 * among up to 64 pushes.
 */
import type { Logger } from 'pino';
import uWS from 'uWebSockets.js';
import { listenExclusive } from '../core/uws-listen.js';
import {
  DEFAULT_LIMITS,
  PUSH_PATH,
  validatePushRequest,
  type PushRequest,
  type PushResponse,
  type PushVerb,
  type ValidationLimits,
} from '../core/push/protocol.js';
import type { Platform, PushResult } from './adapter.js';
import type { Dispatcher, DispatchSink } from './dispatcher.js';
import { BATCH_BODY_FACTOR, BATCH_PATH, BatchAnswers, parseBatch } from './batch.js';
import { voipTokenRefusal } from './apns-payload.js';
import { JsonWriter } from './json.js';
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

/** A valid request refused at the edge: the edge-rejects metric reason and the answer's fields. */
interface EdgeRefusal {
  metric: 'unknown-app' | 'validation';
  platform: Platform | 'unknown';
  reason: string;
  field: string;
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

/** The client's address, for a log line; '' when uWS can no longer tell (an aborted response). */
function remoteOf(res: uWS.HttpResponse): string {
  try {
    return Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
  } catch {
    return '';
  }
}

// Constant parts of every answer as bytes: uWS copies a string argument to UTF-8 each call.
const STATUS_BYTES = new Map(Object.entries(STATUS_TEXT).map(([k, v]) => [Number(k), Buffer.from(v)]));
const CONTENT_TYPE = Buffer.from('content-type');
const APPLICATION_JSON = Buffer.from('application/json');

/**
 * Compares a presented key with every configured one in constant time: each comparison runs
 * over the whole configured key whatever the presented one holds (no early exit, no branch on
 * the data), and every key is compared. No hashing: two native crypto objects per request
 * were a sixth of the edge's CPU.
 */
export class ApiKeys {
  private readonly keys: readonly string[];
  constructor(keys: readonly string[]) {
    this.keys = [...keys];
  }
  check(authorization: string): boolean {
    // "Bearer <key>"; the scheme is case-insensitive (RFC 9110 §11.1), the key trimmed of blanks.
    if (authorization.length < 8 || !isBearer(authorization)) return false;
    let start = 7;
    let end = authorization.length;
    while (start < end && isBlank(authorization.charCodeAt(start))) start++;
    while (end > start && isBlank(authorization.charCodeAt(end - 1))) end--;
    const len = end - start;
    let ok = 0;
    for (const k of this.keys) {
      // Past the presented key's end the loop compares with 0 (a mismatch through the length
      // term): the work depends on the configured key only, the branch on the lengths only.
      let diff = len ^ k.length;
      for (let i = 0; i < k.length; i++) diff |= (i < len ? authorization.charCodeAt(start + i) : 0) ^ k.charCodeAt(i);
      ok |= (diff - 1) >>> 31; // 1 when diff is 0, else 0 (diff < 2^31)
    }
    return ok === 1;
  }
}

/** "Bearer " in any case (RFC 9110 §11.1), read by character codes: no string per request. */
function isBearer(a: string): boolean {
  for (let i = 0; i < 6; i++) {
    if ((a.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return false;
  }
  return a.charCodeAt(6) === 0x20;
}
const BEARER = 'bearer';

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

// ignoreBOM keeps a byte-order mark in the text, so JSON.parse refuses it as before.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * One push request on its way through the edge: the uWS response it is answered on, the body
 * as it arrives, and what the answer needs (only that: the parsed request is not kept while
 * the push is in flight, so its payload is garbage before the answer comes). It is the
 * dispatcher's sink, so the answer comes back without a closure per request.
 */
class Exchange implements DispatchSink {
  requestId = '';
  verb: PushVerb = 'NotifyIncomingCall';
  appId = '';
  deviceToken = '';
  done = false;
  size = 0;
  parts: Buffer[] | undefined = undefined;
  /** Links of the server's list of accepted, unanswered requests (no Set churn per request). */
  prev: Exchange | undefined = undefined;
  next: Exchange | undefined = undefined;
  listed = false;
  /** A `POST /v1/push/batch` exchange: its body is a batch (batch.ts). */
  isBatch = false;
  /** A request of a batch: its answer goes to position `batchIndex` of `batchOf`, not to `res`. */
  batchOf: BatchAnswers<Exchange> | undefined = undefined;
  batchIndex = -1;
  constructor(
    readonly server: PushServer,
    readonly res: uWS.HttpResponse,
    readonly started: number,
  ) {}
  settle(result: PushResult, platform: Platform | undefined): void {
    this.server.answer(this, result, platform);
  }
}

export class PushServer {
  private readonly app: uWS.TemplatedApp;
  private listenSocket: uWS.us_listen_socket | undefined;
  private draining = false;
  private readonly keys: ApiKeys;
  /** Accepted requests not yet answered: an intrusive list (see Exchange.prev/next). */
  private openHead: Exchange | undefined;
  private openCount = 0;
  private readonly drainWaiters = new Set<() => void>();
  private readonly log: Logger;
  private readonly limits: ValidationLimits;
  private readonly metrics: MediatorMetrics;
  private readonly dispatcher: Dispatcher;
  private readonly maxBodyBytes: number;
  /** What `writeCorked` writes: set just before `res.cork(this.writeCorked)` (one closure, not one per reply). */
  private out = { res: undefined as uWS.HttpResponse | undefined, status: STATUS_BYTES.get(200)!, text: '' as string | Uint8Array, retryAfter: '', close: false };
  /** The delivered answer's bytes (see `answer`). */
  private readonly answerJson = new JsonWriter();
  private readonly writeCorked = (): void => {
    const o = this.out;
    const res = o.res!;
    res.writeStatus(o.status).writeHeader(CONTENT_TYPE, APPLICATION_JSON);
    if (o.retryAfter) res.writeHeader('retry-after', o.retryAfter);
    res.end(o.text, o.close);
  };

  constructor(private readonly opts: ServerOptions) {
    this.keys = new ApiKeys(opts.apiKeys);
    this.log = opts.log.child({ component: 'http' });
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.metrics = opts.metrics;
    this.dispatcher = opts.dispatcher;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.app = uWS.App();
    this.app.post(PUSH_PATH, (res, req) => this.onPush(res, req, false));
    this.app.post(BATCH_PATH, (res, req) => this.onPush(res, req, true));
    // the admin pages answer GET and HEAD (a load balancer's health check often uses HEAD),
    // anything else 405 with Allow, like the admin ports of sipis and the bridge
    const page = (path: string, status: () => number, type: string, render: () => string): void => {
      this.app.get(path, (res) => {
        const body = render();
        res.cork(() => res.writeStatus(STATUS_TEXT[status()]!).writeHeader('content-type', type).end(body));
      });
      this.app.head(path, (res) => {
        res.cork(() => res.writeStatus(STATUS_TEXT[status()]!).writeHeader('content-type', type).endWithoutBody());
      });
      this.app.any(path, (res) => {
        res.cork(() => res.writeStatus(STATUS_TEXT[405]!).writeHeader('allow', 'GET, HEAD').writeHeader('content-type', 'text/plain').end('method not allowed\n'));
      });
    };
    page('/healthz', () => (this.draining ? 503 : 200), 'application/json', () =>
      JSON.stringify({ status: this.draining ? 'draining' : 'ok', apps: opts.dispatcher.appIds().length, inFlight: opts.dispatcher.inFlight }),
    );
    page('/metrics', () => 200, 'text/plain; version=0.0.4', () => opts.metrics.registry.render());
    this.app.any('/*', (res, req) => {
      const isPushPath = req.getUrl() === PUSH_PATH || req.getUrl() === BATCH_PATH;
      // Not 404 on a wrong path: 404 is how this protocol says "token dead".
      this.reply(res, isPushPath ? 405 : 400, { outcome: 'rejected', reason: `no endpoint ${req.getMethod().toUpperCase()} ${req.getUrl()}` }, true);
    });
  }

  /** Binds; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return listenExclusive(this.app, this.opts.host, this.opts.port).then((sock) => {
      if (!sock) throw new Error(`cannot listen on ${this.opts.host}:${this.opts.port} (address in use?)`);
      this.listenSocket = sock;
      return uWS.us_socket_local_port(sock);
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
    const open: Exchange[] = [];
    for (let x = this.openHead; x !== undefined; x = x.next) open.push(x);
    for (const x of open) {
      this.finish(x, 503, JSON.stringify({ outcome: 'retry-later', requestId: x.requestId, reason: 'mediator shutting down', retryAfterMs: 1000 }), '1');
    }
    (this.app as unknown as { close(): void }).close();
  }

  get openRequests(): number {
    return this.openCount;
  }

  /** Resolves true once every accepted request has been answered, false after `ms`. */
  drained(ms: number): Promise<boolean> {
    if (this.openCount === 0) return Promise.resolve(true);
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

  private list(x: Exchange): void {
    if (x.listed) return;
    x.listed = true;
    x.next = this.openHead;
    if (this.openHead) this.openHead.prev = x;
    this.openHead = x;
    this.openCount++;
  }

  private unlist(x: Exchange): void {
    if (!x.listed) return;
    x.listed = false;
    if (x.prev) x.prev.next = x.next;
    else this.openHead = x.next;
    if (x.next) x.next.prev = x.prev;
    x.prev = x.next = undefined;
    this.openCount--;
  }

  private settled(x: Exchange): void {
    this.unlist(x);
    if (this.openCount === 0 && this.drainWaiters.size) {
      const w = [...this.drainWaiters];
      this.drainWaiters.clear();
      for (const f of w) f();
    }
  }

  private onPush(res: uWS.HttpResponse, req: uWS.HttpRequest, isBatch: boolean): void {
    const x = new Exchange(this, res, performance.now());
    x.isBatch = isBatch;
    // uWS request objects die when this function returns: read every header now.
    const authorization = req.getHeader('authorization');
    const contentType = req.getHeader('content-type');
    const contentLength = req.getHeader('content-length');
    res.onAborted(() => {
      x.done = true;
      this.settled(x);
    });
    if (this.draining) {
      this.metrics.edgeRejects.inc({ reason: 'draining' });
      x.done = true;
      this.reply(res, 503, { outcome: 'retry-later', reason: 'mediator shutting down', retryAfterMs: 1000 }, true);
      return;
    }
    if (!this.keys.check(authorization)) return this.reject(x, 401, 'auth', 'missing or wrong bearer key', 'Authorization', true);
    if (contentType && contentType !== 'application/json' && !/^application\/json\b/i.test(contentType)) {
      return this.reject(x, 415, 'content-type', `content-type must be application/json, not ${contentType.slice(0, 64)}`, 'Content-Type', true);
    }
    const max = isBatch ? this.maxBodyBytes * BATCH_BODY_FACTOR : this.maxBodyBytes;
    if (contentLength && Number(contentLength) > max) {
      return this.reject(x, 413, 'size', `body of ${contentLength} bytes is over the ${max}-byte limit`, '(body)', true);
    }
    res.onData((chunk, isLast) => this.onBody(x, chunk, isLast));
  }

  private onBody(x: Exchange, chunk: ArrayBuffer, isLast: boolean): void {
    if (x.done) return;
    x.size += chunk.byteLength;
    const max = x.isBatch ? this.maxBodyBytes * BATCH_BODY_FACTOR : this.maxBodyBytes;
    if (x.size > max) return this.reject(x, 413, 'size', `body over the ${max}-byte limit`, '(body)', true);
    let text: string;
    if (isLast && !x.parts) {
      // Common case, one chunk: decode in place (the ArrayBuffer is only valid during this call).
      text = utf8.decode(chunk);
    } else {
      (x.parts ??= []).push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      text = utf8.decode(Buffer.concat(x.parts));
      x.parts = undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return this.reject(x, 400, 'json', `body is not valid JSON (${(err as Error).message})`, '(body)');
    }
    if (x.isBatch) return this.onBatch(x, json);
    const v = validatePushRequest(json, this.limits);
    if (!v.ok) return this.reject(x, 400, 'validation', v.reason, v.field);
    const r = v.request;
    const no = this.refusalOf(r);
    if (no !== undefined) {
      this.metrics.pushes.inc({ verb: r.verb, platform: no.platform, outcome: 'rejected' });
      return this.reject(x, 400, no.metric, no.reason, no.field);
    }
    this.dispatch(x, r);
  }

  /** A valid request for a known app: remembered on its exchange, listed as open, dispatched. */
  private dispatch(x: Exchange, r: PushRequest): void {
    x.requestId = r.requestId;
    x.verb = r.verb;
    x.appId = r.appId;
    x.deviceToken = r.deviceToken;
    this.list(x);
    this.dispatcher.dispatch(r, x);
  }

  /** A batch's requests, each validated and dispatched on its own; answered when all are in. */
  private onBatch(x: Exchange, json: unknown): void {
    const b = parseBatch(json, this.limits);
    if (!b.ok) return this.reject(x, 400, 'validation', b.reason, b.field);
    const answers = new BatchAnswers(x, b.items.length);
    for (let i = 0; i < b.items.length; i++) {
      const it = b.items[i]!;
      const y = new Exchange(this, x.res, x.started);
      y.batchOf = answers;
      y.batchIndex = i;
      if (!it.ok) {
        this.metrics.edgeRejects.inc({ reason: 'validation' });
        this.finish(y, 400, JSON.stringify({ outcome: 'rejected', reason: it.reason, field: it.field }), '');
        continue;
      }
      const r = it.request;
      const no = this.refusalOf(r);
      if (no !== undefined) {
        this.metrics.pushes.inc({ verb: r.verb, platform: no.platform, outcome: 'rejected' });
        this.metrics.edgeRejects.inc({ reason: no.metric });
        this.finish(y, 400, JSON.stringify({ outcome: 'rejected', requestId: r.requestId, reason: no.reason, field: no.field }), '');
        continue;
      }
      this.dispatch(y, r);
    }
  }

  /**
   * Why a valid request is refused here all the same: its app is unknown, or it is an APNs push
   * to a VoIP token that the verb may not use. Both are the client's to fix, so 400 like any
   * other edge refusal (422 is for what the push service refuses). FCM has one token for
   * everything and ignores tokenKind.
   */
  private refusalOf(r: PushRequest): EdgeRefusal | undefined {
    const platform = this.dispatcher.platformOf(r.appId);
    if (platform === undefined) return { metric: 'unknown-app', platform: 'unknown', reason: `unknown app "${r.appId.slice(0, 255)}"`, field: 'appId' };
    const voip = platform === 'apns' ? voipTokenRefusal(r) : undefined;
    return voip === undefined ? undefined : { metric: 'validation', platform, reason: voip, field: 'tokenKind' };
  }

  private reject(x: Exchange, status: number, metric: string, reason: string, field?: string, close = false): void {
    this.metrics.edgeRejects.inc({ reason: metric });
    // the remote address tells an operator which client is misconfigured (a wrong key is never logged)
    this.log.info({ status, reason: metric, remote: remoteOf(x.res) }, 'push request refused');
    const body: PushResponse = field === undefined ? { outcome: 'rejected', reason } : { outcome: 'rejected', reason, field };
    x.done = true;
    this.reply(x.res, status, body, close);
  }

  /** The dispatcher's answer for an accepted request (called through `Exchange.settle`). */
  answer(x: Exchange, result: PushResult, platform: Platform | undefined): void {
    const p = platform ?? 'unknown';
    const m = this.metrics;
    m.pushCell(x.verb, p, result.outcome).value++;
    m.latencySeries(p, result.outcome).observe((performance.now() - x.started) / 1000);
    switch (result.outcome) {
      case 'delivered': {
        // By template, as bytes in one reused buffer (uWS copies them before write() returns):
        // no string is built or flattened per answer. pushId is the push service's: escaped.
        const body = this.answerJson
          .begin()
          .raw('{"outcome":"delivered","requestId":')
          .str(x.requestId)
          .raw(',"pushId":')
          .str(result.pushId)
          .raw(platform === 'fcm' ? ',"platform":"fcm"}' : ',"platform":"apns"}')
          .view();
        if (this.log.isLevelEnabled('debug')) {
          this.log.debug({ appId: x.appId, requestId: x.requestId, verb: x.verb, platform: p, ms: Math.round(performance.now() - x.started) }, 'push delivered');
        }
        return this.finish(x, 200, body, '');
      }
      case 'token-dead':
        this.log.info({ appId: x.appId, requestId: x.requestId, token: x.deviceToken.slice(0, 8), reason: result.reason }, 'token dead');
        return this.finish(x, 404, JSON.stringify({ outcome: 'token-dead', requestId: x.requestId, reason: result.reason }), '');
      case 'rejected':
        this.log.warn({ appId: x.appId, requestId: x.requestId, verb: x.verb, reason: result.reason }, 'push rejected');
        return this.finish(
          x,
          422,
          JSON.stringify(result.field ? { outcome: 'rejected', requestId: x.requestId, reason: result.reason, field: result.field } : { outcome: 'rejected', requestId: x.requestId, reason: result.reason }),
          '',
        );
      case 'retry-later':
        this.log.info({ appId: x.appId, requestId: x.requestId, reason: result.reason }, 'push deferred');
        return this.finish(
          x,
          503,
          JSON.stringify({ outcome: 'retry-later', requestId: x.requestId, reason: result.reason, retryAfterMs: result.retryAfterMs }),
          retryAfterSeconds(result.retryAfterMs),
        );
    }
  }

  private finish(x: Exchange, status: number, text: string | Uint8Array, retryAfter: string): void {
    const batch = x.batchOf;
    if (batch !== undefined) {
      // A request of a batch: its answer is stored; the last one answers the batch.
      if (!x.done) {
        x.done = true;
        if (batch.put(x.batchIndex, status, typeof text === 'string' ? text : utf8.decode(text))) this.finish(batch.parent, 200, batch.json(), '');
      }
      this.settled(x);
      return;
    }
    if (!x.done) {
      x.done = true;
      this.write(x.res, status, text, retryAfter, this.draining);
    }
    this.settled(x);
  }

  private reply(res: uWS.HttpResponse, status: number, body: PushResponse, close = false): void {
    this.write(res, status, JSON.stringify(body), body.outcome === 'retry-later' ? retryAfterSeconds(body.retryAfterMs) : '', close);
  }

  /** Status, headers and body in one corked write (one send, also outside uWS's own callbacks). */
  private write(res: uWS.HttpResponse, status: number, text: string | Uint8Array, retryAfter: string, close: boolean): void {
    const o = this.out;
    o.res = res;
    o.status = STATUS_BYTES.get(status) ?? Buffer.from(`${status} Error`);
    o.text = text;
    o.retryAfter = retryAfter;
    o.close = close;
    res.cork(this.writeCorked);
    o.res = undefined;
  }
}

/** Retry-After in whole seconds, at least 1 (RFC 9110 §10.2.3). */
function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
