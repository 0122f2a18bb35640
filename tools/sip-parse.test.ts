import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturePath } from '../fixtures/paths.js';
import { writePcap, ethernet, ipv4, udp } from './pcap/testing.js';

// beside this compiled test, whatever the output folder
const bin = fileURLToPath(new URL('./sip-parse.js', import.meta.url));
const run = (args: string[], input?: string | Buffer) => spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', timeout: 20_000 });

const dir = mkdtempSync(join(tmpdir(), 'sip-parse-test-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const invite = [
  'INVITE sip:bob@example.com;transport=udp SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.com>',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@192.0.2.1:5060>',
  'Route: <sip:p1.example.com;lr>',
  'Content-Type: application/sdp',
  'Content-Length: 4',
  '',
  'v=0\n',
].join('\r\n');

test('a valid message prints as JSON with its typed values, exit 0', (t) => {
  const r = run(['-'], invite);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, any>;
  t.is(j.type, 'request');
  t.is(j.method, 'INVITE');
  t.is(j.requestUri.host, 'example.com');
  t.is(j.requestUri.params.transport, 'udp');
  t.is(j.callId, 'a84b4c76e66710@pc33.example.com');
  t.deepEqual(j.cseq, { seq: 314159, method: 'INVITE' });
  t.is(j.via[0].branch ?? j.via[0].params.branch, 'z9hG4bK776asdhds');
  t.is(j.from.params.tag, '1928301774');
  t.is(j.maxForwards, 70);
  t.is(j.route.length, 1);
  t.is(j.contentType, 'application/sdp');
  t.is(j.bodyLength, 4);
  t.deepEqual(j.headers[0], { name: 'Via', value: 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport' });
  t.is(j.headers.length, 10);
});

test('a file argument works the same, and digest responses are redacted', (t) => {
  const r = run([fixturePath('messages', 'register-auth.sip')]);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, any>;
  t.is(j.method, 'REGISTER');
  t.is(j.authorization[0].params.response, '<redacted>');
  t.notRegex(r.stdout, /response=\\"[0-9a-f]{32,}/);
});

test('an invalid message exits 1 with the error code on stderr', (t) => {
  const r = run(['-'], 'INVITE sip:x SIP/2.0\r\nVia: junk\r\n\r\n');
  t.is(r.status, 1);
  t.regex(r.stderr, /^invalid: [A-Z_]+: /);
  t.is(r.stdout, '');
  const garbage = run(['-'], '\x00\x01 hello');
  t.is(garbage.status, 1);
  t.regex(garbage.stderr, /invalid: [A-Z_]+/);
});

test('usage: --help exits 0, bad arguments and missing files exit 2', (t) => {
  const help = run(['--help']);
  t.is(help.status, 0);
  t.regex(help.stdout, /usage: sip-parse/);
  t.is(run([]).status, 2);
  t.is(run(['--frobnicate']).status, 2);
  t.is(run(['a', 'b']).status, 2);
  const missing = run([join(dir, 'nope.sip')]);
  t.is(missing.status, 2);
  t.regex(missing.stderr, /cannot read/);
  t.is(run(['--pcap']).status, 2);
});

test('--pcap counts the SIP messages of a recorded capture', (t) => {
  const r = run(['--pcap', fixturePath('pcap', 'call-udp.pcapng')]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /: 14 SIP messages, 14 valid, 0 invalid/);
  const j = run(['--pcap', fixturePath('pcap', 'options.pcap'), '--json']);
  t.is(j.status, 0, j.stderr);
  t.like(JSON.parse(j.stdout), { messages: 6, valid: 6, invalid: 0 });
});

test('--pcap with invalid messages exits 1, and --verbose names each error', (t) => {
  const frame = (payload: string) => ({ ts: 1, data: ethernet(ipv4('192.0.2.1', '192.0.2.2', 17, udp(5060, 5060, Buffer.from(payload)))) });
  const file = join(dir, 'mixed.pcap');
  // SIP whatever its shape (RFC 4475 §3.1.2.14's SIP/7.0, §3.1.2.6's broken Request-URI), a
  // keep-alive, and a payload that is no SIP at all (an RTP-like binary datagram)
  const rtp = Buffer.from([0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]).toString('latin1');
  writeFileSync(
    file,
    writePcap([
      frame(invite),
      frame('OPTIONS sip:x SIP/2.0\r\nVia: junk\r\n\r\n'),
      frame(invite.toString().replace('SIP/2.0\r\n', 'SIP/7.0\r\n')),
      frame(invite.toString().replace(/^INVITE \S+/, 'INVITE sip:user@example.com; lr')),
      frame('\r\n\r\n'),
      { ts: 1, data: ethernet(ipv4('192.0.2.1', '192.0.2.2', 17, udp(4000, 4002, Buffer.from(rtp, 'latin1')))) },
    ]),
  );
  const r = run(['--pcap', file, '--verbose']);
  t.is(r.status, 1);
  t.regex(r.stdout, /4 SIP messages, 1 valid, 3 invalid; 1 keep-alives, 1 other payloads/);
  t.regex(r.stderr, /message 2 \(192\.0\.2\.1:5060 -> 192\.0\.2\.2:5060\/udp, t=1\.000000\): [A-Z_]+: /);
});

test('--pcap on a file that is not a capture exits 1 with the reader error', (t) => {
  const file = join(dir, 'not.pcap');
  writeFileSync(file, 'this is not a capture at all');
  const r = run(['--pcap', file]);
  t.is(r.status, 1);
  t.regex(r.stderr, /PCAP_BAD_MAGIC/);
});

test('a CRLF keep-alive is one, not an invalid message; bytes after the body are reported; -- ends the options', (t) => {
  const ka = join(dir, 'keepalive.sip');
  writeFileSync(ka, '\r\n\r\n');
  const r = run([ka]);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { type: 'keep-alive', bytes: 4 });
  const two = join(dir, 'trailing.sip');
  writeFileSync(two, invite + 'OPTIONS sip:x SIP/2.0\r\n');
  const out = JSON.parse(run([two]).stdout) as { bodyLength: number; trailingBytes: number };
  t.is(out.bodyLength, 4);
  t.is(out.trailingBytes, 'OPTIONS sip:x SIP/2.0\r\n'.length);
  const dash = join(dir, '-odd-name.sip');
  writeFileSync(dash, invite);
  const inDir = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  t.is(inDir(['--', '-odd-name.sip']).status, 0);
  t.is(inDir(['-odd-name.sip']).status, 2, 'without --, a name that starts with - is an option');
});
