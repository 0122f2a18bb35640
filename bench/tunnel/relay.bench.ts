/**
 * Calls per second tunnelled with the phone already awake: the relay's own cost.
 *
 *   sipp uac ──▶ sipis tunnel (bench/tunnel/sipis-child.js, one Node process) ──▶ sipp uas
 *   sipp uac ──▶ Kamailio (fixtures/kamailio/proxy.cfg, stateful record-routing proxy,
 *                children=1)                                                  ──▶ sipp uas
 *
 * measured in the same run, one after the other: the same call flow (fixtures/sipp/uac-call.xml
 * against uas-call.xml, which echoes Record-Route: INVITE, 100, 180, 200, ACK, BYE, 200; no hold
 * time), the same load (`-r` calls/s offered, `-l` concurrent), the server on a CPU of its own
 * (affinity.ts). Reported per server: calls per wall-clock second and per CPU-second of the
 * server's processes (all of Kamailio's), so "one core" compares like with like on a shared
 * machine. The B2BUA does more per call than the proxy (two dialogs, its own transactions on
 * each side, 7 messages in and 7 out): the ratio says how much more.
 * Bounded: a warm-up (150 calls quick, 300 full), then 300 calls (quick) or 6,000 (full),
 * `-timeout` 60 s.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasKamailio, startKamailio } from '../../fixtures/kamailio.js';
import { freeSipPort } from '../../fixtures/net.js';
import { startProc } from '../../fixtures/proc.js';
import { pinRelay } from './affinity.js';
import { childNodeArgs } from './child-node-args.js';
import { hasSipp, runSipp, type SippRun } from '../../fixtures/sipp.js';
import { loadRow, type BenchOptions, type BenchRow, type BenchSuite, type LoadMeasure } from '../lib.js';
import { measureLoad, type LoadResult } from '../load.js';

async function uas(port: number): Promise<SippRun> {
  const run = await runSipp({ scenario: 'uas-call.xml', localPort: port, timeoutS: 120 });
  await run.ready;
  return run;
}

async function calls(target: number, service: string, n: number, rate: number): Promise<LoadResult> {
  // uac-call.xml, not sipp's built-in uac: the built-in one ignores Record-Route, and the proxy
  // answers its in-dialog requests 404
  const run = await runSipp({ scenario: 'uac-call.xml', remote: `127.0.0.1:${target}`, service, calls: n, rate, limit: 200, timeoutS: 60, recvTimeoutMs: 10_000, extraArgs: ['-d', '0'] });
  const r = await run.done;
  return { ok: r.stats?.successful ?? 0, failed: r.stats?.failed ?? n };
}

/**
 * The relay (its whole process tree) on a CPU of its own and the sipp peers on the other(s), as
 * in tunnel-delay (affinity.ts): "on one core" literally. The row's name says when it was not.
 */
async function load(name: string, target: number, service: string, pid: number, n: number, rate: number): Promise<LoadMeasure> {
  const pin = pinRelay(pid);
  try {
    // warm-up: JIT, first allocations
    const m = await measureLoad(name, pid, () => calls(target, service, Math.min(300, n / 2), rate), () => calls(target, service, n, rate));
    return { ...m, name: `${name}${pin.label === 'no' ? ', not pinned' : ', on one CPU'}` };
  } finally {
    pin.release();
  }
}

const row = (m: LoadMeasure, base?: LoadMeasure): BenchRow => loadRow('tunnel-relay', m, 'callsPerCpuS', base);

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!hasSipp() || !hasKamailio()) {
    process.stderr.write('tunnel-relay: sipp or kamailio missing, skipped\n');
    return [];
  }
  const n = opts.quick ? 300 : 6_000;
  // offered load: above ~2,000/s the two sipp processes (caller, phone) saturate this 2-core box first
  const rate = opts.quick ? 1_000 : 1_500;

  const kamPhone = await freeSipPort();
  const phone1 = await uas(kamPhone);
  let kamM: LoadMeasure;
  // proxy.cfg as fixtures/kamailio.ts startKamailioProxy starts it, with 512 MB of shared
  // memory: tm keeps every transaction for its wait timer, and at these rates the default 64 MB
  // runs out (new_t: out of mem → 500), which would measure the fixture, not Kamailio
  const kamPort = await freeSipPort();
  const kam = await startKamailio({ cfg: 'proxy.cfg', defines: { SIP_LISTEN: `udp:127.0.0.1:${kamPort}`, NEXT_HOP: `"sip:127.0.0.1:${kamPhone}"` }, waitPorts: [kamPort], shmMb: 512 });
  try {
    kamM = await load('Kamailio proxy.cfg (stateful, record-route, children=1)', kamPort, 'bob', kam.proc.child.pid!, n, rate);
  } finally {
    await kam.stop();
    await phone1.stop();
  }

  const phonePort = await freeSipPort();
  const phone2 = await uas(phonePort);
  const child = startProc(process.execPath, [...childNodeArgs(), join(dirname(fileURLToPath(import.meta.url)), 'sipis-child.js'), '--phone', `127.0.0.1:${phonePort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ourM: LoadMeasure;
  try {
    const line = await child.waitFor(/listening \S+:(\d+)/);
    const port = Number(/:(\d+)$/.exec(line)![1]);
    ourM = await load('sipis tunnel B2BUA (1 Node process)', port, 'acc-1', child.child.pid!, n, rate);
  } finally {
    await child.stop();
    await phone2.stop();
  }
  return [row(kamM), row(ourM, kamM)];
}

const suite: BenchSuite = { name: 'tunnel-relay', run };
export default suite;
