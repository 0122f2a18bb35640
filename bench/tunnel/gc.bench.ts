/**
 * What the relay costs the young-generation GC (issue 8): the p99 delay sipis adds at 500
 * calls/s is set by scavenges, whose pause grows with what survives them. Wall-time rows swing
 * with whatever else the machine runs; these counters do not: bytes promoted per call, scavenges
 * and their summed pause per 1000 calls, read from V8's own trace (`--trace-gc-nvp`) of the
 * sipis child (bench/tunnel/sipis-child.js, production 100 Trying timer) while sipp runs calls
 * through it to a sipp phone, as bench/tunnel/delay.bench.ts does.
 *
 * Full: 35 s of warm-up (Timers J/L/M, 32 s, reach their steady state: every scavenge then sees
 * as many lingering transactions as it ever will), then a 10 s window between two marks the child
 * prints on SIGUSR2 with its call count; once with calls hung up at once, once with calls held
 * 5 s, and once more hung up at once with V8's default settings instead of the sipis binary's
 * (core/server/v8-flags.ts): the peer of the first row. Quick: 2 s + 2 s, no steady state (CI:
 * it still runs).
 *
 * The child's other probes (bench/tunnel/sipis-child.ts): --heap-sample FILE writes V8's sampling
 * heap profile over the window (objects promoted then freed by a full GC, or with
 * --heap-sample-live what still lives); SIPIS_GC_TRACE_OUT keeps the raw trace; see
 * bench/tunnel/heap-report.ts to read profiles and snapshots.
 *
 * `SIPIS_BENCH_NODE_ARGS` adds node flags to the child (e.g. --max-semi-space-size=N).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeSipPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { startProc } from '../../fixtures/proc.js';
import { hasSipp, runSipp } from '../../fixtures/sipp.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';
import { childNodeArgs } from './child-node-args.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface GcEvent {
  /** 's' scavenge, 'mc' mark-compact, 'mmc' minor mark-compact … as V8 names them. */
  kind: string;
  pauseMs: number;
  promoted: number;
  survived: number;
  allocated: number;
}

export interface GcWindow {
  calls: number;
  /** mean calls in progress over the window (the child samples every 20 ms). */
  inflight: number;
  events: GcEvent[];
}

/** The GC events between the first two `mark calls=N` lines of a child's output. */
export function gcWindow(output: string): GcWindow | undefined {
  const events: GcEvent[] = [];
  const marks: number[] = [];
  let inflight = 0;
  for (const line of output.split('\n')) {
    const m = /^mark calls=(\d+)(?: inflight=([\d.]+))?/.exec(line);
    if (m) {
      marks.push(Number(m[1]));
      inflight = Number(m[2] ?? 0);
      if (marks.length === 2) break;
      continue;
    }
    if (marks.length !== 1 || !line.includes(' pause=')) continue;
    const num = (k: string): number => Number(new RegExp(`\\b${k}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    events.push({ kind: /\bgc=(\w+)/.exec(line)?.[1] ?? '?', pauseMs: num('pause'), promoted: num('promoted'), survived: num('new_space_survived'), allocated: num('allocated') });
  }
  return marks.length === 2 ? { calls: marks[1]! - marks[0]!, inflight, events } : undefined;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

/** sipp → sipis-child (GC traced) → sipp at `rate` calls/s; the GC events of the last `measureS`. */
export async function traceWindow(rate: number, warmS: number, measureS: number, childArgs: string[] = [], holdMs = 0): Promise<GcWindow | undefined> {
  const phonePort = await freeSipPort();
  const uas = await runSipp({ scenario: 'uas-call.xml', localPort: phonePort, timeoutS: warmS + measureS + 60 });
  const child = startProc(process.execPath, ['--trace-gc-nvp', ...childNodeArgs(childArgs), join(here, 'sipis-child.js'), '--phone', `127.0.0.1:${phonePort}`, '--trying', '200', ...childArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await uas.ready;
    const line = await child.waitFor(/listening \S+:(\d+)/);
    const port = Number(/:(\d+)$/.exec(line)![1]);
    const uac = await runSipp({
      scenario: join(repoRoot, 'bench', 'tunnel', 'uac-call-stamped.xml'),
      remote: `127.0.0.1:${port}`,
      service: 'acc-1',
      calls: Math.round(rate * (warmS + measureS + 1)),
      rate,
      // the calls in progress at once: a held call (holdMs between ACK and BYE) counts too
      limit: 200 + Math.ceil((rate * holdMs) / 1000),
      timeoutS: warmS + measureS + 60,
      recvTimeoutMs: 10_000 + holdMs,
      extraArgs: ['-d', String(holdMs)],
    });
    await new Promise((r) => setTimeout(r, warmS * 1000));
    child.child.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, measureS * 1000));
    child.child.kill('SIGUSR2');
    await child.waitFor(/mark calls=\d+[\s\S]*mark calls=\d+/, 5000).catch(() => undefined);
    if (childArgs.includes('--heap-sample')) await child.waitFor(/heap sample written/, 60_000).catch(() => undefined);
    await uac.stop();
    return gcWindow(child.output());
  } finally {
    await child.stop();
    // SIPIS_GC_TRACE_OUT=FILE keeps the child's whole output (the raw V8 trace, its exit report)
    if (process.env.SIPIS_GC_TRACE_OUT) writeFileSync(process.env.SIPIS_GC_TRACE_OUT, child.output());
    await uas.stop();
  }
}

export function gcRow(rate: number, w: GcWindow, holdMs = 0, note = ''): BenchRow {
  const sc = w.events.filter((e) => e.kind === 's');
  const major = w.events.filter((e) => e.kind !== 's');
  const pauses = sc.map((e) => e.pauseMs).sort((a, b) => a - b);
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  const calls = Math.max(1, w.calls);
  const promoted = sum(sc.map((e) => e.promoted));
  return {
    suite: 'tunnel-gc',
    name: `young-gen GC per call, ${rate} calls/s${holdMs ? `, calls held ${holdMs / 1000} s` : ''}${note} (V8 trace of the sipis child)`,
    medianNs: pct(pauses, 50) * 1e6,
    opsPerSec: 0,
    samples: sc.length,
    extra: {
      calls: w.calls,
      callsInProgress: w.inflight,
      promotedBytesPerCall: Math.round(promoted / calls),
      survivedBytesPerCall: Math.round(sum(sc.map((e) => e.survived)) / calls),
      allocatedBytesPerCall: Math.round(sum(sc.map((e) => e.allocated)) / calls),
      scavengesPer1000Calls: Math.round((sc.length / calls) * 10000) / 10,
      scavengeMsPer1000Calls: Math.round((sum(pauses) / calls) * 10000) / 10,
      scavengeP50us: Math.round(pct(pauses, 50) * 1000),
      scavengeMaxUs: Math.round(pct(pauses, 100) * 1000),
      majorGcs: major.length,
      majorGcMaxUs: Math.round(Math.max(0, ...major.map((e) => e.pauseMs)) * 1000),
    },
  };
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!hasSipp()) {
    process.stderr.write('tunnel-gc: sipp unavailable, skipped\n');
    return [];
  }
  const rate = 500;
  const rows: BenchRow[] = [];
  // full: also calls held 5 s (2,500 established at once): what an established call keeps is
  // promoted with it, which calls hung up at once do not show; and the peer without the V8
  // settings of the sipis binary (core/server/v8-flags.ts), measured in the same run
  const runs: Array<{ holdMs: number; args: string[]; note: string }> = [{ holdMs: 0, args: [], note: '' }];
  if (!opts.quick) runs.push({ holdMs: 0, args: ['--v8-defaults'], note: ', V8 defaults (no --no-allocation-site-pretenuring, no --single-threaded-gc)' }, { holdMs: 5000, args: [], note: '' });
  for (const r of runs) {
    const w = await traceWindow(rate, opts.quick ? 2 : 35, opts.quick ? 2 : 10, r.args, r.holdMs);
    if (!w) process.stderr.write('tunnel-gc: the child printed no window marks\n');
    else rows.push(gcRow(rate, w, r.holdMs, r.note));
  }
  return rows;
}

const suite: BenchSuite = { name: 'tunnel-gc', run };
export default suite;
