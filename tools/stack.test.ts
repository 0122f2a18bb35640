/**
 * `npm start` as a user runs it: tools/stack.js as a child process (free ports, a private
 * TMPDIR), waits for the banner, checks every printed admin URL answers /healthz, sends an
 * OPTIONS to sipis over UDP and one through the bridge's TCP listener, then SIGTERM: exit 0 and
 * nothing left in its TMPDIR (cluster, push credentials, certificates, key file, provider).
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc } from '../fixtures/proc.js';

const stackJs = fileURLToPath(new URL('./stack.js', import.meta.url));

function options(transport: 'UDP' | 'TCP', local: string, target: string): string {
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  return [
    `OPTIONS sip:${target} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${local};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@stack.test>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:alice@provider.test>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@stack.test`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** OPTIONS over UDP; resolves with the status line of the answer. */
function optionsUdp(host: string, port: number): Promise<string> {
  const sock = createSocket('udp4');
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to OPTIONS over UDP')), 5000);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      resolve(msg.toString('latin1').split('\r\n')[0]!);
    });
    sock.bind(0, '127.0.0.1', () => sock.send(options('UDP', `127.0.0.1:${sock.address().port}`, `${host}:${port}`), port, host));
  }).finally(() => sock.close());
}

/** OPTIONS over TCP (to the bridge, which relays it to sipis); resolves with the status line. */
function optionsTcp(host: string, port: number, target: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const s = connect(port, host);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to OPTIONS over TCP; got ${JSON.stringify(buf)}`));
    }, 5000);
    s.on('connect', () => s.write(options('TCP', `127.0.0.1:${s.localPort}`, target)));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        clearTimeout(timer);
        s.end();
        resolve(buf.split('\r\n')[0]!);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const field = (banner: string, re: RegExp): string => {
  const m = re.exec(banner);
  if (!m) throw new Error(`${re} not in the banner:\n${banner}`);
  return m[1]!;
};

test('npm start: the stack answers on every printed address and cleans up on SIGTERM', async (t) => {
  // a private TMPDIR: after the stack exits it must be empty (PostgreSQL runs as the postgres
  // user when we are root, so the folder must be traversable)
  const tmp = mkdtempSync(join(tmpdir(), 'sipis-stacktest-'));
  chmodSync(tmp, 0o755);
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const proc = startProc(process.execPath, [stackJs, '--any-ports'], { env: { ...process.env, TMPDIR: tmp, SIPIS_DB_URL: '', DATABASE_URL: '' } });
  t.teardown(() => proc.stop('SIGKILL'));
  await proc.waitFor(/Ctrl-C stops the stack/, 60_000);
  const banner = proc.output();
  t.log(banner.split('\n').filter((l) => /^ {2}[a-z]/.test(l) && l.includes('127.0.0.1')).join('\n'));

  const admins = [...banner.matchAll(/(http:\/\/127\.0\.0\.1:\d+)\/healthz/g)].map((m) => m[1]!);
  t.is(admins.length, 3, 'sipis, bridge and mediator admin URLs');
  for (const base of admins) {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
    t.is(res.status, 200, `${base}/healthz: ${await res.text()}`);
  }

  const sip = field(banner, /sipis SIP \(UDP\)\s+127\.0\.0\.1:(\d+)/);
  t.regex(await optionsUdp('127.0.0.1', Number(sip)), /^SIP\/2\.0 200 /);
  const tcp = field(banner, /bridge TCP\s+127\.0\.0\.1:(\d+)/);
  t.regex(await optionsTcp('127.0.0.1', Number(tcp), `127.0.0.1:${sip}`), /^SIP\/2\.0 200 /);

  const folders = field(banner, /temp folders\s+(.+)/).split(' ');
  t.true(folders.length >= 3 && folders.every((f) => f.startsWith(tmp)), folders.join(' '));

  const code = await proc.stop('SIGTERM', 20_000);
  t.is(code, 0, proc.output().slice(-3000));
  t.regex(proc.output(), /temp folders removed/);
  t.deepEqual(readdirSync(tmp), [], 'nothing left behind in TMPDIR');
});

test('npm start: --help prints the usage and exits 0; an unknown option exits 2', async (t) => {
  const help = startProc(process.execPath, [stackJs, '--help']);
  t.is(await help.exited, 0);
  t.regex(help.output(), /usage: node dist\/tools\/stack\.js/);
  const bad = startProc(process.execPath, [stackJs, '--bogus']);
  t.is(await bad.exited, 2);
  t.regex(bad.output(), /unknown option "--bogus"/);
});
