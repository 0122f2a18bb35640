/**
 * Register-on-behalf state, one row per account (written by the upstream engine).
 * 1M accounts refreshing hourly is ~280 writes/s, so writes are batched: `saveMany` upserts any
 * number of rows in one statement per chunk (unnest over array parameters).
 */
import { accountColumns, accountFromRow, epochMs, type Account, type AccountRow, type Page } from './accounts.js';
import { StoreError } from './errors.js';
import type { Pool } from './pool.js';
import { arrayLiteral } from './sql-array.js';

export type RegistrationStateName = 'Idle' | 'Registering' | 'Registered' | 'Unauthorized' | 'Error';
export const REGISTRATION_STATES: readonly RegistrationStateName[] = ['Idle', 'Registering', 'Registered', 'Unauthorized', 'Error'];

export interface RegistrationState {
  accountId: number;
  state: RegistrationStateName;
  /** Call-ID of the registration, reused by every refresh (RFC 3261 §10.2.4). */
  callId: string | null;
  /** last CSeq sent; the next REGISTER uses cseq + 1. */
  cseq: number;
  contact: string | null;
  expiresAt: Date | null;
  lastStatus: number | null;
  lastReason: string | null;
  retryAt: Date | null;
  failures: number;
  failingSince: Date | null;
  updatedAt?: Date;
}

interface RegistrationRow {
  account_id: string;
  state: RegistrationStateName;
  call_id: string | null;
  cseq: string;
  contact: string | null;
  expires_at: Date | null;
  last_status: number | null;
  last_reason: string | null;
  retry_at: Date | null;
  failures: number;
  failing_since: Date | null;
  updated_at: Date;
}

function fromRow(r: RegistrationRow): RegistrationState {
  return {
    accountId: Number(r.account_id),
    state: r.state,
    callId: r.call_id,
    cseq: Number(r.cseq),
    contact: r.contact,
    expiresAt: r.expires_at,
    lastStatus: r.last_status,
    lastReason: r.last_reason,
    retryAt: r.retry_at,
    failures: r.failures,
    failingSince: r.failing_since,
    updatedAt: r.updated_at,
  };
}

const REG_COLUMNS = 'account_id, state, call_id, cseq, contact, expires_at, last_status, last_reason, retry_at, failures, failing_since, updated_at';

/** rows per statement: keeps one statement's parameters a few MB at most. */
const CHUNK = 5000;

const SAVE_SQL = `
INSERT INTO upstream_registration AS r
  (account_id, state, call_id, cseq, contact, expires_at, last_status, last_reason, retry_at, failures, failing_since, updated_at)
SELECT x.account_id, x.state, x.call_id, x.cseq, x.contact, x.expires_at, x.last_status, x.last_reason, x.retry_at,
       x.failures, x.failing_since, now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::int[], $8::text[],
            $9::timestamptz[], $10::int[], $11::timestamptz[])
     AS x(account_id, state, call_id, cseq, contact, expires_at, last_status, last_reason, retry_at, failures, failing_since)
JOIN account a ON a.id = x.account_id   -- an account deleted meanwhile is skipped, not an FK error
ON CONFLICT (account_id) DO UPDATE SET
  state = EXCLUDED.state, call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, contact = EXCLUDED.contact,
  expires_at = EXCLUDED.expires_at, last_status = EXCLUDED.last_status, last_reason = EXCLUDED.last_reason,
  retry_at = EXCLUDED.retry_at, failures = EXCLUDED.failures, failing_since = EXCLUDED.failing_since,
  updated_at = EXCLUDED.updated_at`;

export interface AccountWithRegistration {
  account: Account;
  registration: RegistrationState | null;
}

export class RegistrationStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Upserts many states. Idempotent: a caller that got STORE_UNAVAILABLE retries the same rows.
   * Within one call the last row per account wins (one statement may not touch a row twice).
   * Returns the number of rows written (accounts deleted meanwhile are skipped).
   */
  async saveMany(states: readonly RegistrationState[]): Promise<number> {
    const latest = new Map<number, RegistrationState>();
    for (const s of states) {
      if (!(REGISTRATION_STATE_SET as Set<string>).has(s.state)) {
        throw new StoreError('STORE_INVALID', `invalid registration state "${String(s.state)}" for account ${s.accountId}`);
      }
      latest.delete(s.accountId);
      latest.set(s.accountId, s);
    }
    // ascending ids: two writers whose batches overlap (a shard hand-over) lock rows in the
    // same order and cannot deadlock
    const all = [...latest.values()].sort((a, b) => a.accountId - b.accountId);
    let written = 0;
    for (let i = 0; i < all.length; i += CHUNK) {
      const chunk = all.slice(i, i + CHUNK);
      await this.pool.execute<never>('registration_save_many', SAVE_SQL, [
        arrayLiteral(chunk.map((s) => s.accountId)),
        arrayLiteral(chunk.map((s) => s.state)),
        arrayLiteral(chunk.map((s) => s.callId)),
        arrayLiteral(chunk.map((s) => s.cseq)),
        arrayLiteral(chunk.map((s) => s.contact)),
        arrayLiteral(chunk.map((s) => s.expiresAt)),
        arrayLiteral(chunk.map((s) => s.lastStatus)),
        arrayLiteral(chunk.map((s) => s.lastReason)),
        arrayLiteral(chunk.map((s) => s.retryAt)),
        arrayLiteral(chunk.map((s) => s.failures)),
        arrayLiteral(chunk.map((s) => s.failingSince)),
      ]);
      written += chunk.length;
    }
    return written;
  }

  async save(state: RegistrationState): Promise<void> {
    await this.saveMany([state]);
  }

  async get(accountId: number): Promise<RegistrationState | null> {
    const rows = await this.pool.execute<RegistrationRow>(
      'registration_get',
      `SELECT ${REG_COLUMNS} FROM upstream_registration WHERE account_id = $1`,
      [accountId],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /**
   * Start-up load for the engine: enabled accounts with their saved state, in id order, one
   * keyset page at a time (see AccountStore.list for `shard` and paging semantics).
   */
  async loadPage(opts: { afterId?: number; limit?: number; shard?: (shardKey: string) => boolean; disabledRegistered?: boolean } = {}): Promise<Page<AccountWithRegistration>> {
    const limit = Math.min(10_000, Math.max(1, opts.limit ?? 1000));
    // `disabledRegistered`: instead, the disabled accounts whose last known state is a binding
    // still running at the provider (disabled while no sipis was there to unREGISTER them)
    const which = opts.disabledRegistered
      ? `NOT a.enabled AND r.state = 'Registered' AND r.expires_at > now()`
      : 'a.enabled';
    // flat columns with epoch-ms timestamps: ~3× faster to decode than row_to_json or
    // timestamptz values, which matters when a shard loads a million accounts at start-up
    const rows = await this.pool.execute<AccountRow & FlatRegistration>(
      opts.disabledRegistered ? 'registration_load_disabled_page' : 'registration_load_page',
      `SELECT ${accountColumns('a')},
              r.account_id AS r_account_id, r.state AS r_state, r.call_id AS r_call_id, r.cseq AS r_cseq,
              r.contact AS r_contact, ${epochMs('r.expires_at')} AS r_expires_ms, r.last_status AS r_last_status,
              r.last_reason AS r_last_reason, ${epochMs('r.retry_at')} AS r_retry_ms, r.failures AS r_failures,
              ${epochMs('r.failing_since')} AS r_failing_ms, ${epochMs('r.updated_at')} AS r_updated_ms
       FROM account a LEFT JOIN upstream_registration r ON r.account_id = a.id
       WHERE ${which} AND a.id > $1 ORDER BY a.id LIMIT $2`,
      [opts.afterId ?? 0, limit],
    );
    const nextAfterId = rows.length === limit ? Number(rows[rows.length - 1]!.id) : null;
    const out: AccountWithRegistration[] = [];
    for (const r of rows) {
      if (opts.shard && !opts.shard(r.shard_key)) continue;
      out.push({ account: accountFromRow(r), registration: r.r_account_id === null ? null : fromFlat(r) });
    }
    return { rows: out, nextAfterId };
  }

  async *iterate(opts: { limit?: number; shard?: (shardKey: string) => boolean } = {}): AsyncGenerator<AccountWithRegistration> {
    let after: number | null = 0;
    while (after !== null) {
      const page: Page<AccountWithRegistration> = await this.loadPage({ ...opts, afterId: after });
      yield* page.rows;
      after = page.nextAfterId;
    }
  }

  /** accounts whose registration has been failing since before `before` (oldest first). */
  async listFailing(before: Date, limit = 1000): Promise<Array<{ accountId: number; failingSince: Date; state: RegistrationStateName }>> {
    const rows = await this.pool.query<{ account_id: string; failing_since: Date; state: RegistrationStateName }>(
      `SELECT account_id, failing_since, state FROM upstream_registration
       WHERE failing_since IS NOT NULL AND failing_since < $1 ORDER BY failing_since LIMIT $2`,
      [before, limit],
    );
    return rows.map((r) => ({ accountId: Number(r.account_id), failingSince: r.failing_since, state: r.state }));
  }

  /** accounts per registration state; enabled accounts without a saved state count as Idle. */
  async countByState(): Promise<Record<RegistrationStateName, number>> {
    const rows = await this.pool.query<{ state: RegistrationStateName; n: string }>(
      `SELECT coalesce(r.state, 'Idle') AS state, count(*) AS n
       FROM account a LEFT JOIN upstream_registration r ON r.account_id = a.id
       WHERE a.enabled GROUP BY 1`,
    );
    const out = Object.fromEntries(REGISTRATION_STATES.map((s) => [s, 0])) as Record<RegistrationStateName, number>;
    for (const r of rows) out[r.state] = Number(r.n);
    return out;
  }
}

const REGISTRATION_STATE_SET = new Set<RegistrationStateName>(REGISTRATION_STATES);

interface FlatRegistration {
  r_account_id: string | null;
  r_state: RegistrationStateName;
  r_call_id: string | null;
  r_cseq: string;
  r_contact: string | null;
  r_expires_ms: number | null;
  r_last_status: number | null;
  r_last_reason: string | null;
  r_retry_ms: number | null;
  r_failures: number;
  r_failing_ms: number | null;
  r_updated_ms: number;
}

function fromFlat(r: FlatRegistration): RegistrationState {
  const d = (ms: number | null) => (ms === null ? null : new Date(ms));
  return {
    accountId: Number(r.r_account_id),
    state: r.r_state,
    callId: r.r_call_id,
    cseq: Number(r.r_cseq),
    contact: r.r_contact,
    expiresAt: d(r.r_expires_ms),
    lastStatus: r.r_last_status,
    lastReason: r.r_last_reason,
    retryAt: d(r.r_retry_ms),
    failures: r.r_failures,
    failingSince: d(r.r_failing_ms),
    updatedAt: new Date(r.r_updated_ms),
  };
}
