import test from 'ava';
import { randomBytes } from 'node:crypto';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { formatKeyEntry, parseKeyring } from './config.js';
import { StoreError } from './errors.js';
import { migrate } from './migrate.js';
import { migrations } from './migrations/index.js';
import { Pool } from './pool.js';
import type { RegistrationState } from './registrations.js';
import { Store, type AccountChangeEvent } from './store.js';
import { shardKeyOf } from './validate.js';

let pg: PostgresCluster;
let dbCount = 0;
const k1 = formatKeyEntry('k1', randomBytes(32));
const k2 = formatKeyEntry('k2', randomBytes(32));
const keyring = parseKeyring(k1);

test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

async function freshStore(opts: { keyring?: ReturnType<typeof parseKeyring>; listen?: boolean } = {}): Promise<{ store: Store; url: string }> {
  const url = await pg.createDatabase(`t${++dbCount}_${process.pid}`);
  const store = await Store.open({ url, keyring: opts.keyring ?? keyring, listen: opts.listen ?? false, listenerHeartbeatMs: 1000 });
  return { store, url };
}

/** resolves with the first event matching `pred`, or rejects after `ms`. */
// The design target is "within a second"; the bound here is looser so a loaded CI machine does
// not fail the test, and the measured latency is logged (benchmarks are for timing).
function nextEvent(store: Store, pred: (ev: AccountChangeEvent) => boolean, ms = 5000): Promise<AccountChangeEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching account event within ${ms} ms`));
    }, ms);
    const off = store.onAccountChange((ev) => {
      if (!pred(ev)) return;
      clearTimeout(timer);
      off();
      resolve(ev);
    });
  });
}

test('migrations run once: a second run and concurrent runs apply nothing', async (t) => {
  const { store, url } = await freshStore();
  try {
    const again = await migrate(store.pool);
    t.deepEqual(again.applied, []);
    t.is(again.version, migrations.length);
    // two more processes starting together: the advisory lock serialises them
    const [a, b] = await Promise.all([Store.open({ url, listen: false }), Store.open({ url, listen: false })]);
    await Promise.all([a.close(), b.close()]);
    const rows = await store.pool.query<{ n: string }>('SELECT count(*) AS n FROM schema_version');
    t.is(Number(rows[0]!.n), migrations.length);

    const fresh = await pg.createDatabase(`race_${process.pid}`);
    const [c, d] = await Promise.all([Store.open({ url: fresh, listen: false }), Store.open({ url: fresh, listen: false })]);
    const v = await c.pool.query<{ version: number }>('SELECT version FROM schema_version ORDER BY version');
    t.deepEqual(v.map((r) => r.version), migrations.map((m) => m.version));
    await Promise.all([c.close(), d.close()]);
  } finally {
    await store.close();
  }
});

test('a schema newer than the code is refused with STORE_SCHEMA', async (t) => {
  const { store, url } = await freshStore();
  try {
    await store.pool.query("INSERT INTO schema_version (version, name) VALUES (999, 'from the future')");
    const err = await t.throwsAsync(Store.open({ url, listen: false }), { instanceOf: StoreError });
    t.is(err.code, 'STORE_SCHEMA');
  } finally {
    await store.close();
  }
});

test('accounts: add, read, update, duplicates, bad input, remove', async (t) => {
  const { store } = await freshStore();
  try {
    const a = await store.accounts.add({ aor: 'sip:Alice@Example.com', password: 'pw-alice', displayName: 'Alice' });
    t.is(a.aor, 'sip:Alice@example.com');
    t.is(a.authUser, 'Alice');
    t.is(a.registrar, 'sip:example.com');
    t.is(a.transport, 'udp');
    t.is(a.expires, 3600);
    t.true(a.enabled);
    t.true(a.hasPassword);
    t.is(a.passwordKeyId, 'k1');
    t.is(a.shardKey, 'Alice@example.com');
    t.true(Math.abs(a.createdAt.getTime() - Date.now()) < 60_000, 'timestamps decoded');
    t.is((await store.accounts.getByAor('SIP:Alice@EXAMPLE.com'))?.id, a.id);
    t.is((await store.accounts.resolve(String(a.id)))?.aor, a.aor);
    t.deepEqual((await store.accounts.findByShardKey('ALICE@example.com')).map((x) => x.id), [a.id]);
    t.is(await store.accounts.password(a.id), 'pw-alice');

    const dup = await t.throwsAsync(store.accounts.add({ aor: 'sip:Alice@example.com', password: 'x' }), { instanceOf: StoreError });
    t.is(dup.code, 'STORE_CONFLICT');
    for (const bad of [{ aor: 'alice' }, { aor: 'sip:b@example.com', transport: 'sctp' }, { aor: 'sip:b@example.com', expires: 5 }, { aor: 'sip:b@example.com', registrar: 'nope' }]) {
      const err = await t.throwsAsync(store.accounts.add(bad), { instanceOf: StoreError });
      t.is(err.code, 'STORE_INVALID');
    }

    const b = await store.accounts.add({ aor: 'sips:bob@example.org:5061', authUser: 'b0b', password: 'pw-bob', transport: 'tls', registrar: 'sips:reg.example.org:5061', outboundProxy: 'sip:proxy.example.org;lr', expires: 600, premium: true, realm: 'example.org' });
    t.is(b.shardKey, 'bob@example.org');
    const b2 = await store.accounts.update(b.id, { password: 'new-bob', expires: 1200, outboundProxy: null, enabled: false });
    t.is(b2.expires, 1200);
    t.is(b2.outboundProxy, null);
    t.false(b2.enabled);
    t.true(b2.updatedAt >= b.updatedAt);
    t.is(await store.accounts.password(b.id), 'new-bob');
    const clash = await t.throwsAsync(store.accounts.update(b.id, { aor: 'sip:Alice@example.com' }), { instanceOf: StoreError });
    t.is(clash.code, 'STORE_CONFLICT');
    t.is(clash.message, 'an account with AOR sip:Alice@example.com already exists', 'in our words, as add says it');
    t.false(clash.message.includes('new-bob'));
    const missing = await t.throwsAsync(store.accounts.update(987654, { expires: 100 }), { instanceOf: StoreError });
    t.is(missing.code, 'STORE_NOT_FOUND');

    // the database holds ciphertext only
    const raw = await store.pool.query<{ password_enc: Buffer; password_plain: string | null }>('SELECT password_enc, password_plain FROM account');
    for (const r of raw) {
      t.is(r.password_plain, null);
      t.false(r.password_enc.includes(Buffer.from('pw-alice')));
      t.false(r.password_enc.includes(Buffer.from('new-bob')));
    }

    t.true(await store.accounts.remove(a.id));
    t.false(await store.accounts.remove(a.id));
    t.is(await store.accounts.get(a.id), null);

    const noKey = await Store.open({ url: store.pool.conninfo, listen: false });
    try {
      const err = await t.throwsAsync(noKey.accounts.add({ aor: 'sip:c@example.com', password: 'x' }), { instanceOf: StoreError });
      t.is(err.code, 'STORE_KEY');
      const err2 = await t.throwsAsync(noKey.accounts.password(b.id), { instanceOf: StoreError });
      t.is(err2.code, 'STORE_KEY');
    } finally {
      await noKey.close();
    }
  } finally {
    await store.close();
  }
});

test('the SQL shard key matches the TS one', async (t) => {
  const { store } = await freshStore();
  try {
    const aors = ['sip:Alice@Example.com', 'sip:+49301234@voip.example.net:5080', 'sips:Bob@[2001:DB8::1]:5061', 'sip:x.y@h',
      'sip:carol:secret@Example.org;transport=tcp', 'sip:Example.com', 'SIP:Dave@EXAMPLE.net?subject=x'];
    for (const aor of aors) {
      const rows = await store.pool.query<{ k: string }>('SELECT sipis_shard_key($1) AS k', [aor]);
      t.is(rows[0]!.k, shardKeyOf(aor), aor);
    }
  } finally {
    await store.close();
  }
});

test('key rotation re-seals every password under the current key', async (t) => {
  const { store, url } = await freshStore({ keyring: parseKeyring(k1) });
  try {
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push((await store.accounts.add({ aor: `sip:u${i}@rot.example`, password: `pw-${i}` })).id);
    const rotatedStore = await Store.open({ url, keyring: parseKeyring(`${k2},${k1}`), listen: false });
    try {
      const listening = await Store.open({ url, keyring: parseKeyring(`${k2},${k1}`), listen: true });
      const heard: AccountChangeEvent[] = [];
      listening.onAccountChange((ev) => heard.push(ev));
      const res = await rotatedStore.accounts.rotateKeys(7);
      await listening.pool.query("SELECT pg_notify('sipis_account', '{\"op\":\"UPDATE\",\"id\":-1}')");
      const until = Date.now() + 5000;
      while (!heard.some((e) => e.type === 'change' && e.change.id === -1) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      t.deepEqual(heard.map((e) => (e.type === 'change' ? e.change.id : e.type)), [-1], 'rotation sent no notifications (only our marker)');
      await listening.close();
      t.is(res.rotated, 30);
      t.deepEqual(res.failed, []);
      const keys = await store.pool.query<{ password_key_id: string; n: string }>('SELECT password_key_id, count(*) AS n FROM account GROUP BY 1');
      t.deepEqual(keys.map((k) => [k.password_key_id, Number(k.n)]), [['k2', 30]]);
      // the old key is no longer needed
      const onlyNew = await Store.open({ url, keyring: parseKeyring(k2), listen: false });
      t.is(await onlyNew.accounts.password(ids[17]!), 'pw-17');
      await onlyNew.close();
      t.is((await rotatedStore.accounts.rotateKeys()).rotated, 0, 'a second run has nothing to do');
      // the old-key store can no longer read them: typed error, no secret in it
      const err = await t.throwsAsync(store.accounts.password(ids[3]!), { instanceOf: StoreError });
      t.is(err.code, 'STORE_DECRYPT');
      t.false(err.message.includes('pw-3'));
    } finally {
      await rotatedStore.close();
    }
  } finally {
    await store.close();
  }
});

test('rows under an unknown key are reported by rotation, not touched', async (t) => {
  const { store, url } = await freshStore({ keyring: parseKeyring(k1) });
  try {
    const a = await store.accounts.add({ aor: 'sip:lost@example.com', password: 'pw' });
    const other = await Store.open({ url, keyring: parseKeyring(k2), listen: false });
    try {
      const res = await other.accounts.rotateKeys();
      t.is(res.rotated, 0);
      t.deepEqual(res.failed.map((f) => f.id), [a.id]);
      t.false(res.failed[0]!.reason.includes('pw'));
      const batch = await other.accounts.passwords([a.id]);
      t.is(batch.passwords.size, 0);
      t.is(batch.failed.get(a.id)?.code, 'STORE_DECRYPT');
    } finally {
      await other.close();
    }
  } finally {
    await store.close();
  }
});

test('keyset pagination, enabled filter and shard predicate', async (t) => {
  const { store } = await freshStore({ keyring: parseKeyring(k1) });
  try {
    await store.pool.query(
      `INSERT INTO account (aor, auth_user, registrar, enabled)
       SELECT 'sip:user' || g || '@page.example', 'user' || g, 'sip:page.example', g % 5 <> 0 FROM generate_series(1, 2500) g`,
    );
    let seen = 0;
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const page: Awaited<ReturnType<typeof store.accounts.list>> = await store.accounts.list({ afterId: after, limit: 700, enabled: true });
      for (const a of page.rows) t.true(a.enabled);
      seen += page.rows.length;
      after = page.nextAfterId;
      pages++;
    }
    t.is(seen, 2000);
    t.is(pages, 3);
    const even = (k: string) => Number(/\d+/.exec(k)![0]) % 2 === 0;
    let n = 0;
    for await (const a of store.accounts.iterate({ shard: even, limit: 333 })) {
      t.true(even(a.shardKey));
      n++;
    }
    t.is(n, 1250);
    t.deepEqual(await store.accounts.count(), { total: 2500, enabled: 2000 });
  } finally {
    await store.close();
  }
});

test('batched registration state: 10k rows in one call, read back, idempotent, state counts', async (t) => {
  const { store } = await freshStore();
  try {
    await store.pool.query(
      `INSERT INTO account (aor, auth_user, registrar)
       SELECT 'sip:r' || g || '@reg.example', 'r' || g, 'sip:reg.example' FROM generate_series(1, 10000) g`,
    );
    const ids = (await store.pool.query<{ id: string }>('SELECT id FROM account ORDER BY id')).map((r) => Number(r.id));
    const expires = new Date(Date.now() + 3600_000);
    const states: RegistrationState[] = ids.map((id, i) => ({
      accountId: id,
      state: i % 10 === 0 ? 'Error' : 'Registered',
      callId: `cid-${id}@sipis "quoted" \\ back`,
      cseq: i + 1,
      contact: `<sip:${id}@sipis.example>;expires=3600`,
      expiresAt: expires,
      lastStatus: i % 10 === 0 ? 503 : 200,
      lastReason: i % 10 === 0 ? 'Service Unavailable' : 'OK',
      retryAt: null,
      failures: i % 10 === 0 ? 2 : 0,
      failingSince: null,
    }));
    t.is(await store.registrations.saveMany(states), 10000);
    t.is(await store.registrations.saveMany(states), 10000, 'same rows again: an upsert');
    const counts = await store.registrations.countByState();
    t.is(counts.Registered, 9000);
    t.is(counts.Error, 1000);
    const one = await store.registrations.get(ids[10]!);
    t.is(one?.state, 'Error');
    t.is(one?.callId, `cid-${ids[10]}@sipis "quoted" \\ back`);
    t.is(one?.cseq, 11);
    t.is(one?.expiresAt?.getTime(), Math.floor(expires.getTime() / 1000) * 1000 + (expires.getTime() % 1000));
    // last row per account wins inside one batch; deleted accounts are skipped
    await store.accounts.remove(ids[1]!);
    const n = await store.registrations.saveMany([
      { ...states[0]!, cseq: 100 },
      { ...states[0]!, cseq: 101, state: 'Unauthorized' },
      { ...states[1]!, cseq: 5 },
    ]);
    t.is(n, 2);
    const first = await store.registrations.get(ids[0]!);
    t.is(first?.cseq, 101);
    t.is(first?.state, 'Unauthorized');
    t.is(await store.registrations.get(ids[1]!), null);
    const longAgo = new Date(Date.now() - 13 * 3600_000);
    await store.registrations.saveMany([{ ...states[5]!, state: 'Error', failures: 40, failingSince: longAgo }, { ...states[6]!, state: 'Error', failingSince: new Date() }]);
    const failing = await store.registrations.listFailing(new Date(Date.now() - 12 * 3600_000));
    t.deepEqual(failing.map((f) => [f.accountId, f.failingSince.getTime(), f.state]), [[ids[5], longAgo.getTime(), 'Error']]);
    const bad = await t.throwsAsync(store.registrations.saveMany([{ ...states[2]!, state: 'Bogus' as never }]), { instanceOf: StoreError });
    t.is(bad.code, 'STORE_INVALID');
    // start-up load: accounts with their saved state, paged
    let loaded = 0;
    let withState = 0;
    for await (const row of store.registrations.iterate({ limit: 4000 })) {
      loaded++;
      if (row.registration) {
        withState++;
        if (row.registration.accountId !== row.account.id || row.registration.expiresAt?.getTime() !== expires.getTime()
          || row.registration.callId !== `cid-${row.account.id}@sipis "quoted" \\ back` || !(row.registration.updatedAt instanceof Date)) {
          t.fail(`state of account ${row.account.id} did not round-trip: ${JSON.stringify(row.registration)}`);
        }
      }
    }
    t.is(loaded, 9999);
    t.is(withState, 9999);
  } finally {
    await store.close();
  }
});

test('device bindings, push tokens, dead tokens, stale clean-up', async (t) => {
  const { store } = await freshStore();
  try {
    const acc = await store.accounts.add({ aor: 'sip:dev@example.com', password: 'x' });
    const premium = await store.accounts.add({ aor: 'sip:vip@example.com', password: 'x', premium: true });
    const exp = new Date(Date.now() + 600_000);
    const d1 = await store.devices.upsertBinding({
      accountId: acc.id, instanceId: '<urn:uuid:1>', contact: '<sip:dev@10.0.0.1:5060>', source: 'udp:10.0.0.1:5060', expiresAt: exp,
      userAgent: 'Phone/1',
      pushTokens: [
        { kind: 'voip', provider: 'apns', appId: 'com.example.app', token: 'tok-voip', pnParam: 'TEAM.com.example.app.voip' },
        { kind: 'remote', provider: 'apns', appId: 'com.example.app', token: 'tok-remote' },
      ],
    });
    const d1again = await store.devices.upsertBinding({ accountId: acc.id, instanceId: '<urn:uuid:1>', contact: '<sip:dev@10.0.0.2:5060>', viaBridge: true, flowToken: 'f1', expiresAt: exp });
    t.is(d1again, d1, 'same instance → same device');
    await store.devices.upsertBinding({ accountId: acc.id, instanceId: '<urn:uuid:2>', contact: '<sip:dev@10.0.0.3>', expiresAt: new Date(Date.now() - 1000) });
    let list = await store.devices.listBindings(acc.id);
    t.is(list.length, 1, 'expired bindings hidden');
    t.is(list[0]!.contact, '<sip:dev@10.0.0.2:5060>');
    t.true(list[0]!.viaBridge);
    t.deepEqual(list[0]!.pushTokens.map((p) => [p.kind, p.token, p.deadAt]), [['remote', 'tok-remote', null], ['voip', 'tok-voip', null]]);
    t.is((await store.devices.listBindings(acc.id, { includeExpired: true })).length, 2);

    t.is(await store.devices.markTokenDead('tok-voip', 'apns'), 1);
    t.is(await store.devices.markTokenDead('tok-voip'), 0, 'already dead');
    list = await store.devices.listBindings(acc.id);
    t.truthy(list[0]!.pushTokens.find((p) => p.kind === 'voip')!.deadAt);
    // the same dead token sent again stays dead; a new token revives the kind
    await store.devices.upsertBinding({ accountId: acc.id, instanceId: '<urn:uuid:1>', contact: 'c', expiresAt: exp, pushTokens: [{ kind: 'voip', provider: 'apns', token: 'tok-voip' }] });
    t.truthy((await store.devices.listBindings(acc.id))[0]!.pushTokens.find((p) => p.kind === 'voip')!.deadAt);
    await store.devices.upsertBinding({ accountId: acc.id, instanceId: '<urn:uuid:1>', contact: 'c', expiresAt: exp, pushTokens: [{ kind: 'voip', provider: 'apns', token: 'tok-voip-2' }] });
    t.is((await store.devices.listBindings(acc.id))[0]!.pushTokens.find((p) => p.kind === 'voip')!.deadAt, null);

    const bad = await t.throwsAsync(store.devices.upsertBinding({ accountId: acc.id, instanceId: 'x', contact: 'c', expiresAt: exp, pushTokens: [{ kind: 'BAD KIND', provider: 'apns', token: 't' }] }), { instanceOf: StoreError });
    t.is(bad.code, 'STORE_INVALID');
    t.is((await store.devices.listBindings(acc.id, { includeExpired: true })).length, 2, 'the failed upsert rolled back');

    await store.devices.upsertBinding({ accountId: premium.id, instanceId: 'vip-phone', contact: 'c', expiresAt: exp });
    await store.pool.query("UPDATE device SET last_seen = now() - interval '4 days'");
    const removed = await store.devices.removeStale(new Date(Date.now() - 3 * 86400_000), new Date(Date.now() - 7 * 86400_000));
    t.is(removed, 2, 'the premium device is kept for 7 days');
    t.is((await store.devices.listBindings(premium.id)).length, 1);
    t.true(await store.devices.removeBinding(premium.id, 'vip-phone'));
    t.false(await store.devices.removeBinding(premium.id, 'vip-phone'));
  } finally {
    await store.close();
  }
});

test('schema v2 (clean-up): an upgrade keeps the rows; disabled_reason and the failure clock go when an account is enabled again, by any writer', async (t) => {
  const url = await pg.createDatabase(`v2_${process.pid}`);
  const pool = new Pool({ url });
  await pool.start();
  try {
    // a database of schema v1 with an account, its failing registration and a device
    await migrate(pool, undefined, [migrations[0]!]);
    await pool.query("INSERT INTO account (aor, auth_user, registrar, enabled) VALUES ('sip:old@example.com', 'old', 'sip:example.com', false)");
    await pool.query("INSERT INTO upstream_registration (account_id, state, failures, failing_since) SELECT id, 'Error', 7, now() - interval '13 hours' FROM account");
    await pool.query("INSERT INTO device (account_id, instance_id, contact, expires_at) SELECT id, 'i1', 'sip:c@10.0.0.1', now() + interval '1 day' FROM account");
    t.deepEqual((await migrate(pool)).applied, [2]);
  } finally {
    await pool.close();
  }
  const store = await Store.open({ url, keyring, listen: false });
  try {
    const old = (await store.accounts.getByAor('sip:old@example.com'))!;
    t.like(old, { enabled: false, disabledReason: null, disabledAt: null }, 'rows from v1: no reason, no date');
    const dev = await store.pool.query<{ warning_stage: number; warned_due_at: Date | null }>('SELECT warning_stage, warned_due_at FROM device');
    t.deepEqual(dev.map((d) => [d.warning_stage, d.warned_due_at]), [[0, null]]);

    // an operator disables: dated, no reason
    const a = await store.accounts.add({ aor: 'sip:a@example.com', password: 'x' });
    const b = await store.accounts.add({ aor: 'sip:b@example.com', password: 'x' });
    t.like(a, { disabledReason: null, disabledAt: null });
    const disabled = await store.accounts.setEnabled(a.id, false);
    t.is(disabled.disabledReason, null);
    t.true(disabled.disabledAt instanceof Date && Math.abs(disabled.disabledAt.getTime() - Date.now()) < 60_000);
    // the clean-up switches one off with its reason (its own statement sets both)
    await store.registrations.saveMany([a.id, b.id].map((id) => ({ accountId: id, state: 'Error', callId: 'c', cseq: 1, contact: null, expiresAt: null, lastStatus: 503, lastReason: 'Busy', retryAt: new Date(Date.now() + 60_000), failures: 3, failingSince: new Date(Date.now() - 13 * 3600_000) }) satisfies RegistrationState));
    await store.pool.query("UPDATE upstream_registration SET warned_due_at = now(), warning_stage = 2");
    await store.pool.query("UPDATE account SET enabled = false, disabled_reason = 'registration failing since then', disabled_at = '2030-01-01T00:00:00Z' WHERE id = $1", [b.id]);
    const off = (await store.accounts.get(b.id))!;
    t.like(off, { enabled: false, disabledReason: 'registration failing since then' });
    t.is(off.disabledAt?.toISOString(), '2030-01-01T00:00:00.000Z');
    t.like(await store.accounts.setEnabled(b.id, false), { disabledReason: 'registration failing since then' }, 'disabling again keeps the reason');

    // plain SQL enables both at once (one statement): reasons, dates and failure clocks go
    await store.pool.query('UPDATE account SET enabled = true WHERE id = ANY($1::bigint[])', [`{${a.id},${b.id}}`]);
    for (const id of [a.id, b.id]) {
      t.like(await store.accounts.get(id), { enabled: true, disabledReason: null, disabledAt: null });
      t.like(await store.registrations.get(id), { failingSince: null, failures: 0, retryAt: null, state: 'Error', callId: 'c' }, 'the rest is the engine\'s to write');
    }
    t.deepEqual((await store.pool.query<{ s: number }>('SELECT warning_stage AS s FROM upstream_registration ORDER BY account_id')).map((r) => r.s), [2, 0, 0], 'the account still disabled keeps its record');
    // an update that does not enable leaves a failing enabled account alone
    await store.registrations.saveMany([{ accountId: a.id, state: 'Error', callId: 'c', cseq: 2, contact: null, expiresAt: null, lastStatus: 503, lastReason: null, retryAt: null, failures: 1, failingSince: new Date() }]);
    await store.accounts.update(a.id, { displayName: 'A' });
    t.is((await store.registrations.get(a.id))!.failures, 1);
  } finally {
    await store.close();
  }
});

test('clean-up queries: claims are taken once, a refreshed device is not removed, a re-enabled account not switched off', async (t) => {
  const { store } = await freshStore();
  try {
    const ages = { staleMs: 3 * 86400_000, premiumStaleMs: 7 * 86400_000, failingMs: 12 * 3600_000, warningsMs: [12 * 3600_000, 3600_000] };
    const acc = await store.accounts.add({ aor: 'sip:c@example.com', password: 'x' });
    const exp = new Date(Date.now() + 86400_000);
    const d1 = await store.devices.upsertBinding({ accountId: acc.id, instanceId: 'i1', contact: 'c', expiresAt: exp, pushTokens: [{ kind: 'remote', provider: 'fcm', appId: 'app', token: 'tok-1' }, { kind: 'voip', provider: 'apns', token: 'dead-tok' }] });
    const d2 = await store.devices.upsertBinding({ accountId: acc.id, instanceId: 'i2', contact: 'c', expiresAt: exp });
    await store.devices.markTokenDead('dead-tok');
    await store.pool.query("UPDATE device SET last_seen = now() - interval '3 days 1 minute'");
    const now = new Date();
    const page = await store.cleanup.deviceCandidates(now, ages, '', 10);
    t.deepEqual(page.rows.map((r) => [r.id, r.due, r.shardKey]), [[d1, true, 'c@example.com'], [d2, true, 'c@example.com']]);
    t.is(page.next, null);
    const first = await store.cleanup.deviceCandidates(now, ages, '', 1);
    t.deepEqual(first.rows.map((r) => r.id), [d1]);
    t.deepEqual((await store.cleanup.deviceCandidates(now, ages, first.next!, 1)).rows.map((r) => r.id), [d2], 'keyset paging from the cursor');
    // overdue but never warned (the sweep was down, or just deployed): warned first, with the
    // removal announced an hour ahead, and removed only an hour after that
    const late = await store.cleanup.warnDevices([d1, d2], now, ages);
    t.deepEqual(late.map((w) => [w.deviceId, w.stage]), [[d1, 2], [d2, 2]], 'every passed stage in one warning');
    t.is(late[0]!.dueAt, now.getTime() + 3600_000);
    t.deepEqual(await store.cleanup.removeDevices([d1, d2], now, ages), [], 'not before an hour after its warning');
    await store.pool.query("UPDATE device SET warned_at = warned_at - interval '1 hour'");
    // d2's phone registers between the scan and the removal: it stays
    await store.devices.upsertBinding({ accountId: acc.id, instanceId: 'i2', contact: 'c', expiresAt: exp });
    const gone = await store.cleanup.removeDevices([d1, d2], now, ages);
    t.deepEqual(gone.map((g) => [g.deviceId, g.instanceId, g.tokens.map((x) => x.token)]), [[d1, 'i1', ['tok-1']]], 'with its live tokens, read before the delete');
    t.deepEqual((await store.devices.listBindings(acc.id)).map((b) => b.id), [d2]);
    // warnings: once per stage and due time
    await store.pool.query("UPDATE device SET last_seen = now() - interval '2 days 12 hours 1 minute'");
    t.deepEqual((await store.cleanup.warnDevices([d2], new Date(), ages)).map((w) => [w.deviceId, w.stage]), [[d2, 1]]);
    t.deepEqual(await store.cleanup.warnDevices([d2], new Date(), ages), []);
    t.deepEqual(await store.cleanup.removeDevices([d2], new Date(), ages), [], 'not due yet');
    // accounts: switched off only while enabled and still failing long enough
    await store.registrations.saveMany([{ accountId: acc.id, state: 'Error', callId: 'x', cseq: 1, contact: null, expiresAt: null, lastStatus: 404, lastReason: 'Not Found', retryAt: null, failures: 2, failingSince: new Date(Date.now() - 12 * 3600_000 - 60_000) }]);
    const cands = await store.cleanup.accountCandidates(new Date(), ages, '', 10);
    t.deepEqual(cands.rows.map((r) => [r.id, r.due]), [[acc.id, true]]);
    await store.accounts.setEnabled(acc.id, false);
    await store.accounts.setEnabled(acc.id, true);
    t.deepEqual(await store.cleanup.switchOffAccounts([acc.id], new Date(), ages), [], 're-enabled meanwhile: the failure clock was stopped');
    await store.registrations.saveMany([{ accountId: acc.id, state: 'Error', callId: 'x', cseq: 1, contact: null, expiresAt: null, lastStatus: 404, lastReason: 'Not Found', retryAt: null, failures: 2, failingSince: new Date(Date.now() - 12 * 3600_000 - 60_000) }]);
    t.deepEqual(await store.cleanup.switchOffAccounts([acc.id], new Date(), ages), [], 'never warned: not switched off untold');
    t.is((await store.cleanup.warnAccounts([acc.id], new Date(), ages)).length, 1);
    await store.pool.query("UPDATE upstream_registration SET warned_at = warned_at - interval '1 hour'");
    const off = await store.cleanup.switchOffAccounts([acc.id], new Date(), ages);
    t.is(off.length, 1);
    t.regex(off[0]!.reason, /^registration failing since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(last: Error 404 Not Found\)$/);
    t.deepEqual(await store.cleanup.switchOffAccounts([acc.id], new Date(), ages), [], 'once');
    t.like(await store.cleanup.switchedOff(), { total: 1 });
  } finally {
    await store.close();
  }
});

test('messages: stored once per dedupe key, listed oldest first, marked delivered; calls and badges', async (t) => {
  const { store } = await freshStore();
  try {
    const acc = await store.accounts.add({ aor: 'sip:msg@example.com', password: 'x' });
    const body = Buffer.from([0, 1, 2, 255, 0x5c, 0x78]);
    const m1 = await store.messages.store({ accountId: acc.id, dedupeKey: 'call-1/1', fromUri: 'sip:a@b', contentType: 'text/plain', body });
    const m1b = await store.messages.store({ accountId: acc.id, dedupeKey: 'call-1/1', fromUri: 'sip:a@b', contentType: 'text/plain', body });
    t.false(m1.duplicate);
    t.true(m1b.duplicate);
    t.is(m1b.id, m1.id);
    const m2 = await store.messages.store({ accountId: acc.id, fromUri: 'sip:c@d', fromDisplay: 'C', contentType: 'text/plain;charset=utf-8', body: Buffer.from('hi ✓') });
    const list = await store.messages.listUndelivered(acc.id);
    t.deepEqual(list.map((m) => m.id), [m1.id, m2.id]);
    t.deepEqual(list[0]!.body, body);
    t.is(list[1]!.body.toString(), 'hi ✓');
    t.is(await store.messages.markDelivered([m1.id, m1.id, 424242]), 1);
    t.deepEqual((await store.messages.listUndelivered(acc.id)).map((m) => m.id), [m2.id]);
    const big = await t.throwsAsync(store.messages.store({ accountId: acc.id, fromUri: 'sip:a@b', contentType: 'x/y', body: Buffer.alloc(4 * 1024 * 1024 + 1) }), { instanceOf: StoreError });
    t.is(big.code, 'STORE_INVALID');

    await store.messages.startPendingCall({ callId: 'inv-1', accountId: acc.id, fromUri: 'sip:caller@x', fromDisplay: 'Caller' });
    await store.messages.startPendingCall({ callId: 'inv-1', accountId: acc.id, fromUri: 'sip:caller@x' });
    await store.messages.startPendingCall({ callId: 'inv-2', accountId: acc.id, fromUri: 'sip:caller@x' });
    t.is((await store.messages.listPendingCalls()).length, 2);
    t.true(await store.messages.finishPendingCall('inv-1', 'missed'));
    t.true(await store.messages.finishPendingCall('inv-2', 'answered'));
    t.false(await store.messages.finishPendingCall('inv-1', 'missed'), 'already finished');
    const missed = await store.messages.listMissedCalls(acc.id);
    t.deepEqual(missed.map((m) => [m.callId, m.outcome, m.fromDisplay]), [['inv-1', 'missed', 'Caller']]);
    t.is(await store.messages.bumpBadge(acc.id, 2), 2);
    t.is(await store.messages.bumpBadge(acc.id, -5), 0);

    const st = await store.status();
    t.is(st.accounts, 1);
    t.is(st.undeliveredMessages, 1);
    t.is(st.pendingCalls, 0);
    t.is(st.registrations.Idle, 1);
  } finally {
    await store.close();
  }
});

test('NOTIFY: API writes and plain SQL reach a listener; plain passwords get sealed', async (t) => {
  const { store, url } = await freshStore({ listen: true });
  try {
    const added = nextEvent(store, (ev) => ev.type === 'change' && ev.change.op === 'INSERT');
    const acc = await store.accounts.add({ aor: 'sip:n1@example.com', password: 'pw' });
    const ev1 = await added;
    t.deepEqual(ev1.type === 'change' && [ev1.change.id, ev1.change.shardKey, ev1.change.enabled], [acc.id, 'n1@example.com', true]);

    // the provider's own system, plain SQL on another connection
    const disabled = nextEvent(store, (ev) => ev.type === 'change' && ev.change.op === 'UPDATE' && !ev.change.enabled);
    const other = await Store.open({ url, listen: false });
    const sent = Date.now();
    await other.pool.query('UPDATE account SET enabled = false WHERE id = $1', [acc.id]);
    const ev2 = await disabled;
    t.log(`plain SQL UPDATE → listener: ${Date.now() - sent} ms`);
    t.is(ev2.type === 'change' && ev2.change.id, acc.id);

    // a plaintext password from plain SQL is sealed by the listening store and cleared
    // the store seals before it passes the change on; the sealing itself is not notified
    const sealed = nextEvent(store, (ev) => ev.type === 'change' && ev.change.op === 'INSERT' && ev.change.pendingPassword);
    await other.pool.query("INSERT INTO account (aor, auth_user, registrar, password_plain) VALUES ('sip:plain@example.com', 'plain', 'sip:example.com', 'from-sql')");
    const ev3 = await sealed;
    const id3 = ev3.type === 'change' ? ev3.change.id : 0;
    const row = await other.pool.query<{ password_plain: string | null; password_key_id: string | null }>('SELECT password_plain, password_key_id FROM account WHERE id = $1', [id3]);
    t.deepEqual(row[0], { password_plain: null, password_key_id: 'k1' });
    t.is(await store.accounts.password(id3), 'from-sql');

    // a new password by plain SQL replaces the old one (the old ciphertext is cleared at once)
    const resealed = nextEvent(store, (ev) => ev.type === 'change' && ev.change.id === id3 && ev.change.pendingPassword);
    await other.pool.query("UPDATE account SET password_plain = 'changed-by-sql' WHERE id = $1", [id3]);
    await resealed;
    t.is(await store.accounts.password(id3), 'changed-by-sql');
    const after = await other.pool.query<{ password_plain: string | null }>('SELECT password_plain FROM account WHERE id = $1', [id3]);
    t.is(after[0]!.password_plain, null);
    // the schema itself refuses malformed rows from plain SQL
    const bad = await t.throwsAsync(other.pool.query("INSERT INTO account (aor, auth_user, registrar) VALUES ('alice@example.com', 'a', 'sip:example.com')"), { instanceOf: StoreError });
    t.is(bad.code, 'STORE_INVALID');
    t.is(bad.sqlState, '23514');

    const deleted = nextEvent(store, (ev) => ev.type === 'change' && ev.change.op === 'DELETE');
    await other.pool.query('DELETE FROM account WHERE id = $1', [acc.id]);
    t.is(((await deleted) as { change: { id: number } }).change.id, acc.id);

    // a bulk import sends one BULK notification: listeners re-sync
    const bulk = nextEvent(store, (ev) => ev.type === 'resync' && ev.reason === 'bulk');
    await other.pool.query(`INSERT INTO account (aor, auth_user, registrar) SELECT 'sip:b' || g || '@bulk.example', 'b', 'sip:bulk.example' FROM generate_series(1, 1500) g`);
    t.is((await bulk).type, 'resync');
    await other.close();
  } finally {
    await store.close();
  }
});

test('bulk provisioning: addMany seals passwords, skips existing AORs, validates every row', async (t) => {
  const { store } = await freshStore();
  try {
    const inputs = Array.from({ length: 6000 }, (_, i) => ({ aor: `sip:bulk${i}@many.example`, password: `pw-${i}`, premium: i % 2 === 0 }));
    const first = await store.accounts.addMany(inputs);
    t.deepEqual(first, { inserted: 6000, duplicates: [] });
    const again = await store.accounts.addMany([...inputs.slice(0, 2), { aor: 'sip:new@many.example', password: 'x' }]);
    t.is(again.inserted, 1);
    t.deepEqual(again.duplicates, ['sip:bulk0@many.example', 'sip:bulk1@many.example']);
    const some = (await store.accounts.list({ limit: 50 })).rows.map((x) => x.id);
    const { passwords, failed } = await store.accounts.passwords([...some, 999_999]);
    t.is(passwords.size, 50);
    t.is(failed.size, 0);
    t.is(passwords.get(some[7]!), 'pw-7');
    const a = await store.accounts.getByAor('sip:bulk5432@many.example');
    t.is(await store.accounts.password(a!.id), 'pw-5432');
    t.true(a!.premium);
    const bad = await t.throwsAsync(store.accounts.addMany([{ aor: 'sip:fine@x.example' }, { aor: 'not a uri' }]), { instanceOf: StoreError });
    t.is(bad.code, 'STORE_INVALID');
    t.is(await store.accounts.getByAor('sip:fine@x.example'), null, 'nothing written when a row is invalid');
  } finally {
    await store.close();
  }
});

test('a deadlock is a retryable STORE_BUSY, and the pool keeps both connections', async (t) => {
  const { store } = await freshStore();
  try {
    const a = await store.accounts.add({ aor: 'sip:dl1@example.com' });
    const b = await store.accounts.add({ aor: 'sip:dl2@example.com' });
    let step = 0;
    const bothLocked = () =>
      new Promise<void>((resolve) => {
        const tick = () => (step >= 2 ? resolve() : setTimeout(tick, 5));
        tick();
      });
    const cross = (first: number, second: number) =>
      store.pool.transaction(async (tx) => {
        await tx.query('UPDATE account SET expires = 61 WHERE id = $1', [first]);
        step++;
        await bothLocked();
        await tx.query('UPDATE account SET expires = 62 WHERE id = $1', [second]);
      });
    const results = await Promise.allSettled([cross(a.id, b.id), cross(b.id, a.id)]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.is(failures.length, 1, 'PostgreSQL breaks the deadlock by failing one side');
    const err = failures[0]!.reason as StoreError;
    t.is(err.code, 'STORE_BUSY');
    t.is(err.sqlState, '40P01');
    t.true(err.retryable);
    t.is((await store.pool.query<{ x: number }>('SELECT 1 AS x'))[0]!.x, 1);
    t.is(store.pool.connections, 2, 'the pool grew for the second transaction and kept both');
  } finally {
    await store.close();
  }
});

test('concurrent queries share at most `size` connections and all complete', async (t) => {
  const url = await pg.createDatabase(`pool_${process.pid}`);
  const store = await Store.open({ url, listen: false, size: 3 });
  try {
    let peak = 0;
    const all = Array.from({ length: 40 }, async (_, i) => {
      const r = await store.pool.query<{ i: number }>('SELECT $1::int AS i, pg_sleep(0.005)', [i]);
      peak = Math.max(peak, store.pool.connections);
      return r[0]!.i;
    });
    t.deepEqual(await Promise.all(all), Array.from({ length: 40 }, (_, i) => i));
    t.true(peak <= 3);
    t.is(store.pool.connections, 3);
    t.is(store.pool.queued, 0);
  } finally {
    await store.close();
  }
});
