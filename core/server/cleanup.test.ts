/**
 * The clean-up sweep inside a running sipis (cleanup.ts): stale devices warned 12 h and 1 h
 * before removal and removed (premium: 7 days), a REGISTER cancelling it, failing accounts warned
 * and switched off (unREGISTER, reason in sipis-ctl and /status, re-enable clearing it), shard
 * ownership and two sweeps at once, a dead database and a dead mediator.
 *
 * Real PostgreSQL, the real mediator in front of the mock APNs/FCM (pushes are read from what
 * the mocks received), a test registrar as the provider, phones registering over UDP. Time is
 * moved by setting `last_seen` back in SQL (a REGISTER then truly refreshes it) or, for failing
 * accounts, by the sweep's clock (the upstream engine owns `failing_since`).
 */
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { freeTcpPort } from '../../fixtures/net.js';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { API_KEY, APNS_TOKEN_APP, FCM_APP, TEAM_ID, apnsToken, fcmToken, makePushEnv, type PushEnv } from '../../fixtures/push/env.js';
import { startTestRegistrar, type TestRegistrar } from '../../fixtures/registrar.js';
import { DEFAULTS as MEDIATOR_DEFAULTS } from '../../mediator/config.js';
import { startMediator, type Mediator } from '../../mediator/mediator.js';
import { run as ctl } from '../../tools/sipis-ctl.js';
import { TestPhone } from '../registrar/testing/phone.js';
import type { RemovalReason } from '../registrar/types.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { UdpTransport } from '../transport/index.js';
import { shardPredicate, startSipis, type SipisServer } from './app.js';
import { CleanupSweeper } from './cleanup.js';
import { loadConfig } from './config.js';
import { until } from '../../fixtures/wait.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const MIN = 60_000;
const key = formatKeyEntry('k1', generateKey());
const log = pino({ level: process.env.SIPIS_TEST_LOG ?? 'silent' });

let pg: PostgresCluster;
let env: PushEnv;
let med: Mediator;
let reg: TestRegistrar;
let dbs = 0;

test.before(async () => {
  [pg, env] = await Promise.all([startPostgres(), makePushEnv()]);
  med = await startMediator({ ...MEDIATOR_DEFAULTS, host: '127.0.0.1', port: 0, apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent', deadlineMs: 1500 }, log);
  reg = await startTestRegistrar({ passwordFor: (u) => `${u}-pw`, maxExpires: 600 });
});
test.after.always(async () => {
  await reg?.close();
  await med?.shutdown(100);
  await env?.cleanup();
  await pg?.stop();
});


interface Rig {
  sipis: SipisServer;
  url: string;
  /** added to the sweep's clock. */
  clock: { offset: number };
  account(user: string, opts?: { premium?: boolean; expires?: number }): Promise<number>;
  phone(user: string, contact: string): Promise<TestPhone>;
  /** time passes for the devices: last_seen (and the due time warned for) moves back. */
  age(ms: number): Promise<void>;
  metrics(): Promise<string>;
  status(): Promise<{ cleanup: Record<string, unknown> & { switchedOff: { total: number; recent: Array<{ id: number; reason: string }> } | null } }>;
}

async function rig(t: ExecutionContext, extra: string[] = [], mediatorUrl = `http://127.0.0.1:${med.port}`, cleanup: { firstDelayMs?: number } = {}): Promise<Rig> {
  const url = await pg.createDatabase(`sipis_cleanup_${++dbs}`);
  const clock = { offset: 0 };
  const cfg = loadConfig(
    ['--listen', '127.0.0.1:0', '--admin-port', '0', '--db-url', url, '--domain', 'sipis.test', '--mediator-url', mediatorUrl, '--push-deadline', '4', '--push-attempt-timeout', '2',
      '--flush-interval-ms', '100', '--cleanup-interval', '600', ...extra],
    { SIPIS_SECRET_KEY: key, SIPIS_DIGEST_SECRET: 'cleanup-test-digest-secret', SIPIS_MEDIATOR_API_KEY: API_KEY },
  );
  const sipis = await startSipis(cfg, { log, cleanup: { now: () => Date.now() + clock.offset, firstDelayMs: cleanup.firstDelayMs ?? 1e9 } });
  const transports: UdpTransport[] = [];
  t.teardown(async () => {
    for (const tp of transports) await tp.close();
    await sipis.close();
  });
  const admin = `http://127.0.0.1:${sipis.adminAddress!.port}`;
  return {
    sipis,
    url,
    clock,
    async account(user, opts = {}) {
      const a = await sipis.store.accounts.add({ aor: `sip:${user}@provider.test`, password: `${user}-pw`, registrar: reg.uri, expires: opts.expires ?? 600, premium: opts.premium ?? false });
      return a.id;
    },
    async phone(user, contact) {
      const tp = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
      transports.push(tp);
      const p = new TestPhone(tp, { address: '127.0.0.1', port: sipis.transport.endpoints[0]!.port }, `sip:${user}@provider.test`, 'sip:sipis.test');
      const res = await p.register({ contacts: [contact], expires: 7 * 86400, auth: { username: user, password: `${user}-pw` } });
      t.is(res.status, 200, `${user} registers`);
      return p;
    },
    async age(ms) {
      await sipis.store.pool.query(
        `UPDATE device SET last_seen = last_seen - $1::bigint * interval '1 millisecond', warned_due_at = warned_due_at - $1::bigint * interval '1 millisecond', warned_at = warned_at - $1::bigint * interval '1 millisecond'`,
        [ms],
      );
    },
    metrics: async () => (await fetch(`${admin}/metrics`)).text(),
    status: async () => (await (await fetch(`${admin}/status`)).json()) as never,
  };
}

let instances = 0;
const instance = () => `+sip.instance="<urn:uuid:00000000-0000-4000-8000-${String(++instances).padStart(12, '0')}>"`;
const iosContact = (user: string, voip: string, remote: string) =>
  `<sip:${user}@10.0.0.1;pn-provider=apns;pn-prid=${voip}:voip&${remote}:remote;pn-param=${TEAM_ID}.${APNS_TOKEN_APP}.voip&remote>;${instance()}`;
const fcmContact = (user: string, tok: string) => `<sip:${user}@10.0.0.9;pn-provider=fcm;pn-prid=${tok};pn-param=${FCM_APP}>;${instance()}`;

/** the clean-up pushes a token received, oldest first: our fields (verb, expiresAt, reason, selector…). */
function reprovisions(token: string): Array<Record<string, unknown>> {
  const apns = env.apns.received.filter((r) => r.token === token).map((r) => r.payload.sipis as Record<string, unknown>);
  const fcm = env.fcm.received.filter((r) => r.message.token === token).map((r) => r.message.data as Record<string, unknown>);
  return [...apns, ...fcm].filter((p) => p.verb === 'NotifyExpiryWarning' || p.verb === 'NotifyInstanceOff');
}
/** `warning` for a NotifyExpiryWarning, `off:<reason>` for a NotifyInstanceOff. */
const label = (p: Record<string, unknown>): string => (p.verb === 'NotifyExpiryWarning' ? 'warning' : `off:${String(p.reason)}`);
const reasons = (token: string) => reprovisions(token).map(label);

test.serial('stale devices: warned 12 h and 1 h before, once each; removed after 3 days with a last push, from the database and from memory; premium after 7', async (t) => {
  const r = await rig(t);
  const sweep = r.sipis.cleanup!;
  const registrar = r.sipis.registrar!;
  const alice = await r.account('alice');
  const bob = await r.account('bob', { premium: true });
  const [voip, remote, fcm] = [apnsToken(), apnsToken(), fcmToken()];
  await r.phone('alice', iosContact('alice', voip, remote));
  await r.phone('bob', fcmContact('bob', fcm));
  const removed: RemovalReason[] = [];
  registrar.on('removed', (_b, why) => removed.push(why));
  const seen = (await r.sipis.store.devices.listBindings(alice))[0]!.lastSeen.getTime();

  t.like(await sweep.runOnce(), { ok: true, deviceWarnings: 0, devicesRemoved: 0 }, 'fresh devices: nothing to do');
  await r.age(3 * DAY - 12 * HOUR + MIN);
  t.like(await sweep.runOnce(), { ok: true, deviceWarnings: 1, devicesRemoved: 0 });
  await sweep.drained();
  t.deepEqual(reasons(remote), ['warning'], 'the 12 h warning, to the remote token');
  t.deepEqual(reasons(voip), [], 'never to the PushKit token (iOS kills apps for that)');
  const due = Date.parse(String(reprovisions(remote)[0]!.expiresAt));
  t.true(Math.abs(due - (seen - (3 * DAY - 12 * HOUR + MIN) + 3 * DAY)) < 1000, 'expiresAt is the removal time');
  t.is(reprovisions(remote)[0]!.selector, String(alice));
  t.deepEqual(reasons(fcm), [], 'premium: not yet');
  t.like(await sweep.runOnce(), { deviceWarnings: 0 }, 'each warning once');

  await r.age(11 * HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 1, devicesRemoved: 0 });
  t.like(await sweep.runOnce(), { deviceWarnings: 0 });
  await sweep.drained();
  t.deepEqual(reasons(remote), ['warning', 'warning'], 'the 1 h warning');
  t.is(registrar.bindingsOf(String(alice)).length, 1);

  await r.age(HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 0, devicesRemoved: 1 });
  await sweep.drained();
  t.deepEqual(reasons(remote), ['warning', 'warning', 'off:unseen']);
  t.is((await r.sipis.store.devices.listBindings(alice, { includeExpired: true })).length, 0, 'gone from the database');
  t.is(registrar.bindingsOf(String(alice)).length, 0, 'gone from memory');
  t.deepEqual(removed, ['stale']);
  t.is(registrar.bindingsOf(String(bob)).length, 1, 'the premium device stays');
  t.deepEqual(reasons(fcm), []);

  await r.age(4 * DAY - 12 * HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 });
  await r.age(11 * HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 });
  await r.age(HOUR);
  t.like(await sweep.runOnce(), { devicesRemoved: 1 });
  await sweep.drained();
  t.deepEqual(reasons(fcm), ['warning', 'warning', 'off:unseen'], 'premium: the same at 7 days, over FCM');
  t.is(registrar.bindingsOf(String(bob)).length, 0);
  t.is(sweep.pushes('removed', 'delivered'), 2);
  t.is(sweep.pushes('expiring', 'delivered'), 4);

  const m = await r.metrics();
  t.regex(m, /^sipis_cleanup_warnings_total\{subject="device"\} 4$/m);
  t.regex(m, /^sipis_cleanup_devices_removed_total 2$/m);
  t.regex(m, /^sipis_cleanup_pushes_total\{reason="removed",outcome="delivered"\} 2$/m);
  t.regex(m, /^sipis_cleanup_sweep_failures_total 0$/m);
  t.regex(m, /^sipis_device_bindings_removed_total 2$/m, 'counted like any removal by the registrar');
});

test.serial('a REGISTER cancels the pending removal and the warnings start over; stages passed together are one warning', async (t) => {
  const r = await rig(t);
  const sweep = r.sipis.cleanup!;
  const alice = await r.account('alice');
  const tok = fcmToken();
  const contact = fcmContact('alice', tok);
  const phone = await r.phone('alice', contact);
  const again = async () => (await phone.register({ contacts: [contact], expires: 7 * 86400, auth: { username: 'alice', password: 'alice-pw' } })).status;
  await r.age(3 * DAY - 12 * HOUR + MIN);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 });

  // the phone wakes up and registers again (same instance): last_seen is now
  t.is(await again(), 200);
  t.is((await r.sipis.store.devices.listBindings(alice)).length, 1, 'the same binding, refreshed');
  await r.age(11 * HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 0, devicesRemoved: 0 }, 'no 1 h warning: the removal moved 3 days on');
  await r.age(2 * DAY);
  t.like(await sweep.runOnce(), { deviceWarnings: 0 }, '2 days 11 h after the REGISTER: nothing yet');
  await r.age(HOUR + MIN);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 }, 'the 12 h warning again, for the new removal time');
  await r.age(11 * HOUR);
  t.like(await sweep.runOnce(), { deviceWarnings: 1, devicesRemoved: 0 });

  // the phone registers once more, then the sweep misses both warning times (sipis was down)
  t.is(await again(), 200);
  await r.age(3 * DAY - HOUR + MIN);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 }, 'both warnings due: one push');
  t.like(await sweep.runOnce(), { deviceWarnings: 0 });
  await sweep.drained();
  const got = reprovisions(tok);
  t.deepEqual(got.map(label), ['warning', 'warning', 'warning', 'warning']);
  // the last one announces a removal about an hour away (rows are moved back, not the clock)
  const left = Date.parse(String(got[3]!.expiresAt)) - Date.now();
  t.true(left > HOUR - 2 * MIN && left < HOUR, `${left} ms left`);
  t.is(r.sipis.registrar!.bindingsOf(String(alice)).length, 1);
});

test.serial('a failing account: warned once it has failed for 10 minutes and at 11 h, switched off at 12 h (unREGISTER, push, reason in sipis-ctl and /status); enabling it again clears both', async (t) => {
  const r = await rig(t);
  const sweep = r.sipis.cleanup!;
  const carol = await r.account('carol', { expires: 600 });
  const dave = await r.account('dave');
  await until(() => r.sipis.engine.get(String(carol))?.state === 'Registered' && r.sipis.engine.get(String(dave))?.state === 'Registered', 10_000, 'both registered');
  const [tok1, tok2, daveTok] = [fcmToken(), fcmToken(), fcmToken()];
  await r.phone('carol', fcmContact('carol', tok1));
  await r.phone('carol', fcmContact('carol', tok2));
  await r.phone('dave', fcmContact('dave', daveTok));

  // the provider starts refusing carol; a change of expiry sends a REGISTER now, which fails
  reg.setBehaviour('carol', { kind: 'status', status: 503 });
  t.teardown(() => reg.setBehaviour('carol', { kind: 'normal' }));
  await r.sipis.store.accounts.update(carol, { expires: 610 });
  await until(async () => (await r.sipis.store.registrations.get(carol))?.failingSince != null, 10_000, 'the failure recorded');
  const since = (await r.sipis.store.registrations.get(carol))!.failingSince!.getTime();

  t.like(await sweep.runOnce(), { ok: true, accountWarnings: 0, accountsSwitchedOff: 0 }, 'a failure of a few minutes is no reason to alert anybody');
  r.clock.offset = 10 * MIN + 1000;
  t.like(await sweep.runOnce(), { ok: true, accountWarnings: 1, accountsSwitchedOff: 0 }, 'the 12 h warning once it has failed for 10 minutes');
  t.like(await sweep.runOnce(), { accountWarnings: 0 });
  r.clock.offset = 11 * HOUR + MIN;
  t.like(await sweep.runOnce(), { accountWarnings: 1, accountsSwitchedOff: 0 });
  t.like(await sweep.runOnce(), { accountWarnings: 0 });
  await sweep.drained();
  for (const tok of [tok1, tok2]) {
    const got = reprovisions(tok);
    t.deepEqual(got.map(label), ['warning', 'warning'], 'each device of the account');
    t.is(Date.parse(String(got[0]!.expiresAt)), since + 12 * HOUR, 'expiresAt is the switch-off time');
  }
  t.deepEqual(reasons(daveTok), [], 'another account is not concerned');
  const unregsBefore = r.sipis.engine.counters.unregistersSent;

  r.clock.offset = 12 * HOUR + MIN;
  t.like(await sweep.runOnce(), { accountsSwitchedOff: 1 });
  await sweep.drained();
  t.deepEqual(reasons(tok1), ['warning', 'warning', 'off:registration-failed']);
  t.deepEqual(reasons(tok2), ['warning', 'warning', 'off:registration-failed']);
  const off = (await r.sipis.store.accounts.get(carol))!;
  t.false(off.enabled);
  t.regex(off.disabledReason ?? '', /^registration failing since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(last: \w+ 503 /);
  t.true(off.disabledAt!.getTime() > Date.now() + 12 * HOUR - MIN, 'disabled at the sweep\'s time');
  // disabled the way `sipis-ctl account disable` does it: the engine hears of it and unREGISTERs
  await until(() => r.sipis.engine.get(String(carol)) === undefined, 10_000, 'the engine drops the account');
  await until(() => reg.log.some((e) => e.aorUser === 'carol' && e.expires === 0), 10_000, 'the unREGISTER at the provider');
  t.true(r.sipis.engine.counters.unregistersSent > unregsBefore);
  t.is(r.sipis.engine.get(String(dave))?.state, 'Registered');
  t.like(await sweep.runOnce(), { accountsSwitchedOff: 0, accountWarnings: 0 }, 'once');

  const out: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s), readStdin: async () => '', stdin: () => process.stdin };
  t.is(await ctl(['--db', r.url, 'account', 'show', String(carol)], io, { SIPIS_SECRET_KEY: key }), 0);
  t.regex(out.join('\n'), /^disabled reason +registration failing since .*503/m);
  t.regex(out.join('\n'), /^enabled +false$/m);
  out.length = 0;
  t.is(await ctl(['--db', r.url, '--json', 'account', 'show', String(carol)], io, { SIPIS_SECRET_KEY: key }), 0);
  const shown = JSON.parse(out.join('\n')) as { disabledReason: string | null; disabledAt: string };
  t.is(shown.disabledReason, off.disabledReason);
  t.is(Date.parse(shown.disabledAt), off.disabledAt!.getTime());
  const st = await r.status();
  t.is(st.cleanup.switchedOff?.total, 1);
  t.is(st.cleanup.switchedOff?.recent[0]?.id, carol);
  t.is(st.cleanup.switchedOff?.recent[0]?.reason, off.disabledReason ?? undefined);
  const m = await r.metrics();
  t.regex(m, /^sipis_cleanup_accounts_switched_off_total 1$/m);
  t.regex(m, /^sipis_cleanup_warnings_total\{subject="account"\} 2$/m);
  t.regex(m, /^sipis_cleanup_pushes_total\{reason="registration-failed",outcome="delivered"\} 2$/m);

  // the operator fixes the provider side and enables the account again
  reg.setBehaviour('carol', { kind: 'normal' });
  out.length = 0;
  t.is(await ctl(['--db', r.url, 'account', 'enable', String(carol)], io, { SIPIS_SECRET_KEY: key }), 0, out.join('\n'));
  const on = (await r.sipis.store.accounts.get(carol))!;
  t.true(on.enabled);
  t.is(on.disabledReason, null);
  t.is(on.disabledAt, null);
  const row = (await r.sipis.store.registrations.get(carol))!;
  t.is(row.failingSince, null, 'the failure clock is stopped');
  t.is(row.failures, 0);
  await until(() => r.sipis.engine.get(String(carol))?.state === 'Registered', 10_000, 'registered again');
  t.like(await sweep.runOnce(), { accountsSwitchedOff: 0, accountWarnings: 0 });
  t.is((await r.status()).cleanup.switchedOff?.total, 0);
});

test.serial('only the accounts of its shard; two sweeps at once never act twice on a device; one pass at a time', async (t) => {
  const backends = '127.0.0.1:1;id=a,127.0.0.1:2;id=b';
  const owns = shardPredicate(loadConfig(['--shard-backends', backends, '--shard-self', 'a'], {}));
  const users = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const mine = users.find((u) => owns(`${u}@provider.test`))!;
  const theirs = users.find((u) => !owns(`${u}@provider.test`))!;
  const r = await rig(t, ['--shard-backends', backends, '--shard-self', 'a']);
  const sweep = r.sipis.cleanup!;
  await r.account(mine);
  await r.account(theirs);
  const myTok = fcmToken();
  const theirToks = [fcmToken(), fcmToken(), fcmToken()];
  await r.phone(mine, fcmContact(mine, myTok));
  for (const tok of theirToks) await r.phone(theirs, fcmContact(theirs, tok));

  const a = sweep.runOnce();
  t.is(sweep.runOnce(), a, 'a pass asked for while one runs is that pass');
  await a;
  await r.age(3 * DAY - 12 * HOUR + MIN);
  t.like(await sweep.runOnce(), { deviceWarnings: 1 }, 'our account only');
  await sweep.drained();
  t.deepEqual(reasons(myTok), ['warning']);
  for (const tok of theirToks) t.deepEqual(reasons(tok), [], 'not our shard');

  // two sweepers on the same rows (two processes without a shard set): each device warned once
  const other = () => new CleanupSweeper({ store: r.sipis.store, config: r.sipis.config.cleanup, owns: () => true, push: r.sipis.push, log });
  const [x, y] = [other(), other()];
  const both = await Promise.all([x.runOnce(), y.runOnce()]);
  t.is(both[0]!.deviceWarnings + both[1]!.deviceWarnings, 3);
  await r.age(12 * HOUR);
  const removed = await Promise.all([x.runOnce(), y.runOnce(), sweep.runOnce()]);
  t.is(removed.reduce((n, p) => n + p.devicesRemoved, 0), 4);
  await Promise.all([x.drained(), y.drained(), sweep.drained()]);
  for (const tok of [myTok, ...theirToks]) t.deepEqual(reasons(tok), ['warning', 'off:unseen'], 'one warning, one last push');
});

test.serial('the database dies: sweeps fail, are counted, sipis goes on; once it is back the missed warning goes out, and the removal an hour later', async (t) => {
  const r = await rig(t, ['--cleanup-interval', '0.3'], undefined, { firstDelayMs: 0 });
  const sweep = r.sipis.cleanup!;
  const alice = await r.account('alice');
  const tok = fcmToken();
  await r.phone('alice', fcmContact('alice', tok));
  await until(() => sweep.counters.passes >= 2, 5000, 'the timer runs sweeps');
  t.is(r.sipis.registrar!.bindingsOf(String(alice)).length, 1);

  await pg.kill('fast');
  try {
    r.clock.offset = 3 * DAY + MIN;
    await until(() => sweep.counters.failures >= 2, 30_000, 'failed sweeps');
    const m = await r.metrics();
    t.regex(m, /^sipis_cleanup_sweep_failures_total [2-9]\d*$/m);
    const st = await r.status();
    t.truthy(st.cleanup.lastError);
    t.is(st.cleanup.switchedOff, null, 'the database cannot be asked');
    t.is(r.sipis.registrar!.bindingsOf(String(alice)).length, 1, 'nothing removed from memory alone');
  } finally {
    await pg.start();
  }
  // its warnings were missed while the database was away: warned first, removed an hour later
  await until(() => sweep.counters.deviceWarnings === 1, 30_000, 'the warning once the database is back');
  t.is(r.sipis.registrar!.bindingsOf(String(alice)).length, 1, 'nobody is removed untold');
  await sweep.drained();
  t.deepEqual(reasons(tok), ['warning']);
  const at = Date.parse(String(reprovisions(tok)[0]!.expiresAt));
  t.true(at >= Date.now() + r.clock.offset + HOUR - 5000, 'the removal announced an hour ahead, not in the past');
  r.clock.offset += HOUR;
  await until(() => r.sipis.registrar!.bindingsOf(String(alice)).length === 0, 30_000, 'the removal an hour after the warning');
  t.is((await r.sipis.store.devices.listBindings(alice, { includeExpired: true })).length, 0);
  await until(() => sweep.lastError === undefined, 5000, 'a clean sweep');
  await sweep.drained();
  t.deepEqual(reasons(tok), ['warning', 'off:unseen']);
});

test.serial('the mediator is down: warnings are claimed and the removal happens on time all the same', async (t) => {
  const dead = await freeTcpPort();
  const r = await rig(t, ['--push-deadline', '1', '--push-attempt-timeout', '0.3'], `http://127.0.0.1:${dead}`);
  const sweep = r.sipis.cleanup!;
  const alice = await r.account('alice');
  await r.phone('alice', fcmContact('alice', fcmToken()));
  await r.age(3 * DAY - 12 * HOUR + MIN);
  const warned = await sweep.runOnce();
  t.like(warned, { ok: true, deviceWarnings: 1 });
  t.true(warned.ms < 900, `the pass does not wait for the mediator (${warned.ms} ms)`);
  await sweep.drained();
  t.is(sweep.pushes('expiring', 'failed'), 1);
  t.like(await sweep.runOnce(), { deviceWarnings: 0 }, 'a lost warning is not sent again');
  await r.age(12 * HOUR);
  const gone = await sweep.runOnce();
  t.like(gone, { ok: true, devicesRemoved: 1 });
  t.is((await r.sipis.store.devices.listBindings(alice, { includeExpired: true })).length, 0);
  t.is(r.sipis.registrar!.bindingsOf(String(alice)).length, 0);
  await sweep.drained();
  t.is(sweep.pushes('removed', 'failed'), 1);
  t.regex(await r.metrics(), /^sipis_cleanup_pushes_total\{reason="removed",outcome="failed"\} 1$/m);
});

test.serial('cleanup off: no sweep, nothing in /metrics', async (t) => {
  const r = await rig(t, ['--cleanup', 'off']);
  t.is(r.sipis.cleanup, undefined);
  t.notRegex(await r.metrics(), /sipis_cleanup_/);
  t.like((await r.status()).cleanup, { enabled: false });
});
