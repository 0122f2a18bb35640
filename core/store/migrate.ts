/**
 * Applies pending migrations at start-up. Two sipis processes (or sipis and sipis-ctl) starting
 * together serialise on a session advisory lock; each migration runs once, in its own
 * transaction, and records itself in `schema_version` in that same transaction, so a crash
 * half-way leaves either the old or the new schema, never a mix.
 */
import type { Logger } from 'pino';
import { StoreError } from './errors.js';
import { migrations as allMigrations, type Migration } from './migrations/index.js';
import type { Pool } from './pool.js';

/** arbitrary but fixed: pg_advisory_lock(key1, key2) namespace of sipis migrations. */
const LOCK = [0x5195, 1] as const;

export interface MigrateResult {
  applied: number[];
  version: number;
}

export async function migrate(pool: Pool, log?: Logger, migrations: readonly Migration[] = allMigrations): Promise<MigrateResult> {
  return pool.withConnection(async (c) => {
    const q = <T>(text: string, params?: unknown[]) => c.query<T>(text, params as never, 120_000);
    await q('SELECT pg_advisory_lock($1, $2)', [LOCK[0], LOCK[1]]);
    try {
      // checked rather than IF NOT EXISTS, which prints a NOTICE on every start-up
      const present = await q<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
      if (!present[0]?.t) await q(`CREATE TABLE schema_version (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await q<{ version: number }>('SELECT version FROM schema_version')).map((r) => r.version));
      const known = Math.max(0, ...migrations.map((m) => m.version));
      const newest = Math.max(0, ...done);
      if (newest > known) {
        throw new StoreError('STORE_SCHEMA', `database schema is version ${newest}, newer than this program knows (${known}): upgrade sipis`);
      }
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        await q('BEGIN');
        try {
          await q(m.sql);
          await q('INSERT INTO schema_version (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await q('COMMIT');
        } catch (err) {
          await q('ROLLBACK').catch(() => undefined);
          if (err instanceof StoreError && err.retryable) throw err;
          throw new StoreError('STORE_SCHEMA', `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
        log?.info({ version: m.version, name: m.name }, 'schema migration applied');
      }
      return { applied, version: Math.max(newest, ...applied) };
    } finally {
      if (!c.lost) await q('SELECT pg_advisory_unlock($1, $2)', [LOCK[0], LOCK[1]]).catch(() => undefined);
    }
  });
}

/** the schema version recorded in the database (0 when never migrated). */
export async function schemaVersion(pool: Pool): Promise<number> {
  const present = await pool.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (!present[0]?.t) return 0;
  const rows = await pool.query<{ v: number }>('SELECT coalesce(max(version), 0) AS v FROM schema_version');
  return rows[0]?.v ?? 0;
}
