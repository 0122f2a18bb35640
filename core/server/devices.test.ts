/**
 * The device side wired into startSipis (devices.ts): the request router (REGISTER for our
 * hosts → registrar, for another domain → 403; OPTIONS to sipis → 200; requests to an account's
 * Contact only from its provider), /status and /metrics with the registrar, push and tunnel
 * families, devices off, and the binary refusing to start without a digest secret. Raw UDP from
 * several loopback addresses (127.0.0.2, .3, .5) plays provider and stranger; sipsak plays a
 * phone that registers to its AOR's domain with sipis as its outbound proxy.
 */
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { startProc } from '../../fixtures/proc.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { startSipis, type SipisServer } from './app.js';
import { loadConfig } from './config.js';
import { readSecret } from './devices.js';
import { ServerError } from './errors.js';
import { until } from '../../fixtures/wait.js';

const key = formatKeyEntry('k1', generateKey());
// sipsak (Debian package `sipsak`): a SIP test tool that is not ours, used as a phone below
const hasSipsak = spawnSync('sipsak', ['-V'], { stdio: 'ignore' }).status === 0;
if (!hasSipsak) console.warn('core/server/devices.test: the sipsak test is skipped, sipsak missing (apt-get install sipsak)');
const main = fileURLToPath(new URL('./main.js', import.meta.url));
let pg: PostgresCluster;

test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});


async function udpFrom(address: string): Promise<Socket> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, address, () => resolve());
  });
  return sock;
}

let seq = 0;
/** Sends a request from `sock` and resolves with the first response whose status is not 100. */
function request(sock: Socket, port: number, method: string, ruri: string, extra: string[] = [], to = '<sip:alice@provider.test>'): Promise<string> {
  const { address, port: lport } = sock.address();
  const n = ++seq;
  const text = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${address}:${lport};branch=z9hG4bKdev${n};rport`,
    'Max-Forwards: 70',
    `From: <sip:someone@${address}>;tag=f${n}`,
    `To: ${to}`,
    `Call-ID: dev-${n}@test`,
    `CSeq: 1 ${method}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      reject(new Error(`no answer to ${method} ${ruri}`));
    }, 5000);
    const onMessage = (m: Buffer) => {
      const s = m.toString();
      if (!s.includes(`dev-${n}@test`) || s.startsWith('SIP/2.0 100 ')) return;
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve(s);
    };
    sock.on('message', onMessage);
    sock.send(text, port, '127.0.0.1');
  });
}

/** sipsak with `args`, bounded; its exit code and output (asynchronous: sipis runs in this process). */
function sipsak(args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile('sipsak', args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status, out: `${stdout}${stderr}` });
    });
  });
}

async function start(db: string, extra: string[] = []): Promise<SipisServer> {
  const url = await pg.createDatabase(db);
  const cfg = loadConfig(
    ['--listen', '127.0.0.1:0', '--admin-port', '0', '--db-url', url, '--domain', 'sipis.test', '--readiness-timeout', '0.3', '--provider-addresses', '127.0.0.5', ...extra],
    { SIPIS_SECRET_KEY: key, SIPIS_DIGEST_SECRET: 'devices-test-digest-secret' },
  );
  return startSipis(cfg, { log: pino({ level: 'silent' }) });
}

test.serial('routing: OPTIONS to sipis 200, REGISTER for us → registrar (MD5 then SHA-256), for another domain 403; calls to an account only from its provider', async (t) => {
  const sipis = await start('sipis_devices_routing');
  const socks: Socket[] = [];
  t.teardown(async () => {
    for (const s of socks) s.close();
    await sipis.close();
  });
  t.truthy(sipis.registrar);
  t.truthy(sipis.tunnel);
  t.is(sipis.push, undefined, 'no mediator configured');
  const port = sipis.transport.endpoints[0]!.port;
  // the registrar address of the account: nothing listens there, the REGISTERs fail; only its address matters
  const acc = await sipis.store.accounts.add({ aor: 'sip:alice@provider.test', password: 'pw', registrar: 'sip:127.0.0.3:9', expires: 60 });
  const id = String(acc.id);
  await until(() => sipis.accounts.get(id) !== undefined, 5000, 'the account followed into the index');
  t.is(sipis.accounts.findByUser('alice', 'sipis.test')?.id, id);

  const [stranger, provider, extra] = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.5'].map(udpFrom));
  socks.push(stranger, provider, extra);

  const opt = await request(stranger, port, 'OPTIONS', `sip:127.0.0.1:${port}`, [], `<sip:127.0.0.1:${port}>`);
  t.regex(opt, /^SIP\/2\.0 200 /);
  t.regex(opt, /\r\nAllow: [^\r]*INVITE/);

  t.regex(await request(stranger, port, 'REGISTER', 'sip:elsewhere.example', ['Contact: <sip:alice@127.0.0.2:5060>']), /^SIP\/2\.0 403 /);
  // a phone set up with the provider's domain and sipis as outbound proxy addresses its AOR's domain:
  // sipis hosts that account, so it is the registrar for it; a domain without such an account is not ours
  t.regex(await request(stranger, port, 'REGISTER', 'sip:provider.test', ['Contact: <sip:alice@127.0.0.2:5060>']), /^SIP\/2\.0 401 /);
  t.regex(await request(stranger, port, 'REGISTER', 'sip:provider.test', ['Contact: <sip:bob@127.0.0.2:5060>'], '<sip:bob@provider.test>'), /^SIP\/2\.0 403 /);
  const reg = await request(stranger, port, 'REGISTER', 'sip:sipis.test', ['Contact: <sip:alice@127.0.0.2:5060>']);
  t.regex(reg, /^SIP\/2\.0 401 /);
  const challenges = reg.split('\r\n').filter((l) => l.startsWith('WWW-Authenticate:'));
  t.is(challenges.length, 2);
  t.regex(challenges[0]!, /realm="sipis\.test"[^]*algorithm=MD5/);
  t.regex(challenges[1]!, /algorithm=SHA-256/);

  const inviteTo = `sip:acc-${id}@127.0.0.1:${port}`;
  const invite = (from: Socket) => request(from, port, 'INVITE', inviteTo, ['Contact: <sip:caller@127.0.0.9>'], `<sip:alice@provider.test>`);
  t.regex(await invite(stranger), /^SIP\/2\.0 403 Not From The Provider/);
  // from the provider (the account's registrar address) or a configured extra address: the call is taken
  // (no device: it ends in 480 after the 0.3 s readiness timeout)
  t.regex(await invite(provider), /^SIP\/2\.0 (180|480) /);
  t.regex(await invite(extra), /^SIP\/2\.0 (180|480) /);

  const base = `http://127.0.0.1:${sipis.adminAddress!.port}`;
  const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
  t.deepEqual(status.devices, { bindings: 0, withPush: 0 });
  t.is(status.pendingMessages, 0);
  t.deepEqual(Object.keys(status.accounts as object).sort(), ['Error', 'Idle', 'Registered', 'Registering', 'Unauthorized']);
  t.truthy(status.calls);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.regex(metrics, /^sipis_provider_source_refused_total 1$/m);
  t.regex(metrics, /^sipis_device_register_foreign_total 2$/m);
  t.regex(metrics, /^sipis_device_register_challenges_total 2$/m);
  t.regex(metrics, /^sipis_calls_in_total 2$/m);
  t.regex(metrics, /^# TYPE sipis_tunnel_setup_seconds histogram$/m);
  t.regex(metrics, /^sipis_tunnel_setup_seconds_bucket\{le="\+Inf"\} 0$/m);
  t.regex(metrics, /^sipis_devices\{push="yes"\} 0$/m);
});

test.serial('devices off: register-on-behalf only (REGISTER 480, OPTIONS 200), no device fields in /status', async (t) => {
  const sipis = await start('sipis_devices_off', ['--devices', 'off']);
  const sock = await udpFrom('127.0.0.2');
  t.teardown(async () => {
    sock.close();
    await sipis.close();
  });
  t.is(sipis.registrar, undefined);
  const port = sipis.transport.endpoints[0]!.port;
  t.regex(await request(sock, port, 'REGISTER', 'sip:sipis.test', ['Contact: <sip:alice@127.0.0.2:5060>']), /^SIP\/2\.0 480 /);
  t.regex(await request(sock, port, 'OPTIONS', `sip:127.0.0.1:${port}`), /^SIP\/2\.0 200 /);
  const status = (await (await fetch(`http://127.0.0.1:${sipis.adminAddress!.port}/status`)).json()) as Record<string, unknown>;
  t.is(status.devices, null);
  t.is(status.calls, null);
});

test('the binary will not start with devices on and no digest secret: exit 2 naming the setting, nothing else leaked', async (t) => {
  const p = startProc(process.execPath, [main, '--listen', '127.0.0.1:0', '--admin-port', '-1', '--db-url', 'postgresql://nowhere/x', '--secret-key', key], {
    env: { PATH: process.env.PATH, SIPIS_MEDIATOR_API_KEY: 'not-to-be-printed' },
  });
  t.is(await p.exited, 2, p.output());
  t.regex(p.output(), /devices\.digestSecret: is required/);
  t.notRegex(p.output(), /not-to-be-printed/);
});

test('secrets from a file: the first line, trimmed; a missing or empty file names the setting, never the content', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sipis-secret-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'digest');
  writeFileSync(file, '  from-the-file-0123456789  \nsecond line ignored\n');
  t.is(readSecret('from-the-value', file, 'devices.digestSecret'), 'from-the-file-0123456789', 'the file wins');
  t.is(readSecret('from-the-value', undefined, 'devices.digestSecret'), 'from-the-value');
  const missing = t.throws(() => readSecret(undefined, join(dir, 'nope'), 'push.apiKey'), { instanceOf: ServerError });
  t.is(missing?.field, 'push.apiKeyFile');
  writeFileSync(file, '\n');
  t.regex(t.throws(() => readSecret(undefined, file, 'push.apiKey'), { instanceOf: ServerError })!.message, /is empty/);
});

(hasSipsak ? test.serial : test.skip)('sipsak as the phone: OPTIONS answered (received and rport in the Via, RFC 3581 §4); its usrloc test registers to the AOR\'s domain through sipis as outbound proxy', async (t) => {
  const sipis = await start('sipis_devices_sipsak');
  t.teardown(() => sipis.close());
  const port = sipis.transport.endpoints[0]!.port;
  // the account's domain is an address that is not sipis's, so that sipsak needs no DNS for it
  await sipis.store.accounts.add({ aor: 'sip:dave@127.0.0.9', password: 'dave-pw', registrar: 'sip:127.0.0.3:9', expires: 60 });
  await until(() => sipis.accounts.findByUser('dave', '127.0.0.9') !== undefined, 5000, 'the account followed into the index');

  const options = await sipsak(['-vv', '-s', `sip:sipis.test@127.0.0.1:${port}`]);
  t.is(options.status, 0, options.out);
  t.regex(options.out, /SIP\/2\.0 200 OK/);
  t.regex(options.out, /\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;[^\n]*rport=\d+[^\n]*received=127\.0\.0\.1/, 'rport filled and received added, although sent-by is the source');

  // -U: REGISTER sip:127.0.0.9 (the AOR's domain, from -s) sent to sipis (-p), 401 answered with
  // digest, 200; sipsak checks that the 200 lists its Contact
  const reg = await sipsak(['-vv', '-i', '-U', '-C', 'sip:dave@127.0.0.1:5999', '-s', 'sip:dave@127.0.0.9', '-p', `127.0.0.1:${port}`, '-u', 'dave', '-a', 'dave-pw', '-x', '60']);
  t.is(reg.status, 0, reg.out);
  t.regex(reg.out, /All usrloc tests completed successful/, reg.out);
  const account = sipis.accounts.findByUser('dave', '127.0.0.9')!;
  t.deepEqual(sipis.registrar!.bindingsOf(account.id).map((b) => b.contact), ['sip:dave@127.0.0.1:5999']);
  // a wrong password is refused
  const wrong = await sipsak(['-i', '-U', '-C', 'sip:dave@127.0.0.1:5999', '-s', 'sip:dave@127.0.0.9', '-p', `127.0.0.1:${port}`, '-u', 'dave', '-a', 'not-it', '-x', '60']);
  t.not(wrong.status, 0, wrong.out);
});
