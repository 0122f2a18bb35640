/**
 * Suite `mediator`: pushes per second through one sipis-mediator process (HTTP/1.1 in, mock
 * APNs over HTTP/2+TLS out), latency at a fixed rate, and in the same run @parse/node-apn
 * sending the same notifications to the same mock APNs. Processes: this one (node-apn and the
 * in-process rows), the load generator (bench/mediator/loadgen-child), the mediator, a
 * mediator whose adapters answer at once (bench/mediator/edge-child), and the mock APNs
 * (fixtures/push/serve): nobody's CPU is charged to another. The machine is shared: read the
 * ratios, measured in the same run.
 *
 * Throughput rows report pushes per CPU-second of the process doing the pushing (ns/op = CPU
 * ns per push): on a machine shared with other work that is what one core can do. The
 * wall-clock rate is in `extra`; so are `mockUs` and `loadgenUs`, the CPU per push of the mock
 * APNs (fixtures/push/serve --lean: our own HTTP/2 frame code, not node:http2, which cost
 * ~85 us a push and bounded the wall rate) and of the load generator in the same slices: on
 * two cores the wall rate is bounded by about 2 / (sum of the three). Interleaved slices (A B C D E A B C D E …) so that
 * every row sees the same neighbours; requests are built before each slice.
 *  - `mediator http→apns`: the product, closed loop, 256 keep-alive connections with one
 *    request in flight each (uWS answers pipelined requests only synchronously);
 *  - `mediator http→apns, batches of 16`: the same pushes, 16 per POST /v1/push/batch (an
 *    addition to the protocol for bursts), 16 connections: as many pushes in flight;
 *  - `mediator edge only`: the same process with adapters that answer at once: the HTTP edge,
 *    validation, dispatch and answer, without the push service side;
 *  - `apns adapter in-process`: our APNs adapter called directly (no HTTP hop), like node-apn;
 *  - `h2 pool only (floor)`: our HTTP/2 pool with prebuilt headers;
 *  - `node-apn`: @parse/node-apn Provider.send, same window (the baseline of the ratios;
 *    `xNodeApn` on the mediator row is how many times more pushes per CPU-second it does).
 * Latency rows: open loop at a fixed rate (1000/s; 300/s quick) through the mediator, and
 * straight to the mock with our adapter; `added` is the difference, the mediator's share.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startProc, type Proc } from '../../fixtures/proc.js';
import { requestFor } from '../../fixtures/push/requests.js';
import { ApnsAdapter } from '../../mediator/apns.js';
import { ProviderTokenSigner } from '../../mediator/apns-auth.js';
import { H2Pool } from '../../mediator/h2pool.js';
import { loadRegistry, type ApnsApp } from '../../mediator/registry.js';
import { withRatios, type BenchOptions, type BenchRow, type BenchSuite } from '../lib.js';
import { benchToken as token, closedLoop, openLoop, percentile, type LoadCommand, type LoadResult } from './loadgen.js';

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
/** The compiled tree this file runs from (dist/ or a private --outDir). */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

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

/** Starts a mediator (or the edge-only child) against the mock and resolves its port. */
async function startMediator(script: string[], info: EnvInfo): Promise<{ proc: Proc; port: number }> {
  const proc = startProc(process.execPath, [join(root, ...script), '--apps', info.appsFile, '--port', '0', '--log-level', 'info'], {
    env: { ...process.env, SIPIS_MEDIATOR_API_KEYS: info.apiKey, SIPIS_MEDIATOR_MAX_IN_FLIGHT: '50000' },
  });
  const line = await proc.waitFor(/"port":\d+[^\n]*listening/, 30_000);
  return { proc, port: Number(/"port":(\d+)/.exec(line)![1]) };
}

/** The load generator process: `prepare` builds a command's requests, the returned `go` runs it. */
function loadGenerator(info: EnvInfo): { proc: Proc; prepare(cmd: LoadCommand): Promise<() => Promise<LoadResult>> } {
  const proc = startProc(process.execPath, [join(root, 'bench', 'mediator', 'loadgen-child.js'), JSON.stringify({ apiKey: info.apiKey, appId: info.apps.apnsToken })], {
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
  });
  const next = () =>
    new Promise<{ ready?: true; result?: LoadResult; error?: string }>((resolve, reject) => {
      const onExit = () => reject(new Error(`load generator exited: ${proc.output().slice(-2000)}`));
      proc.child.once('exit', onExit);
      proc.child.once('message', (m: { ready?: true; result?: LoadResult; error?: string }) => {
        proc.child.off('exit', onExit);
        resolve(m);
      });
    });
  return {
    proc,
    async prepare(cmd) {
      const ready = next();
      proc.child.send(cmd);
      const r = await ready;
      if (r.error) throw new Error(`load generator: ${r.error}`);
      return async () => {
        const done = next();
        proc.child.send({ op: 'go' });
        const m = await done;
        if (!m.result) throw new Error(`load generator: ${m.error ?? 'no result'}`);
        return m.result;
      };
    },
  };
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const total = opts.quick ? 1000 : 50_000;
  const window = 256;
  const procs: Proc[] = [];
  const mock = startProc(process.execPath, [join(root, 'fixtures', 'push', 'serve.js'), '--no-record', '--lean']);
  procs.push(mock);
  try {
    const infoLine = await mock.waitFor(/PUSH-ENV .*/, 30_000);
    const info = JSON.parse(infoLine.slice('PUSH-ENV '.length)) as EnvInfo;
    const med = await startMediator(['mediator', 'main.js'], info);
    procs.push(med.proc);
    const edge = await startMediator(['bench', 'mediator', 'edge-child.js'], info);
    procs.push(edge.proc);
    const gen = loadGenerator(info);
    procs.push(gen.proc);
    const appId = info.apps.apnsToken;

    const phase = (what: string) => {
      if (!opts.json) process.stderr.write(`  mediator: ${what}\n`);
    };

    type Run = () => Promise<{ ns: number; failed: number }>;
    interface Variant {
      name: string;
      /** CPU seconds of the process doing the pushing. */
      cpu: () => number;
      /** Builds the slice's requests, then returns the measured part. */
      prepare: (n: number, offset: number) => Promise<Run>;
      ns: number;
      cpuSec: number;
      /** CPU seconds of the mock APNs and of the load generator during this row's slices. */
      mockCpuSec: number;
      genCpuSec: number;
      failed: number;
    }
    const app = loadRegistry(info.appsFile).apps.get(appId) as ApnsApp;
    if (app.auth.type !== 'token') throw new Error('token app expected');
    const warmN = opts.quick ? 200 : 2000;

    // 1, 2. Through a mediator process, from the load generator process.
    const viaProcess = (port: number) => (n: number, offset: number) => gen.prepare({ op: 'closed', port, n, offset, window });
    // 1b. The same pushes in batches (POST /v1/push/batch), as many in flight: 16 connections.
    const batch = 16;
    const viaBatch = (port: number) => (n: number, offset: number) => gen.prepare({ op: 'closed', port, n, offset, window: window / batch, batch });
    // 3. Our adapter in-process (what the mediator does minus the HTTP edge).
    const adapter = new ApnsAdapter({ app, log });
    const viaAdapter = async (n: number, offset: number): Promise<Run> => {
      const reqs = Array.from({ length: n }, (_, i) => requestFor('NotifyIncomingCall', appId, token(offset + i)));
      return () => closedLoop(n, window, async (i) => (await adapter.send(reqs[i]!, Date.now() + 10_000)).outcome === 'delivered');
    };
    // 4. The floor: our HTTP/2 pool alone with prebuilt headers.
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
    // 5. @parse/node-apn, same notifications, same mock, same window.
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
      ns: 0,
      cpuSec: 0,
      mockCpuSec: 0,
      genCpuSec: 0,
      failed: 0,
    });
    const variants: Variant[] = [
      variant('mediator http→apns', () => procCpuSec(med.proc.child.pid!), viaProcess(med.port), 10_000_000),
      variant(`mediator http→apns, batches of ${batch}`, () => procCpuSec(med.proc.child.pid!), viaBatch(med.port), 12_000_000),
      variant('mediator edge only (no upstream)', () => procCpuSec(edge.proc.child.pid!), viaProcess(edge.port), 15_000_000),
      variant('apns adapter in-process', selfCpuSec, viaAdapter, 20_000_000),
      variant('h2 pool only (floor)', selfCpuSec, viaPool, 30_000_000),
      variant('node-apn', selfCpuSec, viaNodeApn, 40_000_000),
    ];
    phase('warming up');
    for (const v of variants) await (await v.prepare(warmN, 900_000))();
    const tSlices = opts.quick ? 1 : 5;
    const tPerSlice = Math.ceil(total / tSlices);
    for (let k = 0; k < tSlices; k++) {
      phase(`throughput slice ${k + 1}/${tSlices}`);
      for (const v of variants) {
        const go = await v.prepare(tPerSlice, k * tPerSlice);
        const m0 = procCpuSec(mock.child.pid!);
        const g0 = procCpuSec(gen.proc.child.pid!);
        const c0 = v.cpu();
        const r = await go();
        v.cpuSec += v.cpu() - c0;
        v.mockCpuSec += procCpuSec(mock.child.pid!) - m0;
        v.genCpuSec += procCpuSec(gen.proc.child.pid!) - g0;
        v.ns += r.ns;
        v.failed += r.failed;
      }
    }
    const n = tPerSlice * tSlices;
    const us = (sec: number) => Math.round((sec * 1e7) / n) / 10;
    const rows = variants.map((v) =>
      row(v.name, n, v.ns, v.cpuSec, { failed: v.failed, window, mockUs: us(v.mockCpuSec), ...(v.genCpuSec > 0.05 ? { loadgenUs: us(v.genCpuSec) } : {}) }),
    );
    withRatios(rows, 'node-apn');
    // The headline: how many times node-apn's pushes per CPU-second the mediator process does.
    rows[0]!.extra!.xNodeApn = `${(1 / rows[0]!.ratio!).toFixed(2)}x`;
    await adapter.close();
    await pool.close();
    await provider.shutdown();

    // Latency at a fixed rate, through the mediator (from the load generator) and straight
    // to the mock (our adapter, in-process), in interleaved slices after a warm-up at the rate.
    const rate = opts.quick ? 300 : 1000;
    const rateMs = opts.quick ? 500 : 5000;
    phase(`latency at ${rate}/s`);
    const slices = opts.quick ? 1 : 5;
    const perSlice = Math.round((rate * rateMs) / slices / 1000);
    const dAdapter = new ApnsAdapter({ app, log });
    const viaMediatorAt = (n: number, offset: number) => gen.prepare({ op: 'open', port: med.port, n, offset, rate, connections: 64 });
    const direct = (n: number, offset: number) =>
      openLoop(rate, (n * 1000) / rate, async (i) => {
        const t0 = process.hrtime.bigint();
        const res = await dAdapter.send(requestFor('NotifyIncomingCall', appId, token(offset + i)), Date.now() + 10_000);
        return { ok: res.outcome === 'delivered', latencyNs: Number(process.hrtime.bigint() - t0) };
      });
    await (await viaMediatorAt(Math.round(rate / 2), 55_000_000))();
    await direct(Math.round(rate / 2), 56_000_000);
    const lat = { latencies: [] as number[], failed: 0 };
    const dlat = { latencies: [] as number[], failed: 0 };
    for (let k = 0; k < slices; k++) {
      const a = await (await viaMediatorAt(perSlice, 50_000_000 + k * perSlice))();
      lat.latencies.push(...(a.latencies ?? []));
      lat.failed += a.failed;
      const b = await direct(perSlice, 60_000_000 + k * perSlice);
      dlat.latencies.push(...b.latencies);
      dlat.failed += b.failed;
    }
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
    return rows;
  } finally {
    await Promise.all(procs.reverse().map((p) => p.stop('SIGTERM', 5000)));
  }
}

const suite: BenchSuite = { name: 'mediator', run };
export default suite;
