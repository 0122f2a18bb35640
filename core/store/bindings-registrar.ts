/**
 * Device-binding queries the device registrar needs beyond devices.ts (H5's DeviceStore):
 * an exact token replacement in the same transaction as the binding (a REGISTER describes all
 * of the device's tokens: kinds it no longer sends are dropped), paged loading of every live
 * binding at start-up, and removals by id in batches (sweeps, `Contact: *`).
 */
import { deviceBindingFromRow, type BindingInput, type DeviceBinding, type DeviceRow, type PushTokenInput } from './devices.js';
import type { Pool } from './pool.js';
import { deviceParams, DROP_OTHER_TOKENS, tokenParams, UPSERT_DEVICE, UPSERT_DEVICE_WITH_TOKENS, UPSERT_TOKEN } from './device-sql.js';
import { arrayLiteral } from './sql-array.js';

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
      const rows = await tx.execute<{ id: string; inserted: boolean }>('device_upsert', UPSERT_DEVICE, deviceParams(b));
      const id = Number(rows[0]!.id);
      const deadKinds: string[] = [];
      for (const t of b.pushTokens) {
        const r = await tx.execute<{ dead: boolean }>('push_token_upsert', UPSERT_TOKEN, tokenParams(id, t));
        if (r[0]?.dead) deadKinds.push(t.kind);
      }
      await tx.execute('reg_token_drop_others', DROP_OTHER_TOKENS, [id, arrayLiteral(b.pushTokens.map((t) => t.kind))]);
      return { id, inserted: rows[0]!.inserted, deadKinds };
    });
  }

  /** `upsertExact` in one statement (one round trip): what the registrar uses. */
  async upsertOne(b: BindingInput & { pushTokens: PushTokenInput[] }): Promise<UpsertedBinding> {
    const tk = b.pushTokens;
    const rows = await this.pool.execute<{ id: string; inserted: boolean; dead_kinds: string[] | string }>('reg_device_upsert_one', UPSERT_DEVICE_WITH_TOKENS, [
      ...deviceParams(b),
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
