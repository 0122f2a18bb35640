/**
 * Device bindings (phones registered to sipis) and their push tokens, for the device registrar
 * (RFC 8599 push parameters). One binding per (account, +sip.instance); a device has at most one
 * token per kind (iOS 13+: 'voip' for PushKit, 'remote' for the rest).
 */
import type { Pool } from './pool.js';
import { deviceParams, tokenParams, UPSERT_DEVICE, UPSERT_TOKEN } from './device-sql.js';

export interface PushTokenInput {
  kind: string;
  /** RFC 8599 pn-provider: apns, fcm, … */
  provider: string;
  appId?: string | null;
  /** RFC 8599 pn-prid. */
  token: string;
  pnParam?: string | null;
}

export interface PushToken extends Required<PushTokenInput> {
  deviceId: number;
  deadAt: Date | null;
}

export interface BindingInput {
  accountId: number;
  /** +sip.instance (RFC 5626 §4.1), or the Contact URI when the device sends none. */
  instanceId: string;
  contact: string;
  source?: string | null;
  viaBridge?: boolean;
  flowToken?: string | null;
  expiresAt: Date;
  userAgent?: string | null;
  /** tokens to store with the binding; kinds not listed are left as they are. */
  pushTokens?: PushTokenInput[];
}

export interface DeviceBinding {
  id: number;
  accountId: number;
  instanceId: string;
  contact: string;
  source: string | null;
  viaBridge: boolean;
  flowToken: string | null;
  expiresAt: Date;
  lastSeen: Date;
  userAgent: string | null;
  pushTokens: PushToken[];
}

/** a `device` row with its tokens aggregated as JSON (the shape LIST_SQL returns). */
export interface DeviceRow {
  id: string;
  account_id: string;
  instance_id: string;
  contact: string;
  source: string | null;
  via_bridge: boolean;
  flow_token: string | null;
  expires_at: Date;
  last_seen: Date;
  user_agent: string | null;
  tokens: Array<{ kind: string; provider: string; app_id: string | null; token: string; pn_param: string | null; dead_at: string | null }> | null;
}

const LIST_SQL = `
SELECT d.id, d.account_id, d.instance_id, d.contact, d.source, d.via_bridge, d.flow_token, d.expires_at, d.last_seen,
       d.user_agent,
       (SELECT json_agg(json_build_object('kind', t.kind, 'provider', t.provider, 'app_id', t.app_id, 'token', t.token,
                        'pn_param', t.pn_param, 'dead_at', t.dead_at) ORDER BY t.kind)
        FROM push_token t WHERE t.device_id = d.id) AS tokens
FROM device d WHERE d.account_id = $1 AND ($2::boolean OR d.expires_at > now())
ORDER BY d.id`;

export function deviceBindingFromRow(r: DeviceRow): DeviceBinding {
  const id = Number(r.id);
  return {
    id,
    accountId: Number(r.account_id),
    instanceId: r.instance_id,
    contact: r.contact,
    source: r.source,
    viaBridge: r.via_bridge,
    flowToken: r.flow_token,
    expiresAt: r.expires_at,
    lastSeen: r.last_seen,
    userAgent: r.user_agent,
    pushTokens: (r.tokens ?? []).map((t) => ({
      deviceId: id,
      kind: t.kind,
      provider: t.provider,
      appId: t.app_id,
      token: t.token,
      pnParam: t.pn_param,
      deadAt: t.dead_at ? new Date(t.dead_at) : null,
    })),
  };
}

export class DeviceStore {
  constructor(private readonly pool: Pool) {}

  /** creates or refreshes a binding and its tokens in one transaction; returns the device id. */
  async upsertBinding(b: BindingInput): Promise<number> {
    return this.pool.transaction(async (tx) => {
      const rows = await tx.execute<{ id: string }>('device_upsert', UPSERT_DEVICE, deviceParams(b));
      const id = Number(rows[0]!.id);
      for (const t of b.pushTokens ?? []) {
        await tx.execute('push_token_upsert', UPSERT_TOKEN, tokenParams(id, t));
      }
      return id;
    });
  }

  /** the account's bindings with their tokens; expired ones only when asked. */
  async listBindings(accountId: number, opts: { includeExpired?: boolean } = {}): Promise<DeviceBinding[]> {
    const rows = await this.pool.execute<DeviceRow>('device_list', LIST_SQL, [accountId, opts.includeExpired ?? false]);
    return rows.map(deviceBindingFromRow);
  }

  async removeBinding(accountId: number, instanceId: string): Promise<boolean> {
    const rows = await this.pool.query('DELETE FROM device WHERE account_id = $1 AND instance_id = $2 RETURNING id', [accountId, instanceId]);
    return rows.length > 0;
  }

  /** the push service said this token is gone (APNs 410/400 BadDeviceToken, FCM 404): stop using it. */
  async markTokenDead(token: string, provider?: string): Promise<number> {
    const rows = await this.pool.query(
      'UPDATE push_token SET dead_at = now(), updated_at = now() WHERE token = $1 AND ($2::text IS NULL OR provider = $2) AND dead_at IS NULL RETURNING device_id',
      [token, provider ?? null],
    );
    return rows.length;
  }

  /**
   * Clean-up: bindings not seen since `before` (3 days, 7 for premium accounts: the caller picks
   * the cut-offs). Returns the number removed.
   */
  async removeStale(before: Date, premiumBefore: Date = before): Promise<number> {
    const rows = await this.pool.query(
      `DELETE FROM device d USING account a WHERE a.id = d.account_id
       AND d.last_seen < CASE WHEN a.premium THEN $2::timestamptz ELSE $1::timestamptz END RETURNING d.id`,
      [before, premiumBefore],
    );
    return rows.length;
  }

  async count(): Promise<{ devices: number; liveTokens: number }> {
    const rows = await this.pool.query<{ d: string; t: string }>(
      'SELECT (SELECT count(*) FROM device) AS d, (SELECT count(*) FROM push_token WHERE dead_at IS NULL) AS t',
    );
    return { devices: Number(rows[0]!.d), liveTokens: Number(rows[0]!.t) };
  }
}
