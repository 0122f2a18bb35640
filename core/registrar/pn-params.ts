/**
 * Push parameters of a Contact URI → the device's push targets.
 *
 * Accepted forms (all are URI parameters of the Contact URI, RFC 8599 §4.1):
 *  1. RFC 8599: `pn-provider=apns|fcm`, `pn-prid=<token>`, `pn-param=<TEAMID>.<bundle>[.voip]` for
 *     APNs, `pn-param=<project>` for FCM. `apns.dev` (Flexisip/Linphone's sandbox name) is APNs.
 *  2. iOS 13+ two tokens in one binding (Linphone/Flexisip): `pn-prid=<VOIPTOKEN>:voip&<REMOTETOKEN>:remote`
 *     with `pn-param=<TEAMID>.<bundle>.voip&remote`. Each `&`-separated pn-prid entry is a token,
 *     optionally suffixed `:voip` / `:remote` naming its service; without a suffix the services
 *     listed in pn-param (`.voip` on the topic, then `&remote`, …) are taken in order.
 *     (A suffix counts only when it is exactly `voip` or `remote`: FCM tokens contain ':' too.)
 *  3. Legacy (Flexisip before RFC 8599, old Linphone): `pn-type=apple|firebase|google|fcm`,
 *     `app-id=<bundle>[.voip][.dev|.prod]`, `pn-tok=<token>`. An app-id ending in `.voip` is a
 *     PushKit (voip) token, anything else a remote one.
 * `pn-provider` without `pn-prid` (RFC 8599 §5.2: the UA asks which services we support) binds
 * the contact without push targets. An unknown provider is `unsupported` (→ 555, RFC 8599 §5.4.2);
 * a token outside the unified push protocol's alphabet is `invalid` (→ 400).
 */
import type { Params } from '../sip/types.js';
import type { PushTarget } from './types.js';

export const SUPPORTED_PROVIDERS = ['apns', 'fcm'] as const;

export type PushParamsResult =
  | { ok: true; targets: PushTarget[]; provider?: string }
  | { ok: false; error: 'unsupported'; provider: string }
  | { ok: false; error: 'invalid'; reason: string };

export interface PushParamsOptions {
  /** providers served (default apns and fcm). */
  providers?: readonly string[];
  /** maps a derived app id (bundle id, FCM project / sender id) to the mediator's registry key. */
  appIds?: Readonly<Record<string, string>>;
}

/** the protocol's token alphabet (core/push/protocol.ts TOKEN_RE) and length limit. */
const TOKEN_RE = /^[A-Za-z0-9_:.\-]{1,512}$/;
/** an Apple team id: ten upper-case letters or digits. */
const TEAM_RE = /^[A-Z0-9]{10}$/;

const PROVIDER_ALIASES: Readonly<Record<string, string>> = {
  apns: 'apns',
  'apns.dev': 'apns',
  fcm: 'fcm',
  // legacy pn-type values
  apple: 'apns',
  firebase: 'fcm',
  google: 'fcm',
};

export function hasPushParams(params: Params): boolean {
  return params.has('pn-provider') || params.has('pn-type') || params.has('pn-prid') || params.has('pn-tok');
}

function normalizeProvider(raw: string): string {
  const p = raw.trim().toLowerCase();
  return PROVIDER_ALIASES[p] ?? p;
}

/** `TEAMID.com.x.app.voip` → { bundle: 'com.x.app', voip: true }. */
function apnsTopic(first: string): { bundle: string; voip: boolean } {
  let t = first;
  const dot = t.indexOf('.');
  if (dot > 0 && TEAM_RE.test(t.slice(0, dot))) t = t.slice(dot + 1);
  // Flexisip's legacy app ids carry the APNs environment as a suffix
  if (t.endsWith('.dev') || t.endsWith('.prod')) t = t.slice(0, t.lastIndexOf('.'));
  const voip = t.endsWith('.voip');
  return { bundle: voip ? t.slice(0, -5) : t, voip };
}

function splitToken(entry: string): { token: string; kind?: 'voip' | 'remote' } {
  const colon = entry.lastIndexOf(':');
  if (colon > 0) {
    const svc = entry.slice(colon + 1).toLowerCase();
    if (svc === 'voip' || svc === 'remote') return { token: entry.slice(0, colon), kind: svc };
  }
  return { token: entry };
}

export function parsePushParams(params: Params, opts: PushParamsOptions = {}): PushParamsResult {
  const supported = opts.providers ?? SUPPORTED_PROVIDERS;
  const legacy = !params.has('pn-provider') && params.has('pn-type');
  const rawProvider = params.get(legacy ? 'pn-type' : 'pn-provider');
  const prid = params.get(legacy ? 'pn-tok' : 'pn-prid');
  const param = params.get(legacy ? 'app-id' : 'pn-param');
  if (rawProvider === undefined) {
    if (prid !== undefined) return { ok: false, error: 'invalid', reason: `${legacy ? 'pn-tok' : 'pn-prid'} without a provider` };
    return { ok: true, targets: [] };
  }
  if (rawProvider === null || rawProvider === '') return { ok: false, error: 'invalid', reason: 'empty push provider' };
  const provider = normalizeProvider(rawProvider);
  if (!supported.includes(provider)) return { ok: false, error: 'unsupported', provider: rawProvider.slice(0, 64) };
  if (prid === undefined) return { ok: true, targets: [], provider };
  if (prid === null || prid === '') return { ok: false, error: 'invalid', reason: 'empty push token' };
  const entries = prid.split('&').map(splitToken);
  for (const e of entries) {
    if (!TOKEN_RE.test(e.token)) return { ok: false, error: 'invalid', reason: 'push token has characters outside [A-Za-z0-9_:.-] or is too long' };
  }
  if (entries.length > 2) return { ok: false, error: 'invalid', reason: 'more than two push tokens' };
  const mapApp = (id: string): string => opts.appIds?.[id] ?? id;
  const paramText = param ?? undefined;

  if (provider === 'fcm') {
    // FCM has one token per app instance; it serves calls and messages alike.
    if (entries.length !== 1) return { ok: false, error: 'invalid', reason: 'FCM takes one token' };
    if (!paramText) return { ok: false, error: 'invalid', reason: 'FCM push needs pn-param (project) or app-id' };
    const t: PushTarget = { provider, kind: 'remote', appId: mapApp(paramText), token: entries[0]!.token, param: paramText };
    return { ok: true, targets: [t], provider };
  }

  // APNs
  if (!paramText) return { ok: false, error: 'invalid', reason: 'APNs push needs pn-param (TEAMID.bundle) or app-id' };
  const parts = paramText.split('&');
  const topic = apnsTopic(parts[0]!);
  if (topic.bundle === '') return { ok: false, error: 'invalid', reason: 'APNs pn-param has no bundle id' };
  // services in order: the topic's own (.voip or plain remote), then the `&service` extras
  const services: Array<'voip' | 'remote'> = [topic.voip ? 'voip' : 'remote'];
  for (const extra of parts.slice(1)) {
    const s = extra.trim().toLowerCase();
    if (s !== 'voip' && s !== 'remote') return { ok: false, error: 'invalid', reason: `unknown APNs service "${s.slice(0, 32)}" in pn-param` };
    if (!services.includes(s)) services.push(s);
  }
  const targets: PushTarget[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const kind = e.kind ?? services[i];
    if (kind === undefined) return { ok: false, error: 'invalid', reason: 'more push tokens than services in pn-param' };
    if (targets.some((t) => t.kind === kind)) return { ok: false, error: 'invalid', reason: `two ${kind} tokens` };
    targets.push({ provider, kind, appId: mapApp(topic.bundle), token: e.token, param: paramText });
  }
  return { ok: true, targets, provider };
}

/**
 * RFC 8599 §5.4.2 / §12.1: the `Feature-Caps` value (RFC 6809 syntax) naming the push services
 * we support: the registration's own provider in a 2xx, all of them otherwise.
 */
export function featureCaps(providers: readonly string[]): string {
  return `*;+sip.pns="${providers.join(',')}"`;
}

/** a token for logs: its first 8 characters. */
export function redactToken(token: string): string {
  return token.length <= 8 ? '…' : `${token.slice(0, 8)}…`;
}
