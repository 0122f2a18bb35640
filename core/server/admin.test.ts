import test from 'ava';
import { AdminServer } from './admin.js';
import { counter, formatMetrics, gauge, type Metric } from './metrics.js';

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
