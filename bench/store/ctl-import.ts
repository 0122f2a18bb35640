#!/usr/bin/env node
/**
 * End-to-end provisioning through the sipis-ctl binary against a throw-away cluster:
 * import N accounts from JSON Lines, page through them with `account list`, run `status`.
 *
 *   npx tsc -p . && node dist/bench/store/ctl-import.js [N=100000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../fixtures/paths.js';
import { startPostgres } from '../../fixtures/postgres.js';

const N = Number(process.argv[2] ?? 100_000);
const ctl = join(repoRoot, 'dist', 'tools', 'sipis-ctl.js');
const pg = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), 'sipis-ctl-bench-'));
try {
  const key = execFileSync(process.execPath, [ctl, 'db', 'gen-key', '--id', 'k1']).toString().trim();
  const env = { ...process.env, SIPIS_DB_URL: pg.url, SIPIS_SECRET_KEY: key };
  const run = (args: string[]) => execFileSync(process.execPath, [ctl, ...args], { env, maxBuffer: 1 << 28 }).toString();
  run(['db', 'migrate']);
  const file = join(dir, 'accounts.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(JSON.stringify({ aor: `sip:u${i}@import.example`, password: `pw-${i}` }));
  writeFileSync(file, lines.join('\n') + '\n');
  let t = Date.now();
  const out = run(['account', 'import', file]).trim();
  console.log(`${out}: ${Date.now() - t} ms (${Math.round(N / ((Date.now() - t) / 1000))} accounts/s)`);
  t = Date.now();
  let after = 0;
  let n = 0;
  let pages = 0;
  for (;;) {
    const page = JSON.parse(run(['account', 'list', '--json', '--limit', '10000', '--after', String(after)])) as { accounts: unknown[]; nextAfter: number | null };
    n += page.accounts.length;
    pages++;
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  console.log(`listed ${n} accounts in ${pages} 'account list --limit 10000' runs: ${Date.now() - t} ms`);
  t = Date.now();
  run(['status']);
  console.log(`status over ${n} accounts: ${Date.now() - t} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await pg.stop();
}
