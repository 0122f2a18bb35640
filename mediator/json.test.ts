import test from 'ava';
import { PUSH_VERBS, type PushRequest } from '../core/push/protocol.js';
import { requestFor } from '../fixtures/push/requests.js';
import { apnsTopics, buildApnsNotification, DEFAULT_APNS_TTL } from './apns-payload.js';
import { jsonString } from './json.js';

// Strings JSON.stringify escapes (controls, quote, backslash), leaves alone (DEL, non-ASCII),
// or escapes as \u (lone surrogates, RFC 8259 §8.2 / ES2019 well-formed stringify).
const TRICKY = ['', 'plain', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000\u001f', '\u007f', 'Zoë', 'B\u00f6b 😀', '\ud800', 'x\udfffy', '</script>'];

test('jsonString writes exactly what JSON.stringify writes', (t) => {
  for (const s of TRICKY) t.is(jsonString(s), JSON.stringify(s), JSON.stringify(s));
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
        const doc = JSON.parse(n.payload) as { aps: unknown; sipis: unknown };
        // Byte for byte: re-serialising the parsed document gives the same text.
        t.is(JSON.stringify(doc), n.payload, `${verb} ${kind} ${JSON.stringify(odd)}`);
        t.deepEqual(doc.sipis, { verb, selector: r.selector, requestId: r.requestId, ...r.payload });
      }
    }
  }
  t.true(built > PUSH_VERBS.length * TRICKY.length);
});

test('collapse ids are cut to 64 bytes of UTF-8, short ones kept as they are', (t) => {
  const topics = apnsTopics('com.example.phone');
  const r = requestFor('NotifyIncomingCall', 'com.example.phone', 'ab'.repeat(32));
  for (const [callId, want] of [
    ['c1@x', 'c1@x'],
    ['é'.repeat(21), 'é'.repeat(21)],
    ['é'.repeat(40), 'é'.repeat(32)],
    ['x'.repeat(64), 'x'.repeat(64)],
    ['x'.repeat(65), 'x'.repeat(64)],
  ] as const) {
    (r.payload as { callId: string }).callId = callId;
    const n = buildApnsNotification(r, topics, DEFAULT_APNS_TTL, 0);
    t.true(n.ok);
    if (n.ok) t.is(n.collapseId, want);
  }
});
