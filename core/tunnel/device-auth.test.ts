/**
 * Digest for the phones' own requests (device-auth.ts) through the tunnel on loopback UDP: a
 * request from a plain UDP flow, whose source anyone can forge, reaches the provider only with
 * the account's password proven; a bridge flow is believed unless the scope is `all`.
 */
import test from 'ava';
import { buildAuthorization, pickChallenge } from '../sip/digest.js';
import type { SipMessage } from '../sip/index.js';
import type { Peer } from '../../fixtures/e2e/peer.js';
import { AuthGuard } from '../registrar/auth-guard.js';
import { DeviceAuth, type DeviceAuthScope } from './index.js';
import { startHarness, type Harness } from './testing/harness.js';

const SECRET = 'a-device-auth-secret-of-some-length';

function auth(scope: DeviceAuthScope, nonceTtlSeconds?: number, guard?: AuthGuard): DeviceAuth {
  return new DeviceAuth({ secret: SECRET, realm: 'sipis.test', algorithms: ['MD5', 'SHA-256'], scope, ...(nonceTtlSeconds !== undefined ? { nonceTtlSeconds } : {}), ...(guard ? { guard } : {}) });
}

/** Proxy-Authorization answering the 407 `res` for a MESSAGE to `uri`. */
function answer(res: SipMessage, uri: string, username: string, password: string, method = 'MESSAGE'): [string, string] {
  const challenge = pickChallenge(res.proxyAuthenticate);
  if (!challenge) throw new Error('no usable Proxy-Authenticate');
  return ['Proxy-Authorization', buildAuthorization({ challenge, method, uri, username, password, nc: 1 })];
}

const URI = 'sip:bob@sipis.test';
const message = (phone: Peer, h: Harness, headers: Array<[string, string]> = [], body = 'hi'): Promise<SipMessage> =>
  phone.send('MESSAGE', URI, { target: h.sipis, body, from: '<sip:alice@sipis.test>', headers });

test('scope udp: a plain UDP phone gets 407 (MD5 and SHA-256), then its request with the password is relayed without our credentials', async (t) => {
  const h = await startHarness({ deviceAuth: auth('udp') });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const first = await message(phone, h);
  t.is(first.status, 407);
  t.deepEqual(
    first.proxyAuthenticate.map((c) => c.params.get('algorithm')),
    ['MD5', 'SHA-256'],
  );
  t.is(first.proxyAuthenticate[0]!.params.get('realm'), 'sipis.test');
  t.is(h.tunnel.counters.deviceChallenges, 1);
  const sent = message(phone, h, [answer(first, URI, 'alice', 'secret')], 'hi bob');
  const m = await h.provider.request('MESSAGE');
  t.is(m.req.body.toString(), 'hi bob');
  t.is(m.req.proxyAuthorization.length, 0, 'the phone\'s credentials stay at sipis');
  h.provider.answer(m, 200);
  t.is((await sent).status, 200);
  t.is(h.tunnel.counters.deviceAuthFailures, 0);
});

test('scope udp: a forged INVITE from the phone\'s address without the password never reaches the provider; a wrong password gets 403', async (t) => {
  const h = await startHarness({ deviceAuth: auth('udp') });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  // the forger's datagram carries the phone's source address: only its lack of credentials tells
  const call = phone.invite('sip:+15551234@sipis.test', { target: h.sipis, from: '<sip:alice@sipis.test>' });
  t.is((await call.response(407)).status, 407);
  const wrong = await message(phone, h, [answer((await message(phone, h)), URI, 'alice', 'not-the-password')]);
  t.is(wrong.status, 403);
  const otherUser = await message(phone, h, [answer((await message(phone, h)), URI, 'mallory', 'secret')]);
  t.is(otherUser.status, 403, 'the password proves the account only under its own user names');
  t.is(h.tunnel.counters.deviceAuthFailures, 2);
  // nothing was placed at the provider
  await t.throwsAsync(h.provider.request('INVITE', 300));
  await t.throwsAsync(h.provider.request('MESSAGE', 300));
  t.is(h.tunnel.counters.callsOut, 0);
});

test('scope udp: an expired nonce gets a new challenge with stale=true; credentials for another Request-URI get 400', async (t) => {
  const h = await startHarness({ deviceAuth: auth('udp', 1) });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const first = await message(phone, h);
  const late = answer(first, URI, 'alice', 'secret');
  await new Promise((r) => setTimeout(r, 1100));
  const stale = await message(phone, h, [late]);
  t.is(stale.status, 407);
  t.is(stale.proxyAuthenticate[0]!.params.get('stale'), 'true');
  const elsewhere = await message(phone, h, [answer(stale, 'sip:carol@sipis.test', 'alice', 'secret')]);
  t.is(elsewhere.status, 400);
  t.regex(elsewhere.reason, /Proxy-Authorization/);
});

test('scope udp: a bridge flow (X-Sipis-Flow) is believed; scope all challenges it too; scope none never challenges', async (t) => {
  const flow = 'X-Sipis-Flow';
  const viaBridge = async (h: Harness): Promise<Peer> => {
    const phone = h.phones[0]!;
    const hdr: [string, string] = [flow, 'tls;src=192.0.2.50:50000;id=1x2'];
    const r = await phone.send('REGISTER', 'sip:sipis.test', {
      target: h.sipis,
      from: '<sip:alice@sipis.test>',
      to: '<sip:alice@sipis.test>',
      headers: [['Contact', `<sip:alice@${phone.hostPort}>;+sip.instance="<urn:uuid:b1>";expires=600`], hdr],
    });
    t.is(r.status, 200);
    return phone;
  };
  for (const [scope, want] of [['udp', 200], ['all', 407]] as const) {
    const h = await startHarness({ deviceAuth: auth(scope) });
    try {
      const phone = await viaBridge(h);
      const sent = message(phone, h, [[flow, 'tls;src=192.0.2.50:50000;id=1x2']]);
      if (want === 200) {
        const m = await h.provider.request('MESSAGE');
        h.provider.answer(m, 200);
      }
      t.is((await sent).status, want, `scope ${scope}`);
    } finally {
      await h.close();
    }
  }
  const h = await startHarness({ deviceAuth: auth('none') });
  try {
    const phone = h.phones[0]!;
    await phone.register(h.sipis, 'alice', { instance: 'i1' });
    const sent = message(phone, h);
    h.provider.answer(await h.provider.request('MESSAGE'), 200);
    t.is((await sent).status, 200, 'scope none');
  } finally {
    await h.close();
  }
});

test('password guessing on requests counts in the registrar\'s guard: a blocked address gets 403 unread, even with the right password', async (t) => {
  const guard = new AuthGuard({ limit: 2, windowS: 60, blockS: 60 });
  const h = await startHarness({ deviceAuth: auth('udp', undefined, guard) });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const challenge = await message(phone, h);
  for (let i = 0; i < 2; i++) t.is((await message(phone, h, [answer(challenge, URI, 'alice', 'guess')])).status, 403);
  const refused = await message(phone, h, [answer(challenge, URI, 'alice', 'secret')]);
  t.is(refused.status, 403);
  t.is(refused.reason, 'Too Many Failed Attempts');
  t.deepEqual(guard.counters, { blocksStarted: 1, refused: 1 });
  t.is((await message(phone, h)).status, 403, 'not even a challenge');
});

test('a replayed Proxy-Authorization (same nonce and nc) gets a new challenge with stale=true instead of a second call', async (t) => {
  const h = await startHarness({ deviceAuth: auth('udp') });
  t.teardown(() => h.close());
  const phone = h.phones[0]!;
  await phone.register(h.sipis, 'alice', { instance: 'i1' });
  const creds = answer(await message(phone, h), URI, 'alice', 'secret');
  const sent = message(phone, h, [creds]);
  h.provider.answer(await h.provider.request('MESSAGE'), 200);
  t.is((await sent).status, 200);
  const replayed = await message(phone, h, [creds]);
  t.is(replayed.status, 407);
  t.is(replayed.proxyAuthenticate[0]!.params.get('stale'), 'true');
  await t.throwsAsync(h.provider.request('MESSAGE', 300), undefined, 'the replay was not relayed');
});
