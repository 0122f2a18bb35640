import test from 'ava';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../../fixtures/paths.js';
import { parseMessage, serializeMessage } from './index.js';
import type { AuthChallenge, AuthCredentials } from './types.js';
import {
  buildAuthorization,
  createCredentials,
  DigestClientState,
  DigestError,
  DigestServer,
  pickChallenge,
  storedHa1,
  type DigestAlgorithm,
  type DigestErrorCode,
} from './digest.js';

/**
 * A deliberately tiny parser of `Digest k=v, k="v"` for these tests, so the digest code is
 * tested without depending on the message parser (the message-level round trip through
 * parseMessage lives in the parser's own tests and in the registrar tests).
 */
function parseAuth(value: string): AuthChallenge & AuthCredentials {
  const m = /^(\S+)\s+(.*)$/s.exec(value);
  if (m === null) throw new Error(`not an auth value: ${value}`);
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null && p[0].length > 0) {
    params.set(p[1].toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]);
  }
  return { scheme: m[1], params };
}

function challenge(params: Record<string, string>, scheme = 'Digest'): AuthChallenge {
  return { scheme, params: new Map(Object.entries(params)) };
}

const SECRET = 'a test secret of at least 16 bytes';
const NOW = 1_700_000_000_000;

// ---------------------------------------------------------------- published test vectors

test('RFC 2617 §3.5 example (MD5, qop=auth): response and header value', (t) => {
  const ch = challenge({
    realm: 'testrealm@host.com',
    qop: 'auth,auth-int',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    opaque: '5ccc069c403ebaf9f0171e9517f40e41',
  });
  const value = buildAuthorization({
    challenge: ch,
    method: 'GET',
    uri: '/dir/index.html',
    username: 'Mufasa',
    // The RFC's printed response matches "Circle Of Life" (RFC 2617 erratum 1649).
    password: 'Circle Of Life',
    nc: 1,
    cnonce: '0a4f113b',
  });
  t.is(
    value,
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", ' +
      'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
  );
});

test('RFC 7616 §3.9.1 example: MD5 and SHA-256 responses', (t) => {
  const base = {
    realm: 'http-auth@example.org',
    qop: 'auth, auth-int',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  };
  const answer = (algorithm: string): AuthCredentials =>
    createCredentials({
      challenge: challenge({ ...base, algorithm }),
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle of Life',
      nc: 1,
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    });
  t.is(answer('MD5').params.get('response'), '8ca523f5e9506fed4657c9700eebdbec');
  const sha = answer('SHA-256');
  t.is(sha.params.get('response'), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  t.is(sha.params.get('algorithm'), 'SHA-256');
  t.is(sha.params.get('opaque'), base.opaque);
});

// ---------------------------------------------------------------- client side

test('pickChallenge prefers the strongest algorithm we implement, skipping others', (t) => {
  const md5 = challenge({ realm: 'r', nonce: 'n1', qop: 'auth' });
  const sha = challenge({ realm: 'r', nonce: 'n2', qop: 'auth', algorithm: 'SHA-256' });
  const sha512 = challenge({ realm: 'r', nonce: 'n3', qop: 'auth', algorithm: 'SHA-512-256' });
  const basic = challenge({ realm: 'r' }, 'Basic');
  const unknownAlg = challenge({ realm: 'r', nonce: 'n4', algorithm: 'AKAv1-MD5' });
  const onlyIntegrityUnknown = challenge({ realm: 'r', nonce: 'n5', qop: 'auth-conf', algorithm: 'SHA-256' });
  t.is(pickChallenge([md5, sha, basic]), sha);
  t.is(pickChallenge([sha, md5]), sha);
  t.is(pickChallenge([basic, md5, sha512, sha]), sha512);
  t.is(pickChallenge([unknownAlg, md5]), md5);
  t.is(pickChallenge([basic, unknownAlg, onlyIntegrityUnknown]), undefined);
  t.is(pickChallenge([]), undefined);
  // the scheme is case-insensitive (RFC 3261 §25.1 / RFC 7235 §2.1)
  const lower = challenge({ realm: 'r', nonce: 'n', algorithm: 'sha-256' }, 'digest');
  t.is(pickChallenge([md5, lower]), lower);
});

test('no-qop legacy challenge (RFC 2069): no cnonce, nc or qop sent; algorithm echoed only if named', (t) => {
  const creds = createCredentials({
    challenge: challenge({ realm: 'sip.example.com', nonce: 'abc' }),
    method: 'REGISTER',
    uri: 'sip:sip.example.com',
    username: 'alice',
    password: 'pw',
    nc: 1,
  });
  t.deepEqual([...creds.params.keys()], ['username', 'realm', 'nonce', 'uri', 'response']);
  t.regex(creds.params.get('response') ?? '', /^[0-9a-f]{32}$/);
  const named = createCredentials({
    challenge: challenge({ realm: 'sip.example.com', nonce: 'abc', algorithm: 'md5' }),
    method: 'REGISTER',
    uri: 'sip:sip.example.com',
    username: 'alice',
    password: 'pw',
    nc: 1,
  });
  t.is(named.params.get('algorithm'), 'MD5');
  t.is(named.params.get('response'), creds.params.get('response'));
});

test('client errors are typed DigestErrors with stable codes and no secret in the message', (t) => {
  const input = { method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'hunter2-secret', nc: 1 };
  const cases: Array<[AuthChallenge, DigestErrorCode]> = [
    [challenge({ realm: 'r' }, 'Basic'), 'ERR_DIGEST_UNSUPPORTED_SCHEME'],
    [challenge({ realm: 'r' }), 'ERR_DIGEST_MISSING_PARAM'],
    [challenge({ realm: 'r', nonce: 'n', algorithm: 'SHA-1' }), 'ERR_DIGEST_UNSUPPORTED_ALGORITHM'],
    [challenge({ realm: 'r', nonce: 'n', qop: 'auth-conf' }), 'ERR_DIGEST_UNSUPPORTED_QOP'],
  ];
  for (const [ch, code] of cases) {
    const err = t.throws(() => buildAuthorization({ ...input, challenge: ch }), { instanceOf: DigestError });
    t.is(err?.code, code);
    t.false(err?.message.includes('hunter2') ?? true);
  }
  const inj = t.throws(
    () => buildAuthorization({ ...input, username: 'bob\r\nVia: evil', challenge: challenge({ realm: 'r', nonce: 'n' }) }),
    { instanceOf: DigestError },
  );
  t.is(inj?.code, 'ERR_DIGEST_BAD_VALUE');
  t.throws(() => buildAuthorization({ ...input, nc: 0, challenge: challenge({ realm: 'r', nonce: 'n', qop: 'auth' }) }), {
    instanceOf: RangeError,
  });
});

test('quoted-string escapes in username survive the round trip', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const realm = 'sipis.example';
  const username = 'we"ird\\user';
  const ch = parseAuth(server.buildChallenge({ realm, now: NOW }));
  const value = buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:sipis.example', username, password: 'p', nc: 1 });
  t.true(value.includes('username="we\\"ird\\\\user"'));
  const creds = parseAuth(value);
  t.is(creds.params.get('username'), username);
  t.like(server.verifyCredentials({ credentials: creds, method: 'REGISTER', realm, password: 'p', now: NOW }), { ok: true, username });
});

// ---------------------------------------------------------------- server side

test('buildChallenge formats per RFC 7616 §3.3: quoted realm/nonce/opaque/qop, bare algorithm and stale', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const v = server.buildChallenge({ realm: 'sipis.example', algorithm: 'SHA-256', stale: true, opaque: 'op', now: NOW });
  t.regex(v, /^Digest realm="sipis\.example", nonce="[A-Za-z0-9_-]{70}", opaque="op", stale=true, algorithm=SHA-256, qop="auth"$/);
  const legacy = server.buildChallenge({ realm: 'r', qop: null, now: NOW });
  t.regex(legacy, /^Digest realm="r", nonce="[^"]+", algorithm=MD5$/);
  const two = server.buildChallenge({ realm: 'r', qop: 'auth,auth-int', now: NOW });
  t.true(two.endsWith('qop="auth,auth-int"'));
  // nonces are unique even at the same instant
  t.not(server.createNonce('r', NOW), server.createNonce('r', NOW));
});

for (const algorithm of ['MD5', 'SHA-256', 'MD5-sess', 'SHA-256-sess', 'SHA-512-256'] as DigestAlgorithm[]) {
  test(`round trip client → server, ${algorithm}, qop=auth`, (t) => {
    const server = new DigestServer({ secret: SECRET });
    const realm = 'sipis.example';
    const ch = parseAuth(server.buildChallenge({ realm, algorithm, opaque: 'xyz', now: NOW }));
    const value = buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:sipis.example', username: 'alice', password: 's3cret', nc: 1 });
    const credentials = parseAuth(value);
    t.is(credentials.params.get('qop'), 'auth');
    t.is(credentials.params.get('opaque'), 'xyz');
    const res = server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 's3cret', now: NOW + 1000, opaque: 'xyz', requestUri: 'sip:sipis.example' });
    t.deepEqual(res, { ok: true, username: 'alice', algorithm, qop: 'auth', nc: 1, nonceIssuedAt: NOW });
    // same credentials, another method: the response covers the method
    t.like(server.verifyCredentials({ credentials, method: 'INVITE', realm, password: 's3cret', now: NOW }), { ok: false, reason: 'bad-response' });
    t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'wrong', now: NOW }), { ok: false, reason: 'bad-response' });
  });
}

for (const algorithm of ['MD5', 'SHA-256'] as DigestAlgorithm[]) {
  test(`round trip without qop (RFC 2069 mode), ${algorithm}`, (t) => {
    const legacyServer = new DigestServer({ secret: SECRET, allowNoQop: true });
    const strictServer = new DigestServer({ secret: SECRET });
    const realm = 'legacy.example';
    const ch = parseAuth(legacyServer.buildChallenge({ realm, algorithm, qop: null, now: NOW }));
    const credentials = parseAuth(
      buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:legacy.example', username: 'bob', password: 'pw', nc: 1 }),
    );
    t.false(credentials.params.has('qop'));
    t.false(credentials.params.has('nc'));
    t.deepEqual(legacyServer.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'pw', now: NOW }), {
      ok: true,
      username: 'bob',
      algorithm,
      nonceIssuedAt: NOW,
    });
    t.like(legacyServer.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'px', now: NOW }), { reason: 'bad-response' });
    // our own challenges always offer qop: a response without it is a downgrade
    t.like(strictServer.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'pw', now: NOW }), { ok: false, reason: 'unsupported-qop' });
  });
}

test('qop=auth-int hashes the body', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const ch = parseAuth(server.buildChallenge({ realm: 'r', algorithm: 'SHA-256', qop: 'auth-int', now: NOW }));
  const body = Buffer.from('v=0\r\n');
  const credentials = parseAuth(buildAuthorization({ challenge: ch, method: 'INVITE', uri: 'sip:b@r', username: 'a', password: 'p', nc: 1, body }));
  t.is(credentials.params.get('qop'), 'auth-int');
  t.like(server.verifyCredentials({ credentials, method: 'INVITE', realm: 'r', password: 'p', now: NOW, body }), { ok: true, qop: 'auth-int' });
  t.like(server.verifyCredentials({ credentials, method: 'INVITE', realm: 'r', password: 'p', now: NOW, body: 'v=1\r\n' }), { reason: 'bad-response' });
});

test('stale: a right response on an expired nonce is stale, a wrong one is bad-response', (t) => {
  const server = new DigestServer({ secret: SECRET, nonceTtlSeconds: 300 });
  const realm = 'sipis.example';
  const ch = parseAuth(server.buildChallenge({ realm, now: NOW }));
  const credentials = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW + 299_000 }), { ok: true });
  t.deepEqual(server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW + 301_000 }), { ok: false, reason: 'stale' });
  t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'q', now: NOW + 301_000 }), { reason: 'bad-response' });
  // the re-challenge after stale says so, unquoted
  t.regex(server.buildChallenge({ realm, stale: true }), /, stale=true,/);
  // a shorter configured lifetime
  const quick = new DigestServer({ secret: SECRET, nonceTtlSeconds: 10 });
  t.like(quick.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW + 11_000 }), { reason: 'stale' });
  // a nonce stamped far in the future (clock games, or a forged stamp) is not ours to trust
  const future = parseAuth(server.buildChallenge({ realm, now: NOW + 3_600_000 }));
  const fc = parseAuth(buildAuthorization({ challenge: future, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  t.like(server.verifyCredentials({ credentials: fc, method: 'REGISTER', realm, password: 'p', now: NOW }), { reason: 'bad-nonce' });
});

test('tampered, foreign and malformed nonces are bad-nonce', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const other = new DigestServer({ secret: 'another secret, also 16+ bytes' });
  const realm = 'sipis.example';
  const answer = (nonce: string): AuthCredentials =>
    parseAuth(buildAuthorization({ challenge: challenge({ realm, nonce, qop: 'auth' }), method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  const good = server.createNonce(realm, NOW);
  const verify = (nonce: string): unknown => server.verifyCredentials({ credentials: answer(nonce), method: 'REGISTER', realm, password: 'p', now: NOW });
  t.like(verify(good), { ok: true });
  // flip one character in each part: timestamp, random, MAC
  for (const at of [3, 15, 60]) {
    const c = good[at] === 'A' ? 'B' : 'A';
    t.like(verify(good.slice(0, at) + c + good.slice(at + 1)), { ok: false, reason: 'bad-nonce' }, `flip at ${at}`);
  }
  t.like(verify(other.createNonce(realm, NOW)), { reason: 'bad-nonce' });
  t.like(verify(server.createNonce('other.realm', NOW)), { reason: 'bad-nonce' });
  // the last character's 4 unused bits: another spelling of the same bytes is not our nonce
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = B64.indexOf(good[69]!);
  for (let k = 1; k < 16; k++) t.like(verify(good.slice(0, 69) + B64[last + k]), { ok: false, reason: 'bad-nonce' }, `last bits ${k}`);
  for (const junk of ['', 'dcd98b7102dd2f0e8b11d0f600bfb0c093', good + 'A', good.slice(0, 69) + '=', '!'.repeat(70)]) {
    t.like(verify(junk), { reason: 'bad-nonce' }, JSON.stringify(junk));
  }
});

test('stateless: any process with the same secret verifies; rotation keeps old nonces valid', (t) => {
  const a = new DigestServer({ secret: SECRET });
  const b = new DigestServer({ secret: Buffer.from(SECRET) });
  const rotated = new DigestServer({ secret: ['the next secret, 16+ bytes long', SECRET] });
  const realm = 'sipis.example';
  const ch = parseAuth(a.buildChallenge({ realm, algorithm: 'SHA-256', now: NOW }));
  const credentials = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  t.like(b.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW }), { ok: true });
  t.like(rotated.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW }), { ok: true });
  // and new nonces come from the first secret, which the old process cannot verify
  t.is(a.checkNonce(rotated.createNonce(realm, NOW), realm), undefined);
  t.is(rotated.checkNonce(rotated.createNonce(realm, NOW), realm), NOW);
});

test('wrong realm, unsupported algorithm and scheme, uri and opaque mismatches', (t) => {
  const server = new DigestServer({ secret: SECRET, algorithms: ['SHA-256'] });
  const realm = 'sipis.example';
  const make = (algorithm: string, r = realm): AuthCredentials =>
    parseAuth(
      buildAuthorization({
        challenge: challenge({ realm: r, nonce: server.createNonce(r, NOW), qop: 'auth', algorithm, opaque: 'o1' }),
        method: 'REGISTER',
        uri: 'sip:sipis.example',
        username: 'u',
        password: 'p',
        nc: 1,
      }),
    );
  const v = (credentials: AuthCredentials, extra = {}): unknown =>
    server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW, ...extra });
  t.like(v(make('SHA-256')), { ok: true });
  t.like(v(make('SHA-256', 'evil.example')), { ok: false, reason: 'wrong-realm' });
  t.like(v(make('MD5')), { ok: false, reason: 'unsupported-algorithm' }); // not in this server's policy
  const sha1 = make('SHA-256');
  sha1.params.set('algorithm', 'SHA-1');
  t.like(v(sha1), { reason: 'unsupported-algorithm' });
  t.like(v({ scheme: 'Basic', params: new Map() }), { reason: 'unsupported-scheme' });
  t.like(v(make('SHA-256'), { requestUri: 'sip:other.example' }), { reason: 'uri-mismatch' });
  t.like(v(make('SHA-256'), { opaque: 'o2' }), { reason: 'opaque-mismatch' });
  const badQop = make('SHA-256');
  badQop.params.set('qop', 'auth-conf');
  t.like(v(badQop), { reason: 'unsupported-qop' });
});

test('missing parameters are reported by name', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const realm = 'sipis.example';
  const ch = parseAuth(server.buildChallenge({ realm, algorithm: 'MD5-sess', now: NOW }));
  const full = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  t.like(server.verifyCredentials({ credentials: full, method: 'REGISTER', realm, password: 'p', now: NOW }), { ok: true });
  for (const name of ['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'nc']) {
    const params = new Map(full.params);
    params.delete(name);
    t.deepEqual(
      server.verifyCredentials({ credentials: { scheme: 'Digest', params }, method: 'REGISTER', realm, password: 'p', now: NOW }),
      { ok: false, reason: 'missing-param', param: name },
      name,
    );
  }
  const badNc = new Map(full.params);
  badNc.set('nc', '1');
  t.like(server.verifyCredentials({ credentials: { scheme: 'Digest', params: badNc }, method: 'REGISTER', realm, password: 'p', now: NOW }), {
    reason: 'missing-param',
    param: 'nc',
  });
  t.throws(() => server.verifyCredentials({ credentials: full, method: 'REGISTER', realm, now: NOW }), { instanceOf: DigestError });
});

test('HA1 stored instead of the password, as a string or per algorithm', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const realm = 'sipis.example';
  const ha1 = { MD5: storedHa1('MD5', 'u', realm, 'p'), 'SHA-256': storedHa1('SHA-256', 'u', realm, 'p') };
  for (const algorithm of ['MD5', 'SHA-256', 'SHA-256-sess'] as DigestAlgorithm[]) {
    const ch = parseAuth(server.buildChallenge({ realm, algorithm, now: NOW }));
    const credentials = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 7 }));
    t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, ha1, now: NOW }), { ok: true, nc: 7 }, algorithm);
    const own = algorithm.startsWith('MD5') ? ha1.MD5 : ha1['SHA-256'];
    t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, ha1: own.toUpperCase(), now: NOW }), { ok: true });
  }
  // an MD5 HA1 cannot check a SHA-256 response: say so instead of "bad-response"
  const ch = parseAuth(server.buildChallenge({ realm, algorithm: 'SHA-256', now: NOW }));
  const credentials = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1 }));
  t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, ha1: ha1.MD5, now: NOW }), { reason: 'unsupported-algorithm' });
  t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, ha1: { MD5: ha1.MD5 }, now: NOW }), { reason: 'unsupported-algorithm' });
  // the client may also hold only the HA1
  const fromHa1 = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', ha1: ha1['SHA-256'], nc: 1, cnonce: 'c' }));
  const fromPw = parseAuth(buildAuthorization({ challenge: ch, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1, cnonce: 'c' }));
  t.is(fromHa1.params.get('response'), fromPw.params.get('response'));
});

test('DigestClientState reuses a nonce with increasing nc, restarts at 1 on a new nonce', (t) => {
  const server = new DigestServer({ secret: SECRET });
  const realm = 'sipis.example';
  const state = new DigestClientState();
  const req = { method: 'REGISTER', uri: 'sip:sipis.example', username: 'u', password: 'p' };
  t.is(state.authorize({ ...req, realm }), undefined); // nothing known yet
  const ch1 = parseAuth(server.buildChallenge({ realm, algorithm: 'SHA-256', now: NOW }));
  const ncs: Array<string | undefined> = [];
  for (const value of [state.authorize({ ...req, challenge: ch1 }), state.authorize({ ...req, realm }), state.authorize({ ...req, realm })]) {
    t.truthy(value);
    const credentials = parseAuth(value as string);
    ncs.push(credentials.params.get('nc'));
    t.like(server.verifyCredentials({ credentials, method: 'REGISTER', realm, password: 'p', now: NOW }), { ok: true });
  }
  t.deepEqual(ncs, ['00000001', '00000002', '00000003']);
  // the same challenge again keeps counting; a stale re-challenge with a new nonce restarts
  state.update(ch1);
  t.is(state.nextNc(realm), 4);
  const ch2 = parseAuth(server.buildChallenge({ realm, algorithm: 'SHA-256', stale: true, now: NOW + 400_000 }));
  const v2 = parseAuth(state.authorize({ ...req, challenge: ch2 }) as string);
  t.is(v2.params.get('nc'), '00000001');
  t.is(v2.params.get('nonce'), ch2.params.get('nonce'));
  state.forget(realm);
  t.false(state.has(realm));
  // bounded
  const small = new DigestClientState(2);
  for (const r of ['a', 'b', 'c']) small.update(challenge({ realm: r, nonce: 'n' }));
  t.deepEqual([small.has('a'), small.has('b'), small.has('c')], [false, true, true]);
});

test('DigestServer refuses short secrets', (t) => {
  t.like(t.throws(() => new DigestServer({ secret: 'short' }), { instanceOf: DigestError }), { code: 'ERR_DIGEST_BAD_SECRET' });
  t.throws(() => new DigestServer({ secret: [] }), { instanceOf: DigestError });
});

// ---------------------------------------------------------------- through real messages

test('through the message parser: 401 with two challenges → SHA-256 picked → REGISTER verified', (t) => {
  const r401 = parseMessage(readFileSync(fixturePath('messages', 'register-401.sip')));
  t.is(r401.wwwAuthenticate.length, 2);
  const picked = pickChallenge(r401.wwwAuthenticate);
  t.is(picked?.params.get('algorithm'), 'SHA-256');
  t.is(picked?.params.get('qop'), 'auth');

  // our own server's challenge, carried in a real header and parsed back
  const server = new DigestServer({ secret: SECRET });
  const realm = 'sipis.example.net';
  const reg = parseMessage(readFileSync(fixturePath('messages', 'register-auth.sip')));
  reg.removeHeader('Authorization');
  const challengeMsg = parseMessage(readFileSync(fixturePath('messages', 'register-401.sip')));
  challengeMsg.removeHeader('WWW-Authenticate');
  challengeMsg.addHeader('WWW-Authenticate', server.buildChallenge({ realm, algorithm: 'SHA-256', opaque: 'o/p"q', now: NOW }));
  const ch = pickChallenge(parseMessage(serializeMessage(challengeMsg)).wwwAuthenticate);
  t.truthy(ch);
  t.is(ch?.params.get('opaque'), 'o/p"q');
  reg.setHeader('Authorization', buildAuthorization({ challenge: ch as AuthChallenge, method: reg.method, uri: reg.uri, username: 'alice', password: 'pw', nc: 1 }));
  const received = parseMessage(serializeMessage(reg));
  const creds = received.authorization;
  t.is(creds.length, 1);
  t.deepEqual(
    server.verifyCredentials({ credentials: creds[0]!, method: received.method, realm, password: 'pw', now: NOW, requestUri: received.uri, opaque: 'o/p"q' }),
    { ok: true, username: 'alice', algorithm: 'SHA-256', qop: 'auth', nc: 1, nonceIssuedAt: NOW },
  );
  t.like(server.verifyCredentials({ credentials: creds[0]!, method: received.method, realm, password: 'px', now: NOW }), { reason: 'bad-response' });
});
