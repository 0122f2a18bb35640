import test from 'ava';
import { seededRandom } from './backoff.js';
import { UpstreamEngine, type EngineOptions } from './engine.js';
import { UpstreamError } from './errors.js';
import type { RegisterOutcome, RegisterResponse, RegisterSpec, RegistrationRecord, UpstreamAccount } from './types.js';

const settle = () => new Promise<void>((r) => setImmediate(r));

const account = (id: string, over: Partial<UpstreamAccount> = {}): UpstreamAccount => ({
  id,
  aor: `sip:u${id}@example.com`,
  authUser: `u${id}`,
  password: 'pw',
  registrar: 'sip:example.com',
  expires: 600,
  enabled: true,
  ...over,
});

const challenge = { scheme: 'Digest', params: new Map([['realm', 'example.com'], ['nonce', 'n1'], ['qop', 'auth']]) };
const ok = (spec: RegisterSpec): RegisterResponse => ({ status: 200, contacts: [], challenges: [], expires: spec.expires });

/** A registrar in memory: 401 without credentials, 200 with; everything sent is recorded. */
function harness(opts: Partial<EngineOptions> = {}, respond?: (spec: RegisterSpec) => RegisterOutcome) {
  const sent: RegisterSpec[] = [];
  const saved: RegistrationRecord[][] = [];
  const engine = new UpstreamEngine({
    clock: 'manual',
    startTime: 1_000_000,
    random: seededRandom(1),
    rate: 100,
    burst: 10,
    sender: {
      async send(spec) {
        sent.push(spec);
        if (respond) return respond(spec);
        return { kind: 'response', response: spec.authorization ? ok(spec) : { status: 401, contacts: [], challenges: [challenge] } };
      },
    },
    save: async (records) => {
      saved.push(records);
    },
    ...opts,
  });
  return { engine, sent, saved };
}

/** Load the accounts, start, and let the first REGISTER → 401 → REGISTER → 200 round complete. */
async function startRegistered(engine: ReturnType<typeof harness>['engine'], accounts: UpstreamAccount[]): Promise<void> {
  engine.load(accounts, new Map());
  engine.start();
  engine.pump();
  await settle();
  engine.advance(100);
  await settle();
}

test('start-up is paced by the token bucket; follow-ups (401 answers) go before new exchanges', async (t) => {
  const { engine, sent } = harness();
  engine.load(
    Array.from({ length: 500 }, (_, i) => account(String(i))),
    new Map(),
  );
  engine.start();
  engine.pump();
  t.is(sent.length, 10, 'the burst');
  await settle();
  // 10 ms later: one token; it goes to a follow-up (an answer to a 401), not a new account
  engine.advance(10);
  t.is(sent.length, 11);
  t.truthy(sent[10]!.authorization);
  for (let i = 0; i < 100; i++) {
    engine.advance(10);
    await settle();
  }
  // 1 s at 100/s: 10 + 100 REGISTERs in all, half of them answers to challenges
  t.is(sent.length, 111);
  t.true(engine.countByState().Registered >= 45);
});

test('accounts whose stored binding is still valid are not re-registered at start', async (t) => {
  const { engine, sent } = harness();
  const now = engine.now();
  const records = new Map<string, RegistrationRecord>([
    ['a', { accountId: 'a', state: 'Registered', callId: 'cid-a', cseq: 10, expiresAt: now + 500_000, lastStatus: 200, lastReason: null, failures: 0, retryAt: null, failingSince: null }],
    ['b', { accountId: 'b', state: 'Registered', callId: 'cid-b', cseq: 10, expiresAt: now - 1, lastStatus: 200, lastReason: null, failures: 0, retryAt: null, failingSince: null }],
  ]);
  engine.load([account('a'), account('b')], records);
  engine.start();
  engine.pump();
  t.deepEqual(
    sent.map((s) => s.accountId),
    ['b'],
  );
  t.is(sent[0]!.callId, 'cid-b', 'Call-ID kept across restarts');
  t.is(engine.get('b')!.state, 'Registering', 'an expired stored binding is not reported Registered');
  t.true(sent[0]!.cseq > 10);
  t.is(engine.get('a')!.state, 'Registered');
  const due = engine.get('a')!.dueAt;
  t.true(due > now && due < now + 500_000 - 40_000, `refresh of a scheduled before its binding runs out: ${due - now}`);
  engine.advance(due - now);
  await settle();
  t.is(sent.filter((s) => s.accountId === 'a').length, 1);
  t.is(sent.find((s) => s.accountId === 'a')!.callId, 'cid-a');
});

test('disable → one unREGISTER (Expires 0, same Call-ID, next CSeq), then Idle persisted and dropped', async (t) => {
  const { engine, sent, saved } = harness();
  await startRegistered(engine, [account('x')]);
  t.is(engine.get('x')!.state, 'Registered');
  const last = sent.at(-1)!;
  engine.upsertAccount(account('x', { enabled: false }));
  engine.advance(100);
  await settle();
  const un = sent.at(-1)!;
  t.is(un.expires, 0);
  t.is(un.callId, last.callId);
  t.is(un.cseq, last.cseq + 1);
  t.truthy(un.authorization, 'credentials sent preemptively');
  t.is(engine.get('x'), undefined);
  await engine.flush();
  const rows = saved.flat().filter((r) => r.accountId === 'x');
  t.is(rows.at(-1)!.state, 'Idle');
  // nothing more is sent for it
  const n = sent.length;
  engine.advance(3_600_000);
  await settle();
  t.is(sent.length, n);
});

test('delete → unREGISTER, and no row written afterwards (the account row is gone)', async (t) => {
  const { engine, sent, saved } = harness();
  await startRegistered(engine, [account('d')]);
  await engine.flush();
  saved.length = 0;
  engine.removeAccount('d', { deleted: true });
  engine.advance(100);
  await settle();
  t.is(sent.at(-1)!.expires, 0);
  await engine.flush();
  t.is(saved.flat().filter((r) => r.accountId === 'd').length, 0);
});

test('password change → re-registered at once without the old credentials', async (t) => {
  const { engine, sent } = harness();
  await startRegistered(engine, [account('p')]);
  const n = sent.length;
  engine.upsertAccount(account('p', { password: 'new' }));
  engine.advance(100);
  await settle();
  engine.advance(100);
  await settle();
  const after = sent.slice(n);
  t.is(after.length, 2);
  t.is(after[0]!.authorization, undefined);
  t.truthy(after[1]!.authorization);
  t.is(after[0]!.expires, 600);
  t.is(engine.get('p')!.state, 'Registered');
  // an unchanged account (same fields) sends nothing
  engine.upsertAccount(account('p', { password: 'new' }));
  engine.advance(100);
  await settle();
  t.is(sent.length, n + 2);
});

test('registrar change → unREGISTER at the old registrar (old Call-ID), REGISTER at the new one (new Call-ID)', async (t) => {
  const { engine, sent } = harness();
  await startRegistered(engine, [account('r')]);
  const oldCallId = sent.at(-1)!.callId;
  const n = sent.length;
  engine.upsertAccount(account('r', { registrar: 'sip:other.example.com' }));
  for (let i = 0; i < 5; i++) {
    engine.advance(100);
    await settle();
  }
  const after = sent.slice(n);
  const un = after.find((s) => s.expires === 0)!;
  t.is(un.requestUri, 'sip:example.com');
  t.is(un.callId, oldCallId);
  const reg = after.filter((s) => s.expires > 0);
  t.true(reg.length >= 1);
  t.is(reg[0]!.requestUri, 'sip:other.example.com');
  t.not(reg[0]!.callId, oldCallId);
  t.is(engine.get('r')!.state, 'Registered');
  t.is(engine.get('r')!.account.registrar, 'sip:other.example.com');
});

test('resync diff: new accounts registered, vanished ones unregistered, shard predicate respected', async (t) => {
  const { engine, sent } = harness({ owns: (id) => id !== 'foreign' });
  await startRegistered(engine, [account('keep'), account('gone'), account('foreign')]);
  t.is(engine.size, 2);
  t.false(sent.some((s) => s.accountId === 'foreign'));
  engine.syncAccounts([account('keep'), account('new'), account('foreign')]);
  for (let i = 0; i < 5; i++) {
    engine.advance(100);
    await settle();
  }
  t.truthy(sent.find((s) => s.accountId === 'gone' && s.expires === 0));
  t.is(engine.get('gone'), undefined);
  t.is(engine.get('new')!.state, 'Registered');
  t.false(sent.some((s) => s.accountId === 'foreign'));
});

test('re-enabled while its unREGISTER is pending: registers again', async (t) => {
  const { engine, sent } = harness({ rate: 1, burst: 1 });
  engine.load([account('z')], new Map());
  engine.start();
  engine.pump();
  await settle();
  engine.advance(1000);
  await settle();
  t.is(engine.get('z')!.state, 'Registered');
  engine.upsertAccount(account('z', { enabled: false }));
  engine.upsertAccount(account('z'));
  for (let i = 0; i < 5; i++) {
    engine.advance(1000);
    await settle();
  }
  t.is(engine.get('z')!.state, 'Registered');
  t.is(sent.at(-1)!.expires, 600);
});

test('a dead database keeps registrations going; states are written once it is back', async (t) => {
  let dbUp = false;
  const saved: RegistrationRecord[] = [];
  const { engine } = harness({
    save: async (records) => {
      if (!dbUp) throw new Error('connection refused');
      saved.push(...records);
    },
  });
  await startRegistered(engine, [account('1'), account('2')]);
  await engine.flush();
  t.is(engine.countByState().Registered, 2);
  t.true(engine.counters.dbErrors >= 1);
  t.is(saved.length, 0);
  t.is(engine.pendingWrites, 2);
  dbUp = true;
  await engine.flush();
  t.is(engine.pendingWrites, 0);
  t.deepEqual(saved.map((r) => [r.accountId, r.state]).sort(), [['1', 'Registered'], ['2', 'Registered']]);
  await engine.stop();
});

test('timeouts back off instead of retrying at once', async (t) => {
  const { engine, sent } = harness({}, () => ({ kind: 'timeout', reason: 'Timer F' }));
  engine.load([account('t')], new Map());
  engine.start();
  engine.pump();
  await settle();
  t.is(engine.get('t')!.state, 'Error');
  engine.advance(20_000);
  await settle();
  t.is(sent.length, 1, 'no retry before the 30 s ± 20 % backoff');
  engine.advance(20_000);
  await settle();
  t.is(sent.length, 2);
});

test('refreshes of live bindings are not held back behind a start-up backlog; restart spreads nearly-due ones', async (t) => {
  const { engine, sent } = harness({ rate: 1, burst: 1 });
  const now = engine.now();
  const rec = (id: string, left: number): RegistrationRecord => ({ accountId: id, state: 'Registered', callId: `c-${id}`, cseq: 1, expiresAt: now + left, lastStatus: 200, lastReason: null, failures: 0, retryAt: null, failingSince: null });
  const records = new Map<string, RegistrationRecord>([['live', rec('live', 600_000)]]);
  const nearly = Array.from({ length: 50 }, (_, i) => account(`near${i}`));
  for (const a of nearly) records.set(a.id, rec(a.id, 20_000));
  engine.load([account('live'), ...nearly, ...Array.from({ length: 100 }, (_, i) => account(`new${i}`))], records);
  engine.start();
  engine.pump();
  t.is(sent.length, 1, 'one token: one new account');
  // the nearly-due bindings are spread over the first half of their remaining 20 s, not all now
  const dues = nearly.map((a) => engine.get(a.id)!.dueAt - now);
  t.true(dues.every((d) => d >= 0 && d <= 10_000));
  t.true(new Set(dues.map((d) => Math.floor(d / 1000))).size >= 5);
  engine.advance(10_000);
  await settle();
  t.is(sent.filter((s) => s.accountId.startsWith('near')).length, 50, 'all nearly-due refreshed in time, unpaced');
  const due = engine.get('live')!.dueAt;
  engine.advance(due - engine.now());
  await settle();
  const live = sent.filter((s) => s.accountId === 'live');
  t.is(live.length, 1, 'the refresh went out although 99 new accounts still wait for tokens');
  t.true(engine.backlog > 50);
});

test('bad input: accounts no REGISTER can be built from are refused with a typed error, bad options too', (t) => {
  const { engine, sent } = harness();
  for (const bad of [
    account('', {}),
    account('x', { aor: 'alice' }),
    account('x', { registrar: 'http://example.com' }),
    account('x', { outboundProxy: 'proxy.example.com' }),
    account('x', { expires: -5 }),
  ]) {
    const e = t.throws(() => engine.upsertAccount(bad), { instanceOf: UpstreamError });
    t.is(e?.code, 'ERR_UPSTREAM_BAD_ACCOUNT');
  }
  // in a bulk load a bad row is skipped, the good ones load
  engine.load([account('ok'), account('bad', { aor: 'nope' })], new Map());
  t.is(engine.size, 1);
  t.is(sent.length, 0);
  t.is(t.throws(() => new UpstreamEngine({ sender: { send: async () => ({ kind: 'timeout', reason: 'x' }) }, rate: 0 }), { instanceOf: UpstreamError })?.code, 'ERR_UPSTREAM_BAD_OPTION');
});

test('at most maxInFlight transactions: a slow registrar slows us down, refreshes included', async (t) => {
  const pending: Array<() => void> = [];
  const sent: RegisterSpec[] = [];
  const engine = new UpstreamEngine({
    clock: 'manual',
    startTime: 0,
    rate: 1000,
    burst: 1000,
    maxInFlight: 3,
    random: seededRandom(2),
    sender: {
      send(spec) {
        sent.push(spec);
        return new Promise((resolve) => pending.push(() => resolve({ kind: 'response', response: ok(spec) })));
      },
    },
  });
  const recs = new Map<string, RegistrationRecord>();
  for (let i = 0; i < 5; i++) recs.set(`live${i}`, { accountId: `live${i}`, state: 'Registered', callId: `c${i}`, cseq: 1, expiresAt: 10_000, lastStatus: 200, lastReason: null, failures: 0, retryAt: null, failingSince: null });
  engine.load([...Array.from({ length: 5 }, (_, i) => account(`live${i}`)), ...Array.from({ length: 5 }, (_, i) => account(`new${i}`))], recs);
  engine.start();
  engine.advance(5000); // the live bindings (10 s left) are all due for a refresh by now
  t.is(sent.length, 3);
  t.is(engine.inFlight, 3);
  t.is(engine.backlog, 7);
  while (pending.length) {
    pending.shift()!();
    await settle();
    engine.advance(1);
    t.true(engine.inFlight <= 3);
  }
  t.is(sent.length, 10);
  t.is(engine.backlog, 0);
  t.true(sent.slice(0, 5).every((s) => s.accountId.startsWith('live')), 'refreshes of live bindings first');
});

test('a REGISTER that cannot be built fails that account only, with backoff', async (t) => {
  let boom = true;
  const { engine, sent } = harness({
    authorize: () => {
      if (boom) throw new Error('cannot answer this challenge');
      return 'Digest x';
    },
  });
  await startRegistered(engine, [account('a'), account('b')]);
  t.is(engine.get('a')!.state, 'Error');
  t.regex(engine.get('a')!.lastReason ?? '', /cannot build REGISTER/);
  t.is(engine.inFlight, 0);
  boom = false;
  engine.advance(60_000);
  await settle();
  engine.advance(100);
  await settle();
  t.is(engine.get('a')!.state, 'Registered');
  t.true(sent.length >= 4);
});

const failing = (id: string, over: Partial<RegistrationRecord>): RegistrationRecord => ({
  accountId: id,
  state: 'Error',
  callId: `cid-${id}`,
  cseq: 64,
  expiresAt: null,
  lastStatus: 503,
  lastReason: 'Service Unavailable',
  failures: 1,
  retryAt: null,
  failingSince: null,
  ...over,
});

test('a restart keeps each failing account’s retry time, failure count and failing_since', async (t) => {
  const unavailable: RegisterOutcome = { kind: 'response', response: { status: 503, contacts: [], challenges: [] } };
  const { engine, sent, saved } = harness({}, () => unavailable);
  const now = engine.now();
  const since = now - 3_600_000;
  const records = new Map<string, RegistrationRecord>([
    ['unauth', failing('unauth', { state: 'Unauthorized', lastStatus: 401, failures: 2, retryAt: now + 60_000, failingSince: since })],
    ['barred', failing('barred', { state: 'Unauthorized', lastStatus: 403, failures: 5, retryAt: now + 1_500_000, failingSince: since })],
    ['unknown', failing('unknown', { lastStatus: 404, failures: 1, retryAt: now + 900_000, failingSince: since })],
    ['busy', failing('busy', { failures: 3, retryAt: now + 45_000, failingSince: since })],
    ['overdue', failing('overdue', { failures: 4, retryAt: now - 1000, failingSince: since })],
  ]);
  engine.load(['unauth', 'barred', 'unknown', 'busy', 'overdue'].map((id) => account(id)), records);
  engine.start();
  engine.pump();
  await settle();
  t.deepEqual(
    sent.map((s) => s.accountId),
    ['overdue'],
    'only the account whose retry time has passed is sent at once',
  );
  t.is(engine.get('unauth')!.state, 'Unauthorized', 'the stored state is shown until the retry');
  // the rows written at start-up say what the database said, not "1 failure, no retry"
  await engine.flush();
  const first = new Map(saved.flat().map((r) => [r.accountId, r]));
  t.is(first.get('unauth')!.failures, 2);
  t.is(first.get('unauth')!.retryAt, now + 60_000);
  t.is(first.get('unauth')!.failingSince, since);
  t.is(first.get('unauth')!.lastStatus, 401);
  // the overdue one failed again: the backoff goes on from 4 failures (30 s · 2^4 ± 20 %)
  const overdue = engine.get('overdue')!;
  t.is(overdue.failures, 5);
  t.is(overdue.failingSince, since);
  t.true(overdue.retryAt - now >= 480_000 * 0.8, `backoff after the 5th failure: ${overdue.retryAt - now} ms`);
  engine.advance(44_000);
  await settle();
  t.false(
    sent.some((s) => s.accountId === 'busy'),
    'no REGISTER before the stored Retry-After time',
  );
  engine.advance(1_000);
  await settle();
  t.is(sent.filter((s) => s.accountId === 'busy').length, 1);
  t.is(engine.get('busy')!.failures, 4);
  t.is(engine.get('busy')!.failingSince, since);
  engine.advance(14_000);
  await settle();
  t.false(sent.some((s) => s.accountId === 'unauth'));
  engine.advance(1_000);
  await settle();
  t.is(sent.filter((s) => s.accountId === 'unauth').length, 1);
  t.false(sent.some((s) => s.accountId === 'barred' || s.accountId === 'unknown'));
});

test('a restart does not re-register a live binding early, even one whose refresh was failing', async (t) => {
  const { engine, sent } = harness();
  const now = engine.now();
  const records = new Map<string, RegistrationRecord>([
    ['live', failing('live', { state: 'Registered', expiresAt: now + 500_000, failures: 0, lastStatus: 200 })],
    ['shaky', failing('shaky', { state: 'Registered', expiresAt: now + 300_000, failures: 2, retryAt: now + 120_000, failingSince: now - 60_000 })],
  ]);
  engine.load([account('live'), account('shaky')], records);
  engine.start();
  engine.pump();
  await settle();
  t.is(sent.length, 0);
  t.is(engine.get('shaky')!.state, 'Registered');
  t.is(engine.get('shaky')!.dueAt, now + 120_000, 'the failed refresh is retried when it was to be');
  t.true(engine.get('live')!.dueAt > now + 40_000);
});

test('a binding whose refreshes keep failing stops being Registered when it runs out, not at the next retry', async (t) => {
  let down = false;
  const { engine, sent, saved } = harness({}, (spec) => {
    if (down) return { kind: 'response', response: { status: 503, contacts: [], challenges: [] } };
    return { kind: 'response', response: spec.authorization ? ok(spec) : { status: 401, contacts: [], challenges: [challenge] } };
  });
  await startRegistered(engine, [account('e', { expires: 3600 })]);
  const m = engine.get('e')!;
  t.is(m.state, 'Registered');
  const end = m.registeredUntil;
  down = true;
  const n = sent.length;
  let lateMs = 0;
  // a 1 s manual clock over two hours: the 503s go on, the binding runs out in between
  while (engine.now() < end + 3_600_000) {
    engine.advance(1000);
    await settle();
    if (engine.now() >= end && (m.state === 'Registered' || engine.countByState().Registered !== 0)) lateMs = engine.now() - end;
  }
  t.true(sent.length - n >= 3, 'the refresh was retried with backoff');
  t.is(lateMs, 0, `reported Registered ${lateMs} ms after the binding ran out`);
  t.is(m.state, 'Error');
  await engine.flush();
  const row = saved.flat().filter((r) => r.accountId === 'e').at(-1)!;
  t.is(row.state, 'Error');
  t.is(row.expiresAt, null);
  t.true(row.retryAt !== null && row.retryAt > engine.now(), 'retry_at is the next retry, not the wake-up at the binding’s end');
});

test('the binding’s end comes before a Retry-After longer than it: Error then, the REGISTER only after the Retry-After', async (t) => {
  let down = false;
  const { engine, sent } = harness({}, (spec) => {
    if (down) return { kind: 'response', response: { status: 503, contacts: [], challenges: [], retryAfter: 7200 } };
    return { kind: 'response', response: spec.authorization ? ok(spec) : { status: 401, contacts: [], challenges: [challenge] } };
  });
  await startRegistered(engine, [account('ra', { expires: 3600 })]);
  const m = engine.get('ra')!;
  const end = m.registeredUntil;
  down = true;
  engine.advance(m.dueAt - engine.now());
  await settle();
  const failedAt = engine.now();
  t.is(m.state, 'Registered', 'the old binding still holds');
  t.true(m.retryAt >= failedAt + 7_200_000, 'Retry-After of 2 h honoured over the 30 min backoff cap');
  const n = sent.length;
  engine.advance(end - engine.now());
  t.is(m.state, 'Error');
  t.is(engine.countByState().Error, 1);
  engine.advance(failedAt + 7_199_000 - engine.now());
  await settle();
  t.is(sent.length, n, 'nothing sent before the Retry-After');
  engine.advance(m.retryAt - engine.now());
  await settle();
  t.is(sent.length, n + 1);
});

test('an account transport other than udp reaches the sender; a change of transport re-registers', async (t) => {
  const { engine, sent } = harness();
  await startRegistered(engine, [account('tp')]);
  t.is(sent.at(-1)!.transport, undefined, 'udp is the default and not spelt out');
  const n = sent.length;
  engine.upsertAccount(account('tp', { transport: 'tcp' }));
  engine.advance(100);
  await settle();
  t.is(sent.length, n + 2, 'unREGISTER over the old way, REGISTER over the new one');
  t.is(sent[n]!.expires, 0);
  t.is(sent[n]!.transport, undefined);
  t.is(sent[n + 1]!.transport, 'tcp');
  const e = t.throws(() => engine.upsertAccount(account('tp', { transport: 'sctp' as 'tcp' })), { instanceOf: UpstreamError });
  t.is(e?.code, 'ERR_UPSTREAM_BAD_ACCOUNT');
});

test('disabling a failing account clears its failure clock in the row written; re-enabled while its unREGISTER is pending, it starts a new one', async (t) => {
  // every REGISTER gets 503: the account is failing from its first answer on
  const { engine, saved } = harness({ rate: 1, burst: 1, flushIntervalMs: 10 }, () => ({ kind: 'response', response: { status: 503, contacts: [], challenges: [] } }));
  const since = 1_000_000 - 3_600_000;
  engine.load([account('f')], new Map([['f', failing('f', { state: 'Error', lastStatus: 503, failures: 3, retryAt: null, failingSince: since, expiresAt: 1_000_000 + 600_000, callId: 'c-f', cseq: 5 })]]));
  engine.start();
  // its binding may still be up, so disabling it sends an unREGISTER; re-enabled before it is done
  engine.upsertAccount(account('f', { enabled: false }));
  engine.upsertAccount(account('f'));
  t.is(engine.get('f')!.failingSince, 0, 're-enabled: a new run, counted afresh');
  // disabled for good: the Idle row written carries no failure
  engine.upsertAccount(account('f', { enabled: false }));
  for (let i = 0; i < 5; i++) {
    engine.advance(1000);
    await settle();
  }
  await engine.flush();
  const rows = saved.flat().filter((r) => r.accountId === 'f');
  t.true(rows.length > 0);
  t.like(rows.at(-1), { state: 'Idle', failingSince: null, failures: 0 });
});

test('disabling a failing account whose binding is still up: the row written after its unREGISTER carries no failure clock either', async (t) => {
  // a refresh failing while the binding holds (Registered, failing_since set); every answer 503
  const { engine, saved } = harness({ rate: 1, burst: 1, flushIntervalMs: 10 }, () => ({ kind: 'response', response: { status: 503, contacts: [], challenges: [] } }));
  const since = 1_000_000 - 3_600_000;
  engine.load([account('g')], new Map([['g', failing('g', { state: 'Registered', lastStatus: 503, failures: 1, retryAt: null, failingSince: since, expiresAt: 1_000_000 + 600_000, callId: 'c-g', cseq: 5 })]]));
  engine.start();
  engine.upsertAccount(account('g', { enabled: false }));
  for (let i = 0; i < 10; i++) {
    engine.advance(1000);
    await settle();
  }
  await engine.flush();
  t.is(engine.get('g'), undefined, 'dropped after its one unREGISTER');
  const rows = saved.flat().filter((r) => r.accountId === 'g');
  t.like(rows.at(-1), { state: 'Idle', failingSince: null, failures: 0 });
});
