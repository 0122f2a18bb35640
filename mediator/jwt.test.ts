import test from 'ava';
import { generateKeyPairSync, verify } from 'node:crypto';
import { PROVIDER_TOKEN_REFRESH_MS, ProviderTokenSigner } from './apns-auth.js';
import { signJwt } from './jwt.js';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });

test('ES256 signatures are raw r||s (64 bytes), as JOSE requires, not DER', (t) => {
  const jwt = signJwt('ES256', { kid: 'KEY1234567' }, { iss: 'TEAM123456', iat: 1700000000 }, ec.privateKey);
  const [h, c, s] = jwt.split('.');
  t.deepEqual(JSON.parse(Buffer.from(h!, 'base64url').toString()), { alg: 'ES256', typ: 'JWT', kid: 'KEY1234567' });
  t.deepEqual(JSON.parse(Buffer.from(c!, 'base64url').toString()), { iss: 'TEAM123456', iat: 1700000000 });
  const sig = Buffer.from(s!, 'base64url');
  t.is(sig.length, 64);
  t.true(verify('sha256', Buffer.from(`${h}.${c}`), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  t.false(/[+/=]/.test(jwt), 'base64url without padding');
});

test('provider token: cached, refreshed after 40 minutes, refreshed once on ExpiredProviderToken', (t) => {
  let now = 1_700_000_000_000;
  let mints = 0;
  const s = new ProviderTokenSigner('TEAM123456', 'KEY1234567', ec.privateKey, () => now, () => mints++);
  const a = s.header();
  t.regex(a, /^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  now += 19 * 60_000;
  t.is(s.header(), a, 'reused inside the window');
  now += PROVIDER_TOKEN_REFRESH_MS;
  const b = s.header();
  t.not(b, a);
  t.is(mints, 2);
  s.refresh(a); // an old token's failure arriving late: no new mint
  t.is(mints, 2);
  s.refresh(b);
  t.is(mints, 3);
  t.not(s.header(), b);
});

test('a non-EC key is refused', (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  t.throws(() => new ProviderTokenSigner('TEAM123456', 'KEY1234567', rsa.privateKey), { message: /not an EC/ });
});
