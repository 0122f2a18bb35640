import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseArgs, requireRuntime, usage } from './config.js';
import { ServerError } from './errors.js';

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

test('usage errors: unknown option, missing value; --help', (t) => {
  t.is(t.throws(() => parseArgs(['--nope']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
  t.is(t.throws(() => parseArgs(['--listen']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
  t.is(t.throws(() => parseArgs(['--listen', '--domain', 'x']), { instanceOf: ServerError })?.code, 'ERR_USAGE');
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
  t.notThrows(() => requireRuntime(c));
  t.is(loadConfig([], { DATABASE_URL: 'postgres://fallback' }).databaseUrl, 'postgres://fallback');
  t.is(loadConfig([], { DATABASE_URL: 'postgres://fallback', SIPIS_DB_URL: 'postgres://mine' }).databaseUrl, 'postgres://mine');
});
