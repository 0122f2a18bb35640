/**
 * The unified push protocol between sipis (the client) and sipis-mediator (the server):
 * one JSON request per push, `POST /v1/push` with `Authorization: Bearer <key>`.
 * The verb names follow Acrobits' SIPIS push API (NotifyIncomingCall, …) plus two of ours
 * (NotifyExpiryWarning, NotifyInstanceOff). mediator/PROTOCOL.md is the prose version.
 *
 * Dependency-free on purpose: both the mediator and sipis's push client import it, and the
 * validator runs at the mediator's edge, so every rejection names the offending field.
 */

export const PUSH_VERBS = [
  'NotifyIncomingCall',
  'NotifyIncomingCallMissed',
  'NotifyIncomingCallAnsweredElsewhere',
  'NotifyTextMessage',
  'NotifyGenericTextMessage',
  'NotifyReprovision',
  'NotifyExpiryWarning',
  'NotifyInstanceOff',
] as const;
export type PushVerb = (typeof PUSH_VERBS)[number];

/** Verbs that wake the phone for a call: PushKit VoIP token on iOS, high-priority data on FCM. */
export const CALL_VERBS: ReadonlySet<PushVerb> = new Set<PushVerb>(['NotifyIncomingCall']);

/**
 * Verbs an iOS PushKit VoIP token may carry: the call, and the two that end one (the app reports
 * a call to CallKit and ends it at once). iOS 13+ kills an app that gets any other VoIP push, so
 * the mediator refuses the rest (400, field tokenKind) and sipis does not send them.
 */
export const VOIP_VERBS: ReadonlySet<PushVerb> = new Set<PushVerb>(['NotifyIncomingCall', 'NotifyIncomingCallMissed', 'NotifyIncomingCallAnsweredElsewhere']);

/**
 * Which of the device's tokens the request carries. iOS 13+ devices hold two: a PushKit VoIP
 * token (calls only; Apple kills apps that receive VoIP pushes without reporting a call) and a
 * remote-notification token for everything else. FCM has one token: either value is accepted.
 */
export type TokenKind = 'voip' | 'remote';

export interface IncomingCallPayload {
  callId: string;
  callerUri: string;
  callerName?: string;
}
export interface CallMissedPayload {
  callId: string;
  callerUri: string;
  callerName?: string;
  badge?: number;
}
export interface CallAnsweredElsewherePayload {
  callId: string;
}
export interface TextMessagePayload {
  /** Stable id of the stored message, so the app can fetch it once awake. */
  messageId?: string;
  senderUri: string;
  senderName?: string;
  /** Already shortened by sipis; the mediator does not truncate it. */
  preview?: string;
  badge?: number;
}
export interface GenericTextPayload {
  text: string;
  title?: string;
  badge?: number;
}
export interface ReprovisionPayload {
  reason?: string;
}
export interface ExpiryWarningPayload {
  /** When the account's push registration stops working: ISO 8601 date-time. */
  expiresAt: string;
  text?: string;
}
export interface InstanceOffPayload {
  reason?: string;
  text?: string;
}

export interface PayloadByVerb {
  NotifyIncomingCall: IncomingCallPayload;
  NotifyIncomingCallMissed: CallMissedPayload;
  NotifyIncomingCallAnsweredElsewhere: CallAnsweredElsewherePayload;
  NotifyTextMessage: TextMessagePayload;
  NotifyGenericTextMessage: GenericTextPayload;
  NotifyReprovision: ReprovisionPayload;
  NotifyExpiryWarning: ExpiryWarningPayload;
  NotifyInstanceOff: InstanceOffPayload;
}

interface PushRequestOf<V extends PushVerb> {
  verb: V;
  /** Key into the mediator's app registry (usually the bundle id / package name). */
  appId: string;
  deviceToken: string;
  /** Defaults: 'voip' for call verbs, 'remote' otherwise (only APNs cares). */
  tokenKind?: TokenKind;
  /** The account (or account selector) the push is about; echoed to the app. */
  selector: string;
  /** UUID chosen by the client; becomes `apns-id` and is echoed in the answer and in logs. */
  requestId: string;
  payload: PayloadByVerb[V];
}
export type PushRequest = { [V in PushVerb]: PushRequestOf<V> }[PushVerb];

export type PushOutcome = 'delivered' | 'token-dead' | 'rejected' | 'retry-later';

/** 200 */
export interface DeliveredResponse {
  outcome: 'delivered';
  requestId: string;
  /** apns-id echoed by APNs, or the FCM message name. */
  pushId: string;
  platform: 'apns' | 'fcm';
}
/** 404 only for this: the client drops the token. */
export interface TokenDeadResponse {
  outcome: 'token-dead';
  requestId: string;
  reason: string;
}
/** 400/401/413/415 at the edge, 422 when the push service refused for another reason. */
export interface RejectedResponse {
  outcome: 'rejected';
  requestId?: string;
  reason: string;
  /** JSON path of the offending request field, when one is to blame. */
  field?: string;
}
/** 503 with a Retry-After header (seconds) and the same delay in milliseconds here. */
export interface RetryLaterResponse {
  outcome: 'retry-later';
  requestId?: string;
  reason: string;
  retryAfterMs: number;
}
export type PushResponse = DeliveredResponse | TokenDeadResponse | RejectedResponse | RetryLaterResponse;

export const PUSH_PATH = '/v1/push';

/** HTTP status each outcome is sent with (rejected varies; this is the edge's default). */
export const OUTCOME_STATUS: Readonly<Record<PushOutcome, number>> = {
  delivered: 200,
  'token-dead': 404,
  rejected: 400,
  'retry-later': 503,
};

export interface ValidationLimits {
  /** Longest accepted device token (APNs tokens are 64 hex chars today, FCM ~160). */
  maxTokenLength: number;
  /** Longest accepted free-text field (preview, text, names); the body limit applies too. */
  maxTextLength: number;
}
export const DEFAULT_LIMITS: ValidationLimits = { maxTokenLength: 512, maxTextLength: 2048 };

export type ValidationResult = { ok: true; request: PushRequest } | { ok: false; field: string; reason: string };

const VERB_SET: ReadonlySet<string> = new Set(PUSH_VERBS);

/** Characters a device token may hold: [A-Za-z0-9_:.-] (hex APNs tokens, FCM registration ids). */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:.-') TOKEN_CHARS[c.charCodeAt(0)] = 1;

function isTokenText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return s.length > 0;
}

/** 8-4-4-4-12 hex digits (RFC 9562 text form); checked by hand: it runs once per push. */
function isUuidText(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45 /* - */) return false;
    } else if (!((c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102))) return false;
  }
  return true;
}

type FieldKind = 'string' | 'badge' | 'datetime';
interface FieldRule {
  name: string;
  /** `payload.NAME`, as error messages name it. */
  field: string;
  kind: FieldKind;
  required: boolean;
}
const req = (name: string, kind: FieldKind = 'string'): FieldRule => ({ name, field: `payload.${name}`, kind, required: true });
const opt = (name: string, kind: FieldKind = 'string'): FieldRule => ({ name, field: `payload.${name}`, kind, required: false });

const PAYLOAD_RULES: Readonly<Record<PushVerb, readonly FieldRule[]>> = {
  NotifyIncomingCall: [req('callId'), req('callerUri'), opt('callerName')],
  NotifyIncomingCallMissed: [req('callId'), req('callerUri'), opt('callerName'), opt('badge', 'badge')],
  NotifyIncomingCallAnsweredElsewhere: [req('callId')],
  NotifyTextMessage: [opt('messageId'), req('senderUri'), opt('senderName'), opt('preview'), opt('badge', 'badge')],
  NotifyGenericTextMessage: [req('text'), opt('title'), opt('badge', 'badge')],
  NotifyReprovision: [opt('reason')],
  NotifyExpiryWarning: [req('expiresAt', 'datetime'), opt('text')],
  NotifyInstanceOff: [opt('reason'), opt('text')],
};

const PAYLOAD_FIELDS = Object.fromEntries(
  PUSH_VERBS.map((v) => [v, new Set(PAYLOAD_RULES[v].map((r) => r.name))]),
) as unknown as Readonly<Record<PushVerb, ReadonlySet<string>>>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(field: string, reason: string): ValidationResult {
  return { ok: false, field, reason };
}

/**
 * Checks a parsed JSON body. Unknown top-level or payload fields are rejected too: a typo in
 * a field name should surface at once, not as a push that silently lacks the caller's name.
 */
export function validatePushRequest(body: unknown, limits: ValidationLimits = DEFAULT_LIMITS): ValidationResult {
  if (!isObject(body)) return fail('(body)', 'request body must be a JSON object');
  for (const key in body) {
    if (!TOP_LEVEL.has(key)) return fail(key, `unknown field "${key}"`);
  }
  const { verb, appId, deviceToken, tokenKind, selector, requestId, payload } = body;
  if (typeof verb !== 'string') return fail('verb', 'verb is required (a string)');
  if (!VERB_SET.has(verb)) return fail('verb', `unknown verb "${verb.slice(0, 64)}"`);
  if (typeof appId !== 'string' || appId.length === 0 || appId.length > 255) {
    return fail('appId', 'appId is required (a string of 1–255 characters)');
  }
  if (typeof deviceToken !== 'string' || deviceToken.length === 0) {
    return fail('deviceToken', 'deviceToken is required (a non-empty string)');
  }
  if (deviceToken.length > limits.maxTokenLength) {
    return fail('deviceToken', `deviceToken longer than ${limits.maxTokenLength} characters`);
  }
  if (!isTokenText(deviceToken)) return fail('deviceToken', 'deviceToken has characters outside [A-Za-z0-9_:.-]');
  if (tokenKind !== undefined && tokenKind !== 'voip' && tokenKind !== 'remote') {
    return fail('tokenKind', 'tokenKind must be "voip" or "remote"');
  }
  if (typeof selector !== 'string' || selector.length === 0 || selector.length > 512) {
    return fail('selector', 'selector is required (a string of 1–512 characters)');
  }
  if (typeof requestId !== 'string' || !isUuidText(requestId)) {
    return fail('requestId', 'requestId is required (a UUID, it becomes apns-id)');
  }
  const p = payload === undefined ? {} : payload;
  if (!isObject(p)) return fail('payload', 'payload must be a JSON object');
  const rules = PAYLOAD_RULES[verb as PushVerb];
  const known = PAYLOAD_FIELDS[verb as PushVerb];
  for (const key in p) {
    if (!known.has(key)) return fail(`payload.${key}`, `unknown field "${key}" for ${verb}`);
  }
  for (const rule of rules) {
    const v = p[rule.name];
    const field = rule.field;
    if (v === undefined) {
      if (rule.required) return fail(field, `${field} is required for ${verb}`);
      continue;
    }
    if (rule.kind === 'badge') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 99_999) {
        return fail(field, `${field} must be an integer 0–99999`);
      }
    } else if (typeof v !== 'string') {
      return fail(field, `${field} must be a string`);
    } else if (v.length > limits.maxTextLength) {
      return fail(field, `${field} longer than ${limits.maxTextLength} characters`);
    } else if (rule.kind === 'datetime' && Number.isNaN(Date.parse(v))) {
      return fail(field, `${field} must be an ISO 8601 date-time`);
    } else if (rule.required && v.length === 0) {
      return fail(field, `${field} must not be empty`);
    }
  }
  // the body is the request once checked; a copy is needed only to fill in the absent payload
  const request = payload === undefined ? { ...(body as unknown as PushRequest), payload: p as never } : (body as unknown as PushRequest);
  return { ok: true, request };
}

const TOP_LEVEL: ReadonlySet<string> = new Set([
  'verb',
  'appId',
  'deviceToken',
  'tokenKind',
  'selector',
  'requestId',
  'payload',
]);

/** The token kind a request carries, applying the documented default. */
export function tokenKindOf(r: PushRequest): TokenKind {
  return r.tokenKind ?? (CALL_VERBS.has(r.verb) ? 'voip' : 'remote');
}
