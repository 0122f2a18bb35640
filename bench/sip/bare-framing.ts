/**
 * How fast a JavaScript parser could be if it validated nothing: a reference point for the
 * sip-parse targets, not a parser. On the benchmark's INVITE it does the least any parser that
 * returns the five values must do: decode the datagram (latin1), copy it into a constant scratch
 * array, find each header line's colon and end, keep 4 offsets per header in a constant
 * Int32Array, tell the five wanted names apart by first letter and length, then slice Call-ID,
 * CSeq number, top-Via branch, From tag and To tag out of the text. It assumes CRLF lines, `: `
 * after names and no folding or compact forms, so it is only correct for that message.
 *
 *   taskset -c 1 node .hN/bench/sip/bare-framing.js [calls]
 *
 * prints ns per call for the floor (`buf.toString('latin1')`), this bare framing, the same
 * framing done with the string's own `indexOf` (V8's builtin search instead of a byte loop)
 * and parseMessage with the same reads, measured in turn in one process, three times.
 */
import { parseMessage } from '../../core/sip/index.js';
import { INVITE } from './messages.js';

const BYTES = new Uint8Array(1 << 16);
const INDEX = new Int32Array(4 * 256);

function bareFraming(buf: Buffer): [string, number, string | undefined, string | undefined, string | undefined] {
  const text = buf.toString('latin1');
  BYTES.set(buf, 0);
  let p = text.indexOf('\n') + 1;
  let n = 0;
  let callId = -1;
  let cseq = -1;
  let via = -1;
  let from = -1;
  let to = -1;
  while (BYTES[p] !== 0x0d) {
    const ls = p;
    let q = p;
    while (BYTES[q] !== 0x3a) q++;
    const ne = q++;
    while (BYTES[q] === 0x20) q++;
    const vs = q;
    while (BYTES[q] !== 0x0d) q++;
    INDEX[n * 4] = ls;
    INDEX[n * 4 + 1] = ne;
    INDEX[n * 4 + 2] = vs;
    INDEX[n * 4 + 3] = q;
    const c = BYTES[ls]! | 0x20;
    const l = ne - ls;
    if (c === 0x63 && l === 7) callId = n;
    else if (c === 0x63 && l === 4) cseq = n;
    else if (c === 0x76 && l === 3 && via < 0) via = n;
    else if (c === 0x66 && l === 4) from = n;
    else if (c === 0x74 && l === 2) to = n;
    n++;
    p = q + 2;
  }
  return reads(text, callId, cseq, via, from, to);
}

/** The five values, sliced out of the text by the header numbers the framing found. */
function reads(text: string, callId: number, cseq: number, via: number, from: number, to: number): [string, number, string | undefined, string | undefined, string | undefined] {
  const value = (i: number): string => text.slice(INDEX[i * 4 + 2], INDEX[i * 4 + 3]);
  const param = (v: string, name: string): string | undefined => {
    const k = v.indexOf(name);
    if (k < 0) return undefined;
    const e = v.indexOf(';', k);
    return v.slice(k + name.length, e < 0 ? v.length : e);
  };
  return [value(callId), parseInt(value(cseq), 10), param(value(via), 'branch='), param(value(from), 'tag='), param(value(to), 'tag=')];
}

/** bareFraming with V8's string search finding each line end and colon instead of byte loops. */
function stringFraming(buf: Buffer): [string, number, string | undefined, string | undefined, string | undefined] {
  const text = buf.toString('latin1');
  let p = text.indexOf('\r\n') + 2;
  let n = 0;
  let callId = -1;
  let cseq = -1;
  let via = -1;
  let from = -1;
  let to = -1;
  for (;;) {
    const q = text.indexOf('\r\n', p);
    if (q === p) break;
    const ne = text.indexOf(':', p);
    let vs = ne + 1;
    while (text.charCodeAt(vs) === 0x20) vs++;
    INDEX[n * 4] = p;
    INDEX[n * 4 + 1] = ne;
    INDEX[n * 4 + 2] = vs;
    INDEX[n * 4 + 3] = q;
    const c = text.charCodeAt(p) | 0x20;
    const l = ne - p;
    if (c === 0x63 && l === 7) callId = n;
    else if (c === 0x63 && l === 4) cseq = n;
    else if (c === 0x76 && l === 3 && via < 0) via = n;
    else if (c === 0x66 && l === 4) from = n;
    else if (c === 0x74 && l === 2) to = n;
    n++;
    p = q + 2;
  }
  return reads(text, callId, cseq, via, from, to);
}

const calls = Number(process.argv[2] ?? 200_000);
const tasks: Array<[string, () => unknown]> = [
  ['floor latin1', () => INVITE.toString('latin1')],
  ['bare framing', () => bareFraming(INVITE)],
  ['string framing', () => stringFraming(INVITE)],
  [
    'sipis parseMessage',
    () => {
      const m = parseMessage(INVITE);
      return [m.callId, m.cseq.seq, m.topVia?.branch, m.from.tag, m.to.tag];
    },
  ],
];
// every variant must read the same five values as the parser, or its time means nothing
const expected = JSON.stringify(tasks[3]![1]());
for (const [name, f] of tasks.slice(1, 3)) if (JSON.stringify(f()) !== expected) throw new Error(`${name} read ${JSON.stringify(f())}, the parser ${expected}`);
let sink: unknown;
for (const [, f] of tasks) for (let i = 0; i < calls; i++) sink = f();
for (let round = 0; round < 3; round++) {
  const row: string[] = [];
  for (const [name, f] of tasks) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink = f();
    row.push(`${name} ${(Number(process.hrtime.bigint() - t0) / calls).toFixed(0)} ns`);
  }
  console.log(row.join(' | '));
}
if (sink === Symbol.for('never')) console.log(sink);
