import test from 'ava';
import pino from 'pino';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { AdminServer, databaseCheck } from './admin.js';
import { startSipis } from './app.js';
import { loadConfig } from './config.js';
import { counter, formatMetrics, gauge, type Metric } from './metrics.js';
import { VERSION } from '../version.js';

// Its own cluster, started by the one test that needs it: that test stops PostgreSQL.
let pg: PostgresCluster | undefined;
test.after.always(async () => {
  await pg?.stop();
});

/** probes (kubelet, load balancers) give up after 1–3 s: an answer later than this is a hang to them. */
const PROBE_TIMEOUT_MS = 3000;

test('Prometheus text format: HELP, TYPE, labels escaped', (t) => {
  const m: Metric = { name: 'sipis_registrations', help: 'accounts by state', type: 'gauge', samples: [{ labels: { state: 'Registered' }, value: 3 }, { labels: { state: 'a"b\\c' }, value: 1 }] };
  const text = formatMetrics([m, counter('sipis_x_total', 'x', 5), gauge('sipis_nan', 'n', NaN)]);
  t.is(
    text,
    '# HELP sipis_registrations accounts by state\n# TYPE sipis_registrations gauge\nsipis_registrations{state="Registered"} 3\nsipis_registrations{state="a\\"b\\\\c"} 1\n' +
      '# HELP sipis_x_total x\n# TYPE sipis_x_total counter\nsipis_x_total 5\n# HELP sipis_nan n\n# TYPE sipis_nan gauge\nsipis_nan 0\n',
  );
});

test('admin HTTP serves /healthz, /metrics, /status; 503 when unhealthy; 404/405 otherwise', async (t) => {
  let healthy = true;
  const admin = new AdminServer({
    health: () => ({ ok: healthy, checks: { database: { ok: healthy, detail: healthy ? undefined : 'connection refused' } } }),
    metrics: () => formatMetrics([counter('sipis_registers_sent_total', 'REGISTERs sent', 7)]),
    status: async () => ({ accounts: { Idle: 1, Registering: 0, Registered: 2, Unauthorized: 0, Error: 0 } }),
  });
  const addr = await admin.listen('127.0.0.1', 0);
  const base = `http://127.0.0.1:${addr.port}`;
  try {
    let r = await fetch(`${base}/healthz`);
    t.is(r.status, 200);
    t.true(((await r.json()) as { ok: boolean }).ok);
    healthy = false;
    r = await fetch(`${base}/healthz`);
    t.is(r.status, 503);
    t.regex(await r.text(), /connection refused/);
    r = await fetch(`${base}/metrics`);
    t.regex(r.headers.get('content-type') ?? '', /text\/plain/);
    t.regex(await r.text(), /^sipis_registers_sent_total 7$/m);
    r = await fetch(`${base}/status`);
    t.is(((await r.json()) as { accounts: { Registered: number } }).accounts.Registered, 2);
    r = await fetch(`${base}/nope`);
    t.is(r.status, 404);
    r = await fetch(`${base}/status`, { method: 'POST', body: 'x' });
    t.is(r.status, 405);
  } finally {
    await admin.close();
  }
});

test('a failing handler answers 500 and the server keeps serving', async (t) => {
  const admin = new AdminServer({
    health: () => {
      throw new Error('boom');
    },
    metrics: () => '',
    status: () => ({}),
  });
  const addr = await admin.listen('127.0.0.1', 0);
  try {
    t.is((await fetch(`http://127.0.0.1:${addr.port}/healthz`)).status, 500);
    t.is((await fetch(`http://127.0.0.1:${addr.port}/status`)).status, 200);
  } finally {
    await admin.close();
  }
});

test('databaseCheck: a database that does not answer is reported unreachable after the deadline; a pool without connections at once', async (t) => {
  const hung = { down: false, query: () => new Promise<never>(() => undefined) };
  t.deepEqual(await databaseCheck(hung, 50), { ok: false, detail: 'database unreachable: no answer within 50 ms' });
  t.deepEqual(await databaseCheck({ down: true, query: hung.query }), { ok: false, detail: 'database unreachable: no connection (reconnecting)' });
  t.deepEqual(await databaseCheck({ down: false, query: () => Promise.reject(new Error('connection refused')) }), { ok: false, detail: 'database unreachable: connection refused' });
  t.deepEqual(await databaseCheck({ down: false, query: () => Promise.resolve([]) }), { ok: true });
  // a health handler built on it answers a probe in time, 503
  const admin = new AdminServer({ health: async () => ({ ok: false, checks: { database: await databaseCheck(hung) } }), metrics: () => '', status: () => ({}) });
  const addr = await admin.listen('127.0.0.1', 0);
  try {
    const r = await fetch(`http://127.0.0.1:${addr.port}/healthz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    t.is(r.status, 503);
  } finally {
    await admin.close();
  }
});

test('sipis with its database stopped: /healthz answers a probe in time with 503 "database unreachable"; /status answers from memory with the database down', async (t) => {
  pg = await startPostgres();
  const url = await pg.createDatabase('admin_dbdown');
  const cfg = loadConfig(['--listen', '127.0.0.1:0', '--admin-port', '0', '--db-url', url, '--domain', 'sipis.test'], {
    SIPIS_SECRET_KEY: formatKeyEntry('k1', generateKey()),
    SIPIS_DIGEST_SECRET: 'admin-test-digest-secret-0123456789',
  });
  const sipis = await startSipis(cfg, { log: pino({ level: 'silent' }) });
  t.teardown(() => sipis.close());
  const base = `http://127.0.0.1:${sipis.adminAddress!.port}`;
  const get = async (path: string): Promise<Response> => {
    try {
      return await fetch(`${base}${path}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    } catch (err) {
      throw new Error(`${path}: no answer within ${PROBE_TIMEOUT_MS} ms (${(err as Error).name})`);
    }
  };
  t.is((await get('/healthz')).status, 200);
  t.like(await (await get('/status')).json(), { database: 'up', pendingMessages: 0 });
  const about = (await (await get('/about')).json()) as { name: string; version: string; node: string; uptimeS: number };
  t.like(about, { name: 'sipis', version: VERSION, node: process.version });
  t.true(Number.isInteger(about.uptimeS));
  // /stats: the numbers of /metrics as JSON (sipis-facts: about, stats and a JSON summary)
  const stats = (await (await get('/stats')).json()) as Record<string, unknown>;
  t.is(stats.since, (about as unknown as { startedAt: string }).startedAt);
  t.is(typeof stats.datagrams_in, 'number');
  t.like(stats.upstream_registrations as object, { 'state=Registered': 0 });
  t.regex(await (await get('/nowhere')).text(), /try .*\/about, \/stats/);
  await pg.kill('fast');
  try {
    // twice: the first notices the lost connection, the second finds the pool reconnecting
    for (let i = 0; i < 2; i++) {
      const r = await get('/healthz');
      t.is(r.status, 503);
      const body = (await r.json()) as { ok: boolean; checks: { database: { ok: boolean; detail: string }; transport: { ok: boolean } } };
      t.false(body.ok);
      t.false(body.checks.database.ok);
      t.regex(body.checks.database.detail, /^database unreachable/);
      t.true(body.checks.transport.ok);
    }
    const status = await get('/status');
    t.is(status.status, 200);
    t.like(await status.json(), { database: 'down', pendingMessages: null, total: 0, devices: { bindings: 0 } });
  } finally {
    await pg.start();
  }
});
