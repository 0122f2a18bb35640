/**
 * Proof with a real registrar: sipis (in-process, real PostgreSQL, real UDP) keeps accounts
 * registered at Kamailio (digest auth against its subscriber table), and the location table
 * (ul.dump over JSON-RPC) shows it: contacts appear, are refreshed, come back after a Kamailio
 * restart, follow a password change, and vanish after disable; a wrong password ends in
 * Unauthorized without a retry loop.
 */
import test from 'ava';
import pino from 'pino';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { hasKamailio, startKamailioRegistrar, type KamailioRegistrar } from '../../fixtures/kamailio/registrar.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { startSipis, type SipisServer } from './app.js';
import { loadConfig } from './config.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

let pg: PostgresCluster;
let kam: KamailioRegistrar;
let sipis: SipisServer;

const available = hasKamailio();

test.before(async () => {
  if (!available) return;
  pg = await startPostgres();
  kam = await startKamailioRegistrar({
    users: [
      { username: 'alice', password: 'alice-secret' },
      { username: 'bob', password: 'bob-secret' },
      { username: 'carol', password: 'carol-secret' },
    ],
    minExpires: 5,
    // the store asks for at least 30 s; Kamailio grants 10 s, so refreshes come every 5–8.5 s
    maxExpires: 10,
  });
  const url = await pg.createDatabase('sipis_kam');
  const cfg = loadConfig(['--listen', '127.0.0.1:0', '--admin-port', '0', '--db-url', url, '--secret-key', formatKeyEntry('k1', generateKey()), '--log-level', 'warn'], {});
  sipis = await startSipis(cfg, {
    log: pino({ level: 'warn' }),
    // auth failures retried after 60 s: far outside the test window
    engine: { rate: 50, policy: { backoff: { baseMs: 2000, maxMs: 4000, authFailureMs: 60_000, jitter: 0.2 } } },
  });
});

test.after.always(async () => {
  await sipis?.close();
  await kam?.stop();
  await pg?.stop();
});

const contactOf = (id: number): string => {
  const ep = sipis.transport.endpoints[0]!;
  return `sip:acc-${id}@${ep.address}:${ep.port}`;
};

test.serial('accounts added through the store appear in Kamailio’s location table and are refreshed', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const a = await sipis.store.accounts.add({ aor: `sip:alice@${kam.domain}`, password: 'alice-secret', registrar: kam.uri, expires: 30 });
  const first = await until(async () => (await kam.locations()).get('alice')?.find((c) => c.address === contactOf(a.id)), 8000, 'alice in ul.dump');
  t.true(first.expires > 0);
  // refreshed before it runs out (at 50–85 % of 10 s): same Call-ID, higher CSeq
  const refreshed = await until(async () => (await kam.locations()).get('alice')?.find((c) => c.cseq > first.cseq), 12_000, 'a refresh');
  t.is(refreshed.callId, first.callId);
  // nonce reuse: the refresh carried credentials for the nonce of the first exchange (nc=2)
  // and Kamailio accepted them: one challenge in all, two saves
  t.is(kam.registerCount('alice', 'challenge'), 1);
  t.true(kam.registerCount('alice', 'saved') >= 2);
  t.is(sipis.engine.get(String(a.id))!.state, 'Registered');
  t.is(sipis.engine.get(String(a.id))!.granted, 10, 'the expiry Kamailio granted in our Contact, not the 30 s asked for');
  await sipis.engine.flush();
  const row = await sipis.store.registrations.get(a.id);
  t.is(row?.state, 'Registered');
  t.is(row?.callId, first.callId);
  t.true(row!.cseq >= refreshed.cseq, 'the stored CSeq covers every CSeq sent');
});

test.serial('after a Kamailio restart (bindings lost) sipis registers again at the next refresh', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const acc = await sipis.store.accounts.getByAor(`sip:alice@${kam.domain}`);
  await kam.restart();
  t.is((await kam.locations()).get('alice'), undefined, 'usrloc db_mode 0 forgot the binding');
  const back = await until(async () => (await kam.locations()).get('alice')?.find((c) => c.address === contactOf(acc!.id)), 15_000, 'alice back in ul.dump');
  t.truthy(back);
});

test.serial('after a password change (Kamailio and store) the binding is renewed with the new password', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const c = await sipis.store.accounts.add({ aor: `sip:carol@${kam.domain}`, password: 'carol-secret', registrar: kam.uri, expires: 30 });
  const first = await until(async () => (await kam.locations()).get('carol')?.[0], 8000, 'carol in ul.dump');
  await sleep(1100); // db_text notices a change by the file's mtime (seconds)
  kam.setPassword('carol', 'carol-new');
  await sipis.store.accounts.update(c.id, { password: 'carol-new' });
  // the re-REGISTER: a CSeq bump, answered 200 for the new password
  const again = await until(async () => (await kam.locations()).get('carol')?.find((x) => x.cseq > first.cseq), 6000, 'carol re-registered');
  t.is(again.address, contactOf(c.id));
  t.is(sipis.engine.get(String(c.id))!.account.password, 'carol-new');
  t.is(sipis.engine.get(String(c.id))!.state, 'Registered');
});

test.serial('a wrong password ends in Unauthorized with at most 2 REGISTERs, no tight loop', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const b = await sipis.store.accounts.add({ aor: `sip:bob@${kam.domain}`, password: 'not-bobs', registrar: kam.uri, expires: 30 });
  await until(() => sipis.engine.get(String(b.id))?.state === 'Unauthorized', 8000, 'Unauthorized');
  await sleep(3000);
  t.is(kam.registerCount('bob'), 2);
  t.is(sipis.engine.get(String(b.id))!.state, 'Unauthorized');
  t.is((await kam.locations()).get('bob'), undefined);
  await sipis.engine.flush();
  t.is((await sipis.store.registrations.get(b.id))?.state, 'Unauthorized');
});

test.serial('SHA-256 digest (RFC 8760) against a Kamailio that challenges with it', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const k2 = await startKamailioRegistrar({ users: [{ username: 'dan', password: 'dan-secret' }], sha256: true });
  try {
    const d = await sipis.store.accounts.add({ aor: `sip:dan@${k2.domain}`, password: 'dan-secret', registrar: k2.uri, expires: 60 });
    const c = await until(async () => (await k2.locations()).get('dan')?.[0], 8000, 'dan in ul.dump');
    t.is(c.address, contactOf(d.id));
    t.regex(k2.output(), /REGISTER saved for dan/);
    await sipis.store.accounts.remove(d.id);
    await until(async () => !(await k2.locations()).get('dan'), 6000, 'dan unregistered after delete');
  } finally {
    await k2.stop();
  }
});

test.serial('disable → the contact vanishes from Kamailio; /status and /metrics count states', async (t) => {
  if (!available) return t.pass('kamailio not installed');
  const acc = await sipis.store.accounts.getByAor(`sip:carol@${kam.domain}`);
  await sipis.store.accounts.setEnabled(acc!.id, false);
  await until(async () => !(await kam.locations()).get('carol'), 6000, 'carol gone from ul.dump');
  t.is(sipis.engine.get(String(acc!.id)), undefined);
  await sipis.engine.flush();
  t.is((await sipis.store.registrations.get(acc!.id))?.state, 'Idle');
  const base = `http://127.0.0.1:${sipis.adminAddress!.port}`;
  const status = (await (await fetch(`${base}/status`)).json()) as { accounts: Record<string, number> };
  t.is(status.accounts.Registered, 1);
  t.is(status.accounts.Unauthorized, 1);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.regex(metrics, /sipis_upstream_registrations\{state="Registered"\} 1/);
  t.regex(metrics, /sipis_datagrams_out_total [1-9]/);
  const health = await fetch(`${base}/healthz`);
  t.is(health.status, 200);
});
