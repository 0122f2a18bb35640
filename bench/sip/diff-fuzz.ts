/**
 * Differential fuzzing of the parser and serializer against a saved earlier build: every
 * mutated input must give the same error code (and header) or the same values from every
 * accessor, the same serialized bytes, and the same 200 response. For changes to the parser's
 * internals that must not change what it accepts or returns.
 *
 *   node .hN/bench/sip/diff-fuzz.js <old core/sip/index.js> [iterations=500000] [seed]
 *
 * Save the old build first (cp -r .hN/core /tmp/old/ with its fixtures/ and node_modules link).
 * Bounded by the iteration count; prints the first differences (input in hex) and exits 1.
 */
import { pathToFileURL } from 'node:url';
import { insertAt, lines, sipCorpus } from '../../fixtures/mutate.js';
import * as NEW from '../../core/sip/index.js';
import { MESSAGES } from './messages.js';

type Lib = typeof NEW;

const oldPath = process.argv[2];
if (oldPath === undefined) {
  console.error('usage: diff-fuzz <old core/sip/index.js> [iterations] [seed]');
  process.exit(2);
}
const OLD = (await import(pathToFileURL(oldPath).href)) as Lib;
const ITERATIONS = Number(process.argv[3] ?? 500_000);
let seed = Number(process.argv[4] ?? 0x5eed) >>> 0;

function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const SPECIAL = ['\r', '\n', '\r\n', ':', ',', ';', '"', '\\', '<', '>', '=', '%', ' ', '\t', '\0', '@', '[', ']', '?', '\r\n ', '\r\n\t', '\xff', '\u00e9', '/', '.', '-', '0', '9', 'A', 'z', '&', '*', '\x7f', '\x1f'];
const NUMBERS = ['-1', '0', '00001', '255', '256', '65535', '65536', '4294967295', '4294967296', '99999999999', ''];
const HEADERS = ['Via', 'v', 'Content-Length', 'l', 'CSeq', 'Call-ID', 'i', 'From', 'f', 'To', 't', 'Contact', 'm', 'Max-Forwards', 'Expires', 'Route', 'Record-Route', 'Date', 'Retry-After', 'Content-Type', 'Allow', 'Authorization'];
const VALUES = ['', ' ', '*', '<sip:a@b>', 'sip:a@b;tag=1', '"x" <sip:a@b:5060;lr>;tag=9', '<sip:a@[::1]:5060>', 'SIP/2.0/UDP h;branch=z9hG4bK1', 'SIP/2.0/TCP 1.2.3.4:5060;rport;received=1.2.3.4', 'SIP / 2.0 / UDP h', '1 INVITE', '70', 'Tue, 15 Nov 1994 08:12:31 GMT', '120 (x);duration=5', 'abc@def', '<sip:x>;expires=3600;q=0.5;+sip.instance="<urn:uuid:1>"'];

const MUTATORS: Array<(b: Buffer, corpus: Buffer[]) => Buffer> = [
  (b) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(3); k > 0 && c.length > 0; k--) c[int(c.length)] ^= 1 << int(8);
    return c;
  },
  (b) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(3); k > 0 && c.length > 0; k--) c[int(c.length)] = int(256);
    return c;
  },
  (b) => {
    const s = int(b.length + 1);
    return Buffer.concat([b.subarray(0, s), b.subarray(Math.min(b.length, s + 1 + int(12)))]);
  },
  (b) => insertAt(b, int(b.length + 1), pick(SPECIAL)),
  // a structural character inside a header value, near its start (where the fast paths decide)
  (b) => {
    const colons: number[] = [];
    for (let i = b.indexOf(0x3a); i >= 0 && colons.length < 64; i = b.indexOf(0x3a, i + 1)) colons.push(i);
    if (colons.length === 0) return b;
    return insertAt(b, Math.min(b.length, pick(colons) + 1 + int(40)), pick(SPECIAL));
  },
  // replace one character of a line by a special one
  (b) => {
    const c = Buffer.from(b);
    if (c.length > 0) c[int(c.length)] = pick(SPECIAL).charCodeAt(0) & 0xff;
    return c;
  },
  (b) => {
    const ls = lines(b);
    const i = int(ls.length);
    ls.splice(i, 0, ls[i] ?? Buffer.alloc(0));
    return Buffer.concat(ls);
  },
  (b) => {
    const ls = lines(b);
    if (ls.length < 3) return b;
    const i = 1 + int(ls.length - 1);
    ls.splice(i, 1);
    return Buffer.concat(ls);
  },
  (b, corpus) => {
    const o = pick(corpus);
    return Buffer.concat([b.subarray(0, int(b.length + 1)), o.subarray(int(o.length + 1))]);
  },
  (b) => b.subarray(0, int(b.length + 1)),
  (b) => {
    const s = b.toString('latin1');
    const runs = [...s.matchAll(/\d+/g)];
    if (runs.length === 0) return b;
    const m = pick(runs);
    return Buffer.concat([b.subarray(0, m.index), Buffer.from(pick(NUMBERS), 'latin1'), b.subarray(m.index + m[0].length)]);
  },
  (b) => {
    const end = b.indexOf('\r\n');
    const at = end < 0 ? b.length : end + 2;
    return insertAt(b, at, `${pick(HEADERS)}:${pick([' ', '', '\t', ' \r\n '])}${pick(VALUES)}\r\n`);
  },
  (b) => {
    const s = b.toString('latin1');
    const to = pick(['\n', '\r\n ', '\r\n\t', ' \r\n']);
    return Buffer.from(rand() < 0.3 ? s.replaceAll('\r\n', to) : s.replace('\r\n', to), 'latin1');
  },
  // case changes
  (b) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(6); k > 0 && c.length > 0; k--) {
      const i = int(c.length);
      const ch = c[i]!;
      if ((ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a)) c[i] = ch ^ 0x20;
    }
    return c;
  },
];

function mutate(corpus: Buffer[]): Buffer {
  let b = pick(corpus);
  for (let k = rand() < 0.7 ? 1 : 2 + int(2); k > 0; k--) b = pick(MUTATORS)(b, corpus);
  return b;
}

/** Everything the message model exposes, as one JSON string (errors as their code). */
function snapshot(lib: Lib, bytes: Buffer, opts: NEW.ParseOptions | undefined): string {
  let m: NEW.SipMessage;
  try {
    m = lib.parseMessage(bytes, opts);
  } catch (e) {
    const err = e as { code?: string; header?: string; constructor: { name: string } };
    return `ERR ${err.constructor.name} ${err.code} ${err.header ?? ''}`;
  }
  const out: unknown[] = [];
  const safe = (f: () => unknown): void => {
    try {
      out.push(f());
    } catch (e) {
      out.push(`THROW ${(e as { code?: string }).code} ${(e as Error).message}`);
    }
  };
  safe(() => [m.isRequest, m.method, m.uri, m.status, m.reason, m.startLine, m.headerCount]);
  safe(() => m.requestUri);
  safe(() => [m.callId, m.cseq, m.maxForwards, m.expires, m.retryAfter, m.minExpires]);
  safe(() => m.via);
  safe(() => m.topVia?.branch);
  safe(() => [m.from, m.to, m.from.tag, m.to.tag, m.from.uri, m.to.displayName]);
  safe(() => m.contact);
  safe(() => [m.route, m.recordRoute]);
  safe(() => m.headers());
  safe(() => [m.header('via'), m.header('Contact'), m.headerValues('Route'), m.headerValues('Allow'), m.header('X-Unknown')]);
  safe(() => [m.contentType, m.mediaType, m.contentLength, m.body.toString('latin1'), m.trailingBytes]);
  safe(() => [m.supported, m.require, m.allow, m.event]);
  safe(() => [m.authorization, m.wwwAuthenticate, m.proxyAuthenticate, m.proxyAuthorization]);
  safe(() => lib.serializeMessage(m).toString('latin1'));
  if (m.isRequest && m.method !== 'ACK') safe(() => lib.serializeMessage(lib.createResponse(m, 200, undefined, { toTag: 'abc' })).toString('latin1'));
  safe(() => {
    m.setHeader('Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-x;rport=5060');
    return [lib.serializeMessage(m).toString('latin1'), m.via, m.callId];
  });
  return JSON.stringify(out);
}

const OPTIONS: NEW.ParseOptions[] = [
  { limits: { maxHeaders: 5 } },
  { limits: { maxHeaders: 12, maxHeaderBytes: 60 } },
  { limits: { maxHeaderBytes: 40.5 } },
  { limits: { maxHeaders: Infinity, maxHeaderBytes: Infinity, maxMessageBytes: Infinity, maxBodyBytes: Infinity } },
  { limits: { maxBodyBytes: 10 } },
  { limits: { maxMessageBytes: 500 } },
  { framing: 'stream' },
];

const corpus = [...MESSAGES.map(([, b]) => b), ...sipCorpus()];
let diffs = 0;
let parsed = 0;
const t0 = Date.now();
for (let n = 0; n < ITERATIONS; n++) {
  const input = n < corpus.length ? corpus[n]! : mutate(corpus);
  // one input in eight with other limits (and stream framing): the limit checks' edges
  const opts = n % 8 === 7 ? pick(OPTIONS) : undefined;
  const a = snapshot(OLD, input, opts);
  const b = snapshot(NEW, input, opts);
  if (!b.startsWith('ERR')) parsed++;
  if (a !== b) {
    diffs++;
    if (diffs <= 5) {
      console.log(`DIFF #${n}\n  input ${JSON.stringify(input.toString('latin1'))}\n  old ${a.slice(0, 2000)}\n  new ${b.slice(0, 2000)}`);
    }
  }
}
console.log(`${ITERATIONS} inputs (${parsed} parsed), ${diffs} differences, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(diffs === 0 ? 0 : 1);
