import test from 'ava';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { ALICE, DOMAIN, makeRig } from './testing/harness.js';

// Its own cluster: this file stops PostgreSQL, which must not disturb the other tests.
let pg: PostgresCluster;
test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

test.serial('bad requests: To without a user → 404; a tel: Contact → 416; the database down → 503 with Retry-After (refresh and new device alike), no crash', async (t) => {
  const rig = await makeRig(pg, {}, { acquireTimeoutMs: 500, queryTimeoutMs: 1000 });
  t.teardown(() => rig.close());
  const phone = rig.phone('127.0.0.1', `sip:${DOMAIN}`);
  t.is((await phone.register({ contacts: ['<sip:x@10.0.0.1>'], auth: ALICE })).status, 404);
  const alice = rig.phone();
  t.is((await alice.register({ contacts: ['<tel:+123>'], auth: ALICE })).status, 416);
  // warm the account cache, then take the database away
  t.is((await alice.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: ALICE })).status, 200);
  await pg.kill('fast');
  try {
    // RFC 3261 §21.5.4: the binding write cannot be made for now
    const r = await alice.register({ contacts: ['<sip:alice@10.0.0.2>'], auth: ALICE });
    t.deepEqual([r.status, r.reason], [503, 'Service Unavailable']);
    t.is(r.header('Retry-After'), '5');
    t.is(rig.registrar.bindingsOf(rig.accountId).length, 1, 'memory unchanged when the write failed');
    // an account not in the cache: its lookup is what fails
    const bob = rig.phone('127.0.0.1', 'sip:bob@provider.test');
    const b = await bob.register({ contacts: ['<sip:bob@10.0.0.3>'], auth: { username: 'bob', password: 'bob-secret' } });
    t.deepEqual([b.status, b.header('Retry-After')], [503, '5']);
    t.is(rig.registrar.metricFamilies().find((f) => f.name === 'sipis_device_register_rejected_total')!.samples[0]!.value, 4);
  } finally {
    await pg.start();
  }
});

test.serial('the database known to be down: a REGISTER gets its 503 at once, not after the pool has waited for a connection', async (t) => {
  // an acquire timeout longer than the test's own: waiting for it would fail the test
  const rig = await makeRig(pg, {}, { acquireTimeoutMs: 60_000, queryTimeoutMs: 1000 });
  t.teardown(() => rig.close());
  const alice = rig.phone();
  t.is((await alice.register({ contacts: ['<sip:alice@10.0.0.1>'], auth: ALICE })).status, 200);
  await pg.kill('fast');
  try {
    // the first write finds the connection gone (the pool now knows), the next ones are not queued
    t.is((await alice.register({ contacts: ['<sip:alice@10.0.0.2>'], auth: ALICE })).status, 503);
    for (const contact of ['<sip:alice@10.0.0.3>', '<sip:alice@10.0.0.4>']) {
      const r = await alice.register({ contacts: [contact], auth: ALICE });
      t.deepEqual([r.status, r.header('Retry-After')], [503, '5']);
    }
    const bob = rig.phone('127.0.0.1', 'sip:bob@provider.test');
    t.is((await bob.register({ contacts: ['<sip:bob@10.0.0.5>'], auth: { username: 'bob', password: 'bob-secret' } })).status, 503, 'an account lookup too');
  } finally {
    await pg.start();
  }
});
