/**
 * The delay sipis adds to each relayed message (issue 8: p99 under 1 ms at half of 1,000 calls/s),
 * phones awake, over the real relay path: provider side UDP in → sipis → phone side UDP out, and
 * back. Two ways, so that what the peers and this shared 2-core machine add is kept apart:
 *
 * 1. Added by sipis, from kernel timestamps (500 and 100 calls/s full, 500 quick): sipp calls
 *    (bench/tunnel/uac-call-stamped.xml) through the tunnel in its own process
 *    (bench/tunnel/sipis-child.js, production 100 Trying timer: 200 ms) to a sipp phone
 *    (fixtures/sipp/uas-call.xml); dumpcap captures sipis's port on loopback. For every relayed
 *    message (INVITE, 180, 200, ACK, BYE, 200 for BYE) the row takes the time between the
 *    datagram reaching sipis's socket and the relayed one leaving it: queueing in the socket while
 *    sipis's loop is busy (GC, other datagrams) or not scheduled, parsing, the transaction layer,
 *    the tunnel, building and sending. The sipp peers' own delays are outside it. Measured for the
 *    last 20 s of 55 (full): by then Timers J/L/M (32 s) hold a steady state of finished calls,
 *    which is what sipis's GC works against; 20 s is ~60,000 relayed messages at 500 calls/s,
 *    ~60 scavenges and several full GCs, so one run's p99 is not one GC's luck. Under it,
 *    in-process: how long sipis held each datagram from its arrival in JavaScript (the
 *    difference to the kernel row is the time datagrams waited in the socket for sipis to run).
 *    The peer, measured the same way in the same run just before sipis at 500 calls/s:
 *    Kamailio as a stateful record-routing proxy (one UDP worker) in front of the same sipp
 *    phone. What the C proxy's p99 shows is what this machine (its other processes, its
 *    hypervisor) puts into any relay's tail.
 * 2. One-way, end to end, for reference: a caller and a phone on our own stack in this process;
 *    every INVITE, 180, 200 and BYE (and its 200) carries `X-Bench-T`, the sender's clock (the
 *    tunnel copies end-to-end headers), and the receiver takes the one-way time; the same calls
 *    sent straight from caller to phone are the baseline, "added" = via sipis − direct at p50 and
 *    p99. At 100 calls/s: this process runs both peers, and near its own saturation its queueing,
 *    not sipis, would dominate. The stamps are ms since the epoch (performance.timeOrigin +
 *    now(), comparable across processes on one host), so the child (--legs) also times the leg
 *    sender → its handler; per message kind rows show no kind waits on a timer tick.
 *
 * The relay under test (sipis or Kamailio, with its threads or worker processes) runs on a CPU of
 * its own, the peers, the capture and this process on the others (affinity.ts; the rows say
 * `pinned`): issue 8's targets are for a relay on one core, and left to the scheduler, two sipp
 * processes at 500 calls/s would share the relay's core and put their time slices into its tail.
 *
 * On a machine shared with other work, the kernel rows include the time sipis waited for a CPU:
 * compare them with the in-process row and the loop lag and GC figures beside them, and with
 * what `npm run bench -- machine` says about the machine's own stalls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Dialog, DialogStore } from '../../core/dialog/index.js';
import { createRequest, parseMessage, type SipMessage } from '../../core/sip/index.js';
import { newCallId, newTag, TransactionLayer, type InviteServerTransaction } from '../../core/transaction/index.js';
import { UdpTransport, type Endpoint } from '../../core/transport/index.js';
import { hasCapture, startCapture } from '../../fixtures/capture.js';
import { hasKamailio, startKamailio } from '../../fixtures/kamailio.js';
import { freeSipPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { readCaptureFile } from '../../tools/pcap/index.js';
import { hasSipp, runSipp } from '../../fixtures/sipp.js';
import { startProc } from '../../fixtures/proc.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';
import { pinRelay, type Pinning } from './affinity.js';
import { childNodeArgs } from './child-node-args.js';

// the child next to this file (dist/ or a private --outDir build alike)
const here = dirname(fileURLToPath(import.meta.url));
const T = 'X-Bench-T';
const LAG_RES_MS = 10;
// ms since the epoch with µs resolution: comparable with the child's clock (bench/tunnel/sipis-child --legs)
const now = (): number => performance.timeOrigin + performance.now();
// During warm-up the stamp goes under another name: neither the peers nor the child time it.
let stampName = T;
const stamp = (): [string, string] => [stampName, now().toFixed(3)];
const SDP = 'v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';

class Samples {
  readonly ms: number[] = [];
  readonly kinds = new Map<string, number[]>();
  add(msg: SipMessage): void {
    const t = Number(msg.header(T));
    if (!Number.isFinite(t)) return;
    const d = now() - t;
    this.ms.push(d);
    const k = msg.isRequest ? msg.method : `${msg.status}/${msg.cseq.method}`;
    let a = this.kinds.get(k);
    if (!a) this.kinds.set(k, (a = []));
    a.push(d);
  }
  static of(ms: number[]): Samples {
    const s = new Samples();
    s.ms.push(...ms);
    return s;
  }
  pct(p: number): number {
    const s = [...this.ms].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
  }
}

interface ChildReport {
  loopLagUs?: { p50: number; p99: number; max: number };
  legInMs?: { count: number; p50: number; p99: number; max: number };
  heldMs?: { count: number; p50: number; p99: number; max: number };
  heapUsedMB?: number;
  gc?: { count: number; totalMs: number; maxMs: number };
}

/** Where the peers put their samples: one object per measured run. */
interface Sink {
  cur: Samples;
}

/** The phone: answers 180 + 200 at once, BYE 200; stamps what it sends, times what it gets. */
async function phone(sink: Sink): Promise<{ layer: TransactionLayer; endpoint: Endpoint; close(): Promise<void> }> {
  const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  const layer = new TransactionLayer(transport, { timers: { trying: 0 } });
  const ep = transport.endpoints[0]!;
  const contact: [string, string] = ['Contact', `<sip:phone@127.0.0.1:${ep.port}>`];
  layer.onRequest((tx, req) => {
    sink.cur.add(req);
    if (req.method === 'INVITE') {
      const ist = tx as InviteServerTransaction;
      ist.reply(180, 'Ringing', { headers: [contact, stamp()] });
      ist.reply(200, 'OK', { headers: [contact, stamp()], body: SDP, contentType: 'application/sdp' });
      return;
    }
    tx.reply(200, 'OK', { headers: [stamp()] });
  });
  layer.onAck(() => undefined);
  return { layer, endpoint: ep, close: async () => (layer.close(), transport.close()) };
}

/** The caller: INVITE, ACK, BYE at once; resolves when the BYE is answered. */
async function caller(sink: Sink) {
  const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }], recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
  const layer = new TransactionLayer(transport);
  const dialogs = new DialogStore();
  const ep = transport.endpoints[0]!;
  const call = (uri: string, target: Endpoint): Promise<boolean> =>
    new Promise((resolve) => {
      const invite = createRequest({
        method: 'INVITE',
        uri,
        headers: [
          ['Via', 'SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKx'],
          ['From', `<sip:caller@127.0.0.1:${ep.port}>;tag=${newTag()}`],
          ['To', `<${uri}>`],
          ['Call-ID', newCallId()],
          ['CSeq', '1 INVITE'],
          ['Contact', `<sip:caller@127.0.0.1:${ep.port}>`],
          stamp(),
        ],
        body: SDP,
        contentType: 'application/sdp',
      });
      let answered = false;
      layer.sendRequest(
        invite,
        {
          onResponse: (res, tx) => {
            if (res.status === 100) return;
            if (res.status < 200 || !answered) sink.cur.add(res);
            if (res.status < 200 || res.status >= 300 || answered) {
              if (res.status >= 300) resolve(false);
              return;
            }
            answered = true;
            const d: Dialog | undefined = dialogs.fromResponse(tx.request, res);
            if (!d) return resolve(false);
            void layer.sendAck(d.createAck(), { target }).catch(() => undefined);
            layer.sendRequest(
              d.createRequest('BYE', { headers: [stamp()] }),
              {
                onResponse: (r) => {
                  if (r.status < 200) return;
                  sink.cur.add(r);
                  dialogs.delete(d);
                  resolve(r.status === 200);
                },
                onError: () => resolve(false),
              },
              { target },
            );
          },
          onError: () => resolve(false),
        },
        { target },
      );
    });
  return { call, close: async () => (layer.close(), transport.close()) };
}

async function measure(n: number, rate: number, uri: string, target: Endpoint, c: Awaited<ReturnType<typeof caller>>): Promise<{ ok: number; wallS: number }> {
  const t0 = now();
  const done: Array<Promise<boolean>> = [];
  let started = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(n, Math.floor(((now() - t0) / 1000) * rate) + 1);
      while (started < due) {
        started++;
        done.push(c.call(uri, target));
      }
      if (started >= n) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const ok = (await Promise.all(done)).filter(Boolean).length;
  return { ok, wallS: (now() - t0) / 1000 };
}

function row(name: string, s: Samples, base?: Samples, extra: Record<string, number | string> = {}): BenchRow {
  const p50 = s.pct(50);
  const p99 = s.pct(99);
  return {
    suite: 'tunnel-delay',
    name,
    medianNs: p50 * 1e6,
    opsPerSec: p50 > 0 ? 1000 / p50 : 0,
    samples: s.ms.length,
    extra: {
      p50us: Math.round(p50 * 1000),
      p99us: Math.round(p99 * 1000),
      ...(base ? { addedP50us: Math.round((p50 - base.pct(50)) * 1000), addedP99us: Math.round((p99 - base.pct(99)) * 1000) } : {}),
      ...extra,
    },
  };
}

/** A leg timed in the child (its JSON report; stamped messages only, so no warm-up). */
function legRow(name: string, h: { count: number; p50: number; p99: number; max: number }): BenchRow {
  return {
    suite: 'tunnel-delay',
    name,
    medianNs: h.p50 * 1e6,
    opsPerSec: h.p50 > 0 ? 1000 / h.p50 : 0,
    samples: h.count,
    extra: { p50us: Math.round(h.p50 * 1000), p99us: Math.round(h.p99 * 1000), maxUs: Math.round(h.max * 1000) },
  };
}

/** Kind of a message as the relay sees it: `INVITE`, `ACK`, `BYE`, `180/INVITE`, `200/BYE`, … */
function kindOf(m: SipMessage): string {
  return m.isRequest ? m.method : `${m.status}/${m.cseq.method}`;
}

/**
 * (1) From a loopback capture of the relay's port: for every message it relays, the kernel time
 * it arrived (the peer's send) and the kernel time the relayed one left (the relay's send). Both
 * calls of one tunnelled call are tied by `X-Bench-Id` on the INVITE (the tunnel copies it onto
 * the INVITE to the phone; a proxy forwards it, and the Call-ID too); every later message by
 * Call-ID, CSeq and method or status. The first copy of each counts (a retransmission is not a
 * new message); a message the relay makes itself (a proxy's 100) has no arrival and is skipped.
 */
export function addedPerRelayedMessage(file: string, relayPort: number): Map<string, number[]> {
  const idOfCallId = new Map<string, string>();
  const arrived = new Map<string, number>();
  const left = new Set<string>();
  const byKind = new Map<string, number[]>();
  for (const p of readCaptureFile(file, { ports: [relayPort] })) {
    let m: SipMessage;
    try {
      m = parseMessage(p.payload);
    } catch {
      continue;
    }
    const callId = m.callId;
    if (m.isRequest && m.method === 'INVITE' && !idOfCallId.has(callId)) {
      const id = m.header('X-Bench-Id');
      if (id) idOfCallId.set(callId, id);
    }
    const id = idOfCallId.get(callId);
    if (!id) continue;
    const kind = kindOf(m);
    const key = `${id} ${m.cseq.seq} ${kind}`;
    if (p.dst.port === relayPort) {
      if (!arrived.has(key)) arrived.set(key, p.ts);
      continue;
    }
    const t0 = arrived.get(key);
    if (t0 === undefined || left.has(key)) continue; // our own 100, or a retransmission
    left.add(key);
    let a = byKind.get(kind);
    if (!a) byKind.set(kind, (a = []));
    a.push((p.ts - t0) * 1000);
  }
  return byKind;
}

interface WindowRun {
  rate: number;
  added: Map<string, number[]>;
  report: ChildReport | undefined;
  calls: number;
  failed: number;
  pinned: string;
}

/** The relay under test in a window: where it listens, how to read its report, how to stop it. */
interface Relay {
  port: number;
  /** the relay's process (its children are pinned with it). */
  pid: number | undefined;
  /** sipis's JSON report (after stop); Kamailio has none. */
  report(): ChildReport | undefined;
  /** start of the measured part (sipis resets its in-process timings there). */
  mark(): void;
  stop(): Promise<void>;
}

/** sipis-child (production 100 Trying timer) in front of the phone at `phonePort`. */
async function sipisRelay(phonePort: number, childArgs: string[]): Promise<Relay> {
  // SIPIS_BENCH_NODE_ARGS: node flags for the sipis child (child-node-args.ts)
  const child = startProc(process.execPath, [...childNodeArgs(childArgs), join(here, 'sipis-child.js'), '--phone', `127.0.0.1:${phonePort}`, '--timing', '--trying', '200', ...childArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await child.waitFor(/listening \S+:(\d+)/);
    return {
      port: Number(/:(\d+)$/.exec(line)![1]),
      pid: child.child.pid,
      report: () => {
        const out = /\{"tunnel".*\}/.exec(child.output());
        return out ? (JSON.parse(out[0]) as ChildReport) : undefined;
      },
      mark: () => void child.child.kill('SIGUSR2'),
      stop: async () => void (await child.stop()),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/**
 * The peer: Kamailio as a stateful record-routing proxy (fixtures/kamailio/proxy.cfg, one UDP
 * worker, as in tunnel-relay) in front of the same phone. A proxy relays each message once where
 * the tunnel relays it between two calls, so this is the delay a C relay adds on this machine,
 * under the same load, measured the same way: what the machine itself puts into the p99.
 */
async function kamailioRelay(phonePort: number): Promise<Relay> {
  const port = await freeSipPort();
  // 512 MB of shared memory: tm keeps every transaction for its wait timer (see tunnel-relay)
  const kam = await startKamailio({ cfg: 'proxy.cfg', defines: { SIP_LISTEN: `udp:127.0.0.1:${port}`, NEXT_HOP: `"sip:127.0.0.1:${phonePort}"` }, waitPorts: [port], shmMb: 512 });
  return { port, pid: kam.proc.child.pid, report: () => undefined, mark: () => undefined, stop: async () => void (await kam.stop()) };
}

/**
 * sipp (caller) → relay → sipp (phone) at `rate` calls/s for `warmS + measureS` seconds; the
 * relay's port is captured and the relay measured during the last `measureS` only (for sipis,
 * after the heap has reached its steady state: Timers J/L/M keep 32 s of calls).
 */
export async function measuredWindow(rate: number, warmS: number, measureS: number, relay: (phonePort: number) => Promise<Relay>): Promise<WindowRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sipis-delay-'));
  const phonePort = await freeSipPort();
  const uas = await runSipp({ scenario: 'uas-call.xml', localPort: phonePort, timeoutS: warmS + measureS + 60 });
  let server: Relay | undefined;
  let pin: Pinning | undefined;
  try {
    await uas.ready;
    server = await relay(phonePort);
    const port = server.port;
    const n = Math.round(rate * (warmS + measureS));
    const uac = await runSipp({
      scenario: join(repoRoot, 'bench', 'tunnel', 'uac-call-stamped.xml'),
      remote: `127.0.0.1:${port}`,
      service: 'acc-1',
      calls: n,
      rate,
      limit: 200,
      timeoutS: warmS + measureS + 60,
      recvTimeoutMs: 10_000,
      extraArgs: ['-d', '0'],
    });
    pin = pinRelay(server.pid);
    await new Promise((r) => setTimeout(r, warmS * 1000));
    const file = join(dir, 'relay.pcap');
    const cap = await startCapture({ ports: [port], transports: ['udp'], file, format: 'pcap' });
    server.mark();
    const r = await uac.done;
    await cap.stop();
    await server.stop();
    return { rate, added: addedPerRelayedMessage(file, port), report: server.report(), calls: r.stats?.successful ?? 0, failed: r.stats?.failed ?? n, pinned: pin.label };
  } finally {
    pin?.release();
    await server?.stop();
    await uas.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function windowRows(who: string, w: WindowRun, peer?: Samples): BenchRow[] {
  const all = Samples.of([...w.added.values()].flat());
  const r = w.report;
  const kinds: Record<string, number> = {};
  for (const [k, ms] of w.added) kinds[`${k.replace('/', '_')}P99us`] = Math.round(Samples.of(ms).pct(99) * 1000);
  const rows = [
    row(`added by ${who} per relayed message, ${w.rate} calls/s (kernel timestamps: in → relayed out)`, all, undefined, {
      maxUs: Math.round(all.pct(100) * 1000),
      calls: w.calls,
      failed: w.failed,
      pinned: w.pinned,
      // the same window's p99 of the C proxy over ours: what this machine lets any relay reach
      ...(peer && peer.ms.length ? { kamailioP99us: Math.round(peer.pct(99) * 1000), p99VsKamailio: `${(all.pct(99) / peer.pct(99)).toFixed(2)}x` } : {}),
      ...kinds,
      ...(r?.loopLagUs ? { sipisLoopLagP99us: r.loopLagUs.p99, sipisLoopLagMaxUs: r.loopLagUs.max } : {}),
      ...(r?.gc ? { sipisGcPauses: r.gc.count, sipisGcTotalMs: Math.round(r.gc.totalMs), sipisGcMaxUs: Math.round(r.gc.maxMs * 1000) } : {}),
      ...(r?.heapUsedMB !== undefined ? { sipisHeapMB: r.heapUsedMB } : {}),
    }),
  ];
  if (r?.heldMs) rows.push(legRow(`  sipis holding each datagram, ${w.rate} calls/s (in-process: arrival in JS → relayed message sent)`, r.heldMs));
  return rows;
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  if (!hasSipp() || !hasCapture()) process.stderr.write('tunnel-delay: sipp or a loopback capture (dumpcap) unavailable: kernel-timestamp rows skipped\n');
  else {
    const sipis = (phonePort: number): Promise<Relay> => sipisRelay(phonePort, []);
    // full: 35 s of warm-up reach the steady state of the 32 s transaction timers
    const warmS = opts.quick ? 1 : 35;
    const measureS = opts.quick ? 1 : 20;
    // the peer at the target rate, right before sipis: same load, same machine, same minute
    const kam = hasKamailio() ? await measuredWindow(500, opts.quick ? 1 : 5, measureS, kamailioRelay) : undefined;
    const peer = kam ? Samples.of([...kam.added.values()].flat()) : undefined;
    rows.push(...windowRows('sipis', await measuredWindow(500, warmS, measureS, sipis), peer));
    if (kam) rows.push(...windowRows('Kamailio (stateful proxy, children=1)', kam));
    if (!opts.quick) rows.push(...windowRows('sipis', await measuredWindow(100, warmS, measureS, sipis)));
  }
  const n = opts.quick ? 50 : 1000;
  const rate = opts.quick ? 100 : 100;
  const direct = new Samples();
  const via = new Samples();
  const sink: Sink = { cur: new Samples() };
  const ph = await phone(sink);
  const c = await caller(sink);
  const child = startProc(process.execPath, [...childNodeArgs(), join(here, 'sipis-child.js'), '--phone', `127.0.0.1:${ph.endpoint.port}`, '--legs', '--trying', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await child.waitFor(/listening \S+:(\d+)/);
    const sipis: Endpoint = { address: '127.0.0.1', port: Number(/:(\d+)$/.exec(line)![1]) };
    const phoneUri = `sip:phone@127.0.0.1:${ph.endpoint.port}`;
    // warm-up of both paths, not measured
    stampName = 'X-Bench-Warm';
    await measure(Math.min(n, 200), rate, phoneUri, ph.endpoint, c);
    await measure(Math.min(n, 200), rate, `sip:acc-1@127.0.0.1:${sipis.port}`, sipis, c);
    stampName = T;
    const lag = monitorEventLoopDelay({ resolution: LAG_RES_MS });
    lag.enable();
    sink.cur = direct;
    const d = await measure(n, rate, phoneUri, ph.endpoint, c);
    lag.reset();
    sink.cur = via;
    const v = await measure(n, rate, `sip:acc-1@127.0.0.1:${sipis.port}`, sipis, c);
    const over = (ns: number): number => Math.max(0, ns / 1e3 - LAG_RES_MS * 1e3);
    const lagVia = { p99: over(lag.percentile(99)), max: over(lag.max) };
    lag.disable();
    await child.stop();
    const cj = /\{"tunnel".*\}/.exec(child.output());
    const cr = cj ? (JSON.parse(cj[0]) as ChildReport) : undefined;
    const childLag = cr?.loopLagUs;
    return [
      ...rows,
      row(`one-way, caller → phone direct (${rate} calls/s)`, direct, undefined, { calls: d.ok }),
      row(`one-way through the sipis tunnel (${rate} calls/s)`, via, direct, {
        calls: v.ok,
        failed: n - v.ok,
        // how late each process's event loop ran (µs beyond a 10 ms sampling timer)
        benchLoopLagP99us: Math.round(lagVia.p99),
        benchLoopLagMaxUs: Math.round(lagVia.max),
        ...(childLag ? { sipisLoopLagP99us: childLag.p99, sipisLoopLagMaxUs: childLag.max } : {}),
        ...(cr?.gc ? { sipisGcPauses: cr.gc.count, sipisGcTotalMs: Math.round(cr.gc.totalMs), sipisGcMaxUs: Math.round(cr.gc.maxMs * 1000) } : {}),
      }),
      ...(cr?.legInMs ? [legRow('  of which: sender → sipis handler start (socket, wake-up, loop)', cr.legInMs)] : []),
      ...(cr?.heldMs ? [legRow('  of which: sipis holding it (in-process: arrival in JS → relayed message sent)', cr.heldMs)] : []),
      ...[...via.kinds.keys()].map((k) => row(`  via sipis, ${k} only`, Samples.of(via.kinds.get(k)!), Samples.of(direct.kinds.get(k) ?? []))),
    ];
  } finally {
    await child.stop();
    await c.close();
    await ph.close();
  }
}

const suite: BenchSuite = { name: 'tunnel-delay', run };
export default suite;
