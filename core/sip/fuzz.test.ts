/**
 * Bounded mutation fuzzing of the message parser (and of the digest code that consumes parsed
 * auth headers). Deterministic: a seeded PRNG (mulberry32) picks seeds and mutations, so a
 * failure reproduces with the seed printed in the test title (FUZZ_SEED overrides it).
 *
 * Bounded by count (FUZZ_ITERATIONS, default 30,000) and by time (FUZZ_TIME_MS, default 60 s;
 * the test reports how many inputs ran). Invariants for every input:
 *   1. parseMessage throws nothing but SipParseError;
 *   2. after a successful parse no accessor throws, serializeMessage does not throw, and its
 *      output parses again to the same header fields and body;
 *   3. digest helpers given the parsed auth headers return results or throw DigestError only;
 *      a body is exactly Content-Length long; the mutation API (setHeader, addHeader,
 *      removeHeader, setBody) either works and keeps the message parseable, or throws a typed
 *      error and leaves the message unchanged;
 *   4. no single parse + accessor pass hangs: the slowest input is reported, and the test fails
 *      only when it stays above HANG_MS on three re-runs (a hang detector, not a performance
 *      assertion: GC pauses and a busy 2-core machine make single timings noisy).
 * A failing input is written to a temporary file (path in the failure message); copy it to
 * fixtures/messages/fuzz-regressions/ and it becomes a named regression test below.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '../../fixtures/paths.js';
import { insertAt, lines, sipCorpus } from '../../fixtures/mutate.js';
import { parseMessage, serializeMessage, SipParseError } from './index.js';
import type { ParseOptions, SipMessage } from './index.js';
import { createCredentials, DigestError, DigestServer, pickChallenge } from './digest.js';
import { SipStackError } from '../errors.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed4475) >>> 0;
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 30_000);
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 60_000);
const HANG_MS = 500;

/** mulberry32: tiny, fast, good enough to spread mutations; not for anything secret. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ mutations

const SPECIAL = ['\r', '\n', '\r\n', ':', ',', ';', '"', '\\', '<', '>', '=', '%', ' ', '\t', '\0', '@', '[', ']', '?', '\r\n ', '\r\n\r\n', '\xff', '\u00e9'];
const NUMBERS = ['-1', '0', '00000000000000000000001', '4294967295', '4294967296', '18446744073709551616', '99999999999999999999999999', '1e9', '0x10', '-0', '256', '65536', '9'.repeat(400), ''];
const HEADER_NAMES = ['Via', 'v', 'Content-Length', 'l', 'CSeq', 'Call-ID', 'i', 'From', 'f', 'To', 't', 'Contact', 'm', 'Max-Forwards', 'Expires', 'Route', 'Record-Route', 'Event', 'o', 'Authorization', 'WWW-Authenticate', 'Proxy-Authenticate', 'Proxy-Authorization', 'Date', 'Retry-After', 'Content-Type', 'c', 'Supported', 'k', 'Require', 'Allow'];

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const MUTATORS: Array<(r: Rand, b: Buffer, corpus: Buffer[]) => Buffer> = [
  // flip bits in a few bytes
  (r, b) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(r, 4); k > 0 && c.length > 0; k--) c[int(r, c.length)] ^= 1 << int(r, 8);
    return c;
  },
  // random bytes in place
  (r, b) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(r, 8); k > 0 && c.length > 0; k--) c[int(r, c.length)] = int(r, 256);
    return c;
  },
  // insert a random range
  (r, b) => insertAt(b, int(r, b.length + 1), Buffer.from(Array.from({ length: 1 + int(r, 32) }, () => int(r, 256)))),
  // delete a range
  (r, b) => {
    const s = int(r, b.length + 1);
    return Buffer.concat([b.subarray(0, s), b.subarray(Math.min(b.length, s + 1 + int(r, 64)))]);
  },
  // duplicate a line
  (r, b) => {
    const ls = lines(b);
    const i = int(r, ls.length);
    ls.splice(i, 0, ls[i] ?? Buffer.alloc(0));
    return Buffer.concat(ls);
  },
  // swap two lines
  (r, b) => {
    const ls = lines(b);
    if (ls.length < 2) return b;
    const i = int(r, ls.length);
    const j = int(r, ls.length);
    [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    return Buffer.concat(ls);
  },
  // splice two messages
  (r, b, corpus) => {
    const o = pick(r, corpus);
    return Buffer.concat([b.subarray(0, int(r, b.length + 1)), o.subarray(int(r, o.length + 1))]);
  },
  // truncate
  (r, b) => b.subarray(0, int(r, b.length + 1)),
  // a structural character somewhere
  (r, b) => insertAt(b, int(r, b.length + 1), pick(r, SPECIAL)),
  // a structural character inside a header value (after a colon)
  (r, b) => {
    const colons: number[] = [];
    for (let i = b.indexOf(0x3a); i >= 0 && colons.length < 64; i = b.indexOf(0x3a, i + 1)) colons.push(i);
    if (colons.length === 0) return b;
    return insertAt(b, pick(r, colons) + 1 + int(r, 8), pick(r, SPECIAL));
  },
  // huge repeated value (exercises every size limit)
  (r, b) => {
    const unit = pick(r, ['a', ';p', ',', ' ', '\r\n ', '"', '<sip:x@y>,', 'z9hG4bK', '%00', ';tag=1']);
    const n = pick(r, [100, 1000, 8200, 20_000, 70_000]);
    const ls = lines(b);
    if (ls.length < 2) return Buffer.concat([b, Buffer.from(unit.repeat(Math.ceil(n / unit.length)), 'latin1')]);
    const i = 1 + int(r, ls.length - 1);
    const line = ls[i]!;
    const cut = Math.max(0, line.length - 2);
    ls[i] = Buffer.concat([line.subarray(0, cut), Buffer.from(unit.repeat(Math.ceil(n / unit.length)), 'latin1'), line.subarray(cut)]);
    return Buffer.concat(ls);
  },
  // many header lines (header-count limit)
  (r, b) => {
    const end = b.indexOf('\r\n\r\n');
    const at = end < 0 ? b.length : end + 2;
    const name = pick(r, HEADER_NAMES);
    return insertAt(b, at, `${name}: x\r\n`.repeat(pick(r, [10, 300, 3000])));
  },
  // a number out of range
  (r, b) => {
    const s = b.toString('latin1');
    const runs = [...s.matchAll(/\d+/g)];
    if (runs.length === 0) return b;
    const m = pick(r, runs);
    return Buffer.concat([b.subarray(0, m.index), Buffer.from(pick(r, NUMBERS), 'latin1'), b.subarray(m.index + m[0].length)]);
  },
  // a known header with junk or an unusual value
  (r, b) => {
    const end = b.indexOf('\r\n');
    const at = end < 0 ? b.length : end + 2;
    const value = pick(r, ['', ' ', '*', '<>', '<sip:>', 'sip:', '"', '""', ';;;', ',,,', '<sip:a@b', 'sip:a@b;x="', 'Digest', 'Digest ,', 'Digest realm=', 'Digest realm="r", nonce', 'SIP/2.0/UDP', 'SIP/2.0/UDP [::1', 'SIP/2.0/UDP h;rport=99999', '1 2 3', 'x;id=', '\0']);
    return insertAt(b, at, `${pick(r, HEADER_NAMES)}:${value}\r\n`);
  },
  // line ends: bare LF or bare CR
  (r, b) => {
    const s = b.toString('latin1');
    const to = pick(r, ['\n', '\r', '\r\r\n', '\n\r']);
    const all = r() < 0.5;
    return Buffer.from(all ? s.replaceAll('\r\n', to) : s.replace('\r\n', to), 'latin1');
  },
];

function mutate(r: Rand, corpus: Buffer[]): Buffer {
  let b = pick(r, corpus);
  // mostly one mutation, so that a good share of inputs still parses and reaches the accessors
  for (let k = r() < 0.6 ? 1 : 2 + int(r, 2); k > 0; k--) b = pick(r, MUTATORS)(r, b, corpus);
  return b;
}

// ------------------------------------------------------------------ the checks

const server = new DigestServer({ secret: 'fuzz secret of sixteen bytes+', allowNoQop: true });

/** Reads every accessor; returns a value derived from all of them so none is optimised away. */
function touchAll(m: SipMessage): number {
  let n = 0;
  n += m.isRequest ? 1 : 0;
  n += m.method.length + m.uri.length + m.status + m.reason.length;
  const ru = m.requestUri;
  n += ru.host.length + ru.params.size + ru.headers.size;
  for (const name of HEADER_NAMES) {
    n += m.header(name)?.length ?? 0;
    n += m.headerValues(name).length;
    n += m.hasHeader(name) ? 1 : 0;
  }
  n += m.headers().length + m.body.length;
  n += m.callId.length + m.cseq.seq + m.cseq.method.length;
  for (const v of m.via) n += v.host.length + (v.port ?? 0) + (v.branch?.length ?? 0) + v.params.size;
  n += m.from.uri.host.length + (m.from.tag?.length ?? 0) + m.to.uri.raw.length;
  for (const c of m.contact) n += c.uri.raw.length + (c.expires ?? 0) + (c.q ?? 0) + (c.instance?.length ?? 0);
  for (const r of [...m.route, ...m.recordRoute]) n += r.uri.raw.length;
  n += (m.maxForwards ?? 0) + (m.expires ?? 0);
  n += (m.contentType?.length ?? 0) + m.contentLength;
  n += m.supported.length + m.require.length + m.allow.length;
  n += m.event?.type.length ?? 0;
  const challenges = [...m.wwwAuthenticate, ...m.proxyAuthenticate];
  const credentials = [...m.authorization, ...m.proxyAuthorization];
  n += challenges.length + credentials.length;
  // the digest code consumes these: results or DigestError, nothing else
  const ch = pickChallenge(challenges);
  for (const c of ch === undefined ? challenges : [ch]) {
    try {
      n += createCredentials({ challenge: c, method: 'REGISTER', uri: 'sip:x', username: 'u', password: 'p', nc: 1, cnonce: 'c' }).params.size;
    } catch (err) {
      if (!(err instanceof DigestError)) throw err;
    }
  }
  for (const c of credentials) {
    for (const realm of [c.params.get('realm') ?? 'r', 'r']) {
      try {
        n += server.verifyCredentials({ credentials: c, method: m.method || 'REGISTER', realm, password: 'p', now: 0 }).ok ? 1 : 0;
      } catch (err) {
        if (!(err instanceof DigestError)) throw err;
      }
    }
  }
  return n;
}

interface Outcome {
  failure?: string;
  parsed: boolean;
}

function check(input: Buffer, opts?: ParseOptions): Outcome {
  let m: SipMessage;
  try {
    m = parseMessage(input, opts);
  } catch (err) {
    if (err instanceof SipParseError) return { parsed: false };
    return { parsed: false, failure: `parseMessage threw ${describe(err)}` };
  }
  let out: Buffer;
  try {
    touchAll(m);
    out = serializeMessage(m);
  } catch (err) {
    return { parsed: true, failure: `accessor or serializeMessage threw ${describe(err)}` };
  }
  try {
    const again = parseMessage(out, { ...opts, limits: { maxMessageBytes: Infinity, maxHeaders: Infinity, maxHeaderBytes: Infinity, maxBodyBytes: Infinity } });
    if (JSON.stringify(again.headers()) !== JSON.stringify(m.headers()) || !again.body.equals(m.body)) {
      return { parsed: true, failure: 'serializeMessage output parses to different headers or body' };
    }
  } catch (err) {
    return { parsed: true, failure: `serializeMessage output does not parse: ${describe(err)}` };
  }
  // framing: with a Content-Length the body is exactly that long (§18.3; a longer datagram
  // leaves trailing bytes, a shorter one is an error, never a short body)
  if (m.hasHeader('Content-Length') && m.body.length !== m.contentLength) {
    return { parsed: true, failure: `body of ${m.body.length} bytes with Content-Length ${m.contentLength}` };
  }
  return mutateParsed(m, input);
}

const EDIT_VALUES = ['x', '', '<sip:a@b>', 'SIP/2.0/UDP h;branch=z9hG4bKx', '1 INVITE', '70', 'Digest realm="r", nonce="n"', 'a,b', '"q', '\r\nX: y', 'ü', '9'.repeat(30)];
let editCounter = 0;
const edits = { applied: 0, refused: 0 };

/**
 * The mutation API on a parsed message: each call either works (and the message still
 * serializes to bytes that parse to the same header fields) or throws a typed error and
 * leaves the message as it was.
 */
function mutateParsed(m: SipMessage, input: Buffer): Outcome {
  const k = editCounter++;
  const name = HEADER_NAMES[k % HEADER_NAMES.length]!;
  const value = EDIT_VALUES[(k >>> 3) % EDIT_VALUES.length]!;
  const before = serializeMessage(m);
  try {
    switch (k % 5) {
      case 0:
        m.setHeader(name, value);
        break;
      case 1:
        m.addHeader(name, value, { first: (k & 8) !== 0 });
        break;
      case 2:
        m.removeHeader(name);
        break;
      case 3:
        m.setBody(input.subarray(0, k % 97), (k & 16) !== 0 ? 'text/plain' : undefined);
        break;
      default:
        m.setHeader('X-Fuzz', value);
    }
  } catch (err) {
    if (!(err instanceof SipStackError)) return { parsed: true, failure: `mutation of a parsed message threw ${describe(err)}` };
    if (!serializeMessage(m).equals(before)) return { parsed: true, failure: 'a refused mutation changed the message' };
    edits.refused++;
    return { parsed: true };
  }
  edits.applied++;
  try {
    touchAll(m);
    const again = parseMessage(serializeMessage(m), { limits: { maxMessageBytes: Infinity, maxHeaders: Infinity, maxHeaderBytes: Infinity, maxBodyBytes: Infinity } });
    if (JSON.stringify(again.headers()) !== JSON.stringify(m.headers())) {
      return { parsed: true, failure: 'after a mutation the serialized message parses to different headers' };
    }
  } catch (err) {
    return { parsed: true, failure: `after a mutation: ${describe(err)}` };
  }
  return { parsed: true };
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message.slice(0, 200)}\n${err.stack?.split('\n').slice(1, 4).join('\n') ?? ''}`;
  return String(err);
}

function timed(input: Buffer, opts?: ParseOptions): [Outcome, number] {
  const t0 = process.hrtime.bigint();
  const o = check(input, opts);
  return [o, Number(process.hrtime.bigint() - t0) / 1e6];
}

function save(input: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipis-fuzz-'));
  const file = join(dir, `${createHash('sha256').update(input).digest('hex').slice(0, 16)}.sip`);
  writeFileSync(file, input);
  return file;
}

/** Options for the i-th input: mostly defaults, sometimes stream framing or tight limits. */
function optionsFor(r: Rand): ParseOptions | undefined {
  const x = r();
  if (x < 0.75) return undefined;
  if (x < 0.9) return { framing: 'stream' };
  return { limits: { maxMessageBytes: 1 + int(r, 4096), maxHeaders: 1 + int(r, 40), maxHeaderBytes: 1 + int(r, 512), maxBodyBytes: int(r, 512) } };
}

// ------------------------------------------------------------------ tests

test(`mutation fuzz: seed 0x${SEED.toString(16)}, up to ${ITERATIONS} inputs or ${TIME_MS / 1000} s`, (t) => {
  const corpus = sipCorpus();
  t.true(corpus.length >= 55, `corpus has ${corpus.length} messages`);
  const r = mulberry32(SEED);
  const started = Date.now();
  const deadline = started + TIME_MS;
  let ran = 0;
  let parsed = 0;
  let slowest: { ms: number; input: Buffer; opts: ParseOptions | undefined } = { ms: 0, input: Buffer.alloc(0), opts: undefined };
  const failures: string[] = [];
  // the unmutated corpus first: each seed must satisfy the invariants as it is
  for (const input of corpus) {
    const o = check(input);
    if (o.failure !== undefined) failures.push(`${o.failure}\n  input saved to ${save(input)}`);
  }
  while (ran < ITERATIONS && Date.now() < deadline && failures.length < 5) {
    const input = mutate(r, corpus);
    const opts = optionsFor(r);
    const [o, ms] = timed(input, opts);
    ran++;
    if (o.parsed) parsed++;
    if (ms > slowest.ms) slowest = { ms, input, opts };
    if (o.failure !== undefined) failures.push(`input #${ran}: ${o.failure}\n  input saved to ${save(input)}`);
  }
  // hang detector: re-run the slowest input; only a consistently slow one is a finding
  let rerun = Infinity;
  for (let k = 0; k < 3; k++) rerun = Math.min(rerun, timed(slowest.input, slowest.opts)[1]);
  t.log(`ran ${ran} mutated inputs (${parsed} parsed, ${ran - parsed} rejected) in ${((Date.now() - started) / 1000).toFixed(1)} s; slowest ${slowest.ms.toFixed(1)} ms (${slowest.input.length} bytes), best of 3 re-runs ${rerun.toFixed(1)} ms; edits of parsed messages: ${edits.applied} applied, ${edits.refused} refused`);
  if (rerun > HANG_MS) failures.push(`input of ${slowest.input.length} bytes takes ${rerun.toFixed(0)} ms to parse; saved to ${save(slowest.input)}`);
  t.true(ran > 0);
  t.true(parsed > 0, 'no mutated input parsed: the mutations are too destructive to test accessors');
  t.deepEqual(failures, []);
});

// Inputs the fuzzer once failed on (fixtures/messages/fuzz-regressions/*.sip), one test each.
const regressionDir = fixturePath('messages', 'fuzz-regressions');
let regressions: string[] = [];
try {
  regressions = readdirSync(regressionDir).filter((f) => f.endsWith('.sip')).sort();
} catch {
  regressions = [];
}
for (const f of regressions) {
  test(`fuzz regression ${f}`, (t) => {
    const input = readFileSync(join(regressionDir, f));
    for (const opts of [undefined, { framing: 'stream' as const }]) {
      const [o, ms] = timed(input, opts);
      t.is(o.failure, undefined);
      t.true(ms < HANG_MS * 4 || timed(input, opts)[1] < HANG_MS, `parse took ${ms} ms`);
    }
  });
}
