/**
 * The transaction and dialog layers against real peers: sipp as UAC and as UAS (H3's scenarios in
 * fixtures/sipp/), with packet loss so retransmission timers are exercised, and Kamailio as a
 * stateful record-routing proxy between sipp and our stack. Everything on loopback, every process
 * started and stopped here.
 */
import test from 'ava';
import { hasSipp, runSipp, SIPP_EXIT } from '../../fixtures/sipp.js';
import { hasKamailio, startKamailioProxy } from '../../fixtures/kamailio.js';
import { TestUa, type CallResult } from '../../fixtures/ua.js';

const haveSipp = hasSipp();
const sippTest = haveSipp ? test.serial : test.skip;
const kamTest = haveSipp && hasKamailio() ? test.serial : test.skip;

async function withUa(t: { teardown(fn: () => unknown): void }, mode: 'answer' | 'ring' | 'busy' = 'answer'): Promise<TestUa> {
  const ua = await TestUa.listen('127.0.0.1', 0, { mode });
  t.teardown(() => ua.close());
  return ua;
}

const remote = (ua: TestUa) => `127.0.0.1:${ua.endpoint.port}`;
const diag = (r: { code: number; errors: string; output: string }) => `exit ${r.code}\n${r.errors.slice(-2000)}\n${r.output.slice(-2000)}`;

sippTest('our UAS: sipp calls (INVITE/100/180/200/ACK/BYE/200), OPTIONS and REGISTER', async (t) => {
  const ua = await withUa(t);
  const call = await runSipp({ scenario: 'uac-call.xml', remote: remote(ua), calls: 3, rate: 10, timeoutS: 30, timeoutError: true });
  const r = await call.done;
  t.is(r.code, SIPP_EXIT.ok, diag(r));
  t.is(r.stats?.successful, 3);
  t.is(ua.stats.answered, 3);
  t.is(ua.stats.byes, 3);
  t.is(ua.stats.acks, 3);
  const opt = await (await runSipp({ scenario: 'uac-options.xml', remote: remote(ua), calls: 5, rate: 50, timeoutS: 20, timeoutError: true })).done;
  t.is(opt.code, SIPP_EXIT.ok, diag(opt));
  const reg = await (await runSipp({ scenario: 'tx-register.xml', remote: remote(ua), calls: 5, rate: 50, timeoutS: 20, timeoutError: true })).done;
  t.is(reg.code, SIPP_EXIT.ok, diag(reg));
  t.is(ua.stats.registers, 5);
  // every transaction of ours ends: only the Accepted/Completed timers are left, then nothing
  t.is(ua.layer.clients.size, 0);
});

sippTest('our UAS with 20% packet loss on sipp: retransmissions (A/E on sipp, G and the 2xx on ours) complete every call', async (t) => {
  const ua = await withUa(t);
  const r = await (await runSipp({ scenario: 'uac-call.xml', remote: remote(ua), calls: 10, rate: 20, lostPct: 20, timeoutS: 50, timeoutError: true })).done;
  // a call can still fail if sipp loses the same message more times than its retransmit limit;
  // with 20% and sipp's limits that is rare, so most calls must succeed and ours must have retransmitted.
  t.true((r.stats?.successful ?? 0) >= 8, diag(r));
  t.true(ua.stats.invites >= 8);
  const reg = await (await runSipp({ scenario: 'tx-register.xml', remote: remote(ua), calls: 20, rate: 50, lostPct: 20, timeoutS: 40, timeoutError: true })).done;
  t.true((reg.stats?.successful ?? 0) >= 18, diag(reg));
  // (a flake seen once in CI, serverMatched 0, not reproduced: the counters and sipp's output say more next time)
  t.true(ua.layer.counters.serverMatched > 0, `retransmitted requests were matched to their transactions: ${JSON.stringify(ua.layer.counters)} ${JSON.stringify(ua.stats)}\n${diag(r)}\n${diag(reg)}`);
});

sippTest('our UAS: sipp CANCELs before the answer → 200 for the CANCEL, 487 for the INVITE, ACK', async (t) => {
  const ua = await withUa(t, 'ring');
  const r = await (await runSipp({ scenario: 'uac-cancel.xml', remote: remote(ua), calls: 2, rate: 10, timeoutS: 20, timeoutError: true })).done;
  t.is(r.code, SIPP_EXIT.ok, diag(r));
  t.is(ua.stats.cancels, 2);
});

sippTest('our UAC: call to sipp (INVITE … BYE), OPTIONS, and a CANCEL before the answer', async (t) => {
  const ua = await withUa(t);
  const uas = await runSipp({ scenario: 'uas-call.xml', calls: 1, timeoutS: 20, timeoutError: true });
  await uas.ready;
  const res = await ua.call(`sip:callee@127.0.0.1:${uas.localPort}`);
  t.deepEqual(res.statuses.filter((s) => s >= 180), [180, 200]);
  t.is(res.byeStatus, 200);
  const r = await uas.done;
  t.is(r.code, SIPP_EXIT.ok, diag(r));

  const optUas = await runSipp({ scenario: 'uas-options.xml', calls: 1, timeoutS: 10, timeoutError: true });
  await optUas.ready;
  t.is(await ua.ask('OPTIONS', `sip:x@127.0.0.1:${optUas.localPort}`), 200);
  t.is((await optUas.done).code, SIPP_EXIT.ok);

  const cUas = await runSipp({ scenario: 'uas-cancel.xml', calls: 1, timeoutS: 20, timeoutError: true });
  await cUas.ready;
  const c = await ua.call(`sip:callee@127.0.0.1:${cUas.localPort}`, { cancelOnRinging: true });
  t.is(c.statuses.at(-1), 487);
  const cr = await cUas.done;
  t.is(cr.code, SIPP_EXIT.ok, diag(cr));
});

sippTest('our UAC with 20% loss on sipp: Timer A/E retransmissions and re-ACK of 2xx retransmissions', async (t) => {
  const ua = await withUa(t);
  const uas = await runSipp({ scenario: 'uas-call.xml', calls: 3, lostPct: 20, timeoutS: 60, timeoutError: true });
  await uas.ready;
  const results: CallResult[] = [];
  // The BYE waits 4 s after the ACK. A lost ACK is re-sent on each retransmitted 200 (0.5, 1.5,
  // 3.5 s). sipp aborts a call whose BYE comes before its ACK ("unexpected BYE"), which RFC 3261
  // allows (§15) but the scenario does not.
  for (let i = 0; i < 3; i++) results.push(await ua.call(`sip:callee@127.0.0.1:${uas.localPort}`, { holdMs: 4000 }));
  // sipp ends by itself after its 3 calls (and the last one's time-wait): counted, not cut short
  const r = await uas.done;
  const why = `${JSON.stringify(results)} ${JSON.stringify(ua.layer.counters)}\n${diag(r)}`;
  // Each call: the INVITE got through and its 2xx was ACKed (again for each retransmitted 2xx,
  // which sipp sends until the ACK comes), then the BYE got its 200. One call of the three may
  // fail on sipp's side: in one run here, a first call never saw any of sipp's responses, and sipp
  // aborted it waiting for the ACK.
  const ok = results.filter((res) => res.statuses.includes(200) && res.byeStatus === 200).length;
  t.true(ok >= 2, why);
  t.true((r.stats?.successful ?? 0) >= 2, why);
});

kamTest('Kamailio as a stateful record-routing proxy between sipp and our UAS: full call and CANCEL', async (t) => {
  const ua = await withUa(t);
  const proxy = await startKamailioProxy(remote(ua));
  t.teardown(() => proxy.stop());
  const r = await (await runSipp({ scenario: 'uac-call.xml', remote: `127.0.0.1:${proxy.port}`, calls: 2, rate: 10, timeoutS: 30, timeoutError: true })).done;
  t.is(r.code, SIPP_EXIT.ok, `${diag(r)}\n${proxy.proc.output().slice(-2000)}`);
  t.is(ua.stats.byes, 2);
  t.is(ua.stats.acks, 2, 'the ACK for 2xx came through the proxy by the Record-Route');
  ua.mode = 'ring';
  const c = await (await runSipp({ scenario: 'uac-cancel.xml', remote: `127.0.0.1:${proxy.port}`, calls: 1, timeoutS: 20, timeoutError: true })).done;
  t.is(c.code, SIPP_EXIT.ok, diag(c));
  t.is(ua.stats.cancels, 1);
});

kamTest('Kamailio between our UAC and sipp: INVITE via the proxy, ACK and BYE along the reversed Record-Route', async (t) => {
  const ua = await withUa(t);
  const uas = await runSipp({ scenario: 'uas-call.xml', calls: 1, timeoutS: 20, timeoutError: true, traceMsg: true });
  await uas.ready;
  const proxy = await startKamailioProxy(`127.0.0.1:${uas.localPort}`);
  t.teardown(() => proxy.stop());
  const res = await ua.call(`sip:callee@127.0.0.1:${uas.localPort}`, { target: { address: '127.0.0.1', port: proxy.port } });
  t.is(res.byeStatus, 200, JSON.stringify(res));
  const r = await uas.done;
  t.is(r.code, SIPP_EXIT.ok, diag(r));
  // INVITE, ACK and BYE all reached sipp through the proxy: each carries the proxy's Via on top
  for (const method of ['INVITE', 'ACK', 'BYE']) {
    const block = r.messages.split(/\n(?=[A-Z]+ sip:)/).find((b) => b.startsWith(`${method} sip:`));
    t.truthy(block, method);
    t.regex(block!, new RegExp(`Via: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${proxy.port};branch`), method);
  }
});
