/**
 * sipis and its database: a dead database at start-up is a clear error and exit 1; a database
 * that dies while running does not stop refreshes, and the states reach it once it is back;
 * SIGTERM keeps the bindings (no unREGISTER) and a restart does not re-register what is valid.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { freeTcpPort, freeUdpPort } from '../../fixtures/net.js';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { startProc } from '../../fixtures/proc.js';
import { startTestRegistrar, type TestRegistrar } from '../../fixtures/registrar.js';
import { Store, formatKeyEntry, generateKey } from '../store/index.js';
import { startSipis } from './app.js';
import { loadConfig } from './config.js';
import { NODE_FLAGS } from './v8-flags.js';
import { until } from '../../fixtures/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// the binary compiled next to this test (whatever the output folder)
const main = fileURLToPath(new URL('./main.js', import.meta.url));
const digest = ['--digest-secret', 'db-test-digest-secret-0123456789'];
const key = formatKeyEntry('k1', generateKey());

let pg: PostgresCluster;
let reg: TestRegistrar;
test.before(async () => {
  pg = await startPostgres();
  reg = await startTestRegistrar({ passwordFor: (u) => `${u}-pw`, maxExpires: 4 });
});
test.after.always(async () => {
  await reg?.close();
  await pg?.stop();
});

test.serial('a dead database at start-up: a clear error and exit code 1', async (t) => {
  const port = await freeTcpPort();
  const p = startProc(process.execPath, [main, '--listen', '127.0.0.1:0', '--admin-port', '-1', '--db-url', `postgresql://postgres@127.0.0.1:${port}/x?connect_timeout=3`, '--secret-key', key, ...digest]);
  const code = await p.exited;
  t.is(code, 1);
  t.regex(p.output(), /sipis: cannot open the database: .*Connection refused/);
});

test.serial('the binary runs with its node flags (the shebang passes them); started without them it says so', async (t) => {
  const shebang = readFileSync(main, 'latin1').split('\n')[0]!;
  t.is(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const port = await freeTcpPort();
  const args = ['--listen', '127.0.0.1:0', '--admin-port', '-1', '--db-url', `postgresql://postgres@127.0.0.1:${port}/x?connect_timeout=3`, '--secret-key', key, ...digest];
  // executed as the kernel runs a script (the interpreter, the rest of the line as one argument,
  // the file: env -S splits it), whatever the file's mode in this build; a dead database ends it
  const [interpreter, rest] = [shebang.slice(2, shebang.indexOf(' ')), shebang.slice(shebang.indexOf(' ') + 1)];
  const asBinary = startProc(interpreter, [rest, main, ...args]);
  t.is(await asBinary.exited, 1, asBinary.output());
  t.regex(asBinary.output(), /cannot open the database/);
  t.notRegex(asBinary.output(), /started without the node flags/);
  const bare = startProc(process.execPath, [main, ...args]);
  t.is(await bare.exited, 1, bare.output());
  t.regex(bare.output(), /"nodeFlags":\["--single-threaded-gc"\].*started without the node flags/);
});

test.serial('usage and config errors exit 2 and name the problem', async (t) => {
  const p = startProc(process.execPath, [main, '--register-rate', 'lots']);
  t.is(await p.exited, 2, p.output());
  t.regex(p.output(), /upstream\.registerRate/);
  const q = startProc(process.execPath, [main], { env: { ...process.env, SIPIS_DB_URL: '', DATABASE_URL: '' } });
  t.is(await q.exited, 2, q.output());
  t.regex(q.output(), /databaseUrl/);
  // a keyring that is not one is found when the store opens: still a configuration error
  const r = startProc(process.execPath, [main, '--listen', '127.0.0.1:0', '--admin-port', '-1', '--db-url', await pg.createDatabase('sipis_badkey'), '--secret-key', 'k1:not-base64!', ...digest]);
  t.is(await r.exited, 2, r.output());
  t.regex(r.output(), /sipis: secretKey: key "k1" is not base64/);
});

test.serial('the database dies while running: refreshes go on from memory, states are written once it is back', async (t) => {
  const url = await pg.createDatabase('sipis_dbdown');
  const cfg = loadConfig(['--listen', '127.0.0.1:0', '--admin-port', '0', '--db-url', url, '--secret-key', key, '--flush-interval-ms', '200'], {});
  const sipis = await startSipis(cfg, { log: pino({ level: 'silent' }) });
  try {
    const a = await sipis.store.accounts.add({ aor: 'sip:dora@sipis.test', password: 'dora-pw', registrar: reg.uri, expires: 30 });
    await until(() => sipis.engine.get(String(a.id))?.state === 'Registered', 8000, 'registration');
    // the fixture runs with synchronous_commit=off: give the WAL writer time before pulling the plug
    await sleep(1000);
    await pg.kill('immediate');
    const before = reg.count('dora');
    // granted 4 s: refreshes every 2–3.4 s keep coming while PostgreSQL is away
    await until(() => reg.count('dora') >= before + 2, 10_000, 'two refreshes without a database');
    t.is(sipis.engine.get(String(a.id))!.state, 'Registered');
    // a write that failed (the pool's 5 s wait for a connection), not merely one still waiting:
    // /healthz answers at once now, and would otherwise let PostgreSQL come back before any failed
    await until(() => sipis.engine.counters.dbErrors > 0, 10_000, 'a failed state write');
    const health = await fetch(`http://127.0.0.1:${sipis.adminAddress!.port}/healthz`);
    t.is(health.status, 503);
    await pg.start();
    await until(() => sipis.engine.pendingWrites === 0 && sipis.engine.counters.dbErrors > 0, 40_000, 'the pending states to be written');
    const row = await sipis.store.registrations.get(a.id);
    t.is(row?.state, 'Registered');
    const last = reg.log.filter((e) => e.aorUser === 'dora').at(-1)!;
    t.true(row!.cseq >= last.cseq, 'the CSeq written covers the refreshes made while the database was away');
    t.true(row!.expiresAt!.getTime() > Date.now() - 4000);
  } finally {
    await sipis.close();
  }
});

test.serial('SIGTERM keeps the binding (no unREGISTER) and a restart reuses Call-ID and schedule; an account disabled while sipis was down is unREGISTERed at the next start', async (t) => {
  const url = await pg.createDatabase('sipis_restart');
  const store = await Store.open({ url, keyring: (await import('../store/index.js')).parseKeyring(key), listen: false });
  const reg2 = await startTestRegistrar({ passwordFor: (u) => `${u}-pw`, maxExpires: 300 });
  try {
    const a = await store.accounts.add({ aor: 'sip:emil@sipis.test', password: 'emil-pw', registrar: reg2.uri, expires: 300 });
    // one address for every run, as a deployment has: the Contact registered is the same
    const args = [main, '--listen', `127.0.0.1:${await freeUdpPort()}`, '--admin-port', '-1', '--db-url', url, '--secret-key', key, ...digest, '--log-level', 'info'];
    const run1 = startProc(process.execPath, args);
    await until(() => reg2.bindings('emil').length === 1, 10_000, 'registration by the binary');
    await sleep(1500); // one flush interval
    run1.child.kill('SIGTERM');
    t.is(await run1.exited, 0);
    const n = reg2.count('emil');
    t.not(reg2.log.at(-1)!.expires, 0, 'no unREGISTER at shutdown');
    t.is(reg2.bindings('emil').length, 1);
    const row = await store.registrations.get(a.id);
    t.is(row?.state, 'Registered');
    const callId = reg2.log.at(-1)!.callId;
    t.is(row?.callId, callId);
    const run2 = startProc(process.execPath, args);
    await run2.waitFor(/sipis started/, 10_000);
    await sleep(2000);
    t.is(reg2.count('emil'), n, 'a binding valid for minutes is not re-registered at start-up');
    run2.child.kill('SIGTERM');
    t.is(await run2.exited, 0);
    // disabled while no sipis ran: the next start withdraws the binding it left at the provider
    await store.accounts.setEnabled(a.id, false);
    const run3 = startProc(process.execPath, args);
    await until(() => reg2.bindings('emil').length === 0, 10_000, 'the unREGISTER of the account disabled while sipis was down');
    t.is(reg2.log.at(-1)!.expires, 0);
    await run3.waitFor(/provider bindings withdrawn/, 5000);
    run3.child.kill('SIGTERM');
    t.is(await run3.exited, 0);
    t.not((await store.registrations.get(a.id))?.state, 'Registered');
  } finally {
    await store.close();
    await reg2.close();
  }
});
