/**
 * How each verb becomes an APNs request: topic, push type, priority, expiration, collapse id
 * and JSON payload. Apple's rules that shape it ("Sending notification requests to APNs"):
 *  - VoIP pushes go to the `<bundle>.voip` topic with apns-push-type voip and priority 10;
 *    since iOS 13 each must be reported to CallKit, so only call verbs may use the VoIP token;
 *  - background pushes (content-available, no alert) must use priority 5 and push type
 *    background, or APNs refuses them;
 *  - apns-collapse-id is at most 64 bytes of visible ASCII (else a digest of the Call-ID); apns-expiration 0 means "deliver now or never".
 * Our own fields travel under the top-level key `sipis`, beside `aps`.
 */
import { createHash } from 'node:crypto';
import type { PushRequest } from '../core/push/protocol.js';
import { tokenKindOf, VOIP_VERBS } from '../core/push/protocol.js';
import { JsonWriter } from './json.js';

export type ApnsPushType = 'voip' | 'alert' | 'background';

export interface ApnsNotification {
  ok: true;
  topic: string;
  pushType: ApnsPushType;
  priority: 5 | 10;
  /** seconds since the epoch; 0 = do not store. */
  expiration: number;
  collapseId?: string;
  /** The JSON payload, UTF-8. */
  payload: Buffer;
}

export interface ApnsTtl {
  /** Lifetime of a call push: a call rings for seconds, a stale one only confuses. */
  callSec: number;
  /** Lifetime of texts, missed calls and warnings. */
  textSec: number;
}

export const DEFAULT_APNS_TTL: ApnsTtl = { callSec: 30, textSec: 24 * 3600 };

/**
 * Why `r` cannot go to APNs as it is: a VoIP token with a verb outside VOIP_VERBS. The edge
 * refuses such a request (400 tokenKind) before dispatching it; the payload builder checks again
 * for callers that come without the edge.
 */
export function voipTokenRefusal(r: PushRequest): string | undefined {
  if (tokenKindOf(r) !== 'voip' || VOIP_VERBS.has(r.verb)) return undefined;
  return `${r.verb} cannot go to a PushKit VoIP token (iOS 13+ requires every VoIP push to report a call)`;
}

export type BuildResult = ApnsNotification | { ok: false; field: string; reason: string };

/** The two apns-topic values of an app, built once per app rather than once per push. */
export interface ApnsTopics {
  /** The bundle id: alert and background pushes. */
  alert: string;
  /** `<bundle id>.voip`: PushKit pushes. */
  voip: string;
}

export const apnsTopics = (bundleId: string): ApnsTopics => ({ alert: bundleId, voip: `${bundleId}.voip` });

/**
 * apns-collapse-id: at most 64 bytes, sent as an HTTP field value. Call-IDs are visible ASCII in
 * practice (RFC 3261 `word`) and go as they are; a longer one, or one with any other character,
 * becomes a digest of itself: the pushes of one call still share one id, and no octet that
 * RFC 9113 §8.2.1 forbids in a field value (CR, LF, NUL) or that is not one byte can reach the wire.
 */
function collapse(s: string): string {
  if (s.length <= 64 && isVisibleAscii(s)) return s;
  return createHash('sha256').update(s, 'utf8').digest('base64url');
}

function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** The slabs every APNs payload is written in (one push at a time, synchronously). */
const out = new JsonWriter(true);

/**
 * `{"aps": <aps or {}>, "sipis": {"verb", "selector", "requestId", …payload}}` as UTF-8, written
 * directly: the bytes JSON.stringify({ aps, sipis: { verb, selector, requestId, ...payload } })
 * would give. The validator has checked that payload keys are known field names (plain
 * identifiers, none of the first three) and values strings or integers.
 */
function payloadJson(r: PushRequest, aps: string | undefined): Buffer {
  out.begin().raw('{"aps":');
  // The empty aps of a VoIP push is ASCII: no native write for it.
  if (aps === undefined) out.raw('{}');
  else out.text(aps);
  out.raw(',"sipis":{"verb":').str(r.verb).raw(',"selector":').str(r.selector).raw(',"requestId":').str(r.requestId);
  const p = r.payload as Readonly<Record<string, string | number | undefined>>;
  for (const k in p) {
    const v = p[k];
    if (v === undefined) continue;
    out.raw(',"').raw(k).raw('":');
    if (typeof v === 'number') out.raw(String(v));
    else out.str(v);
  }
  return out.raw('}}').end();
}

export function buildApnsNotification(r: PushRequest, topics: ApnsTopics, ttl: ApnsTtl, nowSec: number): BuildResult {
  const refusal = voipTokenRefusal(r);
  if (refusal !== undefined) return { ok: false, field: 'tokenKind', reason: refusal };
  const kind = tokenKindOf(r);
  const textExp = nowSec + ttl.textSec;
  if (kind === 'voip') {
    const exp = r.verb === 'NotifyIncomingCall' ? nowSec + ttl.callSec : textExp;
    return {
      ok: true,
      topic: topics.voip,
      pushType: 'voip',
      priority: 10,
      expiration: exp,
      collapseId: collapse((r.payload as { callId: string }).callId),
      payload: payloadJson(r, undefined),
    };
  }
  let aps: Record<string, unknown>;
  let pushType: ApnsPushType = 'alert';
  let expiration = textExp;
  let collapseId: string | undefined;
  switch (r.verb) {
    case 'NotifyIncomingCall':
      // A device without a PushKit token (or an app that wants it so): a plain alert.
      aps = { alert: { title: r.payload.callerName ?? r.payload.callerUri, body: 'Incoming call' }, sound: 'default' };
      expiration = nowSec + ttl.callSec;
      collapseId = collapse(r.payload.callId);
      break;
    case 'NotifyIncomingCallMissed':
      aps = { alert: { title: 'Missed call', body: r.payload.callerName ?? r.payload.callerUri }, sound: 'default' };
      if (r.payload.badge !== undefined) aps.badge = r.payload.badge;
      collapseId = collapse(r.payload.callId);
      break;
    case 'NotifyIncomingCallAnsweredElsewhere':
      aps = { 'content-available': 1 };
      pushType = 'background';
      expiration = nowSec + ttl.callSec;
      collapseId = collapse(r.payload.callId);
      break;
    case 'NotifyTextMessage':
      aps = {
        alert: { title: r.payload.senderName ?? r.payload.senderUri, body: r.payload.preview ?? 'New message' },
        sound: 'default',
        'thread-id': r.selector,
        'mutable-content': 1,
      };
      if (r.payload.badge !== undefined) aps.badge = r.payload.badge;
      if (r.payload.messageId) collapseId = collapse(`msg-${r.payload.messageId}`);
      break;
    case 'NotifyGenericTextMessage':
      aps = { alert: r.payload.title ? { title: r.payload.title, body: r.payload.text } : { body: r.payload.text }, sound: 'default' };
      if (r.payload.badge !== undefined) aps.badge = r.payload.badge;
      break;
    case 'NotifyReprovision':
      aps = { 'content-available': 1 };
      pushType = 'background';
      collapseId = 'sipis-reprovision';
      break;
    case 'NotifyExpiryWarning':
      aps = { alert: { body: r.payload.text ?? `Push registration expires at ${r.payload.expiresAt}` } };
      collapseId = 'sipis-expiry-warning';
      break;
    case 'NotifyInstanceOff':
      if (r.payload.text) aps = { alert: { body: r.payload.text } };
      else {
        aps = { 'content-available': 1 };
        pushType = 'background';
      }
      collapseId = 'sipis-instance-off';
      break;
  }
  const n: ApnsNotification = {
    ok: true,
    topic: topics.alert,
    pushType,
    priority: pushType === 'background' ? 5 : 10,
    expiration,
    payload: payloadJson(r, JSON.stringify(aps)),
  };
  if (collapseId) n.collapseId = collapseId;
  return n;
}

/** APNs payload limits: 5 KB for VoIP, 4 KB for the rest. */
export function apnsPayloadLimit(pushType: ApnsPushType): number {
  return pushType === 'voip' ? 5120 : 4096;
}
