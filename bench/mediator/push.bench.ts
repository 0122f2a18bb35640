/**
 * Suite `mediator`: pushes per second through one sipis-mediator process (HTTP/1.1 in, mock
 * APNs over HTTP/2+TLS out), latency at a fixed rate, and in the same run @parse/node-apn
 * sending the same notifications to the same mock APNs. Three processes: this one (load
 * generator, node-apn, direct client), the mediator, and the mock APNs (fixtures/push/serve),
 * so the mock's cost is not charged to either side. The machine is shared: read the ratios.
 *
 * Rows:
 *  - `mediator http→apns`: closed loop through the mediator process (the product).
 *  - `apns adapter in-process`: our APNs adapter called directly (no HTTP hop), like node-apn.
 *  - `h2 pool only (floor)`: our HTTP/2 pool with prebuilt headers: what node:http2 itself costs.
 *  - `node-apn`: @parse/node-apn Provider.send, same window (the baseline of the ratios).
 * Throughput rows report pushes per CPU-second of the pushing process (ns/op = CPU ns per
 * push): on a machine shared with other work that is what one core can do; the wall-clock
 * rate is in `extra`. The four run in interleaved slices so they share the same neighbours.
 *  - `latency @ R/s …`: open loop at a fixed rate through the mediator, and straight to the
 *    mock with our HTTP/2 pool; the difference of the two is the latency the mediator adds.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startProc } from '../../fixtures/proc.js';
import { requestFor } from '../../fixtures/push/requests.js';
import { ApnsAdapter } from '../../mediator/apns.js';
import { ProviderTokenSigner } from '../../mediator/apns-auth.js';
import { H2Pool } from '../../mediator/h2pool.js';
import { loadRegistry, type ApnsApp } from '../../mediator/registry.js';
import { withRatios, type BenchOptions, type BenchRow, type BenchSuite } from '../lib.js';
import { HttpLoad, closedLoop, openLoop, percentile, pushRequestBytes } from './loadgen.js';

interface EnvInfo {
  apnsUrl: string;
  apnsPort: number;
  appsFile: string;
  caFile: string;
  p8File: string;
  keyId: string;
  teamId: string;
  apps: { apnsToken: string };
  apiKey: string;
}

interface ApnNotification {
  topic: string;
  pushType: string;
  priority: number;
  expiry: number;
  id: string;
  collapseId: string;
  rawPayload: unknown;
}
interface ApnModule {
  Provider: new (opts: Record<string, unknown>) => {
    send(n: ApnNotification, token: string): Promise<{ sent: unknown[]; failed: unknown[] }>;
    shutdown(cb?: () => void): Promise<void> | void;
  };
  Notification: new () => ApnNotification;
}

const log = pino({ level: 'silent' });

function token(i: number): string {
  return (i.toString(16) + 'a'.repeat(64)).slice(0, 64);
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function procCpuSec(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // fields[11], fields[12] = utime, stime in clock ticks (USER_HZ = 100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const selfCpuSec = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * One throughput row. On a shared machine wall-clock rates depend on the neighbours, so the
 * row's figure is pushes per CPU-second of the process doing the pushing (what one core could
 * do); the wall-clock rate is kept in `extra` for reference.
 */
function row(name: string, ops: number, ns: number, cpuSec: number, extra: Record<string, number | string>): BenchRow {
  const perOpNs = (cpuSec * 1e9) / ops;
  return {
    suite: 'mediator',
    name,
    medianNs: perOpNs,
    opsPerSec: 1e9 / perOpNs,
    samples: ops,
    extra: { wallPerSec: Math.round((ops * 1e9) / ns), cpuSec: Math.round(cpuSec * 100) / 100, ...extra },
  };
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const total = opts.quick ? 500 : 30_000;
  const window = 256;
  const rateMs = opts.quick ? 500 : 5000;
  // The compiled tree this file runs from (dist/ or a private --outDir): start its own mediator.
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

  const mock = startProc(process.execPath, [join(dist, 'fixtures', 'push', 'serve.js'), '--no-record']);
  const procs = [mock];
  try {
    const infoLine = await mock.waitFor(/PUSH-ENV .*/, 30_000);
    const info = JSON.parse(infoLine.slice('PUSH-ENV '.length)) as EnvInfo;
    const med = startProc(process.execPath, [join(dist, 'mediator', 'main.js'), '--apps', info.appsFile, '--port', '0', '--log-level', 'info'], {
      env: { ...process.env, SIPIS_MEDIATOR_API_KEYS: info.apiKey, SIPIS_MEDIATOR_MAX_IN_FLIGHT: '50000' },
    });
    procs.push(med);
    const line = await med.waitFor(/"port":\d+[^\n]*listening/, 30_000);
    const port = Number(/"port":(\d+)/.exec(line)![1]);
    const appId = info.apps.apnsToken;

    const rows: BenchRow[] = [];
    const phase = (what: string) => {
      if (!opts.json) process.stderr.write(`  mediator: ${what}\n`);
    };
    const bodies = (n: number, offset: number) =>
      Array.from({ length: n }, (_, i) => pushRequestBytes('127.0.0.1', info.apiKey, JSON.stringify(requestFor('NotifyIncomingCall', appId, token(offset + i)))));

    // Four ways of pushing the same notifications to the same mock, measured in interleaved
    // slices (A B C D A B C D …) so that each sees the same neighbours on this shared machine.
    // Requests are built before each slice: only the pushing is measured.
    type Run = () => Promise<{ ns: number; failed: number }>;
    interface Variant {
      name: string;
      /** CPU seconds of the process doing the pushing. */
      cpu: () => number;
      warm: () => Promise<void>;
      /** Builds the slice's requests, then returns the measured part. */
      prepare: (n: number, offset: number) => Promise<Run>;
      ns: number;
      cpuSec: number;
      failed: number;
    }
    const app = loadRegistry(info.appsFile).apps.get(appId) as ApnsApp;
    if (app.auth.type !== 'token') throw new Error('token app expected');
    const warmN = Math.min(opts.quick ? 200 : 2000, total);

    // 1. Through the mediator process (HTTP/1.1 keep-alive in, HTTP/2 out).
    const medPid = med.child.pid!;
    const viaMediator = async (n: number, offset: number): Promise<Run> => {
      const reqs = bodies(n, offset);
      // Fresh connections each slice: uWS closes HTTP connections idle for 10 s.
      const load = new HttpLoad('127.0.0.1', port, window);
      await load.open();
      return async () => {
        try {
          return await closedLoop(n, window, async (i) => (await load.send(reqs[i]!)).status === 200);
        } finally {
          load.close();
        }
      };
    };
    // 2. Our adapter in-process (what the mediator does minus the HTTP edge).
    const adapter = new ApnsAdapter({ app, log });
    const viaAdapter = async (n: number, offset: number): Promise<Run> => {
      const reqs = Array.from({ length: n }, (_, i) => requestFor('NotifyIncomingCall', appId, token(offset + i)));
      return () => closedLoop(n, window, async (i) => (await adapter.send(reqs[i]!, Date.now() + 10_000)).outcome === 'delivered');
    };
    // 3. The floor: our HTTP/2 pool alone with prebuilt headers (node:http2's own cost).
    const pool = new H2Pool({ origin: info.apnsUrl, tls: { ca: readFileSync(info.caFile) }, log });
    const signer = new ProviderTokenSigner(app.auth.teamId, app.auth.keyId, app.auth.key);
    const payload = Buffer.from(JSON.stringify({ aps: {}, sipis: { verb: 'NotifyIncomingCall', callId: 'c1@x' } }));
    const viaPool = async (n: number, offset: number): Promise<Run> => {
      const hs = Array.from({ length: n }, (_, i) => ({
        ':method': 'POST',
        ':path': `/3/device/${token(offset + i)}`,
        authorization: signer.header(),
        'apns-topic': `${appId}.voip`,
        'apns-push-type': 'voip',
        'apns-priority': '10',
        'apns-expiration': '0',
      }));
      return () => closedLoop(n, window, async (i) => (await pool.request(hs[i]!, payload, 10_000, false)).status === 200);
    };
    // 4. @parse/node-apn, same notifications, same mock, same window.
    const apn = createRequire(import.meta.url)('@parse/node-apn') as ApnModule;
    const provider = new apn.Provider({
      token: { key: readFileSync(info.p8File), keyId: info.keyId, teamId: info.teamId },
      production: false,
      address: '127.0.0.1',
      port: info.apnsPort,
      ca: readFileSync(info.caFile),
      rejectUnauthorized: true,
    });
    const note = (i: number) => {
      const r = requestFor('NotifyIncomingCall', appId, token(i));
      const n = new apn.Notification();
      n.topic = `${appId}.voip`;
      n.pushType = 'voip';
      n.priority = 10;
      n.expiry = Math.floor(Date.now() / 1000) + 30;
      n.id = r.requestId;
      n.collapseId = 'c1@x';
      n.rawPayload = { aps: {}, sipis: { verb: r.verb, selector: r.selector, requestId: r.requestId, ...r.payload } };
      return n;
    };
    const viaNodeApn = async (n: number, offset: number): Promise<Run> => {
      const notes = Array.from({ length: n }, (_, i) => note(offset + i));
      return () => closedLoop(n, window, async (i) => (await provider.send(notes[i]!, token(offset + i))).sent.length === 1);
    };

    const variant = (name: string, cpu: () => number, prepare: Variant['prepare'], base: number): Variant => ({
      name,
      cpu,
      prepare: (n, offset) => prepare(n, base + offset),
      warm: async () => {
        await (await prepare(warmN, base + 900_000))();
      },
      ns: 0,
      cpuSec: 0,
      failed: 0,
    });
    const variants: Variant[] = [
      variant('mediator http→apns', () => procCpuSec(medPid), viaMediator, 10_000_000),
      variant('apns adapter in-process', selfCpuSec, viaAdapter, 20_000_000),
      variant('h2 pool only (floor)', selfCpuSec, viaPool, 30_000_000),
      variant('node-apn', selfCpuSec, viaNodeApn, 40_000_000),
    ];
    phase('warming up');
    for (const v of variants) await v.warm();
    const tSlices = opts.quick ? 1 : 5;
    const tPerSlice = Math.ceil(total / tSlices);
    for (let k = 0; k < tSlices; k++) {
      phase(`throughput slice ${k + 1}/${tSlices}`);
      for (const v of variants) {
        const go = await v.prepare(tPerSlice, k * tPerSlice);
        const c0 = v.cpu();
        const r = await go();
        v.cpuSec += v.cpu() - c0;
        v.ns += r.ns;
        v.failed += r.failed;
      }
    }
    for (const v of variants) rows.push(row(v.name, tPerSlice * tSlices, v.ns, v.cpuSec, { failed: v.failed, window }));
    await adapter.close();
    await pool.close();
    await provider.shutdown();
    const medRun = variants[0]!;

    // A fixed rate well below what this machine just managed through the mediator (a quarter
    // of it), so the figures are latency, not the backlog of an overloaded shared machine.
    const measured = (tPerSlice * tSlices * 1e9) / medRun.ns;
    const rate = Math.max(100, Math.min(opts.quick ? 300 : 5000, Math.round(measured / 4 / 50) * 50));
    phase(`latency at ${rate}/s`);
    // 4. Latency at a fixed rate: through the mediator, and straight to the mock.
    // Interleaved slices (mediator, direct, mediator, …) so both paths see the same neighbours.
    const slices = opts.quick ? 1 : 5;
    const sliceMs = rateMs / slices;
    const perSlice = Math.round((rate * sliceMs) / 1000);
    const lreqs = bodies(perSlice * slices, 50_000_000);
    const lload = new HttpLoad('127.0.0.1', port, 64);
    await lload.open();
    const dAdapter = new ApnsAdapter({ app, log });
    const lat = { latencies: [] as number[], failed: 0 };
    const dlat = { latencies: [] as number[], failed: 0 };
    // Warm both paths at the rate first (new connections, JIT, a process woken after idling).
    const wreqs = bodies(Math.round(rate / 2), 55_000_000);
    await openLoop(rate, 500, (i) => lload.send(wreqs[i]!).then((r) => ({ ok: r.status === 200, latencyNs: r.latencyNs })));
    await openLoop(rate, 500, (i) =>
      dAdapter.send(requestFor('NotifyIncomingCall', appId, token(56_000_000 + i)), Date.now() + 10_000).then((r) => ({ ok: r.outcome === 'delivered', latencyNs: 0 })),
    );
    for (let k = 0; k < slices; k++) {
      const a = await openLoop(rate, sliceMs, async (i) => {
        const r = await lload.send(lreqs[k * perSlice + i]!);
        return { ok: r.status === 200, latencyNs: r.latencyNs };
      });
      lat.latencies.push(...a.latencies);
      lat.failed += a.failed;
      const b = await openLoop(rate, sliceMs, async (i) => {
        const t0 = process.hrtime.bigint();
        const res = await dAdapter.send(requestFor('NotifyIncomingCall', appId, token(60_000_000 + k * perSlice + i)), Date.now() + 10_000);
        return { ok: res.outcome === 'delivered', latencyNs: Number(process.hrtime.bigint() - t0) };
      });
      dlat.latencies.push(...b.latencies);
      dlat.failed += b.failed;
    }
    lload.close();
    await dAdapter.close();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const s1 = lat.latencies.sort((a, b) => a - b);
    const s2 = dlat.latencies.sort((a, b) => a - b);
    const p50 = percentile(s1, 50);
    const p99 = percentile(s1, 99);
    const d50 = percentile(s2, 50);
    const d99 = percentile(s2, 99);
    rows.push({
      suite: 'mediator',
      name: `latency @${rate}/s via mediator`,
      medianNs: p50,
      opsPerSec: rate,
      samples: s1.length,
      extra: { p50ms: ms(p50), p99ms: ms(p99), failed: lat.failed, addedP50ms: ms(p50 - d50), addedP99ms: ms(p99 - d99) },
    });
    rows.push({
      suite: 'mediator',
      name: `latency @${rate}/s adapter direct`,
      medianNs: d50,
      opsPerSec: rate,
      samples: s2.length,
      extra: { p50ms: ms(d50), p99ms: ms(d99), failed: dlat.failed },
    });
    const through = withRatios(rows.slice(0, 4), 'node-apn');
    return [...through, ...rows.slice(4)];
  } finally {
    await Promise.all(procs.reverse().map((p) => p.stop('SIGTERM', 5000)));
  }
}

const suite: BenchSuite = { name: 'mediator', run };
export default suite;
