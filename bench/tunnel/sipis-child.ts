#!/usr/bin/env node
/**
 * `node dist/bench/tunnel/sipis-child.js --phone HOST:PORT [--port 0]`: the call tunnel alone in
 * its own process (UDP transport, transaction layer, Tunnel), with the fakes of
 * core/tunnel/testing for its collaborators: one account (id 1, INVITEs to `acc-1@…`) whose one
 * device is awake at `--phone` (a binding without push target: "reachable now"). What the
 * loopback benchmark measures: the relay's own cost, one Node process, no database, no push.
 * Prints `listening HOST:PORT`; SIGTERM prints the counters (and with --timing the time sipis
 * held each datagram) as JSON and exits. SIGUSR2 starts the measured window: the timings, the
 * loop-lag histogram and the GC counters start again from there (warm-up left out).
 * It runs with the V8 settings of the sipis binary (core/server/v8-flags.ts); `--v8-defaults`
 * leaves V8's own, for comparison.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TransactionLayer } from '../../core/transaction/index.js';
import { UdpTransport } from '../../core/transport/index.js';
import { attachTunnel, createTunnel } from '../../core/tunnel/index.js';
import { applyV8Flags } from '../../core/server/v8-flags.js';
import { FakePush, FakeRegistrar, StaticAccounts } from '../../core/tunnel/testing/fakes.js';

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

// the V8 settings of the sipis binary (core/server/v8-flags.ts); --v8-defaults leaves V8's own (to compare)
if (!process.argv.includes('--v8-defaults')) applyV8Flags();
const phone = arg('phone');
if (!phone || !/^[\d.]+:\d+$/.test(phone)) {
  console.error('usage: sipis-child --phone HOST:PORT [--port 0]');
  process.exit(2);
}
// --timing: how long sipis held each datagram: from its arrival in JavaScript (the socket's
// 'message' event) until everything it caused was handed to the kernel (parse, transaction
// layer, tunnel, the relayed message built and sent). What it waited in the socket queue before
// that is not in here (bench/tunnel/delay.bench.ts takes it from kernel timestamps).
const held: number[] = [];
const timed = process.argv.includes('--timing') || process.argv.includes('--legs');
const onHandled = (t: number): void => {
  if (held.length < 2_000_000) held.push(performance.now() - t);
};
const transport = await UdpTransport.listen({
  listen: [{ host: '127.0.0.1', port: Number(arg('port', '0')) }],
  recvBufferSize: 8 << 20,
  sendBufferSize: 8 << 20,
  ...(timed ? { onHandled } : {}),
});
// 100 Trying at once, as sipp's and Kamailio's answers do (the loopback bench compares them);
// `--trying MS` for the production default (200: no 100 when the phone answers in time), which
// does not send a 100 ahead of the relayed INVITE
const layer = new TransactionLayer(transport, { timers: { trying: Number(arg('trying', '0')) } });
const registrar = new FakeRegistrar(() => '1');
registrar.add({ accountId: '1', instanceId: 'phone', contact: `sip:phone@${phone}`, path: [], flow: { transport: 'udp', source: phone, viaBridge: false, via: phone }, expiresAt: Date.now() + 86_400_000, pushTargets: [] });
const tunnel = createTunnel({
  layer,
  registrar,
  push: new FakePush(),
  accounts: new StaticAccounts([{ id: '1', aor: 'sip:alice@provider.test', authUser: 'alice', password: 'x', registrar: 'sip:127.0.0.1:9', enabled: true }]),
});
attachTunnel(layer, tunnel, (tx) => void tx.reply(403));

// --legs: for every received message stamped `X-Bench-T` (the sender's clock, ms since the
// epoch, from performance.timeOrigin: comparable across processes on one host), how long it
// took from the sender to the start of our handler: socket, scheduling, this loop's lag.
const legIn: number[] = [];
const legs = process.argv.includes('--legs');
if (legs) {
  transport.onMessage((msg, remote, local) => {
    // only the stamped messages count (no warm-up, no ACK or 100): both legs alike
    const sent = Number(msg.header('X-Bench-T'));
    if (Number.isFinite(sent) && legIn.length < 2_000_000) legIn.push(performance.timeOrigin + performance.now() - sent);
    layer.receive(msg, remote, local);
  });
}
const pct = (p: number, of: number[]): number => {
  const s = Float64Array.from(of).sort();
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : 0;
};
// how late this process's event loop runs (µs, beyond the sampling timer's own 10 ms): a datagram
// that arrives while the loop is busy (GC, a long task) or not scheduled waits about that long.
// A coarse timer on purpose: a 1 ms one would wake sipis 1000 times a second and perturb it.
const LAG_RES_MS = 10;
const lag = monitorEventLoopDelay({ resolution: LAG_RES_MS });
lag.enable();
// GC pauses in this process (ms): a datagram arriving during one waits for it to end
const gc = { count: 0, totalMs: 0, maxMs: 0 };
const gcObs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.count++;
    gc.totalMs += e.duration;
    if (e.duration > gc.maxMs) gc.maxMs = e.duration;
  }
});
gcObs.observe({ entryTypes: ['gc'] });
// each SIGUSR2 also prints a mark with the calls so far: bench/tunnel/gc.bench.ts reads the GC
// trace (--trace-gc-nvp) between two marks and divides by the calls between them
// --heap-sample FILE [--heap-sample-live]: V8's sampling heap profiler between the first two marks,
// written as a .heapprofile (Chrome DevTools). Without --heap-sample-live it keeps the samples of
// objects freed by a major GC (promoted, then dead: what costs a scavenger most) and leaves out
// those a scavenge freed; with it, a full GC first, so only what is still alive remains;
// --heap-sample-all keeps every sample (all allocations: the denominator of the other two).
const sampleFile = arg('heap-sample');
let sampling: Session | undefined;
let marks = 0;
const live = process.argv.includes('--heap-sample-live');
const all = process.argv.includes('--heap-sample-all');
async function heapSample(): Promise<void> {
  if (!sampleFile) return;
  if (marks === 1) {
    sampling = new Session();
    sampling.connect();
    await sampling.post('HeapProfiler.enable');
    await sampling.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: !live, includeObjectsCollectedByMinorGC: all } as object);
  } else if (marks === 2 && sampling) {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o: { type: string; execution: string }) => void;
    gc({ type: live ? 'major' : 'minor', execution: 'sync' });
    const { profile } = await sampling.post('HeapProfiler.stopSampling');
    writeFileSync(sampleFile, JSON.stringify(profile));
    console.log(`heap sample written to ${sampleFile}`);
  }
}
// calls in progress, sampled every 20 ms and printed with each mark (the mean since the last):
// a call alive at two scavenges in a row is promoted with all it holds, so this says whether
// promoted call state is explained by calls lasting long or by something retaining ended ones
let inflightSum = 0;
let inflightSamples = 0;
setInterval(() => {
  inflightSum += tunnel.size.incoming;
  inflightSamples++;
}, 20).unref();
process.on('SIGUSR2', () => {
  console.log(`mark calls=${tunnel.counters.callsIn} inflight=${inflightSamples ? (inflightSum / inflightSamples).toFixed(1) : 0}`);
  inflightSum = inflightSamples = 0;
  marks++;
  void heapSample();
  held.length = legIn.length = 0;
  lag.reset();
  gc.count = gc.totalMs = gc.maxMs = 0;
});
const ep = transport.endpoints[0]!;
console.log(`listening ${ep.address}:${ep.port}`);
process.on('SIGTERM', () => {
  const heldMs = held.length ? { count: held.length, p50: pct(50, held), p99: pct(99, held), max: pct(100, held) } : undefined;
  const legInMs = legIn.length ? { count: legIn.length, p50: pct(50, legIn), p99: pct(99, legIn), max: pct(100, legIn) } : undefined;
  const over = (ns: number): number => Math.max(0, Math.round(ns / 1e3 - LAG_RES_MS * 1e3));
  const loopLagUs = { p50: over(lag.percentile(50)), p99: over(lag.percentile(99)), max: over(lag.max) };
  console.log(JSON.stringify({ tunnel: tunnel.counters, loopLagUs, size: tunnel.size, layer: layer.counters, transport: transport.counters, heldMs, legInMs, gc, heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1e5) / 10, cpuS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e4) / 100 }));
  gcObs.disconnect();
  tunnel.close();
  layer.close();
  void transport.close().then(() => process.exit(0));
});
