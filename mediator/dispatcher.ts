/**
 * Routes validated push requests to the adapter of their app, bounds the work in flight
 * (a full mediator answers retry-later at once instead of queueing without end), stamps
 * each request with a deadline, and swaps the app registry on reload without dropping
 * requests that are already on their way (old adapters close after the longest deadline).
 */
import type { Logger } from 'pino';
import type { PushRequest } from '../core/push/protocol.js';
import type { Platform, PushAdapter, PushResult, PushSink } from './adapter.js';
import { ApnsAdapter } from './apns.js';
import { ProviderTokenSigners } from './apns-auth.js';
import { FcmAdapter } from './fcm.js';
import type { MediatorMetrics } from './metrics.js';
import type { AppConfig, Registry } from './registry.js';

export interface DispatcherOptions {
  log: Logger;
  metrics: MediatorMetrics;
  /** Most requests being worked on at once; beyond it answers are retry-later. */
  maxInFlight: number;
  /** Time budget of one push, retries included (calls ring for seconds: keep it short). */
  deadlineMs: number;
  attemptTimeoutMs: number;
  /** Builds an adapter; tests may swap it. */
  adapterFactory?: (app: AppConfig) => PushAdapter;
}

interface Entry {
  app: AppConfig;
  adapter: PushAdapter;
}

export type DispatchResult = PushResult & { platform?: Platform };

/** Receives the one answer of a dispatched request (the HTTP edge's per-request state). */
export interface DispatchSink {
  settle(result: PushResult, platform: Platform | undefined): void;
}

export class Dispatcher {
  /** APNs provider-token signers by key, for every adapter this dispatcher makes, reloads included. */
  private readonly signers = new ProviderTokenSigners();
  private entries = new Map<string, Entry>();
  private inFlightCount = 0;
  private readonly log: Logger;
  private readonly retired = new Set<NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: DispatcherOptions, registry: Registry) {
    this.log = opts.log.child({ component: 'dispatcher' });
    this.swap(registry);
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Requests on the wire or queued toward APNs/FCM, over every app. */
  get upstreamPending(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.adapter.pending;
    return n;
  }

  /** The platform of `appId`, undefined for an app not in the registry. */
  platformOf(appId: string): Platform | undefined {
    return this.entries.get(appId)?.app.platform;
  }

  appIds(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Sends `r` through its app's adapter and hands the one answer to `sink`, synchronously for
   * an unknown app or a full mediator. No async function and no result copy per push: the
   * platform travels beside the adapter's result.
   */
  dispatch(r: PushRequest, sink: DispatchSink): void {
    const entry = this.entries.get(r.appId);
    if (!entry) return sink.settle({ outcome: 'rejected', reason: `unknown app "${r.appId}"`, field: 'appId' }, undefined);
    const platform = entry.app.platform;
    if (this.inFlightCount >= this.opts.maxInFlight) {
      return sink.settle({ outcome: 'retry-later', reason: 'mediator busy', retryAfterMs: 1000 }, platform);
    }
    this.inFlightCount++;
    const deadline = Date.now() + this.opts.deadlineMs;
    // One small object per push carries the answer back (and holds two strings of the request,
    // not the request: it is garbage while the push is in flight).
    const d = new Dispatched(this, sink, platform, r.appId, r.requestId);
    if (entry.adapter.start) {
      // The hot path: no promise.
      try {
        entry.adapter.start(r, deadline, d);
      } catch (err) {
        d.failed(err);
      }
      return;
    }
    let sent: Promise<PushResult>;
    try {
      sent = entry.adapter.send(r, deadline);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (res) => d.settle(res),
      (err: unknown) => d.failed(err),
    );
  }

  /** A push's answer arrived (through `Dispatched`). */
  done(): void {
    this.inFlightCount--;
    if (this.inFlightCount === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves when nothing is in flight, or after `ms`. */
  idle(ms: number): Promise<boolean> {
    if (this.inFlightCount === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Installs a new registry; unchanged apps keep their adapter (and its warm connections). */
  swap(registry: Registry): { added: string[]; changed: string[]; removed: string[] } {
    const next = new Map<string, Entry>();
    const added: string[] = [];
    const changed: string[] = [];
    const toRetire: PushAdapter[] = [];
    for (const [appId, app] of registry.apps) {
      const old = this.entries.get(appId);
      if (old && old.app.fingerprint === app.fingerprint) {
        next.set(appId, old);
        continue;
      }
      if (old) {
        changed.push(appId);
        toRetire.push(old.adapter);
      } else added.push(appId);
      next.set(appId, { app, adapter: this.makeAdapter(app) });
    }
    const removed: string[] = [];
    for (const [appId, old] of this.entries) {
      if (!registry.apps.has(appId)) {
        removed.push(appId);
        toRetire.push(old.adapter);
      }
    }
    this.entries = next;
    if (toRetire.length) {
      // Requests already holding the old adapter finish on it; close it after they must have.
      const t = setTimeout(() => {
        this.retired.delete(t);
        for (const a of toRetire) void a.close();
      }, this.opts.deadlineMs + this.opts.attemptTimeoutMs + 1000);
      t.unref();
      this.retired.add(t);
    }
    return { added, changed, removed };
  }

  async close(): Promise<void> {
    for (const t of this.retired) clearTimeout(t);
    this.retired.clear();
    await Promise.all([...this.entries.values()].map((e) => e.adapter.close()));
  }

  /** An adapter broke its contract by throwing: the caller still gets an answer. */
  adapterFailed(err: unknown, appId: string, requestId: string): void {
    this.log.error({ err, appId, requestId }, 'adapter failed');
  }

  private makeAdapter(app: AppConfig): PushAdapter {
    if (this.opts.adapterFactory) return this.opts.adapterFactory(app);
    const common = { log: this.opts.log, metrics: this.opts.metrics, attemptTimeoutMs: this.opts.attemptTimeoutMs };
    return app.platform === 'apns' ? new ApnsAdapter({ ...common, app, signers: this.signers }) : new FcmAdapter({ ...common, app });
  }
}

/**
 * One push on its way through an adapter (callback or promise form): the dispatcher's in-flight
 * count and the platform travel with the answer. Holds two strings of the request (for the log
 * of an adapter failure), not the request: its payload is garbage while the push is in flight.
 */
class Dispatched implements PushSink {
  private settled = false;
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly sink: DispatchSink,
    private readonly platform: Platform,
    private readonly appId: string,
    private readonly requestId: string,
  ) {}

  settle(result: PushResult): void {
    if (this.settled) return;
    this.settled = true;
    this.dispatcher.done();
    this.sink.settle(result, this.platform);
  }

  failed(err: unknown): void {
    if (this.settled) return;
    this.dispatcher.adapterFailed(err, this.appId, this.requestId);
    this.settle({ outcome: 'retry-later', reason: 'internal error', retryAfterMs: 5000 });
  }
}
