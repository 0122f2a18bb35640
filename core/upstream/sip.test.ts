/**
 * The engine over the real SIP stack (UDP on loopback, transaction layer) against our test
 * registrar (fixtures/registrar.ts): digest, 423, 503 + Retry-After, wrong password, timeouts,
 * unregister. Kamailio runs in kamailio.test.ts.
 */
import test from 'ava';
import { startTestRegistrar, type TestRegistrar } from '../../fixtures/registrar.js';
import { TransactionLayer } from '../transaction/index.js';
import { UdpTransport } from '../transport/index.js';
import { UpstreamEngine } from './engine.js';
import { SipRegistrationSender } from './sender.js';
import type { UpstreamAccount } from './types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function setup(reg: TestRegistrar, backoffBaseS = 0.3, host = '127.0.0.1') {
  const transport = await UdpTransport.listen({ listen: [{ host, port: 0 }] });
  // T1 = 50 ms: Timer F (64·T1) fires after 3.2 s instead of 32 s
  const layer = new TransactionLayer(transport, { timers: { T1: 50, T2: 400, T4: 500 } });
  const engine = new UpstreamEngine({
    sender: new SipRegistrationSender(layer),
    rate: 500,
    policy: { backoff: { baseMs: backoffBaseS * 1000, maxMs: 5000, authFailureMs: 60_000 } },
  });
  engine.start();
  const acc = (id: string, over: Partial<UpstreamAccount> = {}): UpstreamAccount => ({
    id,
    aor: `sip:${id}@sipis.test`,
    authUser: id,
    password: `${id}-pw`,
    registrar: reg.uri,
    expires: 60,
    enabled: true,
    ...over,
  });
  return {
    engine,
    transport,
    acc,
    async close() {
      await engine.stop();
      layer.close();
      await transport.close();
    },
  };
}

const passwords = (u: string) => `${u}-pw`;

test('registers with digest: our Contact (acc-<id>@our address) is bound at the registrar', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('alice'), s.acc('bob')], new Map());
    await until(() => s.engine.countByState().Registered === 2, 8000, 'two registrations');
    const b = reg.bindings('alice');
    t.is(b.length, 1);
    const local = s.transport.endpoints[0]!;
    t.is(b[0]!.contact, `sip:acc-alice@${local.address}:${local.port}`);
    t.is(reg.count('alice'), 2, '401 then 200');
    t.is(s.engine.get('alice')!.granted, 60);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('423 Interval Too Brief: retried at once with Min-Expires', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords, minExpires: 120 });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('carol', { expires: 30 })], new Map());
    await until(() => s.engine.get('carol')?.state === 'Registered', 8000, 'registration');
    t.is(s.engine.get('carol')!.granted, 120);
    const asked = reg.log.filter((e) => e.aorUser === 'carol').map((e) => [e.status, e.expires]);
    t.deepEqual(asked, [
      [401, 30],
      [423, 30],
      [200, 120],
    ]);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('503 with Retry-After: Error, waits as told, then registers', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  reg.setBehaviour('dave', { kind: 'status', status: 503, retryAfter: 1 });
  const s = await setup(reg, 30);
  try {
    s.engine.load([s.acc('dave')], new Map());
    await until(() => reg.count('dave') === 1 && s.engine.get('dave')?.state === 'Error', 3000, 'a 503');
    const due = s.engine.get('dave')!.dueAt - Date.now();
    t.true(due > 500 && due <= 1100, `retry in ${due} ms, as Retry-After said (not the 30 s backoff)`);
    reg.setBehaviour('dave', { kind: 'normal' });
    await until(() => s.engine.get('dave')?.state === 'Registered', 5000, 'registration after the 503');
    t.is(reg.bindings('dave').length, 1);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('wrong password: Unauthorized after two REGISTERs, and no tight retry loop', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: (u) => (u === 'eve' ? 'right' : undefined) });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('eve', { password: 'wrong' })], new Map());
    await until(() => s.engine.get('eve')?.state === 'Unauthorized', 5000, 'Unauthorized');
    await sleep(1500);
    t.is(reg.count('eve'), 2);
    t.is(s.engine.get('eve')!.state, 'Unauthorized');
    // fixing the password re-registers at once
    s.engine.upsertAccount(s.acc('eve', { password: 'right' }));
    await until(() => s.engine.get('eve')?.state === 'Registered', 5000, 'registration with the new password');
  } finally {
    await s.close();
    await reg.close();
  }
});

test('403 → Unauthorized with the long backoff', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  reg.setBehaviour('frank', { kind: 'status', status: 403 });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('frank')], new Map());
    await until(() => s.engine.get('frank')?.state === 'Unauthorized', 5000, 'Unauthorized');
    t.true(s.engine.get('frank')!.dueAt - Date.now() > 30_000);
    t.is(reg.count('frank'), 1);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('no answer: Timer F → Error with backoff, registered once the registrar answers again', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  reg.setBehaviour('gina', { kind: 'drop' });
  const s = await setup(reg, 0.3);
  try {
    s.engine.load([s.acc('gina')], new Map());
    await until(() => s.engine.counters.timeouts >= 1, 8000, 'a transaction timeout');
    t.is(s.engine.get('gina')!.state, 'Error');
    reg.setBehaviour('gina', { kind: 'normal' });
    await until(() => s.engine.get('gina')?.state === 'Registered', 10_000, 'registration after the timeout');
  } finally {
    await s.close();
    await reg.close();
  }
});

test('disable → unREGISTER removes our binding', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('hank')], new Map());
    await until(() => s.engine.get('hank')?.state === 'Registered', 5000, 'registration');
    t.is(reg.bindings('hank').length, 1);
    s.engine.upsertAccount(s.acc('hank', { enabled: false }));
    await until(() => reg.bindings('hank').length === 0, 5000, 'the binding to go');
    // the registrar drops the binding before its 200 reaches us: the engine lets go on that 200
    await until(() => s.engine.get('hank') === undefined, 5000, 'the engine to drop the account after the 200');
    const last = reg.log.filter((e) => e.aorUser === 'hank').at(-1)!;
    t.is(last.expires, 0);
    t.true(last.authorized, 'the unREGISTER carried credentials (nonce reuse)');
  } finally {
    await s.close();
    await reg.close();
  }
});

test('outbound proxy: the REGISTER for an unresolvable registrar domain goes to the proxy, with a loose Route', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  const s = await setup(reg);
  try {
    // sipis.invalid cannot resolve (RFC 6761): only the outbound proxy can carry this REGISTER
    s.engine.load([s.acc('ivan', { registrar: 'sip:sipis.invalid', outboundProxy: reg.uri })], new Map());
    await until(() => s.engine.get('ivan')?.state === 'Registered', 8000, 'registration through the proxy');
    t.is(reg.bindings('ivan').length, 1);
    const seen = reg.log.find((e) => e.aorUser === 'ivan')!;
    t.is(seen.requestUri, 'sip:sipis.invalid');
    t.is(seen.route, `<${reg.uri};lr>`);
    // without the proxy the same account cannot be sent anywhere: Error, not a crash
    s.engine.load([s.acc('jill', { registrar: 'sip:sipis.invalid' })], new Map());
    await until(() => s.engine.get('jill')?.state === 'Error', 8000, 'Error for an unresolvable registrar');
    t.regex(s.engine.get('jill')!.lastReason ?? '', /resolve/);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('IPv6: registers over [::1] with a bracketed Contact', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords, host: '::1' });
  const s = await setup(reg, 0.3, '::1');
  try {
    t.regex(reg.uri, /^sip:\[::1\]:\d+$/);
    s.engine.load([s.acc('vera')], new Map());
    await until(() => s.engine.get('vera')?.state === 'Registered', 8000, 'registration over IPv6');
    t.is(reg.bindings('vera')[0]!.contact, `sip:acc-vera@[::1]:${s.transport.endpoints[0]!.port}`);
  } finally {
    await s.close();
    await reg.close();
  }
});

test('account transport tcp/tls without an outbound proxy: Error "not UDP", nothing sent over UDP; through a UDP outbound proxy it registers', async (t) => {
  const reg = await startTestRegistrar({ passwordFor: passwords });
  const s = await setup(reg);
  try {
    s.engine.load([s.acc('tara', { transport: 'tcp' }), s.acc('tim', { transport: 'tls' })], new Map());
    await until(() => s.engine.get('tara')?.state === 'Error' && s.engine.get('tim')?.state === 'Error', 5000, 'Error for a non-UDP account');
    t.regex(s.engine.get('tara')!.lastReason ?? '', /transport=tcp is not UDP: route it through the bridge or an outbound proxy/);
    t.regex(s.engine.get('tim')!.lastReason ?? '', /transport=tls is not UDP/);
    t.is(reg.count('tara') + reg.count('tim'), 0, 'no REGISTER over UDP for an account that asked for tcp/tls');
    // the outbound proxy's own URI decides how we reach it; it carries the REGISTER on
    s.engine.load([s.acc('tony', { transport: 'tcp', outboundProxy: reg.uri })], new Map());
    await until(() => s.engine.get('tony')?.state === 'Registered', 8000, 'registration through a UDP outbound proxy');
  } finally {
    await s.close();
    await reg.close();
  }
});
