import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../core/version.js';
import { repoRoot } from '../fixtures/paths.js';
import { startProc } from '../fixtures/proc.js';
import { API_KEY, APNS_TOKEN_APP, apnsToken, makePushEnv, type PushEnv } from '../fixtures/push/env.js';
import { requestFor } from '../fixtures/push/requests.js';
import { loadConfig } from './config.js';
import { MediatorError } from './errors.js';

const bin = join(repoRoot, 'dist', 'mediator', 'main.js');
let env: PushEnv;

test.before(async () => {
  env = await makePushEnv();
});
test.after.always(async () => {
  await env?.cleanup();
});

function run(args: string[], extraEnv: Record<string, string> = {}) {
  return startProc(process.execPath, [bin, ...args], { env: { ...process.env, ...extraEnv } });
}

test('--help and -h print usage and --version the version; all exit 0', async (t) => {
  const p = run(['--help']);
  t.is(await p.exited, 0);
  t.regex(p.output(), /usage: sipis-mediator \[--config FILE\]/);
  const h = run(['-h']);
  t.is(await h.exited, 0);
  t.is(h.output(), p.output());
  const v = run(['--version']);
  t.is(await v.exited, 0);
  t.is(v.output().trim(), `sipis-mediator ${VERSION}`);
});

test('usage errors exit 2: unknown flag, missing apps file, no key', async (t) => {
  const p1 = run(['--frobnicate']);
  t.is(await p1.exited, 2);
  t.regex(p1.output(), /frobnicate/);
  const p2 = run(['--api-key', API_KEY]);
  t.is(await p2.exited, 2);
  t.regex(p2.output(), /appsFile/);
  const p3 = run(['--apps', env.appsFile]);
  t.is(await p3.exited, 2);
  t.regex(p3.output(), /apiKeys/);
});

test('an invalid config or registry exits 2 (as sipis and sipis-bridge) naming the field, without echoing secrets', async (t) => {
  const cfg = join(env.dir, 'bad.json');
  writeFileSync(cfg, JSON.stringify({ apiKeys: [API_KEY], appsFile: 'apps.json', port: 'eighty' }));
  const p1 = run(['--config', cfg]);
  t.is(await p1.exited, 2);
  t.regex(p1.output(), /port \(from .*bad\.json\): must be an integer/);
  const apps = join(env.dir, 'bad-apps.json');
  writeFileSync(apps, JSON.stringify({ apps: { a: { platform: 'apns', bundleId: 'a.b', environment: 'sandbox', auth: { type: 'certificate', p12File: 'push.p12', passphrase: 'not-the-passphrase' } } } }));
  const p2 = run(['--apps', apps, '--port', '0'], { SIPIS_MEDIATOR_API_KEYS: API_KEY });
  t.is(await p2.exited, 2);
  t.regex(p2.output(), /apps\["a"\]\.auth\.p12File/);
  t.notRegex(p2.output(), /not-the-passphrase/);
});

test('a second mediator on a port in use exits 1 instead of sharing the port (uWS would bind it with SO_REUSEPORT)', async (t) => {
  const first = run(['--apps', env.appsFile, '--port', '0', '--log-level', 'info'], { SIPIS_MEDIATOR_API_KEYS: API_KEY });
  try {
    const line = await first.waitFor(/"port":\d+[^\n]*sipis-mediator listening/);
    const port = /"port":(\d+)/.exec(line)![1]!;
    const second = run(['--apps', env.appsFile, '--port', port], { SIPIS_MEDIATOR_API_KEYS: API_KEY });
    t.is(await second.exited, 1);
    t.regex(second.output(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.is(health.status, 200, 'the first one still serves');
  } finally {
    await first.stop();
  }
});

test('precedence: flags over environment over file', (t) => {
  const cfg = join(env.dir, 'prec.json');
  writeFileSync(cfg, JSON.stringify({ apiKeys: [API_KEY], appsFile: 'apps.json', port: 1000, host: '127.0.0.1', logLevel: 'warn' }));
  const r = loadConfig(['--config', cfg, '--port', '3000'], { SIPIS_MEDIATOR_PORT: '2000', SIPIS_MEDIATOR_LOG_LEVEL: 'debug' });
  t.is(r.config?.port, 3000);
  t.is(r.config?.logLevel, 'debug');
  t.is(r.config?.appsFile, env.appsFile, 'appsFile relative to the config file');
  const r2 = loadConfig(['--config', cfg], { SIPIS_MEDIATOR_PORT: '2000', SIPIS_MEDIATOR_API_KEYS: 'a-much-longer-key-1,a-much-longer-key-2' });
  t.is(r2.config?.port, 2000);
  t.deepEqual(r2.config?.apiKeys, ['a-much-longer-key-1', 'a-much-longer-key-2']);
  const e = t.throws(() => loadConfig(['--config', cfg, '--log-level', 'loud'], {}), { instanceOf: MediatorError });
  t.is(e?.field, 'logLevel (from --log-level)');
  t.throws(() => loadConfig(['--config', cfg], { SIPIS_MEDIATOR_API_KEYS: 'short' }), { message: /at least 16/ });
});

test('runs, serves a push, reloads on SIGHUP (keeping the old registry when the new is broken), drains on SIGTERM', async (t) => {
  const appsCopy = join(env.dir, 'apps-bin.json');
  writeFileSync(appsCopy, JSON.stringify(env.apps));
  const p = run(['--apps', appsCopy, '--port', '0', '--log-level', 'info'], { SIPIS_MEDIATOR_API_KEYS: API_KEY });
  try {
    const line = await p.waitFor(/"port":\d+[^\n]*sipis-mediator listening/);
    const port = Number(/"port":(\d+)/.exec(line)![1]);
    const push = () =>
      fetch(`http://127.0.0.1:${port}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(requestFor('NotifyIncomingCall', APNS_TOKEN_APP, apnsToken())),
      });
    t.is((await push()).status, 200);
    writeFileSync(appsCopy, '{"apps": ');
    p.child.kill('SIGHUP');
    await p.waitFor(/app registry reload refused/);
    t.is((await push()).status, 200);
    writeFileSync(appsCopy, JSON.stringify(env.apps));
    p.child.kill('SIGHUP');
    await p.waitFor(/app registry reloaded/);
    env.apns.delayMs = 300;
    const slow = push();
    await new Promise((r) => setTimeout(r, 100));
    p.child.kill('SIGTERM');
    t.is((await slow).status, 200, 'the in-flight push finished before exit');
    t.is(await p.exited, 0);
    t.notRegex(p.output(), new RegExp(API_KEY));
    t.notRegex(p.output(), /BEGIN (EC )?PRIVATE KEY/);
  } finally {
    env.apns.delayMs = 0;
    await p.stop();
  }
});
