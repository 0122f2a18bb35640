/**
 * The delay sipis adds to each relayed message, two ways:
 *
 * 1. Its own work per message, at half the target rate (500 calls/s full, 200 quick): sipp
 *    (uac-call.xml → uas-call.xml) calls through the tunnel in its own process
 *    (bench/tunnel/sipis-child.js --timing), which times the synchronous handling of every
 *    received message — transaction layer, tunnel, the relayed message built and handed to the
 *    socket — and reports p50/p99. What the machine adds on top (scheduling on a shared box,
 *    socket queues) is in (2).
 * 2. One-way, end to end: a caller and a phone on our own stack in this process; every INVITE,
 *    180, 200 and BYE (and its 200) carries `X-Bench-T`, the sender's clock (the tunnel copies
 *    end-to-end headers), and the receiver takes the one-way time; the same calls sent straight
 *    from caller to phone are the baseline, "added" = via sipis − direct at p50 and p99. At a
 *    modest rate (100 calls/s): this process runs both peers, and near its own
 *    saturation its queueing, not sipis, would dominate.
 *
 * The child runs with the production 100 Trying timer (200 ms: the phone answers first, so no
 * 100 is built and sent ahead of the relayed INVITE). What the end-to-end p99 is made of (rows under the via-sipis one): the stamps are ms since the
 * epoch (performance.timeOrigin + now(), comparable across processes on one host), so the child
 * (--legs) times the leg sender → start of its handler, and times the handler itself; per
 * message kind rows show no kind waits on a timer tick (all kinds have the same tail). The loop
 * lag of both processes is in the extras. On the shared 2-core box the tail is the extra hop's
 * wake-ups (two more processes to schedule per message), the child's GC pauses (its heap holds
 * every transaction for Timer J/D, 32 s) and the bench's own loop, not sipis's work (p99 < 0.5 ms).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Dialog, DialogStore } from '../../core/dialog/index.js';
import { createRequest, type SipMessage } from '../../core/sip/index.js';
import { newCallId, newTag, TransactionLayer, type InviteServerTransaction } from '../../core/transaction/index.js';
import { UdpTransport, type Endpoint } from '../../core/transport/index.js';
import { freeSipPort } from '../../fixtures/net.js';
import { hasSipp, runSipp } from '../../fixtures/sipp.js';
import { startProc } from '../../fixtures/proc.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';

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
  handlerMs?: { count: number; p50: number; p99: number; max: number };
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

/** (1): sipp through the child with --timing; the child's own handler times. */
async function handlerTimes(opts: BenchOptions): Promise<BenchRow[]> {
  if (!hasSipp()) return [];
  const rate = opts.quick ? 200 : 500;
  const n = opts.quick ? 200 : 5000;
  const phonePort = await freeSipPort();
  const uas = await runSipp({ scenario: 'uas-call.xml', localPort: phonePort, timeoutS: 120 });
  await uas.ready;
  const child = startProc(process.execPath, [join(here, 'sipis-child.js'), '--phone', `127.0.0.1:${phonePort}`, '--timing'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await child.waitFor(/listening \S+:(\d+)/);
    const port = Number(/:(\d+)$/.exec(line)![1]);
    const run = await runSipp({ scenario: 'uac-call.xml', remote: `127.0.0.1:${port}`, service: 'acc-1', calls: n, rate, limit: 200, timeoutS: 60, recvTimeoutMs: 10_000, extraArgs: ['-d', '0'] });
    const r = await run.done;
    await child.stop();
    const out = /\{"tunnel".*\}/.exec(child.output());
    const h = out ? (JSON.parse(out[0]) as { handlerMs?: { count: number; p50: number; p99: number; max: number } }).handlerMs : undefined;
    if (!h) throw new Error(`sipis-child gave no timing:\n${child.output().slice(-2000)}`);
    return [
      {
        suite: 'tunnel-delay',
        name: `sipis work per received message (${rate} calls/s from sipp)`,
        medianNs: h.p50 * 1e6,
        opsPerSec: h.p50 > 0 ? 1000 / h.p50 : 0,
        samples: h.count,
        extra: { p50us: Math.round(h.p50 * 1000), p99us: Math.round(h.p99 * 1000), maxUs: Math.round(h.max * 1000), calls: r.stats?.successful ?? 0, failed: r.stats?.failed ?? n },
      },
    ];
  } finally {
    await child.stop();
    await uas.stop();
  }
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const rows = await handlerTimes(opts);
  const n = opts.quick ? 50 : 1000;
  const rate = opts.quick ? 100 : 100;
  const direct = new Samples();
  const via = new Samples();
  const sink: Sink = { cur: new Samples() };
  const ph = await phone(sink);
  const c = await caller(sink);
  const child = startProc(process.execPath, [join(here, 'sipis-child.js'), '--phone', `127.0.0.1:${ph.endpoint.port}`, '--legs', '--trying', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      ...(cr?.handlerMs ? [legRow('  of which: sipis handler (sync work per message)', cr.handlerMs)] : []),
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
