#!/usr/bin/env node
/**
 * Reads what bench/tunnel/gc.bench.ts and its sipis child leave behind, per call:
 *
 *   node dist/bench/tunnel/heap-report.js profile FILE.heapprofile CALLS [DEPTH] [TOP]
 *     bytes per call by allocation site (DEPTH frames of the JS stack), from V8's sampling heap
 *     profile (sipis-child --heap-sample). Caveat: a full GC inside the window adds the young
 *     garbage of that moment to a "promoted" profile; read it only when majorGcs is 0.
 *   node dist/bench/tunnel/heap-report.js snapshot FILE.heapsnapshot CALLS [TOP]
 *     objects and bytes per call by type and constructor in a heap snapshot (sipis-child started
 *     with --heapsnapshot-signal=SIGHUP at the steady state: CALLS = the calls whose transactions
 *     linger, 32 s × rate).
 *
 * Both formats are Chrome DevTools' (V8's HeapProfiler).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  selfSize: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children: ProfileNode[];
}

/** bytes per call by the top `depth` frames of the allocating stack, largest first. */
export function profileBySite(profile: { head: ProfileNode }, calls: number, depth: number): Array<[string, number]> {
  const bySite = new Map<string, number>();
  const walk = (n: ProfileNode, stack: string[]): void => {
    const f = n.callFrame;
    const here = f.functionName === '(root)' ? stack : [`${f.functionName || '(anonymous)'}@${f.url.replace(/^.*?\/(core|bench|fixtures|node_modules)\//, '$1/')}:${f.lineNumber + 1}`, ...stack];
    if (n.selfSize > 0) {
      const k = here.slice(0, depth).join(' < ');
      bySite.set(k, (bySite.get(k) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(profile.head, []);
  return [...bySite].map(([k, v]): [string, number] => [k, v / calls]).sort((a, b) => b[1] - a[1]);
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** count and bytes per call by node type and name (strings and numbers grouped by type only). */
export function snapshotCensus(s: Snapshot, calls: number): Array<{ type: string; name: string; perCall: number; bytesPerCall: number }> {
  const f = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [iT, iN, iS, step] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size'), f.length];
  const agg = new Map<string, { type: string; name: string; count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += step) {
    const type = types[s.nodes[i + iT]!]!;
    const name = /string|number/.test(type) ? '' : s.strings[s.nodes[i + iN]!]!.slice(0, 60);
    const k = `${type}\t${name}`;
    let e = agg.get(k);
    if (!e) agg.set(k, (e = { type, name, count: 0, bytes: 0 }));
    e.count++;
    e.bytes += s.nodes[i + iS]!;
  }
  return [...agg.values()].map((e) => ({ type: e.type, name: e.name, perCall: e.count / calls, bytesPerCall: e.bytes / calls })).sort((a, b) => b.bytesPerCall - a.bytesPerCall);
}

function main(argv: string[]): number {
  const [what, file, callsArg, a3, a4] = argv;
  const calls = Number(callsArg);
  if ((what !== 'profile' && what !== 'snapshot') || !file || !(calls > 0)) {
    process.stderr.write('usage: heap-report profile FILE CALLS [DEPTH] [TOP] | heap-report snapshot FILE CALLS [TOP]\n');
    return 2;
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`heap-report: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  if (what === 'profile') {
    const rows = profileBySite(data as { head: ProfileNode }, calls, Number(a3 ?? 1));
    const total = rows.reduce((x, [, v]) => x + v, 0);
    process.stdout.write(`${Math.round(total)} bytes per call in all\n`);
    for (const [k, v] of rows.slice(0, Number(a4 ?? 40))) process.stdout.write(`${String(Math.round(v)).padStart(7)}  ${k}\n`);
  } else {
    const rows = snapshotCensus(data as Snapshot, calls);
    const total = rows.reduce((x, r) => x + r.bytesPerCall, 0);
    process.stdout.write(`${Math.round(total)} bytes per call in all\n`);
    for (const r of rows.slice(0, Number(a3 ?? 40))) process.stdout.write(`${String(Math.round(r.bytesPerCall)).padStart(7)}  ${r.perCall.toFixed(2).padStart(7)}  ${r.type} ${r.name}\n`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exitCode = main(process.argv.slice(2));
