import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../fixtures/paths.js';
import { loadConfig, usage } from './config.js';
import { BridgeError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sipis-bridge-cfg-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const err = (argv: string[], env: NodeJS.ProcessEnv = {}): string => {
  try {
    loadConfig(argv, env);
  } catch (e) {
    if (e instanceof BridgeError && e.code === 'ERR_CONFIG') return e.message;
    throw e;
  }
  throw new Error('no error');
};

test('flags: listeners, backends with weights, limits', (t) => {
  const { config: c } = loadConfig(['--tcp', '0.0.0.0:5060', '--ws=[::1]:8080', '--backend', '10.0.0.1:5070;weight=2', '--backend', '10.0.0.2:5070', '--max-conns-per-ip', '50', '--shard-key', 'from', '--tcp-advertise', 'sip.example.com:5060'], {});
  t.deepEqual(c.listen.tcp, { host: '0.0.0.0', port: 5060 });
  t.deepEqual(c.listen.ws, { host: '::1', port: 8080 });
  t.deepEqual(c.backends, [{ host: '10.0.0.1', port: 5070, weight: 2 }, { host: '10.0.0.2', port: 5070 }]);
  t.is(c.limits.maxConnectionsPerAddress, 50);
  t.is(c.shardKey, 'from');
  t.is(c.advertise.tcp, 'sip.example.com:5060');
  t.deepEqual(c.wsOrigins, []);
  const o = loadConfig(['--ws', '127.0.0.1:8080', '--backend', 'h:1', '--ws-origins', 'https://App.example.com, http://localhost:3000'], {}).config;
  t.deepEqual(o.wsOrigins, ['https://app.example.com', 'http://localhost:3000']);
});

test('precedence: file < environment < flags', (t) => {
  const file = join(dir, 'b.json');
  writeFileSync(file, JSON.stringify({ listen: { tcp: '127.0.0.1:5060' }, backends: [{ host: '10.0.0.9', port: 5070, weight: 3 }, '10.0.0.8:5070'], limits: { headerTimeoutMs: 5000 }, logLevel: 'warn' }));
  const a = loadConfig(['--config', file], {}).config;
  t.is(a.backends.length, 2);
  t.is(a.backends[0]!.weight, 3);
  t.is(a.limits.headerTimeoutMs, 5000);
  t.is(a.logLevel, 'warn');
  const b = loadConfig([], { SIPIS_BRIDGE_CONFIG: file, SIPIS_BRIDGE_BACKENDS: '10.1.1.1:5070,10.1.1.2:5070;weight=2', SIPIS_BRIDGE_LOG_LEVEL: 'debug' }).config;
  t.deepEqual(b.backends.map((x) => x.host), ['10.1.1.1', '10.1.1.2']);
  t.is(b.logLevel, 'debug');
  const c = loadConfig(['--config', file, '--backend', '10.2.2.2:5070', '--log-level', 'error'], { SIPIS_BRIDGE_BACKENDS: '10.1.1.1:5070' }).config;
  t.deepEqual(c.backends.map((x) => x.host), ['10.2.2.2']);
  t.is(c.logLevel, 'error');
});

test('readable errors name the option and the problem', (t) => {
  t.regex(err([]), /no listener/);
  t.regex(err(['--tcp', '127.0.0.1:5060']), /no sipis backend/);
  t.regex(err(['--tcp', 'nope', '--backend', 'h:1']), /^--tcp: expected host:port/);
  t.regex(err(['--tcp', '127.0.0.1:99999', '--backend', 'h:1']), /^--tcp: port must be/);
  t.regex(err(['--tcp', ':1', '--backend', 'h:1;weight=x']), /^--tcp/);
  t.regex(err(['--tcp', 'h:1', '--backend', 'h:1;weight=x']), /^--backend: .*weight/);
  t.regex(err(['--bogus']), /^--bogus: unknown option/);
  t.regex(err(['--tcp']), /^--tcp: needs a value/);
  t.regex(err(['stray']), /unexpected/);
  t.regex(err(['--tls', 'h:1', '--backend', 'h:1']), /needs --tls-cert and --tls-key/);
  t.regex(err(['--tls', 'h:1', '--backend', 'h:1', '--tls-cert', 'c', '--tls-key', 'k', '--tls-verify-client']), /needs --tls-ca/);
  t.regex(err(['--tcp', 'h:1', '--backend', 'h:1', '--backend', 'h:1']), /appears twice/);
  t.regex(err(['--tcp', 'h:1', '--backend', 'h:1', '--shard-key', 'via']), /^--shard-key: expected one of auto, from, to/);
  t.regex(err(['--ws', 'h:1', '--backend', 'h:1', '--ws-origins', 'app.example.com']), /^--ws-origins: not an origin/);
  t.regex(err(['--tcp', 'h:1', '--backend', 'h:1'], { SIPIS_BRIDGE_MAX_MESSAGE_BYTES: '12' }), /^SIPIS_BRIDGE_MAX_MESSAGE_BYTES: expected an integer/);
  t.regex(err(['--tcp', 'h:1', '--backend', 'h:1', '--idle-timeout', '1000', '--header-timeout', '5000']), /must not be shorter/);
  t.regex(err(['--wss', 'h:1', '--tls-cert', 'c', '--tls-key', 'k', '--backend', 'h:1', '--idle-timeout', '961000']), /^--idle-timeout: at most 960000 with a WebSocket listener/);
  t.notThrows(() => loadConfig(['--tls', 'h:1', '--tls-cert', 'c', '--tls-key', 'k', '--backend', 'h:1', '--idle-timeout', '3600000']));
  t.regex(err(['--tls', 'h:1', '--tls-cert', 'c', '--tls-key', 'k', '--backend', 'h:1', '--tls-max-version', '1.1']), /^--tls-max-version: expected 1.2 or 1.3/);
  t.is(loadConfig(['--tls', 'h:1', '--tls-cert', 'c', '--tls-key', 'k', '--backend', 'h:1', '--tls-max-version', '1.2']).config.tls?.maxVersion, 'TLSv1.2');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"listen": {"tcp": "h:1"}, "backends": ["h:1"], "colour": 1}');
  t.regex(err(['--config', bad]), /colour: unknown setting/);
  writeFileSync(bad, '{not json');
  t.regex(err(['--config', bad]), /^config file .*bad\.json: /);
  t.regex(err(['--config', join(dir, 'missing.json')]), /ENOENT/);
});

test('--help wins over everything and the usage lists every option with its variable', (t) => {
  t.true(loadConfig(['--bogus', '--help'], {}).help);
  const u = usage();
  for (const s of ['--tcp', '--tls-cert', '--backend', 'SIPIS_BRIDGE_BACKENDS', '--admin', '--header-timeout']) t.true(u.includes(s), s);
  // every option line's help starts in the same column
  const helpColumn = (line: string) => line.search(/(?<=\S {2,})\S/);
  const columns = new Set(u.split('\n').filter((l) => l.startsWith('  --')).map(helpColumn));
  t.is(columns.size, 1, [...columns].join(','));
});

test('the config file example in bridge/README.md loads, every setting as its flag would set it', (t) => {
  const readme = readFileSync(join(repoRoot, 'bridge', 'README.md'), 'utf8');
  const example = /```json\n([\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(example, 'the README has the example');
  const dir = mkdtempSync(join(tmpdir(), 'bridge-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bridge.json'), example!);
  const c = loadConfig(['--config', join(dir, 'bridge.json')], {}).config;
  t.deepEqual(c.listen.wss, { host: '0.0.0.0', port: 8443 });
  t.is(c.backends.length, 2);
  t.is(c.backends[0]!.weight, 2);
  t.deepEqual(c.probe, { intervalMs: 2000, failures: 3, successes: 1 });
  t.is(c.limits.maxConnectionsPerAddress, 200);
  t.deepEqual(c.wsOrigins, ['https://app.example.com']);
});
