/**
 * The admin HTTP endpoint (node:http, loopback by default: it is for operators and scrapers,
 * not the internet):
 *   GET /healthz  200 {"ok":true,…} or 503 with the failing checks (database, transport)
 *   GET /metrics  Prometheus text
 *   GET /status   JSON summary: accounts counted by state (Idle, Registering, Registered,
 *                 Unauthorized, Error), a few totals, and the clean-up sweep's state with the
 *                 accounts it switched off and why (`cleanup.switchedOff`)
 *   GET /about    JSON: name, version, Node.js version, pid, start time, uptime, domain
 *   GET /stats    JSON: the counters and gauges of /metrics since the start, for a person
 * Load balancers and Kubernetes probes give up after 1–3 s and count that as a failure, while a
 * query on a database that does not answer waits 5 s for a connection (the pool's acquire
 * timeout) or 30 s for its result: `databaseCheck` answers within CHECK_DEADLINE_MS instead, for
 * /healthz (503, `database unreachable: …`) and for /status (`database: 'down'`, the rest from memory).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export type CheckResult = { ok: true } | { ok: false; detail: string };

/** how long a health or status check waits for the database before calling it unreachable. */
export const CHECK_DEADLINE_MS = 1000;

/** what `databaseCheck` needs of the store's pool (core/store/pool.ts). */
export interface ProbedDatabase {
  /** no connection open: the pool is reconnecting. */
  readonly down: boolean;
  query(text: string): Promise<unknown>;
}

/**
 * `work` if it settles within `ms`; otherwise `undefined`, and `work` goes on in the background
 * (its late outcome, failure included, is dropped).
 */
export async function settleWithin<T>(work: Promise<T>, ms: number): Promise<{ value: T } | { error: Error } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value }), (err: unknown) => ({ error: err instanceof Error ? err : new Error(String(err)) })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Is the database answering? A pool without any connection says no at once; otherwise
 * `SELECT 1` gets `ms` to answer (a hung server or a network that drops packets sends no error).
 */
export async function databaseCheck(db: ProbedDatabase, ms = CHECK_DEADLINE_MS): Promise<CheckResult> {
  if (db.down) return { ok: false, detail: 'database unreachable: no connection (reconnecting)' };
  const r = await settleWithin(db.query('SELECT 1'), ms);
  if (r === undefined) return { ok: false, detail: `database unreachable: no answer within ${ms} ms` };
  if ('error' in r) return { ok: false, detail: `database unreachable: ${r.error.message}` };
  return { ok: true };
}

export interface AdminHandlers {
  health(): Promise<HealthReport> | HealthReport;
  metrics(): Promise<string> | string;
  status(): Promise<unknown> | unknown;
  /** what runs here: name, version, since when (absent: 404). */
  about?(): unknown;
  /** the counters of /metrics as JSON, with the time they count from (absent: 404). */
  stats?(): Promise<unknown> | unknown;
}

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly handlers: AdminHandlers,
    private readonly log?: Logger,
  ) {}

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  get address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
      switch (path) {
        case '/healthz': {
          const h = await this.handlers.health();
          return send(res, h.ok ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
        }
        case '/metrics':
          return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await this.handlers.metrics());
        case '/status':
          return send(res, 200, 'application/json', JSON.stringify(await this.handlers.status(), null, 2) + '\n');
        case '/about':
          if (this.handlers.about) return send(res, 200, 'application/json', JSON.stringify(this.handlers.about(), null, 2) + '\n');
          break;
        case '/stats':
          if (this.handlers.stats) return send(res, 200, 'application/json', JSON.stringify(await this.handlers.stats(), null, 2) + '\n');
          break;
      }
      const pages = ['/healthz', '/metrics', '/status', ...(this.handlers.about ? ['/about'] : []), ...(this.handlers.stats ? ['/stats'] : [])];
      return send(res, 404, 'text/plain', `not found: try ${pages.join(', ')}\n`);
    } catch (err) {
      this.log?.error({ err, path }, 'admin request failed');
      send(res, 500, 'text/plain', 'internal error\n');
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections?.();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
