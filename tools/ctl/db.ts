/** `sipis-ctl db migrate|rotate-key|gen-key` and `sipis-ctl status`. */
import { formatKeyEntry, generateKey, StoreError } from '../../core/store/index.js';
import { parseArgs, UsageError } from './args.js';
import type { Context } from './context.js';
import { json, keyValues } from './output.js';

export const DB_USAGE = `sipis-ctl db migrate                apply pending schema migrations
sipis-ctl db rotate-key             re-encrypt every password with the current (first) key
sipis-ctl db gen-key [--id ID]      print a new keyring entry "<id>:<base64>" (no database needed)
sipis-ctl status                    accounts by registration state, devices, messages`;

export async function dbCommand(ctx: Context, argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'migrate': {
      const p = parseArgs(rest, {});
      if (p.positionals.length) throw new UsageError('db migrate takes no arguments');
      const store = await ctx.open({ migrate: true });
      const { applied, version } = store.migration!;
      if (ctx.globals.json) ctx.io.out(json({ applied, version }));
      else ctx.io.out(applied.length ? `schema now at version ${version} (applied ${applied.join(', ')})` : `schema already at version ${version}`);
      return 0;
    }
    case 'rotate-key': {
      const p = parseArgs(rest, {});
      if (p.positionals.length) throw new UsageError('db rotate-key takes no arguments');
      const store = await ctx.open();
      if (!store.keyring) throw new StoreError('STORE_KEY', 'no secret key configured: give --key-file or set SIPIS_SECRET_KEY');
      const res = await store.accounts.rotateKeys();
      if (ctx.globals.json) ctx.io.out(json({ currentKeyId: store.keyring.currentKeyId, ...res }));
      else {
        ctx.io.out(`re-encrypted ${res.rotated} password(s) with key ${store.keyring.currentKeyId}`);
        for (const f of res.failed) ctx.io.err(`account ${f.id}: ${f.reason}`);
      }
      return res.failed.length ? 1 : 0;
    }
    case 'gen-key': {
      const p = parseArgs(rest, { values: ['id'] });
      const id = p.values.get('id') ?? `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(id)) throw new UsageError('--id: letters, digits, _ . - (up to 32)');
      ctx.io.out(formatKeyEntry(id, generateKey()));
      return 0;
    }
    case undefined:
      throw new UsageError('db: missing subcommand (migrate, rotate-key, gen-key)');
    default:
      throw new UsageError(`db: unknown subcommand "${sub}"`);
  }
}

export async function statusCommand(ctx: Context, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, {});
  if (p.positionals.length) throw new UsageError('status takes no arguments');
  const store = await ctx.open();
  const s = await store.status();
  if (ctx.globals.json) {
    ctx.io.out(json(s));
    return 0;
  }
  ctx.io.out(
    keyValues([
      ['accounts', `${s.accounts} (${s.enabledAccounts} enabled)`],
      ['registrations', '(of enabled accounts)'],
      ...Object.entries(s.registrations).map(([k, v]) => [`  ${k}`, v] as const),
      ['devices', s.devices],
      ['live push tokens', s.liveTokens],
      ['undelivered messages', s.undeliveredMessages],
      ['pending calls', s.pendingCalls],
      ['schema version', s.schemaVersion],
    ]),
  );
  return 0;
}
