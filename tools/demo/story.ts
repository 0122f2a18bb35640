/**
 * `npm run demo`: the SIPIS story on loopback, told from real events.
 *
 *   1. the stack (tools/stack.ts) with Kamailio as the provider;
 *   2. sipis-ctl adds alice; sipis registers her at Kamailio;
 *   3. alice's phone (sipp over TCP → TLS pipe → sipis-bridge) registers with push tokens, then
 *      closes its connection: it sleeps;
 *   4. a caller (sipp over UDP → Kamailio) calls alice; Kamailio sends the INVITE to sipis;
 *      sipis answers 180 Alerting-Device and pushes through the mediator to the mock APNs;
 *   5. when the mock APNs has the push, the phone wakes (sipp again, new connection), REGISTERs,
 *      gets sipis's INVITE, answers; the caller gets the 200, ACKs, talks a second, hangs up.
 *
 * The ladder lines come from sipis's socket (tap.ts) and the mock APNs's record; the story is
 * complete only when every milestone (ladder.ts) was seen on the wire.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { startTlsPipe, type TlsPipe } from '../../fixtures/e2e/tls-pipe.js';
import { hasKamailio } from '../../fixtures/kamailio.js';
import { fixturePath } from '../../fixtures/paths.js';
import { startProc } from '../../fixtures/proc.js';
import { APNS_TOKEN_APP, TEAM_ID, apnsToken } from '../../fixtures/push/env.js';
import { hasSipp, runSipp, type SippResult, type SippRun } from '../../fixtures/sipp.js';
import { DEMO, startStack, type Stack } from '../stack.js';
import { Ladder, MILESTONES } from './ladder.js';
import { tapSipis, type Tap } from './tap.js';

export interface DemoOptions {
  /** where the ladder goes (default stdout). */
  write?: (line: string) => void;
  /** echo every component's log (debug) on stderr. */
  verbose?: boolean;
  /**
   * false: the phone never wakes (its push goes unanswered), so sipis gives up after the
   * readiness timeout with 480 and the story is incomplete (the failure path of the demo).
   */
  wake?: boolean;
  /** how long sipis waits for the phone (default 15 s). */
  readinessTimeoutMs?: number;
  /** Ctrl-C: stop where the story is, clean up, report it interrupted. */
  signal?: AbortSignal;
}

export interface DemoResult {
  ok: boolean;
  /** what went wrong, when not ok. */
  problems: string[];
  /** caller's INVITE at sipis → 200 relayed to the caller, from the ladder's events. */
  setupMs: number | undefined;
}

class DemoFailure extends Error {}

/** Keeps the last lines of the components' logs (pino destination), for a failure report. */
class LogTail {
  readonly lines: string[] = [];
  constructor(private readonly echo: boolean) {}
  write(s: string): void {
    this.lines.push(s);
    if (this.lines.length > 500) this.lines.shift();
    if (this.echo) process.stderr.write(s);
  }
  /** warnings and errors, the ones that explain a failure. */
  problems(): string[] {
    return this.lines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-20);
  }
}

async function until(what: string, ms: number, fn: () => boolean | Promise<boolean>, signal?: AbortSignal): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (signal?.aborted) throw new DemoFailure(`interrupted while waiting for ${what}`);
    if (Date.now() > end) throw new DemoFailure(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sippTail = (name: string, r: SippResult): string => `${name} sipp exited ${r.code}${r.errors.trim() ? `; its errors:\n${r.errors.trim().slice(-1500)}` : ''}`;

async function addAccount(stack: Stack, write: (l: string) => void): Promise<string> {
  const ctl = fileURLToPath(new URL('../sipis-ctl.js', import.meta.url));
  const args = [ctl, 'account', 'add', DEMO.aor, '--password-stdin', '--registrar', `sip:127.0.0.1:${stack.provider!.port}`, '--expires', '300'];
  write(`  $ sipis-ctl account add ${DEMO.aor} --password-stdin --registrar sip:127.0.0.1:${stack.provider!.port} --expires 300`);
  const p = startProc(process.execPath, args, { env: { ...process.env, SIPIS_DB_URL: stack.databaseUrl, SIPIS_SECRET_KEY_FILE: stack.keyFile, SIPIS_SECRET_KEY: '' } });
  p.child.stdin?.end(DEMO.password + '\n');
  const code = await p.exited;
  const out = p.output().trim();
  write(`    ${out.split('\n').join('\n    ')}`);
  const m = /account (\d+)/.exec(out);
  if (code !== 0 || !m) throw new DemoFailure(`sipis-ctl account add exited ${code}: ${out}`);
  return m[1]!;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const problems: string[] = [];
  if (!hasSipp()) problems.push('sipp is not installed (apt-get install sip-tester)');
  if (!hasKamailio()) problems.push('kamailio is not installed (apt-get install kamailio): the demo uses it as the provider');
  if (problems.length) return { ok: false, problems, setupMs: undefined };

  const tail = new LogTail(opts.verbose ?? false);
  const log: Logger = pino({ level: 'debug', base: undefined }, tail);
  let stack: Stack | undefined;
  let tap: Tap | undefined;
  let pipe: TlsPipe | undefined;
  let pushPoll: NodeJS.Timeout | undefined;
  const sipps: SippRun[] = [];
  let ladder: Ladder | undefined;
  let setupMs: number | undefined;
  const began = Date.now();
  // an interruption stops the sipp runs: whatever waits for them fails, and `finally` cleans up
  const onAbort = (): void => void Promise.all(sipps.map((r) => r.stop())).catch(() => undefined);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const interrupted = (): void => {
    if (opts.signal?.aborted) throw new DemoFailure('interrupted');
  };
  try {
    write('SIPIS demo: a call to a sleeping phone, woken by a push, tunnelled through sipis');
    write('');
    // reachableWindowMs 0: a phone that registered a moment ago is still asleep for this story
    // (its connection is closed), so every call goes through the push
    stack = await startStack({ anyPorts: true, provider: true, print: false, log, sipisArgs: ['--reachable-window', '0', '--readiness-timeout', String((opts.readinessTimeoutMs ?? 15_000) / 1000)] });
    interrupted();
    const s = stack;
    const a = s.addresses;
    write(`stack up in ${Date.now() - began} ms: sipis ${a.sip.host}:${a.sip.port} (UDP), bridge TLS ${a.bridge.tls.port}, mediator ${a.mediator}, mock APNs ${a.apns}, Kamailio ${a.provider!.port}, PostgreSQL embedded`);
    write('');
    const sides = { provider: { address: '127.0.0.1', port: s.provider!.port }, bridge: { address: a.bridge.udp.host, port: a.bridge.udp.port } };
    const lad = new Ladder(sides, write);
    ladder = lad;
    tap = tapSipis(s.sipis.transport, s.sipis.layer);
    tap.onEvent = (ev) => lad.sip(ev);
    let pushes = 0;
    pushPoll = setInterval(() => {
      const rec = s.pushEnv.apns.received;
      for (; pushes < rec.length; pushes++) lad.push(Date.now(), rec[pushes]!);
    }, 5);

    write('1. the account: sipis registers alice at the provider');
    const accountId = await addAccount(s, write);
    await until('alice Registered at the provider', 10_000, () => s.sipis.engine.get(accountId)?.state === 'Registered', opts.signal);
    write('');

    write('2. the phone registers through the bridge (TLS), with its push tokens, then sleeps');
    pipe = await startTlsPipe({ host: '127.0.0.1', port: a.bridge.tls.port }, readFileSync(s.certs.ca, 'utf8'));
    const phone = { instance: randomUUID(), voip: apnsToken(), remote: apnsToken() };
    const pn = `;pn-provider=apns;pn-prid=${phone.voip}:voip&${phone.remote}:remote;pn-param=${TEAM_ID}.${APNS_TOKEN_APP}.voip&remote`;
    const phoneRun = (ooc: string | undefined, stayMs: number) =>
      runSipp({
        scenario: 'demo-phone.xml',
        remote: `127.0.0.1:${pipe!.port}`,
        transport: 'tcp',
        calls: 1,
        service: DEMO.user,
        authUser: DEMO.user,
        authPassword: DEMO.password,
        keys: { pn, instance: phone.instance },
        extraArgs: ['-d', String(stayMs), ...(ooc ? ['-oocsf', ooc] : [])],
        traceMsg: true,
        timeoutS: Math.ceil(stayMs / 1000) + 15,
      });
    const first = await phoneRun(undefined, 100);
    sipps.push(first);
    const reg = await first.done;
    interrupted();
    if (reg.code !== 0) throw new DemoFailure(`the phone's registration failed: ${sippTail('phone', reg)}`);
    await until('the phone connection to close', 5000, () => s.bridge.flows.size === 0, opts.signal);
    write(`  the phone sleeps (device binding in PostgreSQL, voip token ${phone.voip.slice(0, 8)}…, no connection)`);
    write('');

    write('3. the call: sipp calls alice through the provider (times from the INVITE at sipis)');
    lad.callPhase();
    const caller = await runSipp({ scenario: 'demo-caller.xml', remote: `127.0.0.1:${s.provider!.port}`, transport: 'udp', calls: 1, service: DEMO.user, extraArgs: ['-d', '1000'], traceMsg: true, timeoutS: 25 });
    sipps.push(caller);
    await caller.ready;
    await until('the incoming-call push at the mock APNs', 10_000, () => lad.seen.has('push'), opts.signal);
    // the push is the phone's cue: only now does it run (a new connection, a fresh REGISTER)
    const woken = opts.wake === false ? undefined : await phoneRun(fixturePath('sipp', 'demo-phone-answer.xml'), 6000);
    if (woken) sipps.push(woken);
    else write('  (the phone does not wake up this time)');
    const cr = await Promise.race([caller.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 25_000).unref())]);
    interrupted();
    if (!cr) throw new DemoFailure('the caller did not finish within 25 s');
    if (cr.code !== 0) throw new DemoFailure(`the call failed: ${sippTail('caller', cr)}`);
    await until('the BYE answered back to the caller', 3000, () => lad.seen.has('byeAnswered')).catch(() => undefined);
    await woken?.stop();
    const missing = lad.missing();
    if (missing.length) throw new DemoFailure(`the story is incomplete; not seen on the wire: ${missing.map((m) => MILESTONES[m]).join('; ')}`);
    const at = (k: keyof typeof MILESTONES): number => lad.seen.get(k)!;
    setupMs = at('answerRelayed') - at('invite');
    const setup = s.sipis.tunnel?.setupTime;
    const ownMs = setup && setup.count > 0 ? Math.round((setup.sumS / setup.count) * 1000) : undefined;
    write('');
    write(`call ended, setup took ${setupMs} ms (caller's INVITE at sipis → 200 to the caller${ownMs !== undefined ? `; sipis's own tunnel setup metric: ${ownMs} ms` : ''})`);
    write(`  push at the mock APNs +${at('push') - at('invite')} ms, phone's REGISTER +${at('wake') - at('invite')} ms (the demo starts the phone's sipp on the push), INVITE to the phone +${at('inviteToPhone') - at('invite')} ms, answered +${at('answer') - at('invite')} ms`);
    if (a.admin.sipis) {
      // the same story as sipis's admin HTTP counts it
      const text = await fetch(`${a.admin.sipis}/metrics`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), () => '');
      const picked = text.split('\n').filter((l) => /^(sipis_calls_total|sipis_pushes_total|sipis_tunnel_setup_seconds_(sum|count)|sipis_devices|sipis_upstream_registrations\{state="Registered"\})[ {]/.test(l) && !/ 0$/.test(l));
      if (picked.length) write(`  ${a.admin.sipis}/metrics:\n    ${picked.join('\n    ')}`);
    }
    write(`story complete in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    return { ok: true, problems: [], setupMs };
  } catch (err) {
    problems.push(err instanceof DemoFailure ? err.message : `unexpected error: ${(err as Error).stack ?? String(err)}`);
    if (ladder && ladder.phase === 'call') {
      const missing = ladder.missing();
      if (missing.length) problems.push(`not seen: ${missing.map((m) => MILESTONES[m]).join('; ')}`);
    }
    const logs = tail.problems();
    if (logs.length) problems.push(`component warnings and errors:\n${logs.join('').trimEnd()}`);
    return { ok: false, problems, setupMs };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (pushPoll) clearInterval(pushPoll);
    for (const r of sipps) await r.stop().catch(() => undefined);
    tap?.close();
    await pipe?.close();
    await stack?.stop();
  }
}
