/**
 * The device-binding upserts, in one place for their three writers: DeviceStore (devices.ts),
 * and the registrar's transaction and one-statement forms (bindings-registrar.ts). A REGISTER
 * refreshes every column of an existing binding; a push token reported dead stays dead until
 * the device sends a different one.
 */
import type { SqlParam } from './connection.js';
import type { BindingInput, PushTokenInput } from './devices.js';

/** $1..$8: account, instance, contact, source, via_bridge, flow_token, expires_at, user_agent → id, inserted. */
export const UPSERT_DEVICE = `
INSERT INTO device (account_id, instance_id, contact, source, via_bridge, flow_token, expires_at, user_agent, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
ON CONFLICT (account_id, instance_id) DO UPDATE SET
  contact = EXCLUDED.contact, source = EXCLUDED.source, via_bridge = EXCLUDED.via_bridge,
  flow_token = EXCLUDED.flow_token, expires_at = EXCLUDED.expires_at, user_agent = EXCLUDED.user_agent,
  last_seen = now()
RETURNING id, (xmax = 0) AS inserted`;

const TOKEN_ON_CONFLICT = `
ON CONFLICT (device_id, kind) DO UPDATE SET
  provider = EXCLUDED.provider, app_id = EXCLUDED.app_id, token = EXCLUDED.token, pn_param = EXCLUDED.pn_param,
  dead_at = CASE WHEN push_token.token = EXCLUDED.token THEN push_token.dead_at ELSE NULL END,
  updated_at = now()`;

/** $1..$6: device id, kind, provider, app id, token, pn-param → dead (the same token was reported dead). */
export const UPSERT_TOKEN = `
INSERT INTO push_token (device_id, kind, provider, app_id, token, pn_param, dead_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, NULL, now())${TOKEN_ON_CONFLICT}
RETURNING dead_at IS NOT NULL AS dead`;

/** $1, $2: device id, the kinds the REGISTER sent (text[]): every other kind is dropped. */
export const DROP_OTHER_TOKENS = 'DELETE FROM push_token WHERE device_id = $1 AND NOT (kind = ANY($2::text[]))';

/**
 * The binding, its tokens (parallel arrays $9..$13: kind, provider, app id, token, pn-param) and
 * the drop of kinds not sent, as one statement: one round trip instead of five. Data-modifying
 * CTEs share one snapshot; they never touch the same row (the DELETE takes only absent kinds).
 */
export const UPSERT_DEVICE_WITH_TOKENS = `
WITH d AS (${UPSERT_DEVICE}
), t AS (
  INSERT INTO push_token (device_id, kind, provider, app_id, token, pn_param, dead_at, updated_at)
  SELECT d.id, x.kind, x.provider, x.app_id, x.token, x.pn_param, NULL, now()
  FROM d, unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) AS x(kind, provider, app_id, token, pn_param)${TOKEN_ON_CONFLICT}
  RETURNING kind, dead_at IS NOT NULL AS dead
), gone AS (
  DELETE FROM push_token p USING d WHERE p.device_id = d.id AND NOT (p.kind = ANY($9::text[]))
)
SELECT d.id, d.inserted, coalesce((SELECT array_agg(kind) FROM t WHERE dead), '{}') AS dead_kinds FROM d`;

/** $1..$8 of UPSERT_DEVICE (and of UPSERT_DEVICE_WITH_TOKENS) for a binding. */
export function deviceParams(b: BindingInput): SqlParam[] {
  return [b.accountId, b.instanceId, b.contact, b.source ?? null, b.viaBridge ?? false, b.flowToken ?? null, b.expiresAt, b.userAgent ?? null];
}

/** $1..$6 of UPSERT_TOKEN for a token of device `id`. */
export function tokenParams(id: number, t: PushTokenInput): SqlParam[] {
  return [id, t.kind, t.provider, t.appId ?? null, t.token, t.pnParam ?? null];
}
