/**
 * Store throughput against a real throw-away PostgreSQL (fixtures/postgres.ts: fsync off, so
 * these are CPU and protocol costs, not disk): bulk vs one-by-one account inserts, keyset vs
 * OFFSET paging, batched vs single-row registration-state writes. Each "fast" row is reported
 * against its naive peer measured in the same run.
 *
 *   npm run bench -- store            (full: 100k accounts)
 *   npm run bench -- --quick store    (CI: 2k accounts)
 */
import { startPostgres } from '../../fixtures/postgres.js';
import { accountColumns, accountFromRow, type AccountRow } from '../../core/store/accounts.js';
import { formatKeyEntry, generateKey, parseKeyring, Store, type AccountInput, type RegistrationState } from '../../core/store/index.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';

function row(name: string, totalNs: number, ops: number, extra: Record<string, number | string> = {}): BenchRow {
  const perOp = totalNs / ops;
  return { suite: 'store', name, medianNs: perOp, opsPerSec: 1e9 / perOp, samples: 1, extra: { n: ops, totalMs: Math.round(totalNs / 1e6), ...extra } };
}

function ratio(rows: BenchRow[], fast: string, slow: string): void {
  const f = rows.find((r) => r.name === fast);
  const s = rows.find((r) => r.name === slow);
  if (!f || !s) return;
  f.baseline = slow;
  f.ratio = f.medianNs / s.medianNs;
  s.baseline = slow;
  s.ratio = 1;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0);
}

function state(id: number, cseq: number): RegistrationState {
  return {
    accountId: id, state: 'Registered', callId: `${id}-reg@sipis.example`, cseq, contact: `<sip:a${id}@sipis.example>`,
    expiresAt: new Date(Date.now() + 3600_000), lastStatus: 200, lastReason: 'OK', retryAt: null, failures: 0, failingSince: null,
  };
}

const suite: BenchSuite = {
  name: 'store',
  async run(opts: BenchOptions): Promise<BenchRow[]> {
    const N = opts.quick ? 2_000 : 100_000;
    const oneByOne = opts.quick ? 200 : 3_000;
    const pg = await startPostgres();
    const key1 = generateKey();
    const store = await Store.open({ url: pg.url, keyring: parseKeyring(formatKeyEntry('k1', key1)), listen: false, size: 4 });
    const rows: BenchRow[] = [];
    try {
      const inputs: AccountInput[] = Array.from({ length: N }, (_, i) => ({ aor: `sip:user${i}@bench.example`, password: `secret-${i}` }));
      rows.push(row('accounts: addMany (5000/statement, sealed)', await timed(() => store.accounts.addMany(inputs)), N));
      const single = Array.from({ length: oneByOne }, (_, i) => ({ aor: `sip:single${i}@bench.example`, password: `secret-${i}` }));
      rows.push(row('accounts: add() one at a time', await timed(async () => {
        for (const a of single) await store.accounts.add(a);
      }), oneByOne));
      ratio(rows, 'accounts: addMany (5000/statement, sealed)', 'accounts: add() one at a time');

      // steady state before reading: hint bits set and statistics fresh, so neither paging
      // method pays for the bulk insert that just happened
      await store.pool.query('VACUUM ANALYZE account');
      const total = N + oneByOne;
      let pages = 0;
      rows.push(row('paging: keyset, 1000/page', await timed(async () => {
        for await (const a of store.accounts.iterate({ enabled: true, limit: 1000 })) void a;
      }), total));
      const offsetPages = Math.ceil(total / 1000);
      rows.push(row('paging: OFFSET, 1000/page', await timed(async () => {
        for (let p = 0; p < offsetPages; p++) {
          // same columns and row mapping as the keyset page: only the paging differs
          const page = await store.pool.query<AccountRow>(`SELECT ${accountColumns()} FROM account WHERE enabled ORDER BY id OFFSET $1 LIMIT 1000`, [p * 1000]);
          for (const r of page) void accountFromRow(r);
          pages++;
        }
      }), total, { pages }));
      ratio(rows, 'paging: keyset, 1000/page', 'paging: OFFSET, 1000/page');
      const ids = (await store.pool.query<{ id: string }>('SELECT id FROM account ORDER BY id')).map((r) => Number(r.id));
      const states = ids.map((id) => state(id, 1));
      rows.push(row('registration: saveMany, 5000 rows/statement', await timed(() => store.registrations.saveMany(states)), states.length));
      const small = states.slice(0, opts.quick ? 2_000 : 20_000).map((s) => ({ ...s, cseq: 2 }));
      rows.push(row('registration: saveMany, 100 rows/call', await timed(async () => {
        for (let i = 0; i < small.length; i += 100) await store.registrations.saveMany(small.slice(i, i + 100));
      }), small.length));
      const singles = states.slice(0, oneByOne).map((s) => ({ ...s, cseq: 3 }));
      rows.push(row('registration: save() one row per statement', await timed(async () => {
        for (const s of singles) await store.registrations.save(s);
      }), singles.length));
      ratio(rows, 'registration: saveMany, 5000 rows/statement', 'registration: save() one row per statement');
      const hundred = rows.find((r) => r.name === 'registration: saveMany, 100 rows/call')!;
      const one = rows.find((r) => r.name === 'registration: save() one row per statement')!;
      hundred.baseline = one.name;
      hundred.ratio = hundred.medianNs / one.medianNs;

      // start-up load, once every account has a saved state; each variant runs twice and the
      // second (warm) run is reported
      const loadNew = async () => {
        for await (const a of store.registrations.iterate({ limit: 1000 })) void a;
      };
      // the first version of that query: timestamptz columns and the state as row_to_json,
      // decoded into the same objects
      const loadOld = async () => {
        let after = 0;
        for (;;) {
          const page = await store.pool.execute<AccountRow & { created_at: Date; updated_at: Date; reg: Record<string, unknown> | null }>('bench_old_load',
            `SELECT a.id, a.aor, a.auth_user, a.realm, a.registrar, a.outbound_proxy, a.transport, a.expires, a.enabled,
                    a.display_name, a.premium, a.shard_key, a.password_enc IS NOT NULL AS has_password, a.password_key_id,
                    a.created_at, a.updated_at, CASE WHEN r.account_id IS NULL THEN NULL ELSE row_to_json(r) END AS reg
             FROM account a LEFT JOIN upstream_registration r ON r.account_id = a.id
             WHERE a.enabled AND a.id > $1 ORDER BY a.id LIMIT 1000`, [after]);
          for (const r of page) {
            const acc = accountFromRow({ ...r, created_ms: r.created_at.getTime(), updated_ms: r.updated_at.getTime() });
            const reg = r.reg ? { ...r.reg, expiresAt: new Date(r.reg.expires_at as string), updatedAt: new Date(r.reg.updated_at as string) } : null;
            void acc;
            void reg;
          }
          if (page.length < 1000) break;
          after = Number(page[page.length - 1]!.id);
        }
      };
      await loadNew();
      rows.push(row('paging: start-up load (accounts + state), 1000/page', await timed(loadNew), total));
      await loadOld();
      rows.push(row('paging: start-up load, timestamptz + row_to_json', await timed(loadOld), total));
      ratio(rows, 'paging: start-up load (accounts + state), 1000/page', 'paging: start-up load, timestamptz + row_to_json');

      const some = ids.slice(0, opts.quick ? 500 : 2000);
      rows.push(row('accounts: password() decrypt on demand', await timed(async () => {
        for (const id of some) await store.accounts.password(id);
      }), some.length));
      const many = ids.slice(0, opts.quick ? 2_000 : 50_000);
      rows.push(row('accounts: passwords(ids), 1000 per call', await timed(async () => {
        for (let i = 0; i < many.length; i += 1000) await store.accounts.passwords(many.slice(i, i + 1000));
      }), many.length));
      ratio(rows, 'accounts: passwords(ids), 1000 per call', 'accounts: password() decrypt on demand');
      // key rotation: every sealed password re-encrypted under a new current key
      const k2 = formatKeyEntry('k2', generateKey());
      const rotator = await Store.open({ url: pg.url, keyring: parseKeyring(`${k2},${formatKeyEntry('k1', key1)}`), listen: false, migrate: false });
      try {
        let rotated = 0;
        const ns = await timed(async () => {
          rotated = (await rotator.accounts.rotateKeys()).rotated;
        });
        rows.push(row('accounts: rotateKeys (500 per batch)', ns, rotated));
      } finally {
        await rotator.close();
      }
    } finally {
      await store.close();
      await pg.stop();
    }
    return rows;
  },
};

export default suite;
