/**
 * The admin HTTP endpoint (node:http, loopback by default: it is for operators and scrapers,
 * not the internet):
 *   GET /healthz  200 {"ok":true,…} or 503 with the failing checks (database, transport)
 *   GET /metrics  Prometheus text
 *   GET /status   JSON summary: accounts counted by state (Idle, Registering, Registered,
 *                 Unauthorized, Error) and a few totals
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface AdminHandlers {
  health(): Promise<HealthReport> | HealthReport;
  metrics(): Promise<string> | string;
  status(): Promise<unknown> | unknown;
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
        default:
          return send(res, 404, 'text/plain', 'not found: try /healthz, /metrics, /status\n');
      }
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
