/**
 * Load runs against a process under test: its CPU time read from /proc (it may fork workers, as
 * Kamailio does, so the whole process tree counts) around a bounded piece of work.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadMeasure } from './lib.js';

const TICK = 100; // USER_HZ on Linux

/** utime+stime in seconds of `pid` and all its descendants. */
export function cpuSeconds(pid: number): number {
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
  const want = new Set([pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [p, s] of stats) if (!want.has(p) && want.has(s.ppid)) (want.add(p), (grew = true));
  }
  let total = 0;
  for (const p of want) total += stats.get(p)?.cpu ?? 0;
  return total;
}

/** What a load generator reports: units of work completed and failed. */
export interface LoadResult {
  ok: number;
  failed: number;
}

/**
 * `warmUp` once (JIT, first allocations, caches), then `work` measured: wall time and the CPU
 * the process tree of `pid` spent meanwhile.
 */
export async function measureLoad(name: string, pid: number, warmUp: () => Promise<unknown>, work: () => Promise<LoadResult>): Promise<LoadMeasure> {
  await warmUp();
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const r = await work();
  const wallS = (performance.now() - t0) / 1000;
  return { name, count: r.ok, failed: r.failed, wallS, cpuS: cpuSeconds(pid) - cpu0 };
}
