/**
 * The queries of the clean-up sweep (core/server/cleanup.ts): device bindings not seen for a
 * while (removed, 7 days instead of 3 for premium accounts), accounts whose upstream
 * registration keeps failing (switched off), and the warning pushes before either.
 *
 * Every decision is taken by PostgreSQL inside the statement that acts on it, against the row
 * as it is then: a warning is claimed by an UPDATE whose WHERE says "not sent yet for this due
 * time", a removal is a DELETE whose WHERE says "still due", a switch-off an UPDATE whose WHERE
 * says "still enabled and still failing". Two sipis processes sweeping the same rows (no shard
 * set, or a shard hand-over) therefore never both act on one row (the second waits for the
 * first's row lock, re-checks the WHERE and skips it), and a REGISTER that refreshes `last_seen`
 * just before the DELETE keeps its binding. The candidate lists only say where to look; the
 * caller filters them by shard ownership and passes the ids back.
 *
 * Due times: a device is due `staleMs` (premium: `premiumStaleMs`) after its `last_seen`; an
 * account `failingMs` after its registration's `failing_since`. Warning i is due `warningsMs[i]`
 * before that; `warning_stage` counts those sent for `warned_due_at` (migration 002). All times
 * are computed in SQL from `$1` (the sweep's clock), never sent back and forth through JS dates,
 * which would lose the microseconds of `last_seen`.
 */
import { arrayLiteral } from './sql-array.js';
import { epochMs } from './accounts.js';
import type { Pool } from './pool.js';

export interface CleanupAges {
  /** a device not seen for this long is removed (ms). */
  staleMs: number;
  /** the same for devices of premium accounts (ms). */
  premiumStaleMs: number;
  /** an account whose registration has been failing this long is switched off (ms). */
  failingMs: number;
  /** warning pushes this long before a removal or a switch-off (ms, any order). */
  warningsMs: readonly number[];
}

/** A row that needs the sweep's attention now. */
export interface CleanupCandidate {
  /** device id (devices) or account id (accounts). */
  id: number;
  accountId: number;
  /** the account's shard key: the caller acts only on the accounts its shard owns. */
  shardKey: string;
  /** removal / switch-off time, ms since the epoch. */
  dueAt: number;
  /** due now (remove / switch off) rather than a warning. */
  due: boolean;
}

export interface CandidatePage {
  rows: CleanupCandidate[];
  /** keyset cursor of the next page (opaque: hand it back as `after`); null when the scan is complete. */
  next: string | null;
}

/** A live push token of a device (dead ones are left out). */
export interface CleanupToken {
  kind: string;
  provider: string;
  appId: string | null;
  token: string;
  pnParam: string | null;
}

export interface WarnedDevice {
  deviceId: number;
  accountId: number;
  dueAt: number;
  /** warnings sent for this due time, this one included. */
  stage: number;
  tokens: CleanupToken[];
}

export interface RemovedDevice {
  deviceId: number;
  accountId: number;
  instanceId: string;
  lastSeen: number;
  tokens: CleanupToken[];
}

export interface WarnedAccount {
  accountId: number;
  dueAt: number;
  stage: number;
  failingSince: number;
}

export interface SwitchedOffAccount {
  accountId: number;
  aor: string;
  failingSince: number;
  reason: string;
}

export interface AccountDevice {
  deviceId: number;
  accountId: number;
  tokens: CleanupToken[];
}

export interface SwitchedOffSummary {
  /** accounts disabled by the clean-up and not enabled since. */
  total: number;
  /** the newest of them. */
  recent: Array<{ id: number; aor: string; reason: string; at: string | null }>;
}

interface TokenJson {
  kind: string;
  provider: string;
  app_id: string | null;
  token: string;
  pn_param: string | null;
}

const ms = (p: string): string => `${p}::bigint * interval '1 millisecond'`;

/** the live tokens of device `alias.id` as a JSON array (NULL when none). */
const tokensOf = (alias: string): string => `(SELECT json_agg(json_build_object('kind', t.kind, 'provider', t.provider, 'app_id', t.app_id,
    'token', t.token, 'pn_param', t.pn_param) ORDER BY t.kind) FROM push_token t WHERE t.device_id = ${alias}.id AND t.dead_at IS NULL)`;

/**
 * The warning bookkeeping of a row (`alias`, with its warned_due_at, warning_stage, warned_at)
 * whose act is due at `due`, the warning offsets (ms) in the bigint[] parameter `offsets`, at $1:
 * - stage: how many warnings are due by now;
 * - sent: how many went out for this due time;
 * - actAt: when the act happens: its due time or, when no warning went out for it in time (sipis
 *   or the database was down, the sweep was just deployed, a threshold changed), the shortest
 *   offset after its first warning: nobody is acted on without being told;
 * - told: warned for this due time the shortest offset ago or earlier (or no warnings configured).
 */
function warningTerms(alias: string, due: string, offsets: string): { stage: string; sent: string; actAt: string; told: string } {
  const min = `(SELECT coalesce(min(o.ms), 0) FROM unnest(${offsets}::bigint[]) AS o(ms))`;
  const sent = `(CASE WHEN ${alias}.warned_due_at = ${due} THEN ${alias}.warning_stage ELSE 0 END)`;
  return {
    stage: `(SELECT count(*)::int FROM unnest(${offsets}::bigint[]) AS o(ms) WHERE ${due} - o.ms * interval '1 millisecond' <= $1::timestamptz)`,
    sent,
    actAt: `GREATEST(${due}, $1::timestamptz + ${min} * interval '1 millisecond')`,
    told: `(cardinality(${offsets}::bigint[]) = 0 OR (${sent} > 0 AND ${alias}.warned_at <= $1::timestamptz - ${min} * interval '1 millisecond'))`,
  };
}

// Devices: $1 now, $2 stale ms, $3 premium stale ms, $4 warning offsets (bigint[]).
const DEVICE_DUE = `(d.last_seen + CASE WHEN a.premium THEN $3::bigint ELSE $2::bigint END * interval '1 millisecond')`;
const DEVICE = warningTerms('d', DEVICE_DUE, '$4');

/**
 * $5 horizon ms (no device seen since now − horizon needs anything), ($6 last_seen, $7 id) the
 * keyset cursor, $8 limit. In (last_seen, id) order: the device_last_seen index (last_seen, id)
 * reads only the devices older than the horizon, not the live majority of the table.
 */
const DEVICE_CANDIDATES = `
SELECT d.id, d.account_id, a.shard_key, ${epochMs(DEVICE_DUE)} AS due_ms, ${DEVICE_DUE} <= $1::timestamptz AS due, d.last_seen::text AS seen
FROM device d JOIN account a ON a.id = d.account_id
WHERE d.last_seen <= $1::timestamptz - ${ms('$5')} AND (d.last_seen, d.id) > ($6::timestamptz, $7::bigint)
  AND (${DEVICE_DUE} <= $1::timestamptz OR ${DEVICE.stage} > ${DEVICE.sent})
ORDER BY d.last_seen, d.id LIMIT $8`;

/** $5 device ids. */
const DEVICE_WARN = `
UPDATE device d SET warned_due_at = ${DEVICE_DUE}, warning_stage = ${DEVICE.stage}, warned_at = $1::timestamptz
FROM account a
WHERE a.id = d.account_id AND d.id = ANY($5::bigint[]) AND ${DEVICE.stage} > ${DEVICE.sent}
RETURNING d.id, d.account_id, ${epochMs(DEVICE.actAt)} AS due_ms, d.warning_stage AS stage, ${tokensOf('d')} AS tokens`;

/**
 * $5 device ids. The outer SELECT reads the tokens from the statement's snapshot, taken before
 * the DELETE (and its cascade to push_token) ran: the final push goes to them.
 */
const DEVICE_REMOVE = `
WITH gone AS (
  DELETE FROM device d USING account a
  WHERE a.id = d.account_id AND d.id = ANY($5::bigint[]) AND ${DEVICE_DUE} <= $1::timestamptz AND ${DEVICE.told}
  RETURNING d.id, d.account_id, d.instance_id, ${epochMs('d.last_seen')} AS last_seen_ms
)
SELECT g.id, g.account_id, g.instance_id, g.last_seen_ms, ${tokensOf('g')} AS tokens FROM gone g ORDER BY g.id`;

// Accounts: $1 now, $2 failing ms, $3 warning offsets (bigint[]).
const ACCOUNT_DUE = `(r.failing_since + ${ms('$2')})`;
const ACCOUNT = warningTerms('r', ACCOUNT_DUE, '$3');
/**
 * A provider's blip is not worth an alert: an account is warned only once it has failed for
 * this long (with the default offsets its first warning would else go with its first failure).
 */
export const ACCOUNT_WARN_AFTER_MS = 10 * 60_000;

/** $4 horizon ms, $5 after id, $6 limit. */
const ACCOUNT_CANDIDATES = `
SELECT r.account_id AS id, r.account_id, a.shard_key, ${epochMs(ACCOUNT_DUE)} AS due_ms, ${ACCOUNT_DUE} <= $1::timestamptz AS due
FROM upstream_registration r JOIN account a ON a.id = r.account_id
WHERE a.enabled AND r.failing_since IS NOT NULL AND r.failing_since <= $1::timestamptz - ${ms('$4')} AND r.account_id > $5
  AND (${ACCOUNT_DUE} <= $1::timestamptz OR ${ACCOUNT.stage} > ${ACCOUNT.sent})
ORDER BY r.account_id LIMIT $6`;

/** $4 account ids. The engine's state writes never touch the two warning columns. */
const ACCOUNT_WARN = `
UPDATE upstream_registration r SET warned_due_at = ${ACCOUNT_DUE}, warning_stage = ${ACCOUNT.stage}, warned_at = $1::timestamptz
FROM account a
WHERE a.id = r.account_id AND a.enabled AND r.account_id = ANY($4::bigint[]) AND r.failing_since IS NOT NULL
  AND r.failing_since <= $1::timestamptz - interval '${ACCOUNT_WARN_AFTER_MS} milliseconds' AND ${ACCOUNT.stage} > ${ACCOUNT.sent}
RETURNING r.account_id, ${epochMs(ACCOUNT.actAt)} AS due_ms, r.warning_stage AS stage, ${epochMs('r.failing_since')} AS failing_ms`;

/**
 * $1 now, $2 failing ms, $3 warning offsets, $4 account ids. The same UPDATE `sipis-ctl account disable` makes
 * (enabled = false), so the account triggers notify every sipis and the owner's upstream engine
 * unREGISTERs; the reason says since when and what the last answer was (no secrets in it).
 */
const ACCOUNT_SWITCH_OFF = `
UPDATE account a SET enabled = false, disabled_at = $1::timestamptz,
  disabled_reason = 'registration failing since ' || to_char(r.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    || ' (last: ' || r.state || coalesce(' ' || r.last_status, '') || coalesce(' ' || nullif(r.last_reason, ''), '') || ')'
FROM upstream_registration r
WHERE r.account_id = a.id AND a.id = ANY($4::bigint[]) AND a.enabled
  AND r.failing_since IS NOT NULL AND ${ACCOUNT_DUE} <= $1::timestamptz AND ${ACCOUNT.told}
RETURNING a.id, a.aor, ${epochMs('r.failing_since')} AS failing_ms, a.disabled_reason`;

const ACCOUNT_DEVICES = `
SELECT d.id, d.account_id, ${tokensOf('d')} AS tokens FROM device d WHERE d.account_id = ANY($1::bigint[]) ORDER BY d.account_id, d.id`;

interface CandidateRow {
  id: string;
  account_id: string;
  shard_key: string;
  due_ms: number;
  due: boolean;
  /** devices: last_seen as PostgreSQL writes it (microseconds kept), for the cursor. */
  seen?: string;
}

function tokensFrom(json: TokenJson[] | null): CleanupToken[] {
  return (json ?? []).map((t) => ({ kind: t.kind, provider: t.provider, appId: t.app_id, token: t.token, pnParam: t.pn_param }));
}

function page(rows: CandidateRow[], limit: number): CandidatePage {
  const last = rows[rows.length - 1];
  return {
    rows: rows.map((r) => ({ id: Number(r.id), accountId: Number(r.account_id), shardKey: r.shard_key, dueAt: r.due_ms, due: r.due })),
    next: rows.length === limit && last ? (last.seen === undefined ? last.id : `${last.seen}|${last.id}`) : null,
  };
}

const ids = (list: readonly number[]): string => arrayLiteral(list.map((i) => Math.trunc(i)));

export class CleanupStore {
  constructor(private readonly pool: Pool) {}

  /** devices to warn or remove at `now`, keyset-paged by (last_seen, id); `after` '' to start. */
  async deviceCandidates(now: Date, ages: CleanupAges, after: string, limit: number): Promise<CandidatePage> {
    const bar = after.lastIndexOf('|');
    // nothing seen since (shortest age − longest warning) before now can need anything yet
    const horizon = Math.max(0, Math.min(ages.staleMs, ages.premiumStaleMs) - Math.max(0, ...ages.warningsMs));
    // not a prepared statement: planned with this pass's values each time (a prepared one can
    // turn to a generic plan after five runs, one that cannot use the horizon)
    const rows = await this.pool.query<CandidateRow>(DEVICE_CANDIDATES, [
      now,
      ages.staleMs,
      ages.premiumStaleMs,
      ids(ages.warningsMs),
      horizon,
      bar < 0 ? '-infinity' : after.slice(0, bar),
      bar < 0 ? 0 : Number(after.slice(bar + 1)),
      limit,
    ]);
    return page(rows, limit);
  }

  /**
   * Claims the warning due now for each of these devices (once per device and due time; a
   * device that registered meanwhile or was claimed by another sweep is skipped). Returns what
   * was claimed, with the tokens to push to. Several stages passed at once are one warning.
   */
  async warnDevices(deviceIds: readonly number[], now: Date, ages: CleanupAges): Promise<WarnedDevice[]> {
    if (deviceIds.length === 0) return [];
    const rows = await this.pool.execute<{ id: string; account_id: string; due_ms: number; stage: number; tokens: TokenJson[] | null }>(
      'cleanup_device_warn',
      DEVICE_WARN,
      [now, ages.staleMs, ages.premiumStaleMs, ids(ages.warningsMs), ids(deviceIds)],
    );
    // (an UPDATE returns its rows in no particular order: by id, as the other calls do)
    return rows.map((r) => ({ deviceId: Number(r.id), accountId: Number(r.account_id), dueAt: r.due_ms, stage: Number(r.stage), tokens: tokensFrom(r.tokens) })).sort((a, b) => a.deviceId - b.deviceId);
  }

  /** Deletes those of these devices still due at `now`; returns them with their live tokens. */
  async removeDevices(deviceIds: readonly number[], now: Date, ages: CleanupAges): Promise<RemovedDevice[]> {
    if (deviceIds.length === 0) return [];
    const rows = await this.pool.execute<{ id: string; account_id: string; instance_id: string; last_seen_ms: number; tokens: TokenJson[] | null }>(
      'cleanup_device_remove',
      DEVICE_REMOVE,
      [now, ages.staleMs, ages.premiumStaleMs, ids(ages.warningsMs), ids(deviceIds)],
    );
    return rows.map((r) => ({ deviceId: Number(r.id), accountId: Number(r.account_id), instanceId: r.instance_id, lastSeen: r.last_seen_ms, tokens: tokensFrom(r.tokens) }));
  }

  /** enabled accounts failing long enough to be warned or switched off at `now`, keyset-paged by id; `after` '' to start. */
  async accountCandidates(now: Date, ages: CleanupAges, after: string, limit: number): Promise<CandidatePage> {
    const afterId = after === '' ? 0 : Number(after);
    const horizon = Math.max(0, ages.failingMs - Math.max(0, ...ages.warningsMs));
    // planned each time, as deviceCandidates: the generic plan of this one walked 1M rows of
    // upstream_registration's primary key (153-176 ms) instead of the failing_since index (25-37 ms)
    const rows = await this.pool.query<CandidateRow>(ACCOUNT_CANDIDATES, [
      now,
      ages.failingMs,
      ids(ages.warningsMs),
      horizon,
      afterId,
      limit,
    ]);
    return page(rows, limit);
  }

  /** Claims the warning due now for each of these accounts (once per account and due time). */
  async warnAccounts(accountIds: readonly number[], now: Date, ages: CleanupAges): Promise<WarnedAccount[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.pool.execute<{ account_id: string; due_ms: number; stage: number; failing_ms: number }>(
      'cleanup_account_warn',
      ACCOUNT_WARN,
      [now, ages.failingMs, ids(ages.warningsMs), ids(accountIds)],
    );
    return rows.map((r) => ({ accountId: Number(r.account_id), dueAt: r.due_ms, stage: Number(r.stage), failingSince: r.failing_ms })).sort((a, b) => a.accountId - b.accountId);
  }

  /** Disables those of these accounts still enabled and failing for `failingMs` at `now`, with the reason. */
  async switchOffAccounts(accountIds: readonly number[], now: Date, ages: CleanupAges): Promise<SwitchedOffAccount[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.pool.execute<{ id: string; aor: string; failing_ms: number; disabled_reason: string }>(
      'cleanup_account_switch_off',
      ACCOUNT_SWITCH_OFF,
      [now, ages.failingMs, ids(ages.warningsMs), ids(accountIds)],
    );
    return rows.map((r) => ({ accountId: Number(r.id), aor: r.aor, failingSince: r.failing_ms, reason: r.disabled_reason }));
  }

  /** every device of these accounts with its live tokens (whom to tell about the account). */
  async devicesOf(accountIds: readonly number[]): Promise<AccountDevice[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.pool.execute<{ id: string; account_id: string; tokens: TokenJson[] | null }>('cleanup_account_devices', ACCOUNT_DEVICES, [ids(accountIds)]);
    return rows.map((r) => ({ deviceId: Number(r.id), accountId: Number(r.account_id), tokens: tokensFrom(r.tokens) }));
  }

  /** accounts the clean-up switched off (still disabled), for /status. */
  async switchedOff(limit = 10): Promise<SwitchedOffSummary> {
    const rows = await this.pool.query<{ total: string; recent: Array<{ id: number; aor: string; reason: string; at: string | null }> | null }>(
      `SELECT (SELECT count(*) FROM account WHERE disabled_reason IS NOT NULL) AS total,
              (SELECT json_agg(x) FROM (SELECT id, aor, disabled_reason AS reason, disabled_at AS at FROM account
                                        WHERE disabled_reason IS NOT NULL ORDER BY disabled_at DESC NULLS LAST, id LIMIT $1) x) AS recent`,
      [limit],
    );
    return { total: Number(rows[0]?.total ?? 0), recent: rows[0]?.recent ?? [] };
  }
}
