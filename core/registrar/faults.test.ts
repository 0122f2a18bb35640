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

test('bad requests: To without a user → 404; a tel: Contact → 416; the database down → 500 with Retry-After, no crash', async (t) => {
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
    const r = await alice.register({ contacts: ['<sip:alice@10.0.0.2>'], auth: ALICE });
    t.is(r.status, 500);
    t.is(r.header('Retry-After'), '5');
    t.is(rig.registrar.bindingsOf(rig.accountId).length, 1, 'memory unchanged when the write failed');
  } finally {
    await pg.start();
  }
});
