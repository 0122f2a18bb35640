/**
 * Non-INVITE transactions per second on loopback, answered statefully:
 *   sipp (tx-register.xml, REGISTER → 200) → our stack (fixtures/ua-main.js, its own process)
 *   sipp (the same load)                    → Kamailio (stateful-200.cfg: t_newtran + t_reply, children=1)
 * measured in the same run, one after the other. Reported per server: requests per wall-clock
 * second and requests per CPU-second of the server's processes (all of Kamailio's: main, timer and
 * worker), so "per core" compares like with like on a shared machine; ratio = ours / Kamailio.
 * Bounded: `-m` requests (2,000 quick, 20,000 full) after a 2,000-request warm-up, `-l` 200
 * outstanding, `-timeout` 60 s.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startKamailioResponder, hasKamailio } from '../../fixtures/kamailio.js';
import { startProc } from '../../fixtures/proc.js';
import { hasSipp, runSipp } from '../../fixtures/sipp.js';
import { repoRoot } from '../../fixtures/paths.js';
import { loadRow, type BenchOptions, type BenchRow, type BenchSuite, type LoadMeasure } from '../lib.js';

const TICK = 100; // USER_HZ on Linux

/** utime+stime in seconds of `pid` and all its descendants. */
function cpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(join('/proc', d, 'stat'), 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICK });
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  const want = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, s] of stats) if (!want.has(p) && want.has(s.ppid)) (want.add(p), (grew = true));
  }
  for (const p of want) total += stats.get(p)?.cpu ?? 0;
  return total;
}

interface Measure {
  name: string;
  requests: number;
  wallS: number;
  cpuS: number;
  failed: number;
}

async function load(name: string, port: number, pid: number, n: number): Promise<Measure> {
  // Warm-up, not measured: Node's JIT (and Kamailio's first-use allocations) settle first.
  await (await runSipp({ scenario: 'tx-register.xml', remote: `127.0.0.1:${port}`, calls: Math.min(2000, n), rate: 50_000, limit: 200, timeoutS: 30 })).done;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const sipp = await runSipp({ scenario: 'tx-register.xml', remote: `127.0.0.1:${port}`, calls: n, rate: 50_000, limit: 200, timeoutS: 60 });
  const r = await sipp.done;
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = cpuSeconds(pid) - cpu0;
  return { name, requests: r.stats?.successful ?? 0, wallS, cpuS, failed: r.stats?.failed ?? n };
}

function row(m: Measure, base?: Measure): BenchRow {
  const measure = (x: Measure): LoadMeasure => ({ name: x.name, count: x.requests, wallS: x.wallS, cpuS: x.cpuS, failed: x.failed });
  return loadRow('transaction-loopback', measure(m), 'reqPerCpuS', base && measure(base));
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!hasSipp() || !hasKamailio()) {
    process.stderr.write('transaction-loopback: sipp or kamailio missing, skipped\n');
    return [];
  }
  const n = opts.quick ? 2_000 : 20_000;
  const kam = await startKamailioResponder(undefined, 1);
  let kamM: Measure;
  try {
    kamM = await load('Kamailio tm stateful 200 (children=1)', kam.port, kam.proc.child.pid!, n);
  } finally {
    await kam.stop();
  }
  const ua = startProc(process.execPath, [join(repoRoot, 'dist', 'fixtures', 'ua-main.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ourM: Measure;
  try {
    const line = await ua.waitFor(/listening \S+:(\d+)/);
    const port = Number(/:(\d+)$/.exec(line)![1]);
    ourM = await load('sipis UAS (1 Node process)', port, ua.child.pid!, n);
  } finally {
    await ua.stop();
  }
  return [row(kamM), row(ourM, kamM)];
}

const suite: BenchSuite = { name: 'transaction-loopback', run };
export default suite;
