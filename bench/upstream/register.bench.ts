/**
 * Register-on-behalf at scale.
 *
 *  1. `register N (401+200, UDP)`: one engine (UDP transport, transaction layer, digest) against
 *     the bench registrar in a child process (fixtures/registrar.ts: 401 then 200) on loopback;
 *     wall time and this process's CPU to get N accounts Registered at RATE REGISTERs/s, next to
 *     sipp doing the same against the same registrar. Quick: 1 000 accounts; full: 100 000.
 *  2. `steady state N @3600 s, nonce reused (stub sender)`: the steady state after the first
 *     refresh round, when each refresh is ONE REGISTER with preemptive credentials (nonce reuse,
 *     nc+1) answered 200. N accounts are loaded as after a restart (bindings valid, refreshes due
 *     at the steady rate N / 2430 s: 412/s for a million) and each is handed a real 401 through
 *     its own machine, which is what the first round leaves behind (see `steadyState`). Through
 *     an in-memory sender that answers 200: the engine's own cost (heap, timer, digest, state
 *     machine, promises). RSS after load and CPU share of one core over the window, also scaled
 *     to exactly the steady rate (`cpuPctAtSteadyRate`). Full: 1 000 000, 30 s; quick: 20 000.
 *  3. the same over real UDP and the transaction layer to the registrar process (its nonces are
 *     valid for a day, so every refresh is 1 REGISTER → 200; `challengesInWindow` shows it): the
 *     whole sipis cost of keeping N accounts registered. Full: 1 000 000; quick: 20 000.
 *  4. `memory`: N accounts registered, each keeping its own nonce, distinct strings: heap and
 *     RSS of a long-running engine. Full: 1 000 000; quick: 20 000.
 *
 *   npm run bench -- upstream            (full)
 *   npm run bench -- --quick upstream
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { TransactionLayer } from '../../core/transaction/index.js';
import { UdpTransport } from '../../core/transport/index.js';
import { UpstreamEngine } from '../../core/upstream/engine.js';
import { SipRegistrationSender } from '../../core/upstream/sender.js';
import type { RegisterOutcome, RegisterResponse, RegisterSpec, RegistrationRecord, RegistrationSender, UpstreamAccount } from '../../core/upstream/types.js';
import { DEFAULT_POLICY, type MachineContext } from '../../core/upstream/registration.js';
import { DEFAULT_BACKOFF } from '../../core/upstream/backoff.js';
import { buildAuthorization, pickChallenge } from '../../core/sip/digest.js';
import { freeSipPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { withRatios, type BenchRow, type BenchSuite } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/upstream in the source tree (the sipp scenario is not compiled). */
const fixturesBench = join(repoRoot, 'bench', 'upstream');
/** REGISTERs started per second at "full pace": far above any provider's limit, below what one loopback registrar process answers. */
const RATE = 2000;
/** transactions in flight at most, for us (maxInFlight) and for sipp (-l, one transaction per call at a time). */
const WINDOW = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => Math.round(b / 1048576);

function account(i: number, registrar: string): UpstreamAccount {
  return { id: String(i), aor: `sip:u${i}@bench.test`, authUser: `u${i}`, password: 'pw', registrar, expires: 3600, enabled: true };
}

async function startRegistrarChild(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, [join(here, 'registrar-child.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(([code]) => `exit ${String(code)}`);
  const first = await Promise.race([once(child.stdout!, 'data').then(([b]) => b as Buffer), exited]);
  if (typeof first === 'string') throw new Error(`bench registrar ${first} before listening`);
  const { port } = JSON.parse(first.toString()) as { port: number };
  return {
    port,
    stop() {
      child.stdin!.end();
      child.kill();
    },
  };
}

/**
 * The peer: sipp registering the same accounts (one call = REGISTER, 401, REGISTER, 200) at
 * the same pace against the same kind of registrar. Its CPU comes from the shell's `times`
 * (children's user and system time), since sipp exits when done.
 */
export async function registerWithSipp(n: number): Promise<BenchRow | undefined> {
  if (spawnSync('sipp', ['-v']).status === null) return undefined;
  const reg = await startRegistrarChild();
  const dir = mkdtempSync(join(tmpdir(), 'sipis-bench-sipp-'));
  try {
    writeFileSync(join(dir, 'users.csv'), ['SEQUENTIAL', ...Array.from({ length: n }, (_, i) => `u${i}`)].join('\n') + '\n');
    const sippArgs = ['-sf', join(fixturesBench, 'sipp-register.xml'), `127.0.0.1:${reg.port}`, '-i', '127.0.0.1', '-p', String(await freeSipPort()), '-au', 'bench', '-ap', 'pw', '-m', String(n), '-r', String(RATE / 2), '-l', String(WINDOW), '-inf', join(dir, 'users.csv'), '-nostdin', '-trace_screen', '-screen_file', join(dir, 'screen.log'), '-timeout', '300s'];
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', 'sipp "$@" >/dev/null 2>&1; echo "rc=$?"; times', 'sh', ...sippArgs], { cwd: dir, encoding: 'utf8', timeout: 320_000 });
    const wallMs = performance.now() - t0;
    // `times` prints two lines: the shell's own, then its children's "XmY.YYYs XmZ.ZZZs"
    const lines = r.stdout.trim().split('\n');
    const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines.at(-1) ?? '');
    const cpuMs = m ? (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000 : NaN;
    const ok = /rc=0/.test(r.stdout);
    return {
      suite: 'upstream',
      name: `sipp: register ${n} (401+200, UDP)`,
      medianNs: (wallMs * 1e6) / n,
      opsPerSec: (n / wallMs) * 1000,
      samples: 1,
      extra: { rate: RATE, window: WINDOW, ok: ok ? 'yes' : 'no', wallMs: Math.round(wallMs), cpuMs: Math.round(cpuMs), cpuUsPerAccount: Math.round((cpuMs * 1000) / n) },
    };
  } finally {
    reg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function registerOverUdp(n: number): Promise<BenchRow> {
  const child = await startRegistrarChild();
  try {
    const port = child.port;
    const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    const layer = new TransactionLayer(transport);
    const engine = new UpstreamEngine({ sender: new SipRegistrationSender(layer), rate: RATE, burst: 100, maxInFlight: WINDOW });
    const registrar = `sip:127.0.0.1:${port}`;
    const accounts = Array.from({ length: n }, (_, i) => account(i, registrar));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    engine.load(accounts, new Map());
    engine.start();
    const deadline = Date.now() + (n > 10_000 ? 300_000 : 30_000);
    // one 2xx per account (counting states would walk every account each poll and bill it to us)
    while (engine.counters.responsesOk < n && Date.now() < deadline) await sleep(20);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const registered = engine.countByState().Registered;
    const sent = engine.counters.registersSent;
    const rss = process.memoryUsage().rss;
    await engine.stop();
    layer.close();
    await transport.close();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    return {
      suite: 'upstream',
      name: `register ${n} (401+200, UDP)`,
      medianNs: (wallMs * 1e6) / n,
      opsPerSec: (registered / wallMs) * 1000,
      samples: 1,
      extra: { rate: RATE, window: WINDOW, registered, registers: sent, datagramsOut: transport.counters.datagramsOut, wallMs: Math.round(wallMs), cpuMs: Math.round(cpuMs), cpuUsPerAccount: Math.round((cpuMs * 1000) / n), timeouts: engine.counters.timeouts, rssMiB: mib(rss) },
    };
  } finally {
    child.stop();
  }
}

/** An in-memory registrar: 401 for a request without credentials, 200 for one with. */
const challenge = { scheme: 'Digest', params: new Map([['realm', 'bench.test'], ['nonce', 'abcdef0123456789'], ['qop', 'auth'], ['algorithm', 'MD5']]) };
const stubSender = {
  send(spec: RegisterSpec): Promise<RegisterOutcome> {
    return Promise.resolve(
      spec.authorization
        ? { kind: 'response', response: { status: 200, contacts: [], challenges: [], expires: spec.expires } }
        : { kind: 'response', response: { status: 401, contacts: [], challenges: [challenge] } },
    );
  },
};

/** What the engine's machines need to take a challenge in (registration.ts `MachineContext`). */
const primeCtx: MachineContext = {
  policy: { ...DEFAULT_POLICY, backoff: DEFAULT_BACKOFF },
  random: Math.random,
  authorize: (challenge, req) => buildAuthorization({ challenge, ...req }),
  pickChallenge,
};

/**
 * One REGISTER without credentials to the registrar: its 401, as the engine would be given it.
 * The bench registrar's nonces are stateless HMACs valid for a day, not bound to a user.
 */
async function fetchChallenge(sender: RegistrationSender, registrar: string): Promise<RegisterResponse> {
  const out = await sender.send({ accountId: 'prime', requestUri: registrar, aor: 'sip:prime@bench.test', callId: 'prime@bench', cseq: 1, contactUser: 'acc-prime', expires: 3600, generation: 0 });
  if (out.kind !== 'response' || out.response.status !== 401) throw new Error(`priming REGISTER: expected a 401, got ${JSON.stringify(out)}`);
  return out.response;
}

/**
 * The steady state of N accounts at a 3600 s expiry, as it is after the first refresh round:
 * every binding valid and every account holding the registrar's last nonce, so each refresh is
 * ONE REGISTER with preemptive credentials (nc+1) answered 200. Bringing a million accounts up
 * over UDP and waiting a refresh round (2430 s) does not fit a benchmark, so the accounts are
 * loaded as after a restart (bindings ending uniformly over the next 2430 s + lead: refreshes
 * come at the steady rate N / 2430 s from the first second, 411/s for a million) and each
 * machine is handed a real 401 of the registrar through its own `onResponse`, exactly what the
 * first refresh round leaves behind. `challengesInWindow` = 0 shows no refresh needed a second
 * REGISTER.
 */
export async function steadyState(n: number, windowMs: number, over: 'stub' | 'udp' = 'stub'): Promise<BenchRow> {
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let sender: RegistrationSender = stubSender;
  let registrar = 'sip:registrar.bench.test';
  let cleanup = async (): Promise<void> => undefined;
  if (over === 'udp') {
    const child = await startRegistrarChild();
    const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    const layer = new TransactionLayer(transport);
    sender = new SipRegistrationSender(layer);
    registrar = `sip:127.0.0.1:${child.port}`;
    cleanup = async () => {
      layer.close();
      await transport.close();
      child.stop();
    };
  }
  const primer = await fetchChallenge(sender, registrar);
  // refresh at exactly 67.5 % of 3600 s (the mean of the default 50–85 % spread)
  const engine = new UpstreamEngine({ sender, rate: 200, burst: 200, policy: { refreshMin: 0.675, refreshMax: 0.675 } });
  const now = Date.now();
  const records = (id: string): RegistrationRecord => {
    const i = Number(id);
    return { accountId: id, state: 'Registered', callId: `c${i}@bench`, cseq: 10, expiresAt: now + 1_170_000 + 1000 + (i * 2_430_000) / n, lastStatus: 200, lastReason: null, failures: 0, retryAt: null, failingSince: null };
  };
  const t0 = performance.now();
  const CHUNK = 50_000;
  for (let i = 0; i < n; i += CHUNK) {
    const part: UpstreamAccount[] = [];
    for (let j = i; j < Math.min(n, i + CHUNK); j++) part.push(account(j, registrar));
    engine.load(part, records);
    for (const a of part) engine.get(a.id)!.onResponse(primer, now, primeCtx);
  }
  const loadMs = performance.now() - t0;
  engine.start();
  // refreshes that fell due while loading go out at once: let that backlog drain first
  await sleep(Math.min(5000, windowMs / 2));
  global.gc?.();
  const rss = process.memoryUsage().rss;
  const heap = process.memoryUsage().heapUsed;
  const c0 = { ...engine.counters };
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(windowMs);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - w0;
  const c = engine.counters;
  const sent = c.registersSent - c0.registersSent;
  const ok = c.responsesOk - c0.responsesOk;
  await engine.stop();
  await cleanup();
  const cpuShare = (cpu.user + cpu.system) / 1000 / wall;
  // the same CPU per REGISTER at exactly the steady rate of N accounts (the window's rate jitters)
  const steadyRate = n / 2430;
  const cpuAtSteady = sent ? ((cpu.user + cpu.system) / 1000 / sent) * steadyRate / 1000 : 0;
  return {
    suite: 'upstream',
    name: `steady state ${n} @3600 s, nonce reused (${over === 'udp' ? 'UDP, registrar process' : 'stub sender'})`,
    medianNs: sent ? (wall * 1e6) / sent : 0,
    opsPerSec: (sent / wall) * 1000,
    samples: 1,
    extra: {
      steadyRatePerS: Math.round(steadyRate),
      registersInWindow: sent,
      okInWindow: ok,
      challengesInWindow: c.challenges - c0.challenges,
      timeoutsInWindow: c.timeouts - c0.timeouts,
      cpuUsPerRegister: sent ? Math.round(((cpu.user + cpu.system) / sent)) : 0,
      cpuPctOfCore: +(cpuShare * 100).toFixed(2),
      cpuPctAtSteadyRate: +(cpuAtSteady * 100).toFixed(2),
      loadMs: Math.round(loadMs),
      rssMiB: mib(rss),
      rssDeltaMiB: mib(rss - rss0),
      heapMiB: mib(heap),
      windowMs: Math.round(wall),
    },
  };
}

/**
 * Memory of a long-running engine: every account registered and holding its own nonce for the
 * next preemptive refresh, with distinct AOR, user, password and Call-ID strings, as in
 * production (the steady-state rows share strings and hold no challenge after the restart).
 */
export async function memoryRegistered(n: number): Promise<BenchRow> {
  let k = 0;
  const sender: RegistrationSender = {
    send(spec) {
      const challenges = [{ scheme: 'Digest', params: new Map([['realm', 'voip.provider.example.com'], ['nonce', `${randomBytes(24).toString('base64url')}${k++}`], ['qop', 'auth'], ['algorithm', 'MD5'], ['opaque', 'a1b2c3d4e5f60718']]) }];
      return Promise.resolve(spec.authorization ? { kind: 'response', response: { status: 200, contacts: [], challenges: [], expires: 3600 } } : { kind: 'response', response: { status: 401, contacts: [], challenges } });
    },
  };
  const engine = new UpstreamEngine({ sender, rate: 1e6, burst: 100_000, maxInFlight: 100_000 });
  const t0 = performance.now();
  for (let i = 0; i < n; i += 50_000) {
    const part: UpstreamAccount[] = [];
    for (let j = i; j < Math.min(n, i + 50_000); j++) {
      part.push({ id: String(j), aor: `sip:user${j}@voip.provider.example.com`, authUser: `user${j}`, password: `pw-${j}-secret`, registrar: 'sip:voip.provider.example.com', expires: 3600, enabled: true });
    }
    engine.load(part, new Map());
  }
  engine.start();
  while (engine.counters.responsesOk < n) await sleep(100);
  const wallMs = performance.now() - t0;
  global.gc?.();
  await sleep(200);
  global.gc?.();
  const m = process.memoryUsage();
  await engine.stop();
  return {
    suite: 'upstream',
    name: `memory: ${n} registered, own nonce each (stub sender)`,
    medianNs: (wallMs * 1e6) / n,
    opsPerSec: (n / wallMs) * 1000,
    samples: 1,
    extra: { heapMiB: mib(m.heapUsed), rssMiB: mib(m.rss), heapBytesPerAccount: Math.round(m.heapUsed / n) },
  };
}

const suite: BenchSuite = {
  name: 'upstream',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    const n = quick ? 1000 : 100_000;
    const peer = await registerWithSipp(n);
    const ours = await registerOverUdp(n);
    if (peer) {
      // CPU per account against sipp doing the same registrations in the same run
      ours.extra!.cpuVsSipp = +(Number(ours.extra!.cpuMs) / Number(peer.extra!.cpuMs)).toFixed(2);
      rows.push(...withRatios([ours, peer], peer.name));
    } else rows.push(ours);
    rows.push(await steadyState(quick ? 20_000 : 1_000_000, quick ? 1500 : 30_000));
    // the same over real UDP to the registrar process: quick 20 000 accounts, full 1M (~411 REGISTER/s)
    rows.push(await steadyState(quick ? 20_000 : 1_000_000, quick ? 1500 : 30_000, 'udp'));
    rows.push(await memoryRegistered(quick ? 20_000 : 1_000_000));
    return rows;
  },
};
export default suite;
