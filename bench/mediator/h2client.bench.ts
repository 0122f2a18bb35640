/**
 * Suite `h2client`: CPU per request of our own HTTP/2 client (mediator/h2, through H2Pool)
 * against a bare node:http2 client, both sending the same APNs requests (prebuilt headers,
 * same JWT, same payload) to the same mock APNs (HTTP/2 over TLS, in its own process so its
 * CPU is charged to neither). Figures are CPU nanoseconds of this process per request
 * (process.cpuUsage), over a bounded number of requests in interleaved slices so both
 * clients share the same neighbours on a busy machine; the wall-clock rate is in `extra`.
 * Two micro rows time HPACK alone: encoding a steady APNs request block (repeating headers
 * indexed, :path and apns-id literal) and decoding an APNs-like response block.
 */
import { readFileSync } from 'node:fs';
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startProc } from '../../fixtures/proc.js';
import { ProviderTokenSigner } from '../../mediator/apns-auth.js';
import { H2Pool } from '../../mediator/h2pool.js';
import { loadRegistry, type ApnsApp } from '../../mediator/registry.js';
import { HpackDecoder, HpackEncoder, Indexing } from '../../mediator/h2/hpack.js';
import { runMicro, withRatios, type BenchOptions, type BenchRow, type BenchSuite } from '../lib.js';
import { closedLoop } from './loadgen.js';

interface EnvInfo {
  apnsUrl: string;
  appsFile: string;
  caFile: string;
  apps: { apnsToken: string };
}

const log = pino({ level: 'silent' });
const token = (i: number): string => (i.toString(16) + 'a'.repeat(64)).slice(0, 64);
const cpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

/** One request on a bare node:http2 session, the way a minimal client would do it. */
function nodeRequest(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let status = 0;
    req.on('response', (h) => {
      status = Number(h[':status']);
    });
    req.on('error', () => resolve(false));
    req.on('close', () => resolve(status === 200));
    req.resume();
    req.end(body);
  });
}

/** HPACK alone, no I/O: ns per header block. */
function hpackRows(opts: BenchOptions): Promise<BenchRow[]> {
  const enc = new HpackEncoder();
  const out = Buffer.alloc(4096);
  const jwt = `bearer ${'e'.repeat(40)}.${'p'.repeat(80)}.${'s'.repeat(86)}`;
  let i = 0;
  const encodeOne = () => {
    i++;
    let off = enc.begin(out, 0);
    off = enc.field(':method', 'POST', out, off);
    off = enc.field(':scheme', 'https', out, off);
    off = enc.field(':authority', 'api.push.apple.com', out, off);
    off = enc.field(':path', `/3/device/${token(i)}`, out, off, Indexing.Never);
    off = enc.field('authorization', jwt, out, off);
    off = enc.field('apns-topic', 'com.example.phone.voip', out, off);
    off = enc.field('apns-push-type', 'voip', out, off);
    off = enc.field('apns-priority', '10', out, off);
    off = enc.field('apns-expiration', '0', out, off);
    return enc.field('apns-id', `00000000-0000-4000-8000-${(i % 1e12).toString().padStart(12, '0')}`, out, off, Indexing.Never);
  };
  // A response as nghttp2 sends it: :status 200 indexed, apns-id a Huffman literal entering
  // the table, date indexed after the first. Encoded here too (the decoder's table must follow
  // an encoder's), so the row is encode + decode.
  const srv2 = new HpackEncoder({ indexFirst: true, huffman: 'always' });
  const dec2 = new HpackDecoder();
  const fields: string[] = [];
  let j = 0;
  const decodeOne = () => {
    const b = Buffer.alloc(512);
    j++;
    let off = srv2.field(':status', '200', b, 0);
    off = srv2.field('apns-id', `1b4e28ba-2fa1-11d2-883f-${String(j).padStart(12, '0')}`, b, off);
    off = srv2.field('date', 'Sun, 29 Nov 2026 00:00:00 GMT', b, off);
    fields.length = 0;
    dec2.decode(b, 0, off, fields);
    return fields.length;
  };
  return runMicro(
    'h2client',
    [
      { name: 'hpack encode steady APNs request', fn: encodeOne, batch: 100 },
      { name: 'hpack encode+decode APNs response', fn: decodeOne, batch: 100 },
    ],
    opts,
  );
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const total = opts.quick ? 1000 : 40_000;
  const slices = opts.quick ? 2 : 8;
  const window = 256;
  // The compiled tree this file runs from (dist/ or a private --outDir).
  const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const mock = startProc(process.execPath, [join(outDir, 'fixtures', 'push', 'serve.js'), '--no-record']);
  try {
    const line = await mock.waitFor(/PUSH-ENV .*/, 30_000);
    const info = JSON.parse(line.slice('PUSH-ENV '.length)) as EnvInfo;
    const appId = info.apps.apnsToken;
    const app = loadRegistry(info.appsFile).apps.get(appId) as ApnsApp;
    if (app.auth.type !== 'token') throw new Error('token app expected');
    const signer = new ProviderTokenSigner(app.auth.teamId, app.auth.keyId, app.auth.key);
    const ca = readFileSync(info.caFile);
    const payload = Buffer.from(JSON.stringify({ aps: {}, sipis: { verb: 'NotifyIncomingCall', callId: 'c1@x' } }));
    const headersFor = (i: number): OutgoingHttpHeaders => ({
      ':method': 'POST',
      ':path': `/3/device/${token(i)}`,
      authorization: signer.header(),
      'apns-topic': `${appId}.voip`,
      'apns-push-type': 'voip',
      'apns-priority': '10',
      'apns-expiration': '0',
      'apns-id': `00000000-0000-4000-8000-${(i % 1e12).toString().padStart(12, '0')}`,
    });

    const pool = new H2Pool({ origin: info.apnsUrl, tls: { ca }, connections: 1, log });
    const session = http2.connect(info.apnsUrl, { ca, settings: { enablePush: false } });
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));

    interface Variant {
      name: string;
      op: (h: OutgoingHttpHeaders) => Promise<boolean>;
      cpuNs: number;
      wallNs: number;
      failed: number;
    }
    const variants: Variant[] = [
      { name: 'node:http2 client', op: (h) => nodeRequest(session, h, payload), cpuNs: 0, wallNs: 0, failed: 0 },
      { name: 'our h2 client (H2Pool)', op: async (h) => (await pool.request(h, payload, 10_000, false)).status === 200, cpuNs: 0, wallNs: 0, failed: 0 },
    ];
    const per = Math.ceil(total / slices);
    const slice = async (v: Variant, base: number, measure: boolean) => {
      const hs = Array.from({ length: per }, (_, i) => headersFor(base + i));
      const c0 = cpuNs();
      const r = await closedLoop(per, window, (i) => v.op(hs[i]!));
      if (!measure) return;
      v.cpuNs += cpuNs() - c0;
      v.wallNs += r.ns;
      v.failed += r.failed;
    };
    for (const v of variants) await slice(v, 0, false); // warm-up: JIT, HPACK tables, TLS
    for (let k = 0; k < slices; k++) {
      if (!opts.json) process.stderr.write(`  h2client: slice ${k + 1}/${slices}\n`);
      for (const v of variants) await slice(v, (k + 1) * per, true);
    }
    await pool.close();
    session.close();
    const rows: BenchRow[] = variants.map((v) => {
      const n = per * slices;
      const ns = v.cpuNs / n;
      return {
        suite: 'h2client',
        name: v.name,
        medianNs: ns,
        opsPerSec: 1e9 / ns,
        samples: n,
        extra: { wallPerSec: Math.round((n * 1e9) / v.wallNs), failed: v.failed, window },
      };
    });
    return [...withRatios(rows, 'node:http2 client'), ...(await hpackRows(opts))];
  } finally {
    await mock.stop();
  }
}

const suite: BenchSuite = { name: 'h2client', run };
export default suite;
