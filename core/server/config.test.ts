import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseArgs, requireRuntime, usage } from './config.js';
import { ServerError } from './errors.js';
import { VERSION } from '../version.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const withFile = (content: string, fn: (file: string) => void): void => {
  const dir = mkdtempSync(join(tmpdir(), 'sipis-cfg-'));
  try {
    const file = join(dir, 'sipis.json');
    writeFileSync(file, content);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('defaults when nothing is given', (t) => {
  const c = loadConfig([], {});
  t.deepEqual(c.listen, ['0.0.0.0:5060']);
  t.is(c.upstream.registerRate, 200);
  t.is(c.upstream.defaultExpires, 3600);
  t.is(c.admin.host, '127.0.0.1');
  t.is(c.logLevel, 'info');
});

test('precedence: file < env < flags', (t) => {
  withFile(JSON.stringify({ upstream: { registerRate: 10, defaultExpires: 120 }, listen: ['127.0.0.1:5070'], logLevel: 'debug' }), (file) => {
    const c = loadConfig(['--config', file, '--register-rate=50'], { SIPIS_REGISTER_RATE: '20', SIPIS_DEFAULT_EXPIRES: '300', SIPIS_LISTEN: '127.0.0.1:5071,[::1]:5071' });
    t.is(c.upstream.registerRate, 50);
    t.is(c.upstream.defaultExpires, 300);
    t.deepEqual(c.listen, ['127.0.0.1:5071', '[::1]:5071']);
    t.is(c.logLevel, 'debug');
  });
});

test('invalid values name the field and the source', (t) => {
  const e1 = t.throws(() => loadConfig(['--register-rate', 'fast'], {}), { instanceOf: ServerError });
  t.is(e1?.code, 'ERR_CONFIG_INVALID');
  t.is(e1?.field, 'upstream.registerRate');
  t.regex(e1!.message, /flag --register-rate/);
  const e2 = t.throws(() => loadConfig([], { SIPIS_ADMIN_PORT: '70000' }), { instanceOf: ServerError });
  t.is(e2?.field, 'admin.port');
  t.regex(e2!.message, /SIPIS_ADMIN_PORT.*between -1 and 65535/);
  const e3 = t.throws(() => loadConfig(['--listen', 'localhost'], {}), { instanceOf: ServerError });
  t.is(e3?.field, 'listen');
  const e4 = t.throws(() => loadConfig(['--log-level', 'loud'], {}), { instanceOf: ServerError });
  t.is(e4?.field, 'logLevel');
  const e5 = t.throws(() => loadConfig(['--backoff-base', '60', '--backoff-max', '30'], {}), { instanceOf: ServerError });
  t.is(e5?.field, 'upstream.backoffMaxS');
  const e6 = t.throws(() => loadConfig(['--shard-backends', '10.0.0.1:5060'], {}), { instanceOf: ServerError });
  t.is(e6?.field, 'shard.self');
  const e7 = t.throws(() => loadConfig(['--default-expires', '1.5'], {}), { instanceOf: ServerError });
  t.regex(e7!.message, /integer/);
});

test('file errors: unreadable, not JSON, unknown keys, wrong types', (t) => {
  t.is(t.throws(() => loadConfig(['--config', '/nonexistent/sipis.json'], {}), { instanceOf: ServerError })?.code, 'ERR_CONFIG_FILE');
  withFile('{ not json', (file) => {
    t.is(t.throws(() => loadConfig(['--config', file], {}), { instanceOf: ServerError })?.code, 'ERR_CONFIG_FILE');
  });
  withFile('[1,2]', (file) => {
    t.is(t.throws(() => loadConfig([], { SIPIS_CONFIG: file }), { instanceOf: ServerError })?.code, 'ERR_CONFIG_FILE');
  });
  withFile(JSON.stringify({ upstream: { registerRat: 5 } }), (file) => {
    t.is(t.throws(() => loadConfig(['--config', file], {}), { instanceOf: ServerError })?.field, 'upstream.registerRat');
  });
  withFile(JSON.stringify({ listen: '127.0.0.1:5060', admin: { port: 'x' } }), (file) => {
    t.is(t.throws(() => loadConfig(['--config', file], {}), { instanceOf: ServerError })?.field, 'admin.port');
  });
});

test('sipis --version prints the package version and exits 0, before reading any setting', (t) => {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const r = spawnSync(process.execPath, [main, '--version', '--no-such-option'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `sipis ${VERSION}\n`);
  t.regex(VERSION, /^\d+\.\d+\.\d+/);
});

test('usage errors: unknown option, missing value; --help', (t) => {
  t.is(t.throws(() => parseArgs(['--nope']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
  t.is(t.throws(() => parseArgs(['--listen']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
  t.is(t.throws(() => parseArgs(['--listen', '--domain', 'x']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
  // a value that begins with '--' (a base64url secret can) passes in the --name=value form
  t.regex(t.throws(() => parseArgs(['--digest-secret', '--AbCdEfGhIjKlMnOp']))?.message ?? '', /--digest-secret=VALUE/);
  t.is(loadConfig(['--db-url', 'postgres://x', '--digest-secret=--AbCdEfGhIjKlMnOp'], {}).devices.digestSecret, '--AbCdEfGhIjKlMnOp');
  t.true(parseArgs(['--help']).help);
  t.regex(usage(), /SIPIS_DB_URL/);
  t.regex(usage(), /--register-rate/);
});

test('requireRuntime wants the database URL and the secret key', (t) => {
  const c = loadConfig([], {});
  t.is(t.throws(() => requireRuntime(c), { instanceOf: ServerError })?.field, 'databaseUrl');
  c.databaseUrl = 'postgres://x';
  t.is(t.throws(() => requireRuntime(c), { instanceOf: ServerError })?.field, 'secretKey');
  c.secretKey = 'k';
  t.is(t.throws(() => requireRuntime(c), { instanceOf: ServerError })?.field, 'devices.digestSecret');
  c.devices.digestSecret = 'sixteen-bytes-at-least';
  t.notThrows(() => requireRuntime(c));
  c.push.mediatorUrl = 'http://127.0.0.1:8089';
  t.is(t.throws(() => requireRuntime(c), { instanceOf: ServerError })?.field, 'push.apiKey');
  c.push.apiKeyFile = '/run/secrets/mediator-key';
  t.notThrows(() => requireRuntime(c));
  const off = loadConfig(['--devices', 'off', '--db-url', 'postgres://x', '--secret-key', 'k'], {});
  t.false(off.devices.enabled);
  t.notThrows(() => requireRuntime(off), 'no digest secret needed without devices');
  t.is(loadConfig([], { DATABASE_URL: 'postgres://fallback' }).databaseUrl, 'postgres://fallback');
  t.is(loadConfig([], { DATABASE_URL: 'postgres://fallback', SIPIS_DB_URL: 'postgres://mine' }).databaseUrl, 'postgres://mine');
});

test('device, push, tunnel and provider settings: defaults, every source, readable errors', (t) => {
  const d = loadConfig([], {});
  t.true(d.devices.enabled);
  t.deepEqual(d.devices.algorithms, ['MD5', 'SHA-256']);
  t.deepEqual([d.devices.expiresMinS, d.devices.expiresDefaultS, d.devices.expiresMaxS], [60, 3600, 604800]);
  t.deepEqual([d.tunnel.readinessTimeoutS, d.tunnel.reachableWindowS, d.tunnel.reachableGraceS, d.tunnel.maxMessageBytes], [120, 30, 2, 4 * 1024 * 1024]);
  t.is(d.push.mediatorUrl, undefined);
  withFile(
    JSON.stringify({ domain: 'sipis.example', devices: { enabled: true, bridges: ['10.0.0.7', '[::1]:5070'], algorithms: ['SHA-256', 'MD5'] }, push: { mediatorUrl: 'http://10.0.0.9:8089' }, tunnel: { readinessTimeoutS: 60 }, providers: { addresses: ['192.0.2.0/24'] } }),
    (file) => {
      const c = loadConfig(['--config', file, '--reachable-window', '0', '--device-expires-max', '7200'], { SIPIS_MEDIATOR_API_KEY: 'key-from-env', SIPIS_DIGEST_SECRET: 'a-digest-secret-of-some-length', SIPIS_PROVIDER_ADDRESSES: '198.51.100.1,2001:db8::/32' });
      t.is(c.domain, 'sipis.example');
      t.deepEqual(c.devices.bridges, ['10.0.0.7', '[::1]:5070']);
      t.deepEqual(c.devices.algorithms, ['SHA-256', 'MD5']);
      t.is(c.devices.expiresMaxS, 7200);
      t.is(c.push.mediatorUrl, 'http://10.0.0.9:8089');
      t.is(c.push.apiKey, 'key-from-env');
      t.is(c.devices.digestSecret, 'a-digest-secret-of-some-length');
      t.is(c.tunnel.readinessTimeoutS, 60);
      t.is(c.tunnel.reachableWindowS, 0);
      t.deepEqual(c.providers.addresses, ['198.51.100.1', '2001:db8::/32'], 'env wins over the file');
    },
  );
  const field = (args: string[], env: NodeJS.ProcessEnv = {}) => t.throws(() => loadConfig(args, env), { instanceOf: ServerError })?.field;
  t.is(field(['--digest-algorithms', 'MD5,SHA-1']), 'devices.algorithms');
  t.is(field(['--digest-algorithms', 'MD5,MD5']), 'devices.algorithms');
  t.is(field(['--device-expires-min', '600', '--device-expires', '300']), 'devices.expiresDefaultS');
  t.is(field(['--bridges', 'bridge.example']), 'devices.bridges');
  t.is(field(['--provider-addresses', '10.0.0.0/33']), 'providers.addresses');
  t.is(field(['--mediator-url', 'ftp://x']), 'push.mediatorUrl');
  t.is(field(['--devices', 'maybe']), 'devices.enabled');
  t.is(field(['--readiness-timeout', '0']), 'tunnel.readinessTimeoutS');
  // digest for the phones' own requests: on plain UDP flows unless told otherwise
  t.is(d.devices.requestAuth, 'udp');
  t.is(loadConfig(['--device-request-auth', 'all'], {}).devices.requestAuth, 'all');
  t.is(loadConfig([], { SIPIS_DEVICE_REQUEST_AUTH: 'none' }).devices.requestAuth, 'none');
  t.is(field(['--device-request-auth', 'tls']), 'devices.requestAuth');
  // password guessing: 10 failures a minute block an address for 5 minutes; 0 turns it off
  t.deepEqual([d.devices.authFailLimit, d.devices.authFailWindowS, d.devices.authBlockS], [10, 60, 300]);
  t.is(loadConfig(['--auth-fail-limit', '0'], {}).devices.authFailLimit, 0);
  t.is(field(['--auth-block', '0']), 'devices.authBlockS');
  // a short secret is refused without echoing it
  const e = t.throws(() => loadConfig([], { SIPIS_DIGEST_SECRET: 'hunter2' }), { instanceOf: ServerError });
  t.is(e?.field, 'devices.digestSecret');
  t.notRegex(e!.message, /hunter2/);
  t.regex(usage(), /--mediator-url[^]*SIPIS_MEDIATOR_API_KEY/);
});

test('clean-up settings: sipis-facts defaults, every source, and errors that say what is wrong', (t) => {
  const d = loadConfig([], {}).cleanup;
  t.deepEqual(d, { enabled: true, staleAfterS: 3 * 86400, premiumStaleAfterS: 7 * 86400, failingAfterS: 12 * 3600, warningsS: [43200, 3600], intervalS: 300, batchSize: 500, maxPerPass: 20_000 });
  withFile(JSON.stringify({ cleanup: { staleAfterS: 86400, warningsS: [7200, 600], batchSize: 100 } }), (file) => {
    const c = loadConfig(['--config', file, '--cleanup-interval', '60'], { SIPIS_CLEANUP_PREMIUM_STALE_AFTER: '172800', SIPIS_CLEANUP_FAILING_AFTER: '7200' }).cleanup;
    t.like(c, { staleAfterS: 86400, premiumStaleAfterS: 172800, failingAfterS: 7200, intervalS: 60, batchSize: 100 });
    t.deepEqual(c.warningsS, [7200, 600]);
  });
  t.deepEqual(loadConfig(['--cleanup-warnings', '3600, 600'], {}).cleanup.warningsS, [3600, 600]);
  t.deepEqual(loadConfig(['--cleanup-warnings='], {}).cleanup.warningsS, [], 'no warnings at all');
  t.false(loadConfig(['--cleanup', 'off'], {}).cleanup.enabled);
  t.false(loadConfig([], { SIPIS_CLEANUP: 'no' }).cleanup.enabled);

  const err = (args: string[], env: NodeJS.ProcessEnv = {}) => t.throws(() => loadConfig(args, env), { instanceOf: ServerError })!;
  let e = err(['--cleanup-warnings', '12h,1h']);
  t.is(e.field, 'cleanup.warningsS');
  t.regex(e.message, /flag --cleanup-warnings.*whole numbers, got "12h"/);
  e = err(['--cleanup-premium-stale-after', '86400']);
  t.is(e.field, 'cleanup.premiumStaleAfterS');
  t.regex(e.message, /at least cleanup\.staleAfterS \(259200\)/);
  e = err(['--cleanup-stale-after', '36000']);
  t.is(e.field, 'cleanup.warningsS', 'the 12 h warning would come before the device is even 0 s old');
  t.regex(e.message, /43200 s before removal must be shorter than cleanup\.staleAfterS \(36000 s\)/);
  e = err(['--cleanup-failing-after', '7200']);
  t.is(e.field, 'cleanup.warningsS');
  t.regex(e.message, /must not be longer than cleanup\.failingAfterS \(7200 s\)/);
  t.is(loadConfig(['--cleanup-failing-after', '7200', '--cleanup-warnings', '7200,600'], {}).cleanup.failingAfterS, 7200, 'a warning as early as the failing age: when the failure starts');
  e = err(['--cleanup-warnings', '3600,3600']);
  t.regex(e.message, /twice/);
  e = err(['--cleanup-interval', '3600']);
  t.is(e.field, 'cleanup.intervalS');
  t.regex(e.message, /shorter than the shortest warning \(3600 s\)/);
  t.is(loadConfig(['--cleanup-interval', '7200', '--cleanup-warnings='], {}).cleanup.intervalS, 7200, 'without warnings any interval will do');
  t.is(err(['--cleanup-stale-after', '10']).field, 'cleanup.staleAfterS');
  t.is(err(['--cleanup-batch', '5000']).field, 'cleanup.batchSize');
  t.is(err(['--cleanup-batch', '600', '--cleanup-max-per-pass', '500']).field, 'cleanup.maxPerPass');
  t.is(err(['--cleanup', 'sometimes']).field, 'cleanup.enabled');
  withFile(JSON.stringify({ cleanup: { warningsS: 'soon' } }), (file) => {
    t.is(err(['--config', file]).field, 'cleanup.warningsS');
  });
  withFile(JSON.stringify({ cleanup: { staleAfter: 5 } }), (file) => {
    t.is(err(['--config', file]).field, 'cleanup.staleAfter', 'a misspelt setting');
  });
  t.regex(usage(), /--cleanup-stale-after VALUE +remove a device not seen[^\n]*\[SIPIS_CLEANUP_STALE_AFTER\]/);
  t.regex(usage(), /--cleanup-warnings VALUE[^\n]*default 43200,3600/);
});
