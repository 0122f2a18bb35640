/**
 * sip-parse: our parser against the npm peers on three realistic messages, with
 * `buf.toString('latin1')` of the same bytes as the floor (a decode every text parser pays).
 * Task: parse, then read Call-ID, CSeq, top Via branch, From tag and To tag.
 * Serializer: build a 200 to a parsed INVITE and encode it (createResponse + serializeMessage),
 * against sip.js makeResponse + stringify, with the encoding of those bytes as the floor; and
 * parse + one header replaced + serialize (the transport's Via stamp), for reference.
 */
import { runMicro, withRatios, type BenchRow, type BenchSuite, type MicroTask } from '../lib.js';
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

const suite: BenchSuite = {
  name: 'sip-parse',
  async run(opts) {
    const all: BenchRow[] = [];
    // Batches are sized so every task's timed sample lasts about as long (~0.2 ms here): on a
    // shared machine a longer sample is more often cut by preemption, which would skew the
    // medians against whichever task runs the longest batches.
    const scale = opts.quick ? 0.25 : 1;
    const n = (k: number): number => Math.max(1, Math.round(k * scale));
    for (const [label, buf] of MESSAGES) {
      // sanity: every contender extracts the same values
      const expect = JSON.stringify(oursTask(buf));
      for (const f of [sipJsTask, drachtioTask]) {
        const got = JSON.stringify(f(buf));
        if (got !== expect) throw new Error(`${label}: peer ${f.name} read ${got}, we read ${expect}`);
      }
      const tasks: MicroTask[] = [
        { name: `sipis parse ${label}`, fn: () => oursTask(buf), batch: n(50) },
        { name: `sip parse ${label}`, fn: () => sipJsTask(buf), batch: n(20) },
        { name: `drachtio-sip parse ${label}`, fn: () => drachtioTask(buf), batch: n(20) },
        { name: `floor latin1 ${label}`, fn: () => buf.toString('latin1'), batch: n(1000) },
      ];
      const rows = await runMicro('sip-parse', tasks, opts);
      all.push(...annotate(rows, `floor latin1 ${label}`, `sipis parse ${label}`));
      for (const r of rows) r.extra = { ...r.extra, bytes: buf.length };
    }
    // serializer: respond 200 to a parsed INVITE
    const req = parseMessage(INVITE);
    const sipReq = sipJs.parse(INVITE.toString('binary'))!;
    const text = serializeMessage(createResponse(req, 200, undefined, { toTag: 'b5a8c3' })).toString('latin1');
    const via = 'SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6a7b8;rport=5060;received=198.51.100.1';
    const tasks: MicroTask[] = [
      { name: 'sipis respond 200', fn: () => serializeMessage(createResponse(req, 200, undefined, { toTag: 'b5a8c3' })), batch: n(100) },
      { name: 'sip respond 200', fn: () => sipJsRespond(sipReq), batch: n(80) },
      { name: 'floor encode 200', fn: () => Buffer.from(text, 'latin1'), batch: n(1000) },
      // the transport's RFC 3581 stamp: one header replaced, the rest copied (no peer does this in place)
      {
        name: 'sipis parse+setHeader Via',
        fn: () => {
          const m = parseMessage(INVITE);
          m.setHeader('Via', via);
          return serializeMessage(m);
        },
        batch: n(30),
      },
    ];
    const rows = await runMicro('sip-parse', tasks, opts);
    all.push(...annotate(rows, 'floor encode 200', 'sipis respond 200'));
    return all;
  },
};

export default suite;
