#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [--json] [filter…]`: finds every compiled `*.bench.js` under
 * dist/bench, runs the suites whose name contains one of the filters (all when none),
 * and prints one table (or JSON with --json). Exits 1 when a suite throws, so CI notices a
 * benchmark that broke.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatTable, type BenchRow, type BenchSuite } from './lib.js';

async function findBenchFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findBenchFiles(p)));
    else if (e.name.endsWith('.bench.js')) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log('usage: npm run bench -- [--quick] [--json] [suite-filter ...]');
    return 0;
  }
  const quick = args.includes('--quick');
  const json = args.includes('--json');
  const filters = args.filter((a) => !a.startsWith('--'));
  const here = dirname(fileURLToPath(import.meta.url));
  const rows: BenchRow[] = [];
  let failed = 0;
  for (const file of await findBenchFiles(here)) {
    let suite: BenchSuite | undefined;
    try {
      suite = ((await import(pathToFileURL(file).href)) as { default?: BenchSuite }).default;
    } catch (err) {
      // A module that does not load is a broken benchmark: report it, run the others.
      failed++;
      console.error(`bench module ${file} failed to load:`, err);
      continue;
    }
    if (!suite || typeof suite.run !== 'function') continue;
    if (filters.length && !filters.some((f) => suite.name.includes(f))) continue;
    try {
      if (!json) process.stderr.write(`running ${suite.name}${quick ? ' (quick)' : ''}…\n`);
      rows.push(...(await suite.run({ quick, json })));
    } catch (err) {
      failed++;
      console.error(`bench suite ${suite.name} failed:`, err);
    }
  }
  if (json) console.log(JSON.stringify(rows, null, 2));
  else console.log(formatTable(rows));
  return failed ? 1 : 0;
}

process.exitCode = await main();
