/**
 * Device-binding queries the device registrar needs beyond devices.ts (H5's DeviceStore):
 * an exact token replacement in the same transaction as the binding (a REGISTER describes all
 * of the device's tokens: kinds it no longer sends are dropped), paged loading of every live
 * binding at start-up, and removals by id in batches (sweeps, `Contact: *`).
 */
import { deviceBindingFromRow, type BindingInput, type DeviceBinding, type DeviceRow, type PushTokenInput } from './devices.js';
import type { Pool } from './pool.js';
import { arrayLiteral } from './sql-array.js';

const UPSERT_DEVICE = `
INSERT INTO device (account_id, instance_id, contact, source, via_bridge, flow_token, expires_at, user_agent, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
ON CONFLICT (account_id, instance_id) DO UPDATE SET
  contact = EXCLUDED.contact, source = EXCLUDED.source, via_bridge = EXCLUDED.via_bridge,
  flow_token = EXCLUDED.flow_token, expires_at = EXCLUDED.expires_at, user_agent = EXCLUDED.user_agent,
  last_seen = now()
RETURNING id, (xmax = 0) AS inserted`;

// Same rule as devices.ts: a token reported dead stays dead until the device sends a different one.
const UPSERT_TOKEN = `
INSERT INTO push_token (device_id, kind, provider, app_id, token, pn_param, dead_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, NULL, now())
ON CONFLICT (device_id, kind) DO UPDATE SET
  provider = EXCLUDED.provider, app_id = EXCLUDED.app_id, token = EXCLUDED.token, pn_param = EXCLUDED.pn_param,
  dead_at = CASE WHEN push_token.token = EXCLUDED.token THEN push_token.dead_at ELSE NULL END,
  updated_at = now()
RETURNING dead_at IS NOT NULL AS dead`;

const DROP_OTHER_TOKENS = 'DELETE FROM push_token WHERE device_id = $1 AND NOT (kind = ANY($2::text[]))';

// The same upsert as one statement (one round trip instead of five): the device row, its tokens
// from parallel arrays, and the drop of kinds not sent. Data-modifying CTEs share one snapshot;
// they never touch the same row here (the DELETE takes only kinds absent from the arrays).
const UPSERT_ONE = `
WITH d AS (
  INSERT INTO device (account_id, instance_id, contact, source, via_bridge, flow_token, expires_at, user_agent, last_seen)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
  ON CONFLICT (account_id, instance_id) DO UPDATE SET
    contact = EXCLUDED.contact, source = EXCLUDED.source, via_bridge = EXCLUDED.via_bridge,
    flow_token = EXCLUDED.flow_token, expires_at = EXCLUDED.expires_at, user_agent = EXCLUDED.user_agent,
    last_seen = now()
  RETURNING id, (xmax = 0) AS inserted
), t AS (
  INSERT INTO push_token (device_id, kind, provider, app_id, token, pn_param, dead_at, updated_at)
  SELECT d.id, x.kind, x.provider, x.app_id, x.token, x.pn_param, NULL, now()
  FROM d, unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) AS x(kind, provider, app_id, token, pn_param)
  ON CONFLICT (device_id, kind) DO UPDATE SET
    provider = EXCLUDED.provider, app_id = EXCLUDED.app_id, token = EXCLUDED.token, pn_param = EXCLUDED.pn_param,
    dead_at = CASE WHEN push_token.token = EXCLUDED.token THEN push_token.dead_at ELSE NULL END,
    updated_at = now()
  RETURNING kind, dead_at IS NOT NULL AS dead
), gone AS (
  DELETE FROM push_token p USING d WHERE p.device_id = d.id AND NOT (p.kind = ANY($9::text[]))
)
SELECT d.id, d.inserted, coalesce((SELECT array_agg(kind) FROM t WHERE dead), '{}') AS dead_kinds FROM d`;

const LIVE_PAGE = `
SELECT d.id, d.account_id, d.instance_id, d.contact, d.source, d.via_bridge, d.flow_token, d.expires_at, d.last_seen,
       d.user_agent,
       (SELECT json_agg(json_build_object('kind', t.kind, 'provider', t.provider, 'app_id', t.app_id, 'token', t.token,
                        'pn_param', t.pn_param, 'dead_at', t.dead_at) ORDER BY t.kind)
        FROM push_token t WHERE t.device_id = d.id) AS tokens
FROM device d WHERE d.id > $1 AND d.expires_at > now()
ORDER BY d.id LIMIT $2`;

export interface UpsertedBinding {
  id: number;
  inserted: boolean;
  /** kinds of the given tokens that are known dead (same token reported dead before). */
  deadKinds: string[];
}

export class RegistrarBindingStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Creates or refreshes a binding; its tokens become exactly `b.pushTokens` (kinds not listed
   * are deleted). One transaction.
   */
  async upsertExact(b: BindingInput & { pushTokens: PushTokenInput[] }): Promise<UpsertedBinding> {
    return this.pool.transaction(async (tx) => {
      const rows = await tx.execute<{ id: string; inserted: boolean }>('reg_device_upsert', UPSERT_DEVICE, [
        b.accountId,
        b.instanceId,
        b.contact,
        b.source ?? null,
        b.viaBridge ?? false,
        b.flowToken ?? null,
        b.expiresAt,
        b.userAgent ?? null,
      ]);
      const id = Number(rows[0]!.id);
      const deadKinds: string[] = [];
      for (const t of b.pushTokens) {
        const r = await tx.execute<{ dead: boolean }>('reg_token_upsert', UPSERT_TOKEN, [id, t.kind, t.provider, t.appId ?? null, t.token, t.pnParam ?? null]);
        if (r[0]?.dead) deadKinds.push(t.kind);
      }
      await tx.execute('reg_token_drop_others', DROP_OTHER_TOKENS, [id, arrayLiteral(b.pushTokens.map((t) => t.kind))]);
      return { id, inserted: rows[0]!.inserted, deadKinds };
    });
  }

  /** `upsertExact` in one statement (one round trip): what the registrar uses. */
  async upsertOne(b: BindingInput & { pushTokens: PushTokenInput[] }): Promise<UpsertedBinding> {
    const tk = b.pushTokens;
    const rows = await this.pool.execute<{ id: string; inserted: boolean; dead_kinds: string[] | string }>('reg_device_upsert_one', UPSERT_ONE, [
      b.accountId,
      b.instanceId,
      b.contact,
      b.source ?? null,
      b.viaBridge ?? false,
      b.flowToken ?? null,
      b.expiresAt,
      b.userAgent ?? null,
      arrayLiteral(tk.map((t) => t.kind)),
      arrayLiteral(tk.map((t) => t.provider)),
      arrayLiteral(tk.map((t) => t.appId ?? null)),
      arrayLiteral(tk.map((t) => t.token)),
      arrayLiteral(tk.map((t) => t.pnParam ?? null)),
    ]);
    const r = rows[0]!;
    // pg-native hands arrays back as text ('{voip}') unless a type parser is set: read both
    const dead = Array.isArray(r.dead_kinds) ? r.dead_kinds : r.dead_kinds.replace(/^\{|\}$/g, '').split(',').filter((k) => k !== '');
    return { id: Number(r.id), inserted: r.inserted, deadKinds: dead };
  }

  /** every unexpired binding, in pages of `pageSize` (keyset on id): the start-up load. */
  async *live(pageSize = 5000): AsyncGenerator<DeviceBinding[]> {
    let after = 0;
    for (;;) {
      const rows = await this.pool.execute<DeviceRow>('reg_device_live_page', LIVE_PAGE, [after, pageSize]);
      if (rows.length === 0) return;
      yield rows.map(deviceBindingFromRow);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1]!.id);
    }
  }

  async removeByIds(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.pool.execute<{ id: string }>('reg_device_remove_ids', 'DELETE FROM device WHERE id = ANY($1::bigint[]) RETURNING id', [arrayLiteral(ids)]);
    return rows.length;
  }

  /**
   * The expiry sweep's delete: only rows still expired, so a binding refreshed by a REGISTER
   * that raced the sweep (same row, new expiry) survives.
   */
  async removeExpiredIds(ids: readonly number[], now: Date = new Date()): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.pool.execute<{ id: string }>(
      'reg_device_remove_expired_ids',
      'DELETE FROM device WHERE id = ANY($1::bigint[]) AND expires_at <= $2 RETURNING id',
      [arrayLiteral(ids), now],
    );
    return rows.length;
  }

  /** bindings whose expiry has passed (a sweep after downtime; the in-memory sweep removes the rest). */
  async removeExpired(now: Date = new Date()): Promise<number> {
    const rows = await this.pool.execute<{ id: string }>('reg_device_remove_expired', 'DELETE FROM device WHERE expires_at <= $1 RETURNING id', [now]);
    return rows.length;
  }

  /** marks one token dead; returns the devices it belonged to (with that token's kind). */
  async markTokenDead(token: string, provider?: string): Promise<Array<{ deviceId: number; kind: string }>> {
    const rows = await this.pool.execute<{ device_id: string; kind: string }>(
      'reg_token_dead',
      'UPDATE push_token SET dead_at = now(), updated_at = now() WHERE token = $1 AND ($2::text IS NULL OR provider = $2) AND dead_at IS NULL RETURNING device_id, kind',
      [token, provider ?? null],
    );
    return rows.map((r) => ({ deviceId: Number(r.device_id), kind: r.kind }));
  }
}
