/**
 * Instructions per call by function, JIT code included: callgrind counts machine instructions
 * by address, and node's --perf-basic-prof map names the address ranges of the code V8
 * generated (optimized functions show as `JS:*name file:line`). Two runs of count-parse.ts
 * that differ only in their number of calls give, function by function, the cost of the
 * extra calls (start-up, warm-up and compilation cancel out; GC does not quite, see `core`).
 *
 *   node .hN/bench/sip/callgrind-functions.js <a.out> <a.map> <b.out> <b.map> <calls b - a>
 *
 * bench/sip/callgrind.sh runs it with FUNCTIONS=1. The callgrind files must be written with
 * --dump-instr=yes --compress-pos=no --compress-strings=no.
 */
import { readFileSync } from 'node:fs';

interface Range {
  start: number;
  size: number;
  name: string;
}

function loadMap(path: string): Range[] {
  const out: Range[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a < 0 || b < 0) continue;
    out.push({ start: parseInt(line.slice(0, a), 16), size: parseInt(line.slice(a + 1, b), 16), name: line.slice(b + 1).replace(/file:\/\/\S*?\/(core|bench)\//, '$1/') });
  }
  return out.sort((x, y) => x.start - y.start);
}

function nameAt(map: Range[], addr: number): string | undefined {
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid]!.start <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  const r = map[hi];
  return r !== undefined && addr < r.start + r.size ? r.name : undefined;
}

/** Self cost by function name: JIT addresses named by the map, the rest by callgrind's fn=. */
function load(outPath: string, mapPath: string): Map<string, number> {
  const map = loadMap(mapPath);
  const cost = new Map<string, number>();
  let ob = '';
  let fn = '';
  let skip = false;
  for (const line of readFileSync(outPath, 'utf8').split('\n')) {
    if (line.startsWith('ob=')) ob = line.slice(3);
    else if (line.startsWith('fn=')) fn = line.slice(3);
    else if (line.startsWith('calls=')) skip = true;
    else if (line.startsWith('0x')) {
      // the line after calls= is the inclusive cost of that call: not this function's own
      if (skip) {
        skip = false;
        continue;
      }
      const [addr, , ir] = line.split(' ');
      const jit = ob === '' || ob.includes('???');
      const name = (jit ? nameAt(map, parseInt(addr!, 16)) : undefined) ?? `${ob.slice(ob.lastIndexOf('/') + 1)}:${fn.slice(0, 90)}`;
      cost.set(name, (cost.get(name) ?? 0) + Number(ir));
    } else skip = false;
  }
  return cost;
}

const [aOut, aMap, bOut, bMap, calls] = process.argv.slice(2);
if (calls === undefined) {
  console.error('usage: callgrind-functions <a.out> <a.map> <b.out> <b.map> <calls b - a>');
  process.exit(2);
}
const a = load(aOut!, aMap!);
const b = load(bOut!, bMap!);
const n = Number(calls);
const rows: Array<[string, number]> = [];
for (const k of new Set([...a.keys(), ...b.keys()])) rows.push([k, ((b.get(k) ?? 0) - (a.get(k) ?? 0)) / n]);
rows.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
const total = rows.reduce((s, [, v]) => s + v, 0);
// GC, the compiler and start-up work vary between two runs by more than a call costs
const NOISE = ['sprp', 'IterateObjectCache', 'RootScavenge', 'compiler::', 'HashSeed', 'Scavenger', 'Heap::', 'Deserializer', 'Scanner', 'Parser', 'AstValue'];
const core = rows.filter(([k]) => !NOISE.some((x) => k.includes(x))).reduce((s, [, v]) => s + v, 0);
console.log(`total ${total.toFixed(0)} instructions per call; core (without GC, compiler, start-up) ${core.toFixed(0)}`);
for (const [k, v] of rows.slice(0, 40)) console.log(`${v.toFixed(0).padStart(8)} ${((100 * v) / total).toFixed(1).padStart(5)}% ${k.slice(0, 140)}`);
