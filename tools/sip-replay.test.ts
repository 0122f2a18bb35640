import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc } from '../fixtures/proc.js';
import { fixturePath } from '../fixtures/paths.js';
import { freeSipPort } from '../fixtures/net.js';
import { hasSipp, runSipp, SIPP_EXIT } from '../fixtures/sipp.js';
import { hasCapture } from '../fixtures/capture.js';
import { FLOWS, recordFlow } from '../fixtures/pcap/record.js';
import { buildScript, endpointText, signature } from './replay/script.js';
import { ethernet, ipv4, udp, writePcap } from './pcap/testing.js';

const bin = fileURLToPath(new URL('./sip-replay.js', import.meta.url));
const live = hasSipp() ? test : test.skip;
const liveCapture = hasSipp() && hasCapture() ? test : test.skip;

const dir = mkdtempSync(join(tmpdir(), 'sip-replay-test-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function replayTool(args: string[]) {
  const p = startProc(process.execPath, [bin, ...args]);
  const code = await p.exited;
  return { code, output: p.output() };
}

/** Replays the UAC side of `pcap` against a fresh sipp UAS running `scenario`. */
async function againstUas(pcap: string, scenario: string, calls: number, extra: string[] = []) {
  const uas = await runSipp({ scenario, calls, timeoutS: 20 });
  await uas.ready;
  const r = await replayTool(['--pcap', pcap, '--target', `127.0.0.1:${uas.localPort}`, '--timeout', '4000', ...extra]);
  const s = await uas.stop();
  return { ...r, uas: s };
}

test('usage: --help exits 0; missing or bad arguments exit 2', async (t) => {
  const help = await replayTool(['--help']);
  t.is(help.code, 0);
  t.regex(help.output, /usage: sip-replay/);
  t.is((await replayTool([])).code, 2);
  t.is((await replayTool(['--pcap', 'x.pcap'])).code, 2);
  t.is((await replayTool(['--pcap', 'x.pcap', '--target', 'nonsense'])).code, 2);
  t.is((await replayTool(['--pcap', 'x.pcap', '--target', '127.0.0.1:5060', '--pace', 'slow'])).code, 2);
  const missing = await replayTool(['--pcap', join(dir, 'missing.pcap'), '--target', '127.0.0.1:5060']);
  t.is(missing.code, 2);
  t.regex(missing.output, /cannot read/);
  const ackLate = await replayTool(['--pcap', join(dir, 'missing.pcap'), '--target', '127.0.0.1:5060', '--ack-late']);
  t.regex(ackLate.output, /cannot read/, '--ack-late is an option');
  const wrongSide = await replayTool(['--pcap', fixturePath('pcap', 'options.pcap'), '--target', '127.0.0.1:5060', '--side', '10.9.9.9:1']);
  t.is(wrongSide.code, 2);
  t.regex(wrongSide.output, /REPLAY_NO_SIDE/);
});

test('a file that is not a capture exits 1 with the reader error', async (t) => {
  const file = join(dir, 'bad.pcap');
  writeFileSync(file, 'not a capture');
  const r = await replayTool(['--pcap', file, '--target', '127.0.0.1:5060']);
  t.is(r.code, 1);
  t.regex(r.output, /PCAP_BAD_MAGIC/);
});

test('the script of a capture: side, peer, steps in order', (t) => {
  const s = buildScript(readFileSync(fixturePath('pcap', 'cancel.pcapng')));
  t.is(s.steps.length, 14);
  t.is(s.steps[0]!.dir, 'out');
  t.is(s.steps[0]!.msg.method, 'INVITE');
  t.deepEqual(
    s.steps.slice(0, 7).map((x) => `${x.dir} ${x.msg.isRequest ? x.msg.method : x.msg.status}`),
    ['out INVITE', 'in 100', 'in 180', 'out CANCEL', 'in 200', 'in 487', 'out ACK'],
  );
  const other = buildScript(readFileSync(fixturePath('pcap', 'cancel.pcapng')), s.peer);
  t.is(endpointText(other.side), endpointText(s.peer));
  t.is(other.steps[0]!.dir, 'in');
});

liveCapture('a call recorded now replays against a fresh sipp UAS (exit 0) and not against a busy one (exit 1, diff)', async (t) => {
  const flow = { ...FLOWS.find((f) => f.file === 'call-udp.pcapng')!, calls: 1, messages: 7 };
  const file = join(dir, 'call.pcapng');
  const rec = await recordFlow(flow, file);
  t.is(rec.uac.code, SIPP_EXIT.ok, rec.uac.errors);
  t.is(rec.sipMessages, 7);

  const ok = await againstUas(file, 'uas-call.xml', 1);
  t.is(ok.code, 0, ok.output);
  t.regex(ok.output, /^ok: 3 sent, 4 received as recorded/m);
  t.is(ok.uas.code, SIPP_EXIT.ok, ok.uas.errors || ok.uas.output);

  const busy = await againstUas(file, 'uas-busy.xml', 1, ['--pace', 'fast']);
  t.is(busy.code, 1, busy.output);
  t.regex(busy.output, /mismatch/);
  t.regex(busy.output, /! +2 180 \(INVITE\) +486 \(INVITE\)/);
  t.regex(busy.output, /stopped: expected 180 \(INVITE\), got 486 \(INVITE\)/);
  // the replay ACKed the 486, so the busy UAS finished its call cleanly
  t.is(busy.uas.code, SIPP_EXIT.ok, busy.uas.errors || busy.uas.output);
});

live('committed captures replay against sipp: CANCEL flow and OPTIONS', async (t) => {
  const cancel = await againstUas(fixturePath('pcap', 'cancel.pcapng'), 'uas-cancel.xml', 2, ['--pace', 'fast']);
  t.is(cancel.code, 0, cancel.output);
  t.is(cancel.uas.code, SIPP_EXIT.ok, cancel.uas.errors);
  const options = await againstUas(fixturePath('pcap', 'options.pcap'), 'uas-options.xml', 3, ['--pace', 'fast']);
  t.is(options.code, 0, options.output);
  t.is(options.uas.code, SIPP_EXIT.ok, options.uas.errors);
});

live('answers of different transactions may come in another order than recorded (487 before the CANCEL\'s 200); a wrong answer still fails', async (t) => {
  const swapped = await againstUas(fixturePath('pcap', 'cancel.pcapng'), 'uas-cancel-487-first.xml', 2, ['--pace', 'fast']);
  t.is(swapped.code, 0, swapped.output);
  t.is(swapped.uas.code, SIPP_EXIT.ok, swapped.uas.errors);
  const busy = await againstUas(fixturePath('pcap', 'cancel.pcapng'), 'uas-busy.xml', 1, ['--pace', 'fast', '--timeout', '1500']);
  t.is(busy.code, 1);
  t.regex(busy.output, /486/);
});

live('the UAS side of a call replays against a live sipp UAC (learned Call-ID, tags, Via, CSeq)', async (t) => {
  const pcap = fixturePath('pcap', 'call-udp.pcapng');
  const uasSide = buildScript(readFileSync(pcap)).peer;
  const bindPort = await freeSipPort();
  const uacPort = await freeSipPort();
  const replay = startProc(process.execPath, [
    bin, '--pcap', pcap, '--side', endpointText(uasSide), '--bind', `127.0.0.1:${bindPort}`,
    '--target', `127.0.0.1:${uacPort}`, '--timeout', '8000', '--pace', 'fast', '--verbose',
  ]);
  await replay.waitFor(/^bound 127\.0\.0\.1:\d+$/m);
  const uac = await runSipp({ scenario: 'uac-call.xml', remote: `127.0.0.1:${bindPort}`, localPort: uacPort, calls: 2, timeoutS: 20 });
  const c = await uac.done;
  const code = await replay.exited;
  t.is(code, 0, replay.output());
  t.is(c.code, SIPP_EXIT.ok, c.errors || c.output);
});

live('a digest REGISTER replays with --auth (fresh response for the live nonce) and fails without', async (t) => {
  const pcap = fixturePath('pcap', 'register-digest.pcapng');
  const keys = { user: 'alice', password: 'secret' };
  const ok = await runSipp({ scenario: 'uas-register.xml', keys, calls: 2, timeoutS: 20 });
  await ok.ready;
  const r = await replayTool(['--pcap', pcap, '--target', `127.0.0.1:${ok.localPort}`, '--pace', 'fast', '--auth', 'alice:secret']);
  const s = await ok.stop();
  t.is(r.code, 0, r.output);
  t.is(s.stats?.successful, 2, s.errors || s.output);

  const bad = await runSipp({ scenario: 'uas-register.xml', keys, calls: 1, timeoutS: 20 });
  await bad.ready;
  const b = await replayTool(['--pcap', pcap, '--target', `127.0.0.1:${bad.localPort}`, '--pace', 'fast', '--timeout', '2000']);
  await bad.stop();
  t.is(b.code, 1);
  t.regex(b.output, /expected 200 \(REGISTER\), got 403 \(REGISTER\)/);
});

test('retransmissions in the capture are dropped from the script', (t) => {
  const A = '192.0.2.1';
  const B = '192.0.2.2';
  const msg = (start: string, cseq: string, toTag = '') =>
    Buffer.from(
      `${start}\r\nVia: SIP/2.0/UDP ${A}:5060;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>${toTag}\r\n` +
        `Call-ID: c1\r\nCSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n`,
    );
  const invite = msg(`INVITE sip:b@${B}:5070 SIP/2.0`, '1 INVITE');
  const ok = msg('SIP/2.0 200 OK', '1 INVITE', ';tag=2');
  const frame = (ts: number, from: string, to: string, sport: number, dport: number, p: Buffer) => ({
    ts,
    data: ethernet(ipv4(from, to, 17, udp(sport, dport, p))),
  });
  const pcap = writePcap([
    frame(1, A, B, 5060, 5070, invite),
    frame(1.5, A, B, 5060, 5070, invite), // Timer A retransmission
    frame(2, B, A, 5070, 5060, msg('SIP/2.0 100 Trying', '1 INVITE')),
    frame(3, B, A, 5070, 5060, ok),
    frame(4, B, A, 5070, 5060, ok), // 2xx retransmitted by the UAS core (RFC 3261 13.3.1.4)
    frame(4.1, A, B, 5060, 5070, msg(`ACK sip:b@${B}:5070 SIP/2.0`, '1 ACK', ';tag=2')),
  ]);
  const s = buildScript(pcap);
  t.is(s.retransmissions, 2);
  t.deepEqual(s.steps.map((x) => `${x.dir} ${signature(x.msg)}`), ['out INVITE', 'in 100 (INVITE)', 'in 200 (INVITE)', 'out ACK']);
  t.deepEqual(s.side, { ip: A, port: 5060 });
  t.deepEqual(s.peer, { ip: B, port: 5070 });
});
