/**
 * One HTTP exchange with the mediator: POST /v1/push with the bearer key over a keep-alive
 * agent, a hard timeout, and the answer read as the protocol's PushResponse. Returns what
 * happened; never throws.
 */
import http from 'node:http';
import https from 'node:https';
import { PushError } from './errors.js';
import type { PushResponse } from './protocol.js';

export type AttemptResult = { kind: 'answer'; status: number; body: PushResponse; retryAfterMs?: number } | { kind: 'error'; error: PushError };

export interface Endpoint {
  url: URL;
  agent: http.Agent;
  authorization: string;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export function makeEndpoint(base: string, apiKey: string, maxSockets: number): Endpoint {
  let url: URL;
  try {
    url = new URL(base);
  } catch (err) {
    throw new PushError('ERR_PUSH_CONFIG', `mediator URL "${base}" is not a URL`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PushError('ERR_PUSH_CONFIG', `mediator URL must be http(s), got ${url.protocol}`);
  if (!apiKey) throw new PushError('ERR_PUSH_CONFIG', 'mediator API key is empty');
  const Agent = url.protocol === 'https:' ? https.Agent : http.Agent;
  return { url, agent: new Agent({ keepAlive: true, maxSockets, scheduling: 'lifo' }), authorization: `Bearer ${apiKey}` };
}

function retryAfterOf(header: string | string[] | undefined, body: PushResponse): number | undefined {
  if (body.outcome === 'retry-later' && Number.isFinite(body.retryAfterMs)) return body.retryAfterMs;
  const h = Array.isArray(header) ? header[0] : header;
  const s = h !== undefined ? Number(h) : NaN;
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

export function postPush(ep: Endpoint, path: string, json: string, timeoutMs: number): Promise<AttemptResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: AttemptResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const mod = ep.url.protocol === 'https:' ? https : http;
    const req = mod.request(
      {
        protocol: ep.url.protocol,
        hostname: ep.url.hostname.replace(/^\[|\]$/g, ''),
        port: ep.url.port || undefined,
        path: ep.url.pathname.replace(/\/$/, '') + path,
        method: 'POST',
        agent: ep.agent,
        headers: { authorization: ep.authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            finish({ kind: 'error', error: new PushError('ERR_PUSH_PROTOCOL', 'mediator answer too large') });
          } else chunks.push(c);
        });
        res.on('error', (err) => finish({ kind: 'error', error: new PushError('ERR_PUSH_CONNECT', `answer interrupted: ${err.message}`, { cause: err }) }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let body: PushResponse;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PushResponse;
            if (typeof body !== 'object' || body === null || typeof body.outcome !== 'string') throw new Error('no outcome');
          } catch (err) {
            finish({ kind: 'error', error: new PushError('ERR_PUSH_PROTOCOL', `mediator answered HTTP ${status} without a protocol body`, { cause: err }) });
            return;
          }
          const r: AttemptResult = { kind: 'answer', status, body };
          const ra = retryAfterOf(res.headers['retry-after'], body);
          if (ra !== undefined) r.retryAfterMs = ra;
          finish(r);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish({ kind: 'error', error: new PushError('ERR_PUSH_TIMEOUT', `no answer from the mediator within ${timeoutMs} ms`) });
    }, timeoutMs);
    req.on('error', (err) => finish({ kind: 'error', error: new PushError('ERR_PUSH_CONNECT', `mediator unreachable: ${err.message}`, { cause: err }) }));
    req.end(json);
  });
}
