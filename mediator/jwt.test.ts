import test from 'ava';
import { generateKeyPairSync, verify } from 'node:crypto';
import { PROVIDER_TOKEN_MIN_AGE_MS, PROVIDER_TOKEN_REFRESH_MS, ProviderTokenSigner } from './apns-auth.js';
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

test('provider token: cached, refreshed after 40 minutes, refreshed once on ExpiredProviderToken at 20 minutes or older', (t) => {
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
  t.is(s.refresh(a), 0, "an old token's failure arriving late: the current one is ready");
  t.is(mints, 2);
  now += PROVIDER_TOKEN_MIN_AGE_MS;
  t.is(s.refresh(b), 0);
  t.is(mints, 3);
  t.not(s.header(), b);
});

test('provider token: ExpiredProviderToken for a token younger than 20 minutes mints nothing and says how long to wait', (t) => {
  let now = 1_700_000_000_000;
  let mints = 0;
  const s = new ProviderTokenSigner('TEAM123456', 'KEY1234567', ec.privateKey, () => now, () => mints++);
  const a = s.header();
  const minted = now;
  // The audit's case: four ExpiredProviderToken answers 200 ms apart.
  for (let i = 1; i <= 4; i++) {
    now += 200;
    t.is(s.refresh(a), minted + PROVIDER_TOKEN_MIN_AGE_MS - now, `answer ${i}`);
  }
  t.is(mints, 1, 'Apple answers TooManyProviderTokenUpdates to updates inside 20 minutes');
  t.is(s.header(), a);
  now = minted + PROVIDER_TOKEN_MIN_AGE_MS - 1;
  t.is(s.refresh(a), 1);
  now += 1;
  t.is(s.refresh(a), 0, 'at 20 minutes a new token may be minted');
  t.is(mints, 2);
  t.not(s.header(), a);
  // A clock stepped back never makes the wait longer than the floor itself.
  now -= 3600_000;
  t.is(s.refresh(s.header()), PROVIDER_TOKEN_MIN_AGE_MS);
});

test('a non-EC key is refused', (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  t.throws(() => new ProviderTokenSigner('TEAM123456', 'KEY1234567', rsa.privateKey), { message: /not an EC/ });
});
