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
/** the header numbers of Call-ID, CSeq, the top Via, From and To (-1: not seen yet). */
const FOUND = new Int32Array(5);

/** Records header n (line start, name end, value start, value end) and whether it is one of the five. */
function note(n: number, ls: number, ne: number, vs: number, ve: number, first: number): void {
  INDEX[n * 4] = ls;
  INDEX[n * 4 + 1] = ne;
  INDEX[n * 4 + 2] = vs;
  INDEX[n * 4 + 3] = ve;
  const c = first | 0x20;
  const l = ne - ls;
  if (c === 0x63 && l === 7) FOUND[0] = n;
  else if (c === 0x63 && l === 4) FOUND[1] = n;
  else if (c === 0x76 && l === 3 && FOUND[2]! < 0) FOUND[2] = n;
  else if (c === 0x66 && l === 4) FOUND[3] = n;
  else if (c === 0x74 && l === 2) FOUND[4] = n;
}

function bareFraming(buf: Buffer): [string, number, string | undefined, string | undefined, string | undefined] {
  const text = buf.toString('latin1');
  BYTES.set(buf, 0);
  FOUND.fill(-1);
  let p = text.indexOf('\n') + 1;
  let n = 0;
  while (BYTES[p] !== 0x0d) {
    const ls = p;
    let q = p;
    while (BYTES[q] !== 0x3a) q++;
    const ne = q++;
    while (BYTES[q] === 0x20) q++;
    const vs = q;
    while (BYTES[q] !== 0x0d) q++;
    note(n++, ls, ne, vs, q, BYTES[ls]!);
    p = q + 2;
  }
  return reads(text);
}

/** The five values, sliced out of the text by the header numbers the framing found. */
function reads(text: string): [string, number, string | undefined, string | undefined, string | undefined] {
  const value = (i: number): string => text.slice(INDEX[i * 4 + 2], INDEX[i * 4 + 3]);
  const param = (v: string, name: string): string | undefined => {
    const k = v.indexOf(name);
    if (k < 0) return undefined;
    const e = v.indexOf(';', k);
    return v.slice(k + name.length, e < 0 ? v.length : e);
  };
  return [value(FOUND[0]!), parseInt(value(FOUND[1]!), 10), param(value(FOUND[2]!), 'branch='), param(value(FOUND[3]!), 'tag='), param(value(FOUND[4]!), 'tag=')];
}

/** bareFraming with V8's string search finding each line end and colon instead of byte loops. */
function stringFraming(buf: Buffer): [string, number, string | undefined, string | undefined, string | undefined] {
  const text = buf.toString('latin1');
  FOUND.fill(-1);
  let p = text.indexOf('\r\n') + 2;
  let n = 0;
  for (;;) {
    const q = text.indexOf('\r\n', p);
    if (q === p) break;
    const ne = text.indexOf(':', p);
    let vs = ne + 1;
    while (text.charCodeAt(vs) === 0x20) vs++;
    note(n++, p, ne, vs, q, text.charCodeAt(p));
    p = q + 2;
  }
  return reads(text);
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
