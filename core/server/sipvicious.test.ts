/**
 * A real attacker's tool against sipis: SIPVicious's `svcrack` (Debian package `sipvicious`)
 * guesses a device password by REGISTERing with a dictionary. Without a limit it finds the
 * password as soon as the dictionary holds it (the control); against the guard of
 * core/registrar/auth-guard.ts it is refused after `--auth-fail-limit` failures and finds nothing,
 * not even with the right password. (Other addresses staying unaffected is shown in
 * core/registrar/registrar.test.ts.) Loopback only: the tool binds 127.0.0.2/.3.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { startProc } from '../../fixtures/proc.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { startSipis, type SipisServer } from './app.js';
import { loadConfig } from './config.js';

const hasSvcrack = spawnSync('svcrack', ['--version'], { stdio: 'ignore' }).status === 0;
const maybe = hasSvcrack ? test.serial : test.skip;
if (!hasSvcrack) console.warn('core/server/sipvicious.test: skipped, svcrack missing (apt-get install sipvicious)');

const PASSWORD = 'carol-pw-7';
let pg: PostgresCluster | undefined;
let dir = '';

test.before(async () => {
  if (!hasSvcrack) return;
  pg = await startPostgres();
  dir = mkdtempSync(join(tmpdir(), 'sipis-svcrack-'));
});
test.after.always(async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(db: string, limit: number): Promise<{ sipis: SipisServer; port: number }> {
  const url = await pg!.createDatabase(db);
  const cfg = loadConfig(['--listen', '127.0.0.1:0', '--admin-port', '-1', '--db-url', url, '--domain', 'sipis.test', '--auth-fail-limit', String(limit)], {
    SIPIS_SECRET_KEY: formatKeyEntry('k1', generateKey()),
    SIPIS_DIGEST_SECRET: 'svcrack-test-digest-secret',
  });
  const sipis = await startSipis(cfg, { log: pino({ level: 'silent' }) });
  // svcrack addresses the user at the target's IP: To <sip:carol@127.0.0.1>
  await sipis.store.accounts.add({ aor: 'sip:carol@127.0.0.1', password: PASSWORD, registrar: 'sip:127.0.0.9:9', expires: 60 });
  return { sipis, port: sipis.transport.endpoints[0]!.port };
}

/**
 * svcrack from `bind` with `words`, the password last; resolves with its output. Bounded: it ends
 * by itself when it finds the password or runs out of words; refused, it keeps asking (each answer
 * a 403), so it is stopped after a few seconds.
 */
async function svcrack(bind: string, port: number, words: string[]): Promise<string> {
  const dict = join(dir, `dict-${bind}`);
  writeFileSync(dict, [...words, PASSWORD].join('\n') + '\n');
  const p = startProc('svcrack', ['-u', 'carol', '-d', dict, '-b', bind, '-p', String(port), '--maximumtime', '5', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const timer = setTimeout(() => void p.stop(), 6_000);
  await p.exited;
  clearTimeout(timer);
  return p.output();
}

maybe('svcrack finds the password in its dictionary when guessing is not limited (the control)', async (t) => {
  const { sipis, port } = await start('svcrack_off', 0);
  t.teardown(() => sipis.close());
  const out = await svcrack('127.0.0.2', port, ['123456', 'password', 'carol']);
  t.regex(out, new RegExp(`carol\\s*\\|\\s*${PASSWORD}`), out);
});

maybe('svcrack is refused after the failure limit and finds nothing, the right password included', async (t) => {
  const { sipis, port } = await start('svcrack_on', 5);
  t.teardown(() => sipis.close());
  const words = Array.from({ length: 30 }, (_, i) => `guess${i}`);
  const out = await svcrack('127.0.0.3', port, words);
  t.notRegex(out, new RegExp(`\\|\\s*${PASSWORD}`), out);
  const guard = sipis.registrar!.guard;
  t.is(guard.counters.blocksStarted, 1);
  t.true(guard.counters.refused >= 1, 'the password itself came in while blocked');
  t.is(sipis.registrar!.counters.ok, 0, 'no REGISTER succeeded');
  t.is(guard.blockedCount(Date.now()), 1);
});
