import test from 'ava';
import { randomBytes } from 'node:crypto';
import { formatKeyEntry, loadStoreConfig, parseKeyring } from './config.js';
import { decryptSecret, encryptSecret } from './crypto.js';
import { StoreError } from './errors.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ring = (text: string) => parseKeyring(text);

test('round trip; a fresh IV each time; stored form is iv||tag||ciphertext', (t) => {
  const kr = ring(formatKeyEntry('k1', k1));
  const a = encryptSecret(kr, 'correct horse');
  const b = encryptSecret(kr, 'correct horse');
  t.is(a.keyId, 'k1');
  t.is(a.enc.length, 12 + 16 + Buffer.byteLength('correct horse'));
  t.notDeepEqual(a.enc, b.enc);
  t.false(a.enc.includes(Buffer.from('correct horse')));
  t.is(decryptSecret(kr, a.enc, 'k1'), 'correct horse');
  t.is(decryptSecret(kr, encryptSecret(kr, '').enc, 'k1'), '');
  t.is(decryptSecret(kr, encryptSecret(kr, 'pässwörd ✓').enc, 'k1'), 'pässwörd ✓');
});

test('the first entry is current; older keys still decrypt', (t) => {
  const old = ring(formatKeyEntry('k1', k1));
  const sealed = encryptSecret(old, 's3cret');
  const rotated = ring(`${formatKeyEntry('k2', k2)}\n# retired\n${formatKeyEntry('k1', k1)}`);
  t.is(rotated.currentKeyId, 'k2');
  t.is(decryptSecret(rotated, sealed.enc, 'k1'), 's3cret');
  t.is(encryptSecret(rotated, 'x').keyId, 'k2');
  t.is(ring(`${formatKeyEntry('a', k1)},${formatKeyEntry('b', k2)}`).keys.size, 2);
});

test('failed decryption is a typed error that carries no secret', (t) => {
  const secret = 'hunter2-very-secret';
  const kr = ring(formatKeyEntry('k1', k1));
  const sealed = encryptSecret(kr, secret);
  const wrong = ring(formatKeyEntry('k1', k2));
  const tampered = Buffer.from(sealed.enc);
  tampered[tampered.length - 1]! ^= 1;
  const cases: Array<() => unknown> = [
    () => decryptSecret(wrong, sealed.enc, 'k1'),
    () => decryptSecret(kr, tampered, 'k1'),
    () => decryptSecret(kr, sealed.enc.subarray(0, 20), 'k1'),
    () => decryptSecret(kr, sealed.enc, 'k9'),
    // the AAD binds the key id: a row whose key-id column was edited does not decrypt
    () => decryptSecret(ring(`${formatKeyEntry('k1', k1)},${formatKeyEntry('other', k1)}`), sealed.enc, 'other'),
  ];
  for (const c of cases) {
    const err = t.throws(c, { instanceOf: StoreError });
    t.is(err.code, 'STORE_DECRYPT');
    const text = `${err.message} ${err.stack ?? ''} ${JSON.stringify(err)} ${String(err.cause ?? '')}`;
    t.false(text.includes(secret));
    t.false(text.includes(k1.toString('base64')));
    t.false(text.includes(k2.toString('base64')));
    t.false(text.includes(sealed.enc.toString('hex')));
  }
});

test('bad keyrings give STORE_KEY errors that never echo the key', (t) => {
  const short = randomBytes(16).toString('base64');
  const bad = ['', '# only a comment', 'nokeyid', `k1:${short}`, `bad id!:${k1.toString('base64')}`, 'k1:***notbase64***',
    `k1:${k1.toString('base64')},k1:${k2.toString('base64')}`];
  for (const text of bad) {
    const err = t.throws(() => parseKeyring(text), { instanceOf: StoreError });
    t.is(err.code, 'STORE_KEY');
    t.false(err.message.includes(short));
    t.false(err.message.includes(k1.toString('base64')));
  }
});

test('loadStoreConfig reads flags before env, DATABASE_URL as fallback, key file over env key', (t) => {
  const env = { DATABASE_URL: 'postgresql://fallback/db', SIPIS_SECRET_KEY: formatKeyEntry('e1', k1) };
  const c = loadStoreConfig({}, env);
  t.is(c.url, 'postgresql://fallback/db');
  t.is(c.keyring?.currentKeyId, 'e1');
  t.is(loadStoreConfig({ url: 'postgresql://flag/db' }, { ...env, SIPIS_DB_URL: 'postgresql://env/db' }).url, 'postgresql://flag/db');
  t.is(loadStoreConfig({}, { ...env, SIPIS_DB_URL: 'postgresql://env/db' }).url, 'postgresql://env/db');
  const err = t.throws(() => loadStoreConfig({ keyFile: '/nonexistent/key' }, env), { instanceOf: StoreError });
  t.is(err.code, 'STORE_KEY');
  t.is(loadStoreConfig({}, {}).keyring, undefined);
});
