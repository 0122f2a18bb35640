import test from 'ava';
import { PUSH_VERBS, type PushRequest } from '../core/push/protocol.js';
import { requestFor } from '../fixtures/push/requests.js';
import { apnsTopics, buildApnsNotification, DEFAULT_APNS_TTL } from './apns-payload.js';
import { JsonWriter, jsonString } from './json.js';

// Strings JSON.stringify escapes (controls, quote, backslash), leaves alone (DEL, non-ASCII),
// or escapes as \u (lone surrogates, RFC 8259 §8.2 / ES2019 well-formed stringify).
const TRICKY = ['', 'plain', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000\u001f', '\u007f', 'Zoë', 'B\u00f6b 😀', '\ud800', 'x\udfffy', '</script>'];

test('jsonString writes exactly what JSON.stringify writes', (t) => {
  for (const s of TRICKY) t.is(jsonString(s), JSON.stringify(s), JSON.stringify(s));
});

test('JsonWriter writes the bytes of JSON.stringify, and grows past its first buffer', (t) => {
  const w = new JsonWriter();
  for (const s of [...TRICKY, 'é'.repeat(3000), '\u0001'.repeat(2000), 'x'.repeat(10_000)]) {
    const b = w.begin().raw('{"k":').str(s).raw(',"n":').raw(String(42)).raw(',"o":').text(JSON.stringify({ s })).raw('}').end();
    t.true(b.equals(Buffer.from(JSON.stringify({ k: s, n: 42, o: { s } }))), JSON.stringify(s).slice(0, 40));
  }
});

test('APNs payloads built by template are the JSON.stringify text of {aps, sipis} for every verb and token kind', (t) => {
  const topics = apnsTopics('com.example.phone');
  let built = 0;
  for (const verb of PUSH_VERBS) {
    for (const kind of ['voip', 'remote'] as const) {
      for (const odd of TRICKY) {
        const r = requestFor(verb, 'com.example.phone', 'ab'.repeat(32), kind) as PushRequest & { payload: Record<string, unknown> };
        r.selector = `alice${odd}@example.com`;
        // Every string field of the payload gets the odd characters too.
        for (const k of Object.keys(r.payload)) if (typeof r.payload[k] === 'string' && k !== 'expiresAt') r.payload[k] = `${String(r.payload[k])}${odd}`;
        const n = buildApnsNotification(r, topics, DEFAULT_APNS_TTL, 1_700_000_000);
        if (!n.ok) {
          t.is(kind, 'voip', `${verb} ${kind}: ${n.reason}`);
          continue;
        }
        built++;
        const text = n.payload.toString('utf8');
        const doc = JSON.parse(text) as { aps: unknown; sipis: unknown };
        // Byte for byte: re-serialising the parsed document gives the same text, and bytes.
        t.is(JSON.stringify(doc), text, `${verb} ${kind} ${JSON.stringify(odd)}`);
        t.true(Buffer.from(JSON.stringify(doc)).equals(n.payload));
        t.deepEqual(doc.sipis, { verb, selector: r.selector, requestId: r.requestId, ...r.payload });
      }
    }
  }
  t.true(built > PUSH_VERBS.length * TRICKY.length);
});

test('collapse ids: a visible-ASCII Call-ID of up to 64 bytes as it is, anything else a digest of it (same call, same id)', (t) => {
  const topics = apnsTopics('com.example.phone');
  const r = requestFor('NotifyIncomingCall', 'com.example.phone', 'ab'.repeat(32));
  const idOf = (callId: string): string | undefined => {
    (r.payload as { callId: string }).callId = callId;
    const n = buildApnsNotification(r, topics, DEFAULT_APNS_TTL, 0);
    return n.ok ? n.collapseId : undefined;
  };
  t.is(idOf('c1@x'), 'c1@x');
  t.is(idOf('x'.repeat(64)), 'x'.repeat(64));
  // é is not one ASCII byte; U+010A would be truncated to LF by a latin1 writer; a space or CR is not a visible character
  for (const odd of ['x'.repeat(65), 'é'.repeat(21), 'ab\u010Acd', 'a b', 'a\r\nb', 'call😀']) {
    const id = idOf(odd)!;
    t.regex(id, /^[A-Za-z0-9_-]{43}$/, odd);
    t.is(idOf(odd), id, 'deterministic: the missed-call push collapses onto the incoming-call one');
  }
  t.not(idOf('x'.repeat(65)), idOf('x'.repeat(66)));
});

test('JsonWriter.view: the bytes written, without a copy; one view per length, fresh after a new buffer', (t) => {
  const w = new JsonWriter();
  const a = w.begin().raw('{"a":').str('x"y').raw('}').view();
  t.is(Buffer.from(a).toString(), JSON.stringify({ a: 'x"y' }));
  const b = w.begin().raw('{"a":').str('zz"w').raw('}').view();
  t.is(Buffer.from(b).toString(), JSON.stringify({ a: 'zz"w' }));
  const c = w.begin().raw('{"a":').str('x"y').raw('}').view();
  t.is(c, a, 'same length: the same view');
  const big = 'q'.repeat(10_000);
  t.is(Buffer.from(w.begin().str(big).view()).toString(), JSON.stringify(big));
  t.is(Buffer.from(w.begin().raw('{"a":').str('x"y').raw('}').view()).toString(), JSON.stringify({ a: 'x"y' }), 'after the buffer grew');
});

test('JsonWriter with slabs: each document a slice that stays intact while later ones fill and replace the slab', (t) => {
  const w = new JsonWriter(true);
  const docs: Array<[Buffer, string]> = [];
  for (let i = 0; i < 2000; i++) {
    const s = i % 500 === 7 ? 'big'.repeat(30_000) : `value ${i} ${'é'.repeat(i % 5)}`;
    docs.push([w.begin().raw('{"i":').raw(String(i)).raw(',"s":').str(s).raw('}').end(), JSON.stringify({ i, s })]);
  }
  for (const [b, want] of docs) t.is(b.toString('utf8'), want);
});
