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
import { fileURLToPath } from 'node:url';
import { startKamailioResponder, hasKamailio } from '../../fixtures/kamailio.js';
import { startProc } from '../../fixtures/proc.js';
import { hasSipp, runSipp } from '../../fixtures/sipp.js';
import { loadRow, type BenchOptions, type BenchRow, type BenchSuite, type LoadMeasure } from '../lib.js';
import { measureLoad, type LoadResult } from '../load.js';

/** REGISTERs through sipp against `port` (a warm-up run first: Node's JIT and Kamailio's first-use allocations settle). */
function load(name: string, port: number, pid: number, n: number): Promise<LoadMeasure> {
  const register = async (calls: number, timeoutS: number): Promise<LoadResult> => {
    const r = await (await runSipp({ scenario: 'tx-register.xml', remote: `127.0.0.1:${port}`, calls, rate: 50_000, limit: 200, timeoutS })).done;
    return { ok: r.stats?.successful ?? 0, failed: r.stats?.failed ?? calls };
  };
  return measureLoad(name, pid, () => register(Math.min(2000, n), 30), () => register(n, 60));
}

const row = (m: LoadMeasure, base?: LoadMeasure): BenchRow => loadRow('transaction-loopback', m, 'reqPerCpuS', base);

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!hasSipp() || !hasKamailio()) {
    process.stderr.write('transaction-loopback: sipp or kamailio missing, skipped\n');
    return [];
  }
  const n = opts.quick ? 2_000 : 20_000;
  const kam = await startKamailioResponder(undefined, 1);
  let kamM: LoadMeasure;
  try {
    kamM = await load('Kamailio tm stateful 200 (children=1)', kam.port, kam.proc.child.pid!, n);
  } finally {
    await kam.stop();
  }
  const ua = startProc(process.execPath, [fileURLToPath(new URL('../../fixtures/ua-main.js', import.meta.url)), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ourM: LoadMeasure;
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
