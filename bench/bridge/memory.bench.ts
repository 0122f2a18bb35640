/**
 * Memory per idle phone connection held by sipis-bridge: the real binary, each bridge its own
 * process, the clients in other processes (`idle-clients.ts`). TLS is the case that matters
 * (issue 7 target: under 20 KiB per idle TLS connection): node:tls for TLS, uWebSockets.js for
 * WSS; TCP is shown for reference.
 *
 * Rows (full mode): 10 000 connections of each kind in one bridge process (TLS also with the
 * opt-in `--tls-max-version 1.2`), then 50 000 TLS
 * connections over three bridge processes of 16 667 each (a process cannot hold 50 000 here:
 * the hard RLIMIT_NOFILE is 20 000 and an unprivileged process cannot raise it), the clients
 * spread over six processes and six loopback source addresses (127.0.0.2 …: one source address
 * has only ~28 000 ephemeral ports). The 50 000 row is the sum of the three processes' figures
 * (their per-process rows follow it). Quick mode (CI) holds 2 000 of each kind in one process.
 *
 * The figure: each bridge runs with its default limits (idle and handshake timeouts are sweeps,
 * not a timer per connection). Before and after opening the connections the bridge runs two
 * full GCs (a hook loaded with `--import` for this benchmark only: SIGUSR2 → `gc()`, then it
 * writes its V8 figures to a file) and the bench reads its VmRSS. Per connection =
 * (held after − held before) / N, where held = VmRSS − the free part of V8's young generation.
 * Why not plain RSS: a burst of handshakes grows V8's young generation (semi-spaces) to 16 MiB
 * each, a size set by the allocation rate, not by the connections held; V8's memory reducer
 * gives it back some ten seconds after the burst (measured: RSS −8 MB at 2 000 connections,
 * old space unchanged), but a forced GC does not, and waiting for the reducer is not
 * deterministic. The plain RSS delta is reported beside it (`rawKibPerConn`). N is the number
 * of connections the bridge reports holding (its admin /metrics gauge) once all are open.
 *
 * What an idle TLS connection is made of is in the comment at the top of bridge/stream.ts.
 *
 *   npm run bench -- bridge-memory          npm run bench -- --quick bridge-memory
 */
import { readFileSync, rmSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort } from '../../fixtures/net.js';
import { startProc, type Proc } from '../../fixtures/proc.js';
import { writeTestCerts, type TestCertFiles } from '../../fixtures/tls/certs.js';
import type { BenchRow, BenchSuite } from '../lib.js';
import type { IdleClientsSpec } from './idle-clients.js';
import { rssKiB } from './load.js';
import { waitTcp } from './relay.bench.js';

const here = dirname(fileURLToPath(import.meta.url));
/** the compiled binary next to this bench (works from any --outDir). */
const BRIDGE_MAIN = join(here, '..', '..', 'bridge', 'main.js');
const IDLE_CLIENTS = join(here, 'idle-clients.js');

type Kind = 'tls' | 'tcp' | 'wss';

/** Loaded into each bridge for this benchmark only (node --expose-gc --import). */
const GC_HOOK =
  'data:text/javascript,' +
  encodeURIComponent(
    `import { writeFileSync } from 'node:fs'; import v8 from 'node:v8';
process.on('SIGUSR2', () => { globalThis.gc(); setTimeout(() => { globalThis.gc();
  const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  writeFileSync(process.env.SIPIS_BENCH_MEM_FILE, JSON.stringify({ heapUsed: process.memoryUsage().heapUsed, youngFree: ns.physical_space_size - ns.space_used_size }));
}, 100); });`,
  );

function fdLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

function ephemeralPorts(): number {
  const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return (hi ?? 60999) - (lo ?? 32768) + 1;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  /** VmRSS, KiB */
  rss: number;
  /** RSS less the free part of V8's young generation, KiB */
  held: number;
  heapUsed: number;
}

interface Bridge {
  proc: Proc;
  kind: Kind;
  port: number;
  adminPort: number;
  memFile: string;
}

/** Open phone connections the bridge itself counts (its admin /metrics gauge). */
async function heldByBridge(b: Bridge): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${b.adminPort}/metrics`)).text();
  const m = new RegExp(`sipis_bridge_connections\\{transport="${b.kind}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

async function startBridge(kind: Kind, certs: TestCertFiles, dir: string, i: number, extraArgs: string[]): Promise<Bridge> {
  const port = await freeTcpPort();
  const adminPort = await freeTcpPort();
  const memFile = join(dir, `mem-${i}.json`);
  const proc = startProc(
    process.execPath,
    ['--expose-gc', '--import', GC_HOOK, BRIDGE_MAIN, `--${kind}`, `127.0.0.1:${port}`, '--tls-cert', certs.cert, '--tls-key', certs.key,
      '--udp', '127.0.0.1:0', '--backend', '127.0.0.1:9', '--log-level', 'warn', '--max-conns-per-ip', '1000000', '--probe-interval', '60000',
      // opening 50 000 TLS connections takes minutes on a loaded 2-core machine: the default
      // 5-minute idle timeout would close the first ones before the measurement (the timeout
      // is one sweep per listener, so its value costs nothing per connection; 15 minutes is
      // uWebSockets.js's maximum). The count the bridge reports is checked after opening.
      '--idle-timeout', '900000', '--admin', `127.0.0.1:${adminPort}`, ...extraArgs],
    { env: { ...process.env, SIPIS_BENCH_MEM_FILE: memFile } },
  );
  try {
    await waitTcp(port);
  } catch (err) {
    await proc.stop();
    throw new Error(`bridge did not start: ${(err as Error).message}\n${proc.output()}`);
  }
  return { proc, kind, port, adminPort, memFile };
}

/** Two full GCs in the bridge, then its RSS and young-generation slack. */
async function sample(b: Bridge): Promise<Sample> {
  rmSync(b.memFile, { force: true });
  process.kill(b.proc.child.pid!, 'SIGUSR2');
  const end = Date.now() + 10_000;
  while (!existsSync(b.memFile)) {
    if (Date.now() > end) throw new Error('bridge did not answer the memory probe');
    await settle(50);
  }
  await settle(50); // the file is written in one call; give it a moment to be complete
  const v8 = JSON.parse(readFileSync(b.memFile, 'utf8')) as { heapUsed: number; youngFree: number };
  const rss = rssKiB(b.proc.child.pid!);
  return { rss, held: rss - v8.youngFree / 1024, heapUsed: v8.heapUsed / 1024 };
}

interface Clients {
  proc: Proc;
  ready: Promise<number>;
}

function startClients(spec: IdleClientsSpec): Clients {
  const proc = startProc(process.execPath, [IDLE_CLIENTS, JSON.stringify(spec)]);
  const ready = proc.waitFor(/(READY \d+|FAIL .*)/, 600_000).then((line) => {
    if (line.startsWith('FAIL')) throw new Error(`idle clients: ${line}`);
    return Number(line.split(' ')[1]);
  });
  return { proc, ready };
}

async function stopClients(c: Clients): Promise<void> {
  c.proc.child.stdin?.end();
  await Promise.race([c.proc.exited, settle(10_000)]);
  await c.proc.stop();
}

interface Measured {
  n: number;
  before: Sample;
  after: Sample;
}

function row(name: string, kind: Kind, m: Measured, openS: number, extra: Record<string, string> = {}): BenchRow {
  // samples = connections the bridge reported holding (what the figures are divided by)
  const per = (a: number, b: number) => ((a - b) / m.n).toFixed(1);
  return {
    suite: 'bridge-memory',
    name,
    medianNs: 0,
    opsPerSec: openS > 0 ? m.n / openS : 0,
    samples: m.n,
    extra: {
      kibPerConn: per(m.after.held, m.before.held),
      rawKibPerConn: per(m.after.rss, m.before.rss),
      heapKibPerConn: per(m.after.heapUsed, m.before.heapUsed),
      rssBeforeMiB: (m.before.rss / 1024).toFixed(1),
      rssAfterMiB: (m.after.rss / 1024).toFixed(1),
      target: kind === 'tcp' ? '-' : '< 20 KiB',
      ...extra,
    },
  };
}

/**
 * Starts `processes` bridges, opens `n` idle connections spread evenly over them (two client
 * processes per bridge, each from its own source address), and measures every bridge.
 */
async function measure(kind: Kind, n: number, processes: number, certs: TestCertFiles, quick: boolean, extraArgs: string[] = []): Promise<{ per: Measured[]; openS: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sipis-bridge-mem-'));
  const bridges: Bridge[] = [];
  const clients: Clients[] = [];
  try {
    for (let i = 0; i < processes; i++) bridges.push(await startBridge(kind, certs, dir, i, extraArgs));
    // warm-up: the first connections pay for code loading, JIT and TLS context set-up
    const warm = bridges.map((b) => startClients({ kind, port: b.port, n: quick ? 100 : 200, caFile: certs.ca }));
    await Promise.all(warm.map((c) => c.ready));
    await Promise.all(warm.map(stopClients));
    await settle(1000);
    const before = await Promise.all(bridges.map(sample));
    const t0 = Date.now();
    const counts: number[] = [];
    bridges.forEach((b, i) => {
      const share = Math.floor(n / processes) + (i < n % processes ? 1 : 0);
      counts.push(share);
      const halves = processes > 1 ? [Math.ceil(share / 2), Math.floor(share / 2)] : [share];
      halves.forEach((h, j) => {
        const src = processes > 1 ? [`127.0.0.${2 + i * 2 + j}`] : undefined;
        // 50 handshakes in flight per client process: with six of them on two cores, more
        // would queue for longer than the header timeout under load
        clients.push(startClients({ kind, port: b.port, n: h, caFile: certs.ca, localAddresses: src, batch: processes > 1 ? 50 : 100 }));
      });
    });
    const opened = (await Promise.all(clients.map((c) => c.ready))).reduce((a, b) => a + b, 0);
    const openS = (Date.now() - t0) / 1000;
    if (opened !== n) throw new Error(`opened ${opened} of ${n} connections`);
    await settle(quick ? 500 : 2000);
    const after = await Promise.all(bridges.map(sample));
    // divide by what the bridge itself holds: under heavy load a handshake can outlast the
    // header timeout after the client already saw its end (TLS 1.3: the client finishes first)
    const held = await Promise.all(bridges.map(heldByBridge));
    held.forEach((h, i) => {
      if (h < counts[i]! * 0.99) throw new Error(`bridge ${i + 1} holds ${h} connections of ${counts[i]} opened`);
    });
    return { per: bridges.map((_, i) => ({ n: held[i]!, before: before[i]!, after: after[i]! })), openS };
  } finally {
    await Promise.all(clients.map(stopClients));
    await Promise.all(bridges.map((b) => b.proc.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function sum(ms: Measured[]): Measured {
  const add = (k: 'before' | 'after') => ({
    rss: ms.reduce((a, m) => a + m[k].rss, 0),
    held: ms.reduce((a, m) => a + m[k].held, 0),
    heapUsed: ms.reduce((a, m) => a + m[k].heapUsed, 0),
  });
  return { n: ms.reduce((a, m) => a + m.n, 0), before: add('before'), after: add('after') };
}

const suite: BenchSuite = {
  name: 'bridge-memory',
  async run(opts) {
    const certs = writeTestCerts();
    const rows: BenchRow[] = [];
    const single = opts.quick ? 2000 : 10_000;
    try {
      for (const kind of ['tls', 'wss', 'tcp'] as const) {
        const { per, openS } = await measure(kind, single, 1, certs, opts.quick);
        const name = `idle ${kind.toUpperCase()} connections held: ${single}, 1 process${opts.quick ? ' (quick; full mode: 10000, and TLS 50000 over 3 processes)' : ''}`;
        rows.push(row(name, kind, per[0]!, openS));
      }
      if (!opts.quick) {
        // the operator's opt-in trade-off (bridge/README.md): TLS 1.2 keeps less per connection
        const { per, openS } = await measure('tls', single, 1, certs, false, ['--tls-max-version', '1.2']);
        rows.push(row(`idle TLS connections held: ${single}, 1 process, --tls-max-version 1.2 (opt-in)`, 'tls', per[0]!, openS));
        const n = 50_000;
        const processes = 3;
        const perProcess = Math.ceil(n / processes);
        const name = `idle TLS connections held: ${n}, ${processes} processes × ${perProcess}`;
        const limit = fdLimit();
        if (perProcess + 200 > limit || Math.ceil(perProcess / 2) > ephemeralPorts()) {
          rows.push({ suite: 'bridge-memory', name, medianNs: 0, opsPerSec: 0, samples: 0, extra: { skipped: `fd limit ${limit} or ${ephemeralPorts()} ephemeral ports too few for ${perProcess} per process` } });
        } else {
          const { per, openS } = await measure('tls', n, processes, certs, false);
          rows.push(row(name, 'tls', sum(per), openS, { fdLimitPerProcess: String(limit) }));
          per.forEach((m, i) => rows.push(row(`  … process ${i + 1} of ${processes}: ${m.n} TLS connections`, 'tls', m, 0)));
        }
      }
    } finally {
      certs.remove();
    }
    return rows;
  },
};

export default suite;
