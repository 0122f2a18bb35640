/**
 * Admin HTTP for operators and monitoring: `/healthz` (200 while at least one backend is
 * up, else 503), Prometheus `/metrics`, and `/shard?key=user@domain` (which sipis process
 * owns an account now, and which owns it when all are up). Loopback by default; no secrets
 * are ever served.
 */
import { createServer, type Server } from 'node:http';
import { accountKeyFromInput, type ShardRing } from '../core/shard/index.js';
import type { FlowTable } from './flow.js';
import type { BridgeMetrics } from './metrics.js';

export function createAdminServer(ring: ShardRing, metrics: BridgeMetrics, flows: FlowTable): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // RFC 9110 §15.5.6: a 405 names the methods the resource takes
      res.setHeader('allow', 'GET, HEAD');
      return json(405, { error: 'only GET' });
    }
    switch (url.pathname) {
      case '/healthz': {
        const up = ring.backends.filter((b) => b.up).length;
        return json(up > 0 ? 200 : 503, { status: up > 0 ? 'ok' : 'no backend up', backendsUp: up, backends: ring.backends.length, flows: flows.size });
      }
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return res.end(metrics.render(ring));
      case '/shard': {
        const input = url.searchParams.get('key');
        if (!input) return json(400, { error: 'missing ?key=user@domain' });
        // normalised as the relay keys a request (host case, escapes, URI parameters dropped)
        let key: string;
        try {
          key = accountKeyFromInput(input);
        } catch (err) {
          return json(400, { error: (err as Error).message });
        }
        const owner = ring.lookup(key);
        const home = ring.home(key);
        return json(owner ? 200 : 503, {
          key,
          backend: owner ? { id: owner.id, host: owner.host, port: owner.port, up: owner.up } : null,
          home: { id: home.id, host: home.host, port: home.port, up: home.up },
        });
      }
      default:
        return json(404, { error: 'not found', paths: ['/healthz', '/metrics', '/shard?key='] });
    }
  });
}
