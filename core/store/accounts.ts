/**
 * Accounts: provisioning (sipis-ctl, admin API) and the reads the upstream engine needs.
 * Passwords are sealed with the keyring's current key on write and opened only on demand
 * (`password(id)`); list and get results never carry them.
 */
import type { Keyring } from './config.js';
import { decryptSecret, encryptSecret } from './crypto.js';
import { StoreError } from './errors.js';
import type { Pool } from './pool.js';
import { arrayLiteral } from './sql-array.js';
import { checkExpires, checkTransport, normalizeServerUri, parseAor, type Transport } from './validate.js';

export interface Account {
  id: number;
  aor: string;
  authUser: string;
  realm: string | null;
  registrar: string;
  outboundProxy: string | null;
  transport: Transport;
  expires: number;
  enabled: boolean;
  displayName: string | null;
  premium: boolean;
  shardKey: string;
  /** a password is stored (sealed, or waiting in password_plain to be sealed). */
  hasPassword: boolean;
  /** keyring id that sealed the password; null when none or still pending. */
  passwordKeyId: string | null;
  /** why the clean-up switched the account off ('registration failing since …'); null otherwise. */
  disabledReason: string | null;
  /** when the account was disabled; null while enabled. */
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountInput {
  aor: string;
  /** default: the AOR's user part. */
  authUser?: string;
  password?: string;
  realm?: string | null;
  /** default: sip:<AOR host>. */
  registrar?: string;
  outboundProxy?: string | null;
  transport?: Transport | string;
  expires?: number;
  enabled?: boolean;
  displayName?: string | null;
  premium?: boolean;
}

export type AccountPatch = Partial<Omit<AccountInput, 'aor'>> & { aor?: string };

export interface ListOptions {
  /** keyset cursor: rows with id > afterId (0 = from the start). */
  afterId?: number;
  /** rows scanned per page (default 1000, at most 10,000). */
  limit?: number;
  /** only enabled (true) or disabled (false) accounts; both when undefined. */
  enabled?: boolean;
  /**
   * Shard predicate over the shard key (core/shard decides ownership). Applied after the page
   * is read, so a page may return fewer rows than `limit`: keep paging until nextAfterId is null.
   */
  shard?: (shardKey: string) => boolean;
}

export interface Page<T> {
  rows: T[];
  /** cursor for the next page, or null when the scan is complete. */
  nextAfterId: number | null;
}

/**
 * The columns an Account is built from, optionally qualified by a table alias. Timestamps come
 * as epoch milliseconds (float8): pg-types' timestamptz parser costs several µs a value, which
 * dominated start-up loads of many accounts (see bench/store).
 */
export function accountColumns(alias = ''): string {
  const p = alias ? `${alias}.` : '';
  return `${p}id, ${p}aor, ${p}auth_user, ${p}realm, ${p}registrar, ${p}outbound_proxy, ${p}transport, ${p}expires,
  ${p}enabled, ${p}display_name, ${p}premium, ${p}shard_key,
  (${p}password_enc IS NOT NULL OR ${p}password_plain IS NOT NULL) AS has_password, ${p}password_key_id,
  ${p}disabled_reason, ${epochMs(`${p}disabled_at`)} AS disabled_ms,
  ${epochMs(`${p}created_at`)} AS created_ms, ${epochMs(`${p}updated_at`)} AS updated_ms`;
}

/** SQL for a timestamptz as epoch milliseconds (float8; NULL stays NULL). */
export function epochMs(expr: string): string {
  return `(extract(epoch FROM ${expr}) * 1000)::float8`;
}

const COLUMNS = accountColumns();

export interface AccountRow {
  id: string | number;
  aor: string;
  auth_user: string;
  realm: string | null;
  registrar: string;
  outbound_proxy: string | null;
  transport: Transport;
  expires: number;
  enabled: boolean;
  display_name: string | null;
  premium: boolean;
  shard_key: string;
  has_password: boolean;
  password_key_id: string | null;
  disabled_reason: string | null;
  disabled_ms: number | null;
  created_ms: number;
  updated_ms: number;
}

export function accountFromRow(r: AccountRow): Account {
  return {
    id: Number(r.id),
    aor: r.aor,
    authUser: r.auth_user,
    realm: r.realm,
    registrar: r.registrar,
    outboundProxy: r.outbound_proxy,
    transport: r.transport,
    expires: r.expires,
    enabled: r.enabled,
    displayName: r.display_name,
    premium: r.premium,
    shardKey: r.shard_key,
    hasPassword: r.has_password,
    passwordKeyId: r.password_key_id,
    disabledReason: r.disabled_reason,
    disabledAt: r.disabled_ms === null ? null : new Date(r.disabled_ms),
    createdAt: new Date(r.created_ms),
    updatedAt: new Date(r.updated_ms),
  };
}

export class AccountStore {
  constructor(
    private readonly pool: Pool,
    private readonly keyring: Keyring | undefined,
  ) {}

  /** creates an account; STORE_CONFLICT when the AOR exists. */
  async add(input: AccountInput): Promise<Account> {
    const { aor, user, host } = parseAor(input.aor);
    const cols: Record<string, unknown> = {
      aor,
      auth_user: nonEmpty(input.authUser ?? decodeURIComponentSafe(user), 'auth user'),
      registrar: normalizeServerUri(input.registrar ?? `sip:${host}`, 'registrar'),
      outbound_proxy: input.outboundProxy ? normalizeServerUri(input.outboundProxy, 'outbound proxy') : null,
      transport: checkTransport(input.transport ?? 'udp'),
      expires: checkExpires(input.expires ?? 3600),
      enabled: input.enabled ?? true,
      realm: input.realm ?? null,
      display_name: input.displayName ?? null,
      premium: input.premium ?? false,
    };
    if (input.password !== undefined) Object.assign(cols, this.sealColumns(input.password));
    const names = Object.keys(cols);
    // ON CONFLICT DO NOTHING + RETURNING tells a duplicate apart without parsing error text
    const rows = await this.pool.query<AccountRow>(
      `INSERT INTO account (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (aor) DO NOTHING RETURNING ${COLUMNS}`,
      Object.values(cols) as never,
    );
    if (!rows[0]) throw new StoreError('STORE_CONFLICT', `an account with AOR ${aor} already exists`);
    return accountFromRow(rows[0]);
  }

  /**
   * Bulk provisioning: validates and seals every row in JS, then inserts in chunks of 5000 with
   * one statement each. Existing AORs are skipped (returned in `duplicates`), so a re-run of
   * the same import is harmless. A chunk over 1000 rows notifies listeners once ('BULK' →
   * resync) instead of once per row.
   */
  async addMany(inputs: readonly AccountInput[]): Promise<{ inserted: number; duplicates: string[] }> {
    const rows = inputs.map((input, index) => {
      try {
        return this.bulkRow(input);
      } catch (err) {
        if (err instanceof StoreError) throw new StoreError(err.code, `row ${index + 1}: ${err.message}`);
        throw err;
      }
    });
    let inserted = 0;
    const duplicates: string[] = [];
    for (let i = 0; i < rows.length; i += 5000) {
      const chunk = rows.slice(i, i + 5000);
      const col = <K extends keyof (typeof chunk)[number]>(k: K) => arrayLiteral(chunk.map((r) => r[k] as string | number | boolean | null));
      const got = await this.pool.query<{ aor: string }>(
        `INSERT INTO account (aor, auth_user, registrar, outbound_proxy, transport, expires, enabled, realm, display_name,
                              premium, password_enc, password_key_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::boolean[],
                              $8::text[], $9::text[], $10::boolean[], $11::bytea[], $12::text[])
         ON CONFLICT (aor) DO NOTHING RETURNING aor`,
        [col('aor'), col('authUser'), col('registrar'), col('outboundProxy'), col('transport'), col('expires'), col('enabled'),
          col('realm'), col('displayName'), col('premium'), col('enc'), col('keyId')],
      );
      inserted += got.length;
      if (got.length < chunk.length) {
        const done = new Set(got.map((r) => r.aor));
        for (const r of chunk) if (!done.has(r.aor)) duplicates.push(r.aor);
      }
    }
    return { inserted, duplicates };
  }

  private bulkRow(input: AccountInput) {
    const { aor, user, host } = parseAor(input.aor);
    const sealed = input.password !== undefined ? encryptSecret(this.requireKeyring(), input.password) : null;
    return {
      aor,
      authUser: nonEmpty(input.authUser ?? decodeURIComponentSafe(user), 'auth user'),
      registrar: normalizeServerUri(input.registrar ?? `sip:${host}`, 'registrar'),
      outboundProxy: input.outboundProxy ? normalizeServerUri(input.outboundProxy, 'outbound proxy') : null,
      transport: checkTransport(input.transport ?? 'udp'),
      expires: checkExpires(input.expires ?? 3600),
      enabled: input.enabled ?? true,
      realm: input.realm ?? null,
      displayName: input.displayName ?? null,
      premium: input.premium ?? false,
      enc: sealed ? '\\x' + sealed.enc.toString('hex') : null,
      keyId: sealed?.keyId ?? null,
    };
  }

  async get(id: number): Promise<Account | null> {
    const rows = await this.pool.execute<AccountRow>('account_by_id', `SELECT ${COLUMNS} FROM account WHERE id = $1`, [id]);
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  async getByAor(aor: string): Promise<Account | null> {
    const norm = parseAor(aor).aor;
    const rows = await this.pool.execute<AccountRow>('account_by_aor', `SELECT ${COLUMNS} FROM account WHERE aor = $1`, [norm]);
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  /**
   * Accounts whose shard key (user@host) matches `key` ignoring case: routing of incoming
   * requests. Callers that lower-cased the user still find the account; when two accounts differ
   * only by the user's case, both come back and the caller picks by exact user.
   */
  async findByShardKey(key: string): Promise<Account[]> {
    const rows = await this.pool.execute<AccountRow>('account_by_key', `SELECT ${COLUMNS} FROM account WHERE lower(shard_key) = lower($1) ORDER BY id`, [key]);
    return rows.map(accountFromRow);
  }

  /** an id ("42") or an AOR ("sip:alice@example.com"), as typed by an operator. */
  async resolve(ref: string): Promise<Account | null> {
    if (/^\d+$/.test(ref)) return this.get(Number(ref));
    return this.getByAor(ref);
  }

  /** changes the given fields; STORE_NOT_FOUND / STORE_CONFLICT. */
  async update(id: number, patch: AccountPatch): Promise<Account> {
    const cols: Record<string, unknown> = {};
    if (patch.aor !== undefined) cols.aor = parseAor(patch.aor).aor;
    if (patch.authUser !== undefined) cols.auth_user = nonEmpty(patch.authUser, 'auth user');
    if (patch.registrar !== undefined) cols.registrar = normalizeServerUri(patch.registrar, 'registrar');
    if (patch.outboundProxy !== undefined) cols.outbound_proxy = patch.outboundProxy ? normalizeServerUri(patch.outboundProxy, 'outbound proxy') : null;
    if (patch.transport !== undefined) cols.transport = checkTransport(patch.transport);
    if (patch.expires !== undefined) cols.expires = checkExpires(patch.expires);
    if (patch.enabled !== undefined) cols.enabled = patch.enabled;
    if (patch.realm !== undefined) cols.realm = patch.realm;
    if (patch.displayName !== undefined) cols.display_name = patch.displayName;
    if (patch.premium !== undefined) cols.premium = patch.premium;
    if (patch.password !== undefined) Object.assign(cols, this.sealColumns(patch.password));
    const names = Object.keys(cols);
    if (!names.length) {
      const cur = await this.get(id);
      if (!cur) throw new StoreError('STORE_NOT_FOUND', `no account with id ${id}`);
      return cur;
    }
    let rows: AccountRow[];
    try {
      rows = await this.pool.query<AccountRow>(
        `UPDATE account SET ${names.map((n, i) => `${n} = $${i + 2}`).join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, ...Object.values(cols)] as never,
      );
    } catch (err) {
      // the one unique key an update can hit: the AOR (the same words as add, not PostgreSQL's)
      if (err instanceof StoreError && err.code === 'STORE_CONFLICT' && cols.aor !== undefined) {
        throw new StoreError('STORE_CONFLICT', `an account with AOR ${String(cols.aor)} already exists`, { cause: err });
      }
      throw err;
    }
    if (!rows[0]) throw new StoreError('STORE_NOT_FOUND', `no account with id ${id}`);
    return accountFromRow(rows[0]);
  }

  async setEnabled(id: number, enabled: boolean): Promise<Account> {
    return this.update(id, { enabled });
  }

  /** deletes the account and everything hanging off it (cascade); false when absent. */
  async remove(id: number): Promise<boolean> {
    const rows = await this.pool.query<{ id: string }>('DELETE FROM account WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  }

  /**
   * The account's password in clear, for digest authentication only: never log it.
   * A plaintext written by plain SQL is sealed first. null when the account has none.
   */
  async password(id: number): Promise<string | null> {
    const rows = await this.pool.execute<{ password_enc: Buffer | null; password_key_id: string | null; password_plain: string | null }>(
      'account_secret',
      'SELECT password_enc, password_key_id, password_plain FROM account WHERE id = $1',
      [id],
    );
    const r = rows[0];
    if (!r) throw new StoreError('STORE_NOT_FOUND', `no account with id ${id}`);
    if (r.password_plain !== null) {
      // written by plain SQL and not sealed yet: seal it now, hand out what was read
      this.requireKeyring();
      await this.sealPending(id);
      return r.password_plain;
    }
    if (!r.password_enc || !r.password_key_id) return null;
    return decryptSecret(this.requireKeyring(), r.password_enc, r.password_key_id);
  }

  /**
   * Passwords of many accounts in one query (a start-up page): `passwords` maps id → password
   * (null when the account has none), `failed` holds rows that could not be decrypted (wrong
   * or missing key). Unknown ids are absent from both.
   */
  async passwords(ids: readonly number[]): Promise<{ passwords: Map<number, string | null>; failed: Map<number, StoreError> }> {
    const passwords = new Map<number, string | null>();
    const failed = new Map<number, StoreError>();
    if (!ids.length) return { passwords, failed };
    const rows = await this.pool.execute<{ id: string; password_enc: Buffer | null; password_key_id: string | null; password_plain: string | null }>(
      'account_secrets',
      'SELECT id, password_enc, password_key_id, password_plain FROM account WHERE id = ANY($1::bigint[])',
      [`{${ids.map((i) => Math.trunc(i)).join(',')}}`],
    );
    let pending = false;
    for (const r of rows) {
      const id = Number(r.id);
      if (r.password_plain !== null) {
        pending = true;
        passwords.set(id, r.password_plain);
      } else if (!r.password_enc || !r.password_key_id) {
        passwords.set(id, null);
      } else {
        try {
          passwords.set(id, decryptSecret(this.requireKeyring(), r.password_enc, r.password_key_id));
        } catch (err) {
          failed.set(id, err as StoreError);
        }
      }
    }
    if (pending && this.keyring) await this.sealPending();
    return { passwords, failed };
  }

  /** one page of accounts in id order (keyset pagination: cheap at any depth). */
  async list(opts: ListOptions = {}): Promise<Page<Account>> {
    const limit = Math.min(10_000, Math.max(1, opts.limit ?? 1000));
    const after = opts.afterId ?? 0;
    let rows: AccountRow[];
    if (opts.enabled === undefined) {
      rows = await this.pool.execute<AccountRow>('account_page', `SELECT ${COLUMNS} FROM account WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit]);
    } else {
      rows = await this.pool.execute<AccountRow>(
        'account_page_enabled',
        `SELECT ${COLUMNS} FROM account WHERE enabled = $3 AND id > $1 ORDER BY id LIMIT $2`,
        [after, limit, opts.enabled],
      );
    }
    const nextAfterId = rows.length === limit ? Number(rows[rows.length - 1]!.id) : null;
    let accounts = rows.map(accountFromRow);
    if (opts.shard) accounts = accounts.filter((a) => opts.shard!(a.shardKey));
    return { rows: accounts, nextAfterId };
  }

  /** every account matching `opts`, page by page. */
  async *iterate(opts: Omit<ListOptions, 'afterId'> = {}): AsyncGenerator<Account> {
    let after: number | null = 0;
    while (after !== null) {
      const page: Page<Account> = await this.list({ ...opts, afterId: after });
      yield* page.rows;
      after = page.nextAfterId;
    }
  }

  async count(): Promise<{ total: number; enabled: number }> {
    const rows = await this.pool.query<{ total: string; enabled: string }>(
      'SELECT count(*) AS total, count(*) FILTER (WHERE enabled) AS enabled FROM account',
    );
    return { total: Number(rows[0]!.total), enabled: Number(rows[0]!.enabled) };
  }

  /**
   * Seals plaintext passwords written by plain SQL (all of them, or one account). Safe when
   * several sipis race: the UPDATE only applies while the row still holds the same plaintext.
   */
  async sealPending(id?: number): Promise<number> {
    const keyring = this.keyring;
    if (!keyring) return 0;
    let sealed = 0;
    let after = 0;
    for (;;) {
      const rows = await this.pool.query<{ id: string; password_plain: string }>(
        id === undefined
          ? 'SELECT id, password_plain FROM account WHERE password_plain IS NOT NULL AND id > $1 ORDER BY id LIMIT 500'
          : 'SELECT id, password_plain FROM account WHERE password_plain IS NOT NULL AND id = $2 AND id > $1',
        id === undefined ? [after] : [after, id],
      );
      if (!rows.length) return sealed;
      sealed += await this.writeSealed(
        rows.map((r) => ({ id: Number(r.id), ...encryptSecret(keyring, r.password_plain), oldKeyId: null, oldPlain: r.password_plain })),
      );
      after = Number(rows[rows.length - 1]!.id);
      if (id !== undefined) return sealed;
    }
  }

  /**
   * Re-seals every password not under the current key (`sipis-ctl db rotate-key`). Rows whose
   * key is not in the keyring are reported, not touched. Resumable: run it again after a failure.
   */
  async rotateKeys(batch = 500): Promise<{ rotated: number; failed: Array<{ id: number; reason: string }> }> {
    const keyring = this.requireKeyring();
    let rotated = 0;
    const failed: Array<{ id: number; reason: string }> = [];
    let after = 0;
    for (;;) {
      const rows = await this.pool.query<{ id: string; password_enc: Buffer; password_key_id: string }>(
        `SELECT id, password_enc, password_key_id FROM account
         WHERE password_enc IS NOT NULL AND password_key_id <> $1 AND id > $2 ORDER BY id LIMIT $3`,
        [keyring.currentKeyId, after, batch],
      );
      if (!rows.length) break;
      const resealed: SealedRow[] = [];
      for (const r of rows) {
        const id = Number(r.id);
        try {
          const plain = decryptSecret(keyring, r.password_enc, r.password_key_id);
          resealed.push({ id, ...encryptSecret(keyring, plain), oldKeyId: r.password_key_id, oldPlain: null });
        } catch (err) {
          failed.push({ id, reason: (err as Error).message });
        }
      }
      rotated += await this.writeSealed(resealed);
      after = Number(rows[rows.length - 1]!.id);
    }
    rotated += await this.sealPending();
    return { rotated, failed };
  }

  /**
   * Writes re-sealed passwords for many rows in one statement. Each row is only updated while
   * it still holds what was read (the same plaintext, or the same old key and no plaintext),
   * so a concurrent change wins. Runs with `sipis.quiet` set: sealing the same password again
   * changes nothing a listener acts on, and a key rotation over a million accounts must not
   * send a million notifications.
   */
  private async writeSealed(rows: readonly SealedRow[]): Promise<number> {
    if (!rows.length) return 0;
    return this.pool.transaction(async (tx) => {
      await tx.query("SET LOCAL sipis.quiet = 'on'");
      const done = await tx.query<{ id: string }>(
        `UPDATE account a SET password_enc = x.enc, password_key_id = x.key_id, password_plain = NULL
         FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[]) AS x(id, enc, key_id, old_key, old_plain)
         WHERE a.id = x.id AND CASE WHEN x.old_plain IS NOT NULL THEN a.password_plain = x.old_plain
                                    ELSE a.password_plain IS NULL AND a.password_key_id = x.old_key END
         RETURNING a.id`,
        [
          arrayLiteral(rows.map((r) => r.id)),
          arrayLiteral(rows.map((r) => '\\x' + r.enc.toString('hex'))),
          arrayLiteral(rows.map((r) => r.keyId)),
          arrayLiteral(rows.map((r) => r.oldKeyId)),
          arrayLiteral(rows.map((r) => r.oldPlain)),
        ],
      );
      return done.length;
    });
  }

  private sealColumns(password: string): Record<string, unknown> {
    const { enc, keyId } = encryptSecret(this.requireKeyring(), password);
    return { password_enc: enc, password_key_id: keyId, password_plain: null };
  }

  private requireKeyring(): Keyring {
    if (!this.keyring) throw new StoreError('STORE_KEY', 'no secret key configured (SIPIS_SECRET_KEY or a key file)');
    return this.keyring;
  }
}

interface SealedRow {
  id: number;
  enc: Buffer;
  keyId: string;
  /** the row must still be under this key (rotation) … */
  oldKeyId: string | null;
  /** … or still hold this plaintext (sealing). */
  oldPlain: string | null;
}

function nonEmpty(s: string, what: string): string {
  if (!s.trim()) throw new StoreError('STORE_INVALID', `${what} must not be empty`);
  return s;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
