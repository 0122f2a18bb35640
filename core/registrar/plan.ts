/**
 * RFC 3261 §10.3 steps 6–7 without side effects: what a REGISTER asks for (query, remove all,
 * bind these contacts with these expiries and push targets), or the error response it gets.
 * Everything is checked before anything is changed, so a REGISTER is applied whole or not at all.
 */
import type { SipMessage } from '../sip/index.js';
import { featureCaps, hasPushParams, parsePushParams, type PushParamsOptions } from './pn-params.js';
import type { PushTarget } from './types.js';

export interface ExpiryPolicy {
  /** below this (and not 0) → 423 Interval Too Brief with Min-Expires. */
  min: number;
  /** longer requests are cut to this. */
  max: number;
  /** when neither the Contact nor the request says. */
  default: number;
}

export interface ContactPlan {
  /** the Contact URI as sent (addr-spec). */
  uri: string;
  /** +sip.instance, else the Contact URI. */
  instanceId: string;
  /** the +sip.instance parameter as sent (with its quotes), to echo in the 200. */
  instanceParam?: string;
  /** the RFC 5626 reg-id (1*DIGIT), to echo in the 200 beside +sip.instance. */
  regId?: string;
  /** seconds; 0 removes. */
  expires: number;
  targets: PushTarget[];
  /** pn-provider (normalized) when the Contact had push parameters. */
  provider?: string;
}

export type RegisterPlan =
  | { kind: 'query' }
  | { kind: 'remove-all' }
  | { kind: 'bind'; contacts: ContactPlan[]; providers: string[] }
  | { kind: 'reject'; status: number; reason?: string; headers?: Array<[string, string]> };

export function planRegister(req: SipMessage, expiry: ExpiryPolicy, push: PushParamsOptions & { providers: readonly string[] }): RegisterPlan {
  const contacts = req.contact;
  if (contacts.length === 0) return { kind: 'query' };
  if (contacts.some((c) => c.star)) {
    // §10.3 step 6: '*' only alone and only with Expires: 0
    if (contacts.length !== 1 || req.expires !== 0) {
      return { kind: 'reject', status: 400, reason: 'Contact * needs Expires 0 and no other Contact' };
    }
    return { kind: 'remove-all' };
  }
  const plans: ContactPlan[] = [];
  const providers: string[] = [];
  for (const c of contacts) {
    const scheme = c.uri.scheme;
    if (scheme !== 'sip' && scheme !== 'sips') return { kind: 'reject', status: 416, reason: 'Unsupported URI Scheme' };
    let expires = c.expires ?? req.expires ?? expiry.default;
    if (expires !== 0 && expires < expiry.min) {
      return { kind: 'reject', status: 423, headers: [['Min-Expires', String(expiry.min)]] };
    }
    if (expires > expiry.max) expires = expiry.max;
    let targets: PushTarget[] = [];
    let provider: string | undefined;
    if (expires > 0 && hasPushParams(c.uri.params)) {
      const r = parsePushParams(c.uri.params, push);
      if (!r.ok) {
        if (r.error === 'unsupported') {
          // RFC 8599 §5.4.2; the Feature-Caps tells the UA what we do support
          return { kind: 'reject', status: 555, reason: 'Push Notification Service Not Supported', headers: [['Feature-Caps', featureCaps(push.providers)]] };
        }
        return { kind: 'reject', status: 400, reason: `Bad Push Parameters (${r.reason})` };
      }
      targets = r.targets;
      provider = r.provider;
      if (provider && !providers.includes(provider)) providers.push(provider);
    }
    const plan: ContactPlan = { uri: c.uri.raw, instanceId: c.instance || c.uri.raw, expires, targets };
    // RFC 5626 §4.1 form, rebuilt: the parser hands the value back without its quotes
    if (c.instance) plan.instanceParam = `"<${c.instance.replace(/["\\<>]/g, '')}>"`;
    const regId = c.params.get('reg-id');
    if (c.instance && regId && /^\d{1,10}$/.test(regId)) plan.regId = regId;
    if (provider !== undefined) plan.provider = provider;
    plans.push(plan);
  }
  return { kind: 'bind', contacts: plans, providers };
}
