/**
 * How each verb becomes an FCM HTTP v1 `message`: calls as high-priority data messages (the
 * app must run code to show its call UI; a notification message would be drawn by the system
 * instead), texts as notification messages with our fields in `data` (string values only, as
 * FCM requires), collapse keys per call or message, ttl short for calls and long for texts.
 */
import type { PushRequest } from '../core/push/protocol.js';

export interface FcmTtl {
  callSec: number;
  textSec: number;
}
export const DEFAULT_FCM_TTL: FcmTtl = { callSec: 30, textSec: 24 * 3600 };

const DATA_VERBS = new Set(['NotifyIncomingCall', 'NotifyIncomingCallAnsweredElsewhere', 'NotifyReprovision']);

/** Builds the v1 `message` object for a request (exported for tests). */
export function buildFcmMessage(r: PushRequest, ttl: FcmTtl): Record<string, unknown> {
  // FCM data values must all be strings.
  const data: Record<string, string> = { verb: r.verb, selector: r.selector, requestId: r.requestId };
  for (const [k, v] of Object.entries(r.payload)) if (v !== undefined) data[k] = String(v);
  const isCallish = r.verb === 'NotifyIncomingCall' || r.verb === 'NotifyIncomingCallAnsweredElsewhere';
  const android: Record<string, unknown> = {
    priority: isCallish || r.verb !== 'NotifyReprovision' ? 'high' : 'normal',
    ttl: `${isCallish ? ttl.callSec : ttl.textSec}s`,
  };
  const msg: Record<string, unknown> = { token: r.deviceToken, data, android };
  if ('callId' in r.payload) android.collapse_key = r.payload.callId.slice(0, 64);
  if (DATA_VERBS.has(r.verb)) return msg;
  let notification: { title?: string; body: string };
  switch (r.verb) {
    case 'NotifyIncomingCallMissed':
      notification = { title: 'Missed call', body: r.payload.callerName ?? r.payload.callerUri };
      break;
    case 'NotifyTextMessage':
      notification = { title: r.payload.senderName ?? r.payload.senderUri, body: r.payload.preview ?? 'New message' };
      if (r.payload.messageId) android.collapse_key = `msg-${r.payload.messageId}`.slice(0, 64);
      break;
    case 'NotifyGenericTextMessage':
      notification = r.payload.title ? { title: r.payload.title, body: r.payload.text } : { body: r.payload.text };
      break;
    case 'NotifyExpiryWarning':
      notification = { body: r.payload.text ?? `Push registration expires at ${r.payload.expiresAt}` };
      break;
    case 'NotifyInstanceOff':
      if (!r.payload.text) return msg;
      notification = { body: r.payload.text };
      break;
    default:
      return msg;
  }
  msg.notification = notification;
  const badge = 'badge' in r.payload ? r.payload.badge : undefined;
  if (badge !== undefined) android.notification = { notification_count: badge };
  return msg;
}
