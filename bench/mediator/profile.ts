#!/usr/bin/env node
/**
 * Where a sipis-mediator process spends its CPU under the benchmark's load: starts the mock
 * push services (fixtures/push/serve --lean, as the benchmark) and a mediator under `node --cpu-prof`, pushes N
 * NotifyIncomingCall requests through it with the benchmark's load generator, stops it, and
 * prints the profile as microseconds of CPU per push: self time by function, and inclusive
 * time of the stages of the hot path (edge, validation, payload, HTTP/2, TLS, GC, …).
 *
 *   node dist/bench/mediator/profile.js [--pushes 30000] [--window 256] [--top 40] [--keep DIR]
 *        [--edge [--defer]] [--perf] [--no-prof] [--node-arg X]… [--rate R [--seconds S]]
 *
 * The first tenth of the pushes warms the process up and is not measured (by perf and the
 * CPU clock; the V8 profile covers the whole life of the process, start-up included).
 * `--edge` profiles bench/mediator/edge-child (adapters answer at once: the HTTP edge alone;
 * `--defer` makes them answer from a later event-loop turn, as a real upstream answer does);
 * `--perf` adds a split of the measured part from Linux perf (all threads, kernel included;
 * see perf-split.ts: V8's profiler charges wall-clock time to JS frames); `--no-prof` only
 * measures the CPU per push; `--node-arg X` (repeatable) passes X to the
 * mediator's node (e.g. `--node-arg=--trace-gc`, `--node-arg=--heap-prof`; with
 * `--node-arg=--trace-gc-nvp` it prints the bytes the mediator allocated per push); `--rate R
 * [--seconds S]` adds an open loop at R pushes/s after the closed one (latency, worst moments).
 *
 * A tool, not a suite (the runner only loads *.bench.js): profiling slows the process down,
 * so its absolute numbers are above the benchmark's; the split is what it is for.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startProc } from '../../fixtures/proc.js';
import { requestFor } from '../../fixtures/push/requests.js';
import { perfSplit, startPerf } from './perf-split.js';
import { HttpLoad, closedLoop, openLoop, percentile, pushRequestBytes } from './loadgen.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Stages of the hot path, matched on any frame of a sample's stack (first match wins). */
const STAGES: Array<[string, (f: CallFrame) => boolean]> = [
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['logging (pino)', (f) => f.url.includes('/pino') || f.url.includes('sonic-boom')],
  ['metrics', (f) => f.url.endsWith('mediator/metrics.js')],
  ['JSON.parse (request body)', (f) => f.functionName === 'parse' && f.url === ''],
  ['validation', (f) => f.functionName === 'validatePushRequest' || f.url.endsWith('mediator/validate.js')],
  ['APNs payload + headers', (f) => f.url.endsWith('apns-payload.js') || f.functionName === 'buildApnsNotification'],
  ['JWT', (f) => f.url.endsWith('mediator/jwt.js') || f.url.endsWith('apns-auth.js')],
  ['TLS (node:tls/_tls_wrap)', (f) => /node:(internal\/)?(tls|_tls)/.test(f.url) || f.url.includes('_tls_')],
  ['HTTP/2 client (node:http2)', (f) => f.url.includes('internal/http2') || f.url.endsWith('mediator/h2pool.js') || f.url.includes('mediator/h2/')],
  ['net/streams', (f) => /node:(internal\/)?(net|stream|streams\/)/.test(f.url) || f.url.includes('internal/stream_base_commons')],
  ['timers', (f) => f.url.includes('internal/timers') || f.functionName === 'setTimeout' || f.functionName === 'clearTimeout'],
  ['HTTP edge (uWS + server.ts)', (f) => f.url.endsWith('mediator/server.js') || f.url.includes('uws') || f.url.includes('uWebSockets')],
  ['dispatcher/adapter', (f) => /mediator\/(dispatcher|apns|adapter)\.js$/.test(f.url)],
  ['promises/microtasks', (f) => f.functionName === 'processTicksAndRejections' || f.functionName === 'runMicrotasks'],
  ['(program: native, event loop)', (f) => f.functionName === '(program)'],
];

function analyse(p: CpuProfile, pushes: number, top: number): string {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const stage = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    const leaf = byId.get(p.samples[i]!)!;
    if (leaf.callFrame.functionName === '(idle)') continue;
    total += dt;
    const f = leaf.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(\.h\d|dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    // Stage: the first matching frame from the leaf up.
    let name = 'other JS';
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const fr = byId.get(id)!.callFrame;
      const hit = STAGES.find(([, m]) => m(fr));
      if (hit) {
        name = hit[0];
        break;
      }
    }
    stage.set(name, (stage.get(name) ?? 0) + dt);
  }
  const us = (v: number) => (v / pushes).toFixed(1).padStart(7);
  const pct = (v: number) => ((100 * v) / total).toFixed(1).padStart(5);
  const out = [`profiled CPU: ${(total / 1e6).toFixed(2)} s for ${pushes} pushes = ${(total / pushes).toFixed(1)} us/push (profiler overhead included)`, '', 'stage (leaf-most match)            us/push      %'];
  for (const [k, v] of [...stage].sort((a, b) => b[1] - a[1])) out.push(`  ${k.padEnd(32)} ${us(v)}  ${pct(v)}`);
  out.push('', `top ${top} functions by self time      us/push      %`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${us(v)}  ${pct(v)}  ${k}`);
  return out.join('\n');
}

/** User and system CPU seconds of a process, from /proc (clock ticks of 10 ms). */
function procCpu(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { pushes: { type: 'string', default: '30000' }, window: { type: 'string', default: '256' }, top: { type: 'string', default: '40' }, keep: { type: 'string' }, 'no-prof': { type: 'boolean' }, edge: { type: 'boolean' }, defer: { type: 'boolean' }, 'node-arg': { type: 'string', multiple: true }, rate: { type: 'string' }, seconds: { type: 'string', default: '5' }, perf: { type: 'boolean' } },
  });
  const pushes = Number(values.pushes);
  const window = Number(values.window);
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'sipis-medprof-'));
  const mock = startProc(process.execPath, [join(root, 'fixtures', 'push', 'serve.js'), '--no-record', '--lean']);
  try {
    const line = await mock.waitFor(/PUSH-ENV .*/, 30_000);
    const info = JSON.parse(line.slice('PUSH-ENV '.length)) as { appsFile: string; apiKey: string; apps: { apnsToken: string } };
    const prof = [...(values['no-prof'] ? [] : ['--cpu-prof', '--cpu-prof-dir', dir]), ...(values.perf ? ['--perf-basic-prof'] : []), ...(values['node-arg'] ?? [])];
    const spawnedAt = performance.now();
    const med = startProc(process.execPath, [...prof, values.edge ? join(root, 'bench', 'mediator', 'edge-child.js') : join(root, 'mediator', 'main.js'), '--apps', info.appsFile, '--port', '0', '--log-level', 'info', ...(values.defer ? ['--defer'] : [])], {
      env: { ...process.env, SIPIS_MEDIATOR_API_KEYS: info.apiKey, SIPIS_MEDIATOR_MAX_IN_FLIGHT: '50000' },
    });
    const l = await med.waitFor(/"port":\d+[^\n]*listening/, 30_000);
    const port = Number(/"port":(\d+)/.exec(l)![1]);
    const tok = (i: number) => (i.toString(16) + 'a'.repeat(64)).slice(0, 64);
    const reqs = Array.from({ length: pushes }, (_, i) => pushRequestBytes('127.0.0.1', info.apiKey, JSON.stringify(requestFor('NotifyIncomingCall', info.apps.apnsToken, tok(i)))));
    const load = new HttpLoad('127.0.0.1', port, window);
    await load.open();
    // Warm-up (JIT, connections) is part of the profile; keep N large so it does not matter.
    // perf from the second tenth of the run on: JIT warm-up is not what we look at.
    const warm = Math.floor(pushes / 10);
    await closedLoop(warm, window, async (i) => (await load.send(reqs[i]!)).status === 200);
    const perf = values.perf ? startPerf(med.child.pid!, join(dir, 'perf.data')) : undefined;
    const c0 = procCpu(med.child.pid!);
    const measured = pushes - warm;
    const r = await closedLoop(measured, window, async (i) => (await load.send(reqs[warm + i]!)).status === 200);
    const c1 = procCpu(med.child.pid!);
    await perf?.stop();
    const user = c1.user - c0.user;
    const sys = c1.sys - c0.sys;
    const cpu = user + sys;
    load.close();
    if (values.rate) {
      // Then an open loop at a fixed rate: latency percentiles, and the worst moments.
      const rate = Number(values.rate);
      const n = Math.round(rate * Number(values.seconds));
      const lreqs = Array.from({ length: n }, (_, i) => pushRequestBytes('127.0.0.1', info.apiKey, JSON.stringify(requestFor('NotifyIncomingCall', info.apps.apnsToken, tok(pushes + i)))));
      const lload = new HttpLoad('127.0.0.1', port, 64);
      await lload.open();
      const t0 = performance.now();
      const worst: Array<{ at: number; ms: number }> = [];
      const o = await openLoop(rate, (n * 1000) / rate, async (i) => {
        const a = await lload.send(lreqs[i]!);
        if (a.latencyNs > 5e6) worst.push({ at: Math.round(performance.now() - t0 - a.latencyNs / 1e6), ms: Math.round(a.latencyNs / 1e5) / 10 });
        return { ok: a.status === 200, latencyNs: a.latencyNs };
      });
      lload.close();
      const s = o.latencies.sort((a, b) => a - b);
      const ms = (v: number) => (v / 1e6).toFixed(2);
      process.stdout.write(`open loop ${rate}/s for ${values.seconds} s: p50 ${ms(percentile(s, 50))} ms, p99 ${ms(percentile(s, 99))} ms, max ${ms(s[s.length - 1] ?? 0)} ms, failed ${o.failed}\n`);
      if (worst.length) {
        // When the slow ones started, by 250 ms bucket (a burst after start, GC, a neighbour…).
        const buckets = new Map<number, number>();
        for (const w of worst) buckets.set(Math.floor(w.at / 250) * 250, (buckets.get(Math.floor(w.at / 250) * 250) ?? 0) + 1);
        process.stdout.write(`  over 5 ms: ${worst.length}; by start time (ms: count) ${[...buckets].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}:${v}`).join(' ')}\n`);
      }
      // With --node-arg=--trace-gc: the mediator's collections during the open loop, on the
      // same clock (its trace counts from its start, which is about when it was spawned).
      const from = t0 - spawnedAt;
      const during = [...med.output().matchAll(/\s(\d+) ms: (Scavenge|Mark-Compact)[^\n]*?, ([\d.]+) \/ [\d.]+ ms/g)]
        .map((m) => ({ at: Number(m[1]) - from, kind: m[2]!, ms: Number(m[3]) }))
        .filter((g) => g.at >= 0 && g.at <= (n * 1000) / rate + 100);
      if (during.length) process.stdout.write(`  mediator GC during it (at ms: kind pause): ${during.map((g) => `${Math.round(g.at)}:${g.kind === 'Scavenge' ? 'S' : 'MC'} ${g.ms}`).join(' ')}\n`);
    }
    process.stdout.write(
      `${measured} pushes (after ${warm} to warm up) in ${(r.ns / 1e9).toFixed(2)} s wall (${Math.round((measured * 1e9) / r.ns)}/s), failed ${r.failed}; mediator CPU ${cpu.toFixed(2)} s = ${((cpu * 1e6) / measured).toFixed(1)} us/push (user ${((user * 1e6) / measured).toFixed(1)}, system ${((sys * 1e6) / measured).toFixed(1)})\n`,
    );
    await med.stop('SIGTERM', 10_000);
    // With --node-arg=--trace-gc: how often the young generation filled up, and what it cost.
    const gc = { scavenges: 0, scavengeMs: 0, marks: 0, markMs: 0 };
    for (const m of med.output().matchAll(/(Scavenge|Mark-Compact)[^\n]*?, ([\d.]+) \/ [\d.]+ ms/g)) {
      if (m[1] === 'Scavenge') {
        gc.scavenges++;
        gc.scavengeMs += Number(m[2]);
      } else {
        gc.marks++;
        gc.markMs += Number(m[2]);
      }
    }
    if (gc.scavenges + gc.marks > 0) {
      process.stdout.write(
        `GC over the whole run: ${gc.scavenges} scavenges (${gc.scavengeMs.toFixed(0)} ms), ${gc.marks} mark-compacts (${gc.markMs.toFixed(0)} ms); ${((1000 * gc.scavengeMs + 1000 * gc.markMs) / pushes).toFixed(1)} us/push\n`,
      );
    }
    // With --node-arg=--trace-gc-nvp: bytes the mediator allocated (each collection reports what
    // was allocated since the previous one), over the whole run: deterministic, unlike timings.
    let allocated = 0;
    for (const m of med.output().matchAll(/\ballocated=(\d+)/g)) allocated += Number(m[1]);
    if (allocated > 0) process.stdout.write(`allocated by the mediator: ${(allocated / 1e6).toFixed(1)} MB over ${pushes} pushes (start-up and warm-up included) = ${Math.round(allocated / pushes)} bytes/push\n`);
    if (perf) process.stdout.write(perfSplit(join(dir, 'perf.data'), (cpu * 1e6) / measured) + '\n');
    if (!values['no-prof']) {
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no .cpuprofile in ${dir}; mediator output:\n${med.output()}`);
      const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      process.stdout.write(analyse(p, pushes, Number(values.top)) + '\n');
    }
  } finally {
    await mock.stop('SIGTERM', 5000);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
