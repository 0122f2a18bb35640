/**
 * sip-parse: our parser against the npm peers on three realistic messages, with
 * `buf.toString('latin1')` of the same bytes as the floor (a decode every text parser pays).
 * Task: parse, then read Call-ID, CSeq, top Via branch, From tag and To tag.
 * Serializer: build a 200 to a parsed INVITE and encode it (createResponse + serializeMessage),
 * against sip.js makeResponse + stringify, with the encoding of those bytes as the floor; and
 * parse + one header replaced + serialize (the transport's Via stamp), for reference.
 */
import { withRatios, type BenchOptions, type BenchRow, type BenchSuite, type MicroTask } from '../lib.js';
import { createResponse, parseMessage, serializeMessage } from '../../core/sip/index.js';
import { MESSAGES, INVITE } from './messages.js';
import { drachtioTask, sipJs, sipJsRespond, sipJsTask } from './peers.js';

function oursTask(buf: Buffer): unknown {
  const m = parseMessage(buf);
  return [m.callId, m.cseq.seq, m.topVia?.branch, m.from.tag, m.to.tag];
}

const PEERS = ['sip', 'drachtio-sip'];

/** Adds ratios against the floor and, for our row, against the fastest peer. */
function annotate(rows: BenchRow[], floor: string, ours: string): BenchRow[] {
  withRatios(rows, floor);
  const peerRows = rows.filter((r) => PEERS.some((p) => r.name.startsWith(p + ' ')));
  const fastest = peerRows.reduce<BenchRow | undefined>((a, r) => (a === undefined || r.medianNs < a.medianNs ? r : a), undefined);
  const our = rows.find((r) => r.name === ours);
  if (fastest && our) {
    const r = fastest.medianNs / our.medianNs;
    const text = r >= 1 ? `${r.toFixed(1)}x faster than ${fastest.name}` : `${(1 / r).toFixed(1)}x slower than ${fastest.name}`;
    our.extra = { ...our.extra, vsFastestPeer: text };
  }
  return rows;
}

/**
 * Runs the tasks interleaved: many rounds, each timing one short chunk (~0.3 ms) of every task
 * in turn, and reports each task's median chunk (ns per call) with the interquartile range.
 * On a machine shared with other work a load burst lasts longer than a chunk, so it lands on
 * every contender alike, and the median drops the chunks cut by preemption; tinybench's
 * one-task-at-a-time runs let a burst fall on a single contender.
 */
async function interleaved(suite: string, tasks: MicroTask[], opts: BenchOptions): Promise<BenchRow[]> {
  let sink: unknown;
  const batch: number[] = [];
  for (const t of tasks) {
    const fn = t.fn;
    // calibrate: calls per chunk so that a chunk lasts about CHUNK_NS
    let n = 1;
    for (;;) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink = fn();
      const dt = Number(process.hrtime.bigint() - t0);
      if (dt >= CHUNK_NS || n >= 1 << 20) {
        n = Math.max(1, Math.round((n * CHUNK_NS) / Math.max(dt, 1)));
        break;
      }
      n *= 2;
    }
    batch.push(n);
  }
  // unmeasured rounds first: this loop itself gets optimized, then a pause lets the
  // background compiler finish what is queued
  const warm = opts.quick ? 5 : 40;
  const rounds = warm + (opts.quick ? 40 : 600);
  const samples: number[][] = tasks.map(() => []);
  for (let r = 0; r < rounds; r++) {
    if (r === warm) await settle();
    for (let k = 0; k < tasks.length; k++) {
      const fn = tasks[k]!.fn;
      const n = batch[k]!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink = fn();
      if (r >= warm) samples[k]!.push(Number(process.hrtime.bigint() - t0) / n);
    }
  }
  if (sink === Symbol.for('never')) console.log(sink); // keep the results observable to the JIT
  return tasks.map((t, k) => {
    const xs = samples[k]!.sort((a, b) => a - b);
    const at = (q: number): number => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
    const medianNs = at(0.5);
    return {
      suite,
      name: t.name,
      medianNs,
      opsPerSec: medianNs > 0 ? 1e9 / medianNs : 0,
      samples: xs.length,
      extra: { iqr: `${at(0.25).toFixed(0)}-${at(0.75).toFixed(0)}ns` },
    };
  });
}

const CHUNK_NS = 300_000;

/**
 * Yields the main thread for a moment. V8 optimizes on a background thread; on a loaded
 * machine a function deoptimized by a new input shape can otherwise run unoptimized through a
 * whole measurement, whichever contender it belongs to.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 30));
}

/** Every task of every group a few times, so each has seen all the inputs before any timing. */
async function warmUp(groups: Array<{ tasks: MicroTask[] }>, calls: number): Promise<void> {
  let sink: unknown;
  for (let pass = 0; pass < 3; pass++) {
    for (const g of groups) for (const t of g.tasks) for (let i = 0; i < calls; i++) sink = t.fn();
    await settle();
  }
  if (sink === Symbol.for('never')) console.log(sink);
}

const suite: BenchSuite = {
  name: 'sip-parse',
  async run(opts) {
    const groups: Array<{ label: string; bytes?: number; tasks: MicroTask[]; floor: string; ours: string }> = [];
    for (const [label, buf] of MESSAGES) {
      // sanity: every contender extracts the same values
      const expect = JSON.stringify(oursTask(buf));
      for (const f of [sipJsTask, drachtioTask]) {
        const got = JSON.stringify(f(buf));
        if (got !== expect) throw new Error(`${label}: peer ${f.name} read ${got}, we read ${expect}`);
      }
      groups.push({
        label,
        bytes: buf.length,
        floor: `floor latin1 ${label}`,
        ours: `sipis parse ${label}`,
        tasks: [
          { name: `sipis parse ${label}`, fn: () => oursTask(buf) },
          { name: `sip parse ${label}`, fn: () => sipJsTask(buf) },
          { name: `drachtio-sip parse ${label}`, fn: () => drachtioTask(buf) },
          { name: `floor latin1 ${label}`, fn: () => buf.toString('latin1') },
        ],
      });
    }
    // serializer: respond 200 to a parsed INVITE
    const req = parseMessage(INVITE);
    const sipReq = sipJs.parse(INVITE.toString('binary'))!;
    const text = serializeMessage(createResponse(req, 200, undefined, { toTag: 'b5a8c3' })).toString('latin1');
    const via = 'SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8;rport=5060;received=198.51.100.1';
    groups.push({
      label: 'respond',
      floor: 'floor encode 200',
      ours: 'sipis respond 200',
      tasks: [
        { name: 'sipis respond 200', fn: () => serializeMessage(createResponse(req, 200, undefined, { toTag: 'b5a8c3' })) },
        { name: 'sip respond 200', fn: () => sipJsRespond(sipReq) },
        { name: 'floor encode 200', fn: () => Buffer.from(text, 'latin1') },
        // the transport's RFC 3581 stamp: one header replaced, the rest copied (no peer does this in place)
        {
          name: 'sipis parse+setHeader Via',
          fn: () => {
            const m = parseMessage(INVITE);
            m.setHeader('Via', via);
            return serializeMessage(m);
          },
        },
      ],
    });
    const all: BenchRow[] = [];
    await warmUp(groups, opts.quick ? 200 : 1000);
    for (const g of groups) {
      const rows = annotate(await interleaved('sip-parse', g.tasks, opts), g.floor, g.ours);
      if (g.bytes !== undefined) for (const r of rows) r.extra = { ...r.extra, bytes: g.bytes };
      all.push(...rows);
    }
    return all;
  },
};

export default suite;
