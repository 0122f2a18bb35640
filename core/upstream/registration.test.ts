import test from 'ava';
import { pickChallenge } from '../sip/digest.js';
import { buildAuthorization } from '../sip/digest.js';
import type { AuthChallenge, Contact } from '../sip/types.js';
import { DEFAULT_BACKOFF, seededRandom } from './backoff.js';
import { DEFAULT_POLICY, Registration, refreshDelay, type MachineContext, type RegistrationPolicy } from './registration.js';
import type { RegisterResponse, UpstreamAccount } from './types.js';

const policy: RegistrationPolicy = { ...DEFAULT_POLICY, backoff: { ...DEFAULT_BACKOFF } };
const ctx = (): MachineContext => ({
  policy,
  random: seededRandom(5),
  authorize: (challenge, req) => buildAuthorization({ challenge, ...req, cnonce: 'c0ffee' }),
  pickChallenge,
});
const account = (over: Partial<UpstreamAccount> = {}): UpstreamAccount => ({
  id: '1',
  aor: 'sip:alice@example.com',
  authUser: 'alice',
  password: 'secret',
  registrar: 'sip:example.com',
  expires: 600,
  enabled: true,
  ...over,
});
const challenge = (nonce: string, extra: Record<string, string> = {}): AuthChallenge => ({
  scheme: 'Digest',
  params: new Map(Object.entries({ realm: 'example.com', nonce, qop: 'auth', algorithm: 'MD5', ...extra })),
});
const contact = (user: string, expires?: number): Contact =>
  ({
    uri: { scheme: 'sip', user, host: '127.0.0.1', port: 5060, params: new Map(), headers: new Map(), raw: `sip:${user}@127.0.0.1:5060` },
    params: new Map(),
    raw: `<sip:${user}@127.0.0.1:5060>`,
    star: false,
    expires,
  }) as Contact;
const res = (status: number, over: Partial<RegisterResponse> = {}): RegisterResponse => ({ status, contacts: [], challenges: [], ...over });

test('first registration: 401 answered with credentials for the fresh nonce, 200 → Registered, refresh scheduled', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  const r1 = m.nextRequest(c);
  t.is(r1.cseq, 1);
  t.is(r1.expires, 600);
  t.is(r1.authorization, undefined);
  t.is(r1.contactUser, 'acc-1');
  t.is(m.state, 'Registering');
  t.deepEqual(m.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c), { next: 'now' });
  const r2 = m.nextRequest(c);
  t.is(r2.cseq, 2);
  t.is(r2.callId, r1.callId);
  t.is(r2.authorization?.header, 'Authorization');
  t.regex(r2.authorization!.value, /nonce="n1"/);
  t.regex(r2.authorization!.value, /nc=00000001/);
  t.regex(r2.authorization!.value, /uri="sip:example.com"/);
  const d = m.onResponse(res(200, { contacts: [contact('someone-else', 9), contact('acc-1', 300)], expires: 999 }), 1000, c);
  t.is(m.state, 'Registered');
  t.is(m.granted, 300, 'the expires of our own Contact wins');
  t.is(m.registeredUntil, 1000 + 300_000);
  t.is(d.next, 'at');
  if (d.next === 'at') t.true(d.at >= 1000 + 150_000 && d.at <= 1000 + 300_000 - 40_000);
});

test('refresh reuses the nonce preemptively with nc+1; a 401 to it is not a failure', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c);
  m.nextRequest(c);
  m.onResponse(res(200, { expires: 600 }), 0, c);
  t.is(m.granted, 600, 'Expires header when our Contact is not listed');
  m.beginExchange(false);
  const r = m.nextRequest(c);
  t.regex(r.authorization!.value, /nonce="n1"/);
  t.regex(r.authorization!.value, /nc=00000002/);
  // registrar no longer accepts n1 (no stale flag): answered with the fresh nonce
  t.deepEqual(m.onResponse(res(401, { challenges: [challenge('n2')] }), 10, c), { next: 'now' });
  const r2 = m.nextRequest(c);
  t.regex(r2.authorization!.value, /nonce="n2".*nc=00000001|nc=00000001.*nonce="n2"/);
  m.onResponse(res(200, { expires: 600 }), 20, c);
  t.is(m.state, 'Registered');
  t.is(m.failures, 0);
});

test('wrong password: two 401s in a row for fresh nonces → Unauthorized with the long backoff', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  t.is(m.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c).next, 'now');
  m.nextRequest(c);
  const d = m.onResponse(res(401, { challenges: [challenge('n2')] }), 0, c);
  t.is(m.state, 'Unauthorized');
  t.is(d.next, 'at');
  if (d.next === 'at') t.true(d.at >= 0.9 * DEFAULT_BACKOFF.authFailureMs && d.at <= 1.1 * DEFAULT_BACKOFF.authFailureMs);
});

test('stale=true is answered at once and does not count as a failure', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c);
  m.nextRequest(c);
  t.is(m.onResponse(res(401, { challenges: [challenge('n2', { stale: 'true' })] }), 0, c).next, 'now');
  const r = m.nextRequest(c);
  t.regex(r.authorization!.value, /nonce="n2"/);
  m.onResponse(res(200, { expires: 60 }), 0, c);
  t.is(m.state, 'Registered');
});

test('407 is answered with Proxy-Authorization', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(407, { challenges: [challenge('p1')] }), 0, c);
  t.is(m.nextRequest(c).authorization?.header, 'Proxy-Authorization');
});

test('a 401 without a usable challenge → Unauthorized, no loop', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  const d = m.onResponse(res(401, { challenges: [{ scheme: 'Basic', params: new Map([['realm', 'x']]) }] }), 0, c);
  t.is(m.state, 'Unauthorized');
  t.is(d.next, 'at');
});

test('SHA-256 challenge is preferred over MD5', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(401, { challenges: [challenge('md', { algorithm: 'MD5' }), challenge('sha', { algorithm: 'SHA-256' })] }), 0, c);
  t.regex(m.nextRequest(c).authorization!.value, /algorithm=SHA-256/);
});

test('423 → retry at once with Min-Expires, remembered for later exchanges', (t) => {
  const c = ctx();
  const m = new Registration(account({ expires: 60 }));
  m.beginExchange(false);
  t.is(m.nextRequest(c).expires, 60);
  t.deepEqual(m.onResponse(res(423, { minExpires: 300 }), 0, c), { next: 'now' });
  t.is(m.nextRequest(c).expires, 300);
  m.onResponse(res(200, { expires: 300 }), 0, c);
  m.beginExchange(false);
  t.is(m.nextRequest(c).expires, 300);
  // a 423 that does not ask for more is a failure, not a loop
  const d = m.onResponse(res(423, { minExpires: 100 }), 0, c);
  t.is(d.next, 'at');
});

test('403 → Unauthorized; 404, a redirect (not followed) and a 6xx (definitive, RFC 3261 §21.6) → Error; all with the long backoff', (t) => {
  for (const [status, state] of [[403, 'Unauthorized'], [404, 'Error'], [302, 'Error'], [305, 'Error'], [603, 'Error'], [604, 'Error']] as const) {
    const c = ctx();
    const m = new Registration(account());
    m.beginExchange(false);
    m.nextRequest(c);
    const d = m.onResponse(res(status), 0, c);
    t.is(m.state, state);
    t.true(d.next === 'at' && d.at >= 0.9 * DEFAULT_BACKOFF.authFailureMs);
  }
});

test('5xx and timeouts back off exponentially; Retry-After wins; success resets', (t) => {
  const c = ctx();
  const m = new Registration(account());
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    m.beginExchange(false);
    m.nextRequest(c);
    const d = i % 2 ? m.onTimeout('Timer F', 0, c) : m.onResponse(res(500), 0, c);
    t.is(m.state, 'Error');
    if (d.next === 'at') delays.push(d.at);
  }
  t.is(delays.length, 4);
  for (let i = 0; i < 4; i++) {
    const raw = 30_000 * 2 ** i;
    t.true(delays[i]! >= raw * 0.8 && delays[i]! <= raw * 1.2, `retry ${i}: ${delays[i]}`);
  }
  m.beginExchange(false);
  m.nextRequest(c);
  const d = m.onResponse(res(503, { retryAfter: 7 }), 0, c);
  t.true(d.next === 'at' && d.at >= 7000 && d.at <= 7700);
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(200, { expires: 60 }), 0, c);
  t.is(m.failures, 0);
});

test('a failed refresh while the binding still holds keeps Registered', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  m.nextRequest(c);
  m.onResponse(res(200, { expires: 600 }), 0, c);
  m.beginExchange(false);
  m.nextRequest(c);
  m.onTimeout('Timer F', 400_000, c);
  t.is(m.state, 'Registered');
  m.beginExchange(false);
  m.nextRequest(c);
  m.onTimeout('Timer F', 700_000, c);
  t.is(m.state, 'Error');
});

test('unREGISTER: Expires 0, same Call-ID, next CSeq; done whatever the answer', (t) => {
  const c = ctx();
  const m = new Registration(account());
  m.beginExchange(false);
  const r1 = m.nextRequest(c);
  m.onResponse(res(200, { expires: 600 }), 0, c);
  m.removeWhenDone = true;
  m.beginExchange(true);
  const u = m.nextRequest(c);
  t.is(u.expires, 0);
  t.is(u.callId, r1.callId);
  t.is(u.cseq, r1.cseq + 1);
  t.deepEqual(m.onResponse(res(200), 10, c), { next: 'done' });
  t.is(m.state, 'Idle');
  // a failure does not retry either
  const m2 = new Registration(account());
  m2.removeWhenDone = true;
  m2.beginExchange(true);
  m2.nextRequest(c);
  t.deepEqual(m2.onTimeout('Timer F', 0, c), { next: 'done' });
});

test('CSeq survives a restart: resumes above the stored ceiling, reserves in blocks', (t) => {
  const c = ctx();
  const m = new Registration(account(), { callId: 'abc@x', cseq: 500, state: 'Registered', expiresAt: 9_000_000 });
  t.is(m.callId, 'abc@x');
  t.is(m.state, 'Registered');
  t.is(m.registeredUntil, 9_000_000);
  m.beginExchange(false);
  const r = m.nextRequest(c);
  t.true(r.cseq > 500 + 1, 'a block above the stored value');
  t.true(m.toRecord().cseq >= r.cseq);
  const ceiling = m.toRecord().cseq;
  m.dirty = false;
  for (let i = 0; i < ceiling - r.cseq; i++) m.nextRequest(c);
  t.false(m.dirty, 'no write needed inside a reserved block');
  m.nextRequest(c);
  t.true(m.dirty);
  t.true(m.toRecord().cseq > ceiling);
});

test('refresh delay: within 50–85 % of the expiry, with room for a failed transaction', (t) => {
  const rnd = seededRandom(9);
  for (let i = 0; i < 200; i++) {
    const d = refreshDelay(3600, policy, rnd);
    t.true(d >= 1800_000 && d <= 3060_000);
    const s = refreshDelay(100, policy, rnd);
    t.true(s >= 50_000 && s <= 60_000, `${s}`);
    const tiny = refreshDelay(10, policy, rnd);
    t.true(tiny >= 5000 && tiny <= 8500);
  }
});

test('a challenge for another realm than the account expects gets no credentials', (t) => {
  const c = ctx();
  const m = new Registration(account({ realm: 'provider.example' }));
  m.beginExchange(false);
  m.nextRequest(c);
  const d = m.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c);
  t.is(m.state, 'Unauthorized');
  t.is(d.next, 'at');
  t.regex(m.lastReason ?? '', /realm/);
  const ok = new Registration(account({ realm: 'example.com' }));
  ok.beginExchange(false);
  ok.nextRequest(c);
  t.deepEqual(ok.onResponse(res(401, { challenges: [challenge('n1')] }), 0, c), { next: 'now' });
});

test('the kept challenge: base shared between accounts of a provider, nonce per account', async (t) => {
  const { keepChallenge, challengeOf } = await import('./registration.js');
  const a = keepChallenge(challenge('nonce-a', { opaque: 'o1' }));
  const b = keepChallenge(challenge('nonce-b', { opaque: 'o1' }));
  t.is(a.base, b.base);
  t.is(challengeOf(a).params.get('nonce'), 'nonce-a');
  t.is(challengeOf(b).params.get('opaque'), 'o1');
  t.false(challengeOf(a).params.has('stale'));
  t.not(keepChallenge(challenge('n', { opaque: 'o2' })).base, a.base);
});
