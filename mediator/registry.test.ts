import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APNS_CERT_APP, APNS_TOKEN_APP, FCM_APP, FCM_PROJECT, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { MediatorError } from './errors.js';
import { loadRegistry, parseRegistry } from './registry.js';

let env: PushEnv;
test.before(async () => {
  env = await makePushEnv();
});
test.after.always(async () => {
  await env?.cleanup();
});

const clone = () => JSON.parse(JSON.stringify(env.apps)) as typeof env.apps;

function fieldOf(doc: unknown): string {
  try {
    parseRegistry(doc, env.dir);
    return 'ok';
  } catch (err) {
    if (err instanceof MediatorError) return err.field ?? '?';
    throw err;
  }
}

test('the test registry loads: token, certificate and FCM apps', (t) => {
  const r = loadRegistry(env.appsFile);
  t.is(r.apps.size, 3);
  const tok = r.apps.get(APNS_TOKEN_APP);
  t.is(tok?.platform, 'apns');
  t.is(tok?.platform === 'apns' ? tok.auth.type : '', 'token');
  const cert = r.apps.get(APNS_CERT_APP);
  t.is(cert?.platform === 'apns' && cert.auth.type === 'certificate' ? cert.auth.subject : '', `Apple Push Services: ${APNS_CERT_APP}`);
  const fcm = r.apps.get(FCM_APP);
  t.is(fcm?.platform === 'fcm' ? fcm.projectId : '', FCM_PROJECT);
});

test('invalid registries are refused with the field named', (t) => {
  t.is(fieldOf([]), '(registry)');
  t.is(fieldOf({ apps: {} }), 'apps');
  t.is(fieldOf({ apps: 3 }), 'apps');
  let d = clone();
  d.apps[APNS_TOKEN_APP]!.platform = 'blackberry';
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].platform`);
  d = clone();
  (d.apps[APNS_TOKEN_APP]!.auth as Record<string, unknown>).teamId = 'short';
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].auth.teamId`);
  d = clone();
  (d.apps[APNS_TOKEN_APP]!.auth as Record<string, unknown>).keyFile = 'missing.p8';
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].auth.keyFile`);
  d = clone();
  (d.apps[APNS_TOKEN_APP]!.auth as Record<string, unknown>).keyFile = 'service-account.json';
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].auth.keyFile`);
  d = clone();
  delete d.apps[APNS_TOKEN_APP]!.endpoint;
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].environment`);
  d = clone();
  d.apps[APNS_TOKEN_APP]!.connections = 0;
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].connections`);
  d = clone();
  d.apps[APNS_TOKEN_APP]!.colour = 'red';
  t.is(fieldOf(d), `apps["${APNS_TOKEN_APP}"].colour`);
  d = clone();
  (d.apps[FCM_APP] as Record<string, unknown>).serviceAccountFile = 'ca.pem';
  t.is(fieldOf(d), `apps["${FCM_APP}"].serviceAccountFile`);
});

test('a wrong .p12 passphrase is reported without the passphrase', (t) => {
  const d = clone();
  (d.apps[APNS_CERT_APP]!.auth as Record<string, unknown>).passphrase = 'wrong-secret-xyz';
  const err = t.throws(() => parseRegistry(d, env.dir), { instanceOf: MediatorError });
  t.is(err?.field, `apps["${APNS_CERT_APP}"].auth.p12File`);
  t.notRegex(err?.message ?? '', /wrong-secret-xyz/);
});

test('passphrase from the environment', (t) => {
  const d = clone();
  d.apps[APNS_CERT_APP]!.auth = { type: 'certificate', p12File: 'push.p12', passphraseEnv: 'SIPIS_TEST_P12_PASS' };
  t.is(fieldOf(d), `apps["${APNS_CERT_APP}"].auth.passphraseEnv`);
  process.env.SIPIS_TEST_P12_PASS = 'test-passphrase';
  try {
    t.is(fieldOf(d), 'ok');
  } finally {
    delete process.env.SIPIS_TEST_P12_PASS;
  }
});

test('service-account JSON fields are checked', (t) => {
  const bad = join(env.dir, 'bad-sa.json');
  writeFileSync(bad, JSON.stringify({ type: 'service_account', project_id: 'p', client_email: 'x@y', token_uri: 'https://t/token', private_key: 'nope' }));
  const d = clone();
  d.apps[FCM_APP]!.serviceAccountFile = 'bad-sa.json';
  t.is(fieldOf(d), `apps["${FCM_APP}"].serviceAccountFile.private_key`);
});

test('fingerprints change when a referenced file changes, not otherwise', (t) => {
  const a = loadRegistry(env.appsFile);
  const b = loadRegistry(env.appsFile);
  t.is(a.apps.get(APNS_TOKEN_APP)?.fingerprint, b.apps.get(APNS_TOKEN_APP)?.fingerprint);
  const d = clone();
  d.apps[APNS_TOKEN_APP]!.connections = 3;
  const c = parseRegistry(d, env.dir);
  t.not(c.apps.get(APNS_TOKEN_APP)?.fingerprint, a.apps.get(APNS_TOKEN_APP)?.fingerprint);
  t.is(c.apps.get(FCM_APP)?.fingerprint, a.apps.get(FCM_APP)?.fingerprint);
});
