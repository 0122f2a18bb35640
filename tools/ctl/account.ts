/** `sipis-ctl account add|list|show|set|disable|enable|remove`. */
import { StoreError, type Account, type AccountPatch, type Store } from '../../core/store/index.js';
import { intValue, parseArgs, UsageError, type Parsed } from './args.js';
import type { Context } from './context.js';
import { importCommand } from './import.js';
import { json, keyValues, table } from './output.js';

export const ACCOUNT_USAGE = `sipis-ctl account add <aor> (--password-stdin | --password P) [options]
sipis-ctl account import [FILE|-]   JSON Lines, one account a line: {"aor":…,"password":…,…}
                                    (keys: the options below in camelCase); existing AORs skipped
sipis-ctl account list [--enabled | --disabled] [--limit N] [--after ID]
sipis-ctl account show <id|aor>
sipis-ctl account set <id|aor> [options] [--aor NEW] [--password-stdin | --password P]
sipis-ctl account enable|disable|remove <id|aor>

account options:
  --auth-user U          digest user name (default: the AOR's user part)
  --registrar URI        sip:host[:port] (default: sip:<AOR domain>)
  --outbound-proxy URI   send REGISTERs through this proxy (--no-outbound-proxy clears it)
  --transport T          udp, tcp or tls (default udp)
  --expires N            requested registration lifetime in seconds (default 3600)
  --realm R              expected digest realm (--no-realm clears it)
  --display-name NAME    (--no-display-name clears it)
  --premium | --no-premium
  --disabled             (add only) create the account disabled
  --password-stdin       read the password from standard input (preferred)
  --password P           the password on the command line (visible to other users in ps)`;

const ACCOUNT_VALUES = ['auth-user', 'registrar', 'outbound-proxy', 'transport', 'expires', 'realm', 'display-name', 'password'] as const;
const ACCOUNT_BOOLS = ['premium', 'no-premium', 'password-stdin', 'no-outbound-proxy', 'no-realm', 'no-display-name'] as const;

async function readPassword(ctx: Context, p: Parsed): Promise<string | undefined> {
  const inline = p.values.get('password');
  if (inline !== undefined && p.flags.has('password-stdin')) throw new UsageError('give either --password or --password-stdin, not both');
  if (inline !== undefined) {
    ctx.io.err('warning: --password is visible to other users in the process list; prefer --password-stdin');
    return inline;
  }
  if (!p.flags.has('password-stdin')) return undefined;
  const text = (await ctx.io.readStdin()).replace(/\r?\n$/, '');
  if (!text) throw new StoreError('STORE_INVALID', 'empty password on standard input');
  return text;
}

function patchFrom(p: Parsed): AccountPatch {
  const patch: AccountPatch = {};
  const v = (n: string) => p.values.get(n);
  if (v('auth-user') !== undefined) patch.authUser = v('auth-user');
  if (v('registrar') !== undefined) patch.registrar = v('registrar');
  if (v('outbound-proxy') !== undefined) patch.outboundProxy = v('outbound-proxy');
  if (p.flags.has('no-outbound-proxy')) patch.outboundProxy = null;
  if (v('transport') !== undefined) patch.transport = v('transport');
  const expires = intValue(p, 'expires');
  if (expires !== undefined) patch.expires = expires;
  if (v('realm') !== undefined) patch.realm = v('realm');
  if (p.flags.has('no-realm')) patch.realm = null;
  if (v('display-name') !== undefined) patch.displayName = v('display-name');
  if (p.flags.has('no-display-name')) patch.displayName = null;
  if (p.flags.has('premium') && p.flags.has('no-premium')) throw new UsageError('--premium and --no-premium together');
  if (p.flags.has('premium')) patch.premium = true;
  if (p.flags.has('no-premium')) patch.premium = false;
  return patch;
}

function oneRef(p: Parsed, cmd: string): string {
  if (p.positionals.length !== 1) throw new UsageError(`account ${cmd} takes exactly one account (id or AOR)`);
  return p.positionals[0]!;
}

async function resolveOrFail(store: Store, ref: string): Promise<Account> {
  const a = await store.accounts.resolve(ref);
  if (!a) throw new StoreError('STORE_NOT_FOUND', `no such account: ${ref}`);
  return a;
}

function accountJson(a: Account): Record<string, unknown> {
  return { ...a, disabledAt: a.disabledAt?.toISOString() ?? null, createdAt: a.createdAt.toISOString(), updatedAt: a.updatedAt.toISOString() };
}

function printAccount(ctx: Context, a: Account, extra: ReadonlyArray<readonly [string, unknown]> = []): void {
  if (ctx.globals.json) return ctx.io.out(json(accountJson(a)));
  ctx.io.out(
    keyValues([
      ['id', a.id],
      ['aor', a.aor],
      ['auth user', a.authUser],
      ['password', a.hasPassword ? `set (key ${a.passwordKeyId ?? 'pending'})` : 'none'],
      ['registrar', a.registrar],
      ['outbound proxy', a.outboundProxy],
      ['transport', a.transport],
      ['expires', a.expires],
      ['realm', a.realm],
      ['display name', a.displayName],
      ['enabled', a.enabled],
      // set by the clean-up when it switched the account off (registration failing for too long)
      ...(a.enabled ? [] : ([['disabled at', a.disabledAt], ['disabled reason', a.disabledReason ?? 'by an operator']] as const)),
      ['premium', a.premium],
      ['shard key', a.shardKey],
      ['created', a.createdAt],
      ['updated', a.updatedAt],
      ...extra,
    ]),
  );
}

export async function accountCommand(ctx: Context, argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const p = parseArgs(rest, { values: ACCOUNT_VALUES, booleans: [...ACCOUNT_BOOLS, 'disabled'] });
      if (p.positionals.length !== 1) throw new UsageError('account add takes exactly one AOR (sip:user@domain)');
      const password = await readPassword(ctx, p);
      if (password === undefined) throw new UsageError('account add needs a password: give --password-stdin (or --password)');
      const patch = patchFrom(p);
      const store = await ctx.open();
      const a = await store.accounts.add({
        ...patch,
        aor: p.positionals[0]!,
        password,
        enabled: !p.flags.has('disabled'),
        outboundProxy: patch.outboundProxy ?? null,
      });
      if (ctx.globals.json) ctx.io.out(json(accountJson(a)));
      else ctx.io.out(`added account ${a.id} ${a.aor}`);
      return 0;
    }
    case 'list': {
      const p = parseArgs(rest, { values: ['limit', 'after'], booleans: ['enabled', 'disabled'] });
      if (p.positionals.length) throw new UsageError('account list takes no positional arguments');
      if (p.flags.has('enabled') && p.flags.has('disabled')) throw new UsageError('--enabled and --disabled together');
      const enabled = p.flags.has('enabled') ? true : p.flags.has('disabled') ? false : undefined;
      const limit = intValue(p, 'limit') ?? 1000;
      if (limit < 1 || limit > 10_000) throw new UsageError('--limit must be between 1 and 10000');
      const store = await ctx.open();
      const page = await store.accounts.list({ afterId: intValue(p, 'after') ?? 0, limit, enabled });
      if (ctx.globals.json) {
        ctx.io.out(json({ accounts: page.rows.map(accountJson), nextAfter: page.nextAfterId }));
      } else {
        ctx.io.out(
          table(
            ['ID', 'AOR', 'AUTH USER', 'REGISTRAR', 'TRANSPORT', 'EXPIRES', 'ENABLED', 'PREMIUM'],
            page.rows.map((a) => [a.id, a.aor, a.authUser, a.registrar, a.transport, a.expires, a.enabled ? 'yes' : 'no', a.premium ? 'yes' : 'no']),
          ),
        );
        if (page.nextAfterId !== null) ctx.io.err(`more accounts: --after ${page.nextAfterId}`);
      }
      return 0;
    }
    case 'show': {
      const p = parseArgs(rest, {});
      const store = await ctx.open();
      const a = await resolveOrFail(store, oneRef(p, 'show'));
      const reg = await store.registrations.get(a.id);
      const devices = await store.devices.listBindings(a.id);
      if (ctx.globals.json) {
        ctx.io.out(json({ ...accountJson(a), registration: reg, devices: devices.length }));
        return 0;
      }
      printAccount(ctx, a, [
        ['registration', reg ? `${reg.state}${reg.lastStatus ? ` (${reg.lastStatus} ${reg.lastReason ?? ''})` : ''}` : 'Idle'],
        ['expires at', reg?.expiresAt ?? null],
        ['devices', devices.length],
      ]);
      return 0;
    }
    case 'set': {
      const p = parseArgs(rest, { values: [...ACCOUNT_VALUES, 'aor'], booleans: ACCOUNT_BOOLS });
      const ref = oneRef(p, 'set');
      const patch = patchFrom(p);
      if (p.values.has('aor')) patch.aor = p.values.get('aor');
      const password = await readPassword(ctx, p);
      if (password !== undefined) patch.password = password;
      if (!Object.keys(patch).length) throw new UsageError('account set: nothing to change');
      const store = await ctx.open();
      const a = await resolveOrFail(store, ref);
      const updated = await store.accounts.update(a.id, patch);
      if (ctx.globals.json) ctx.io.out(json(accountJson(updated)));
      else ctx.io.out(`updated account ${updated.id} ${updated.aor}`);
      return 0;
    }
    case 'enable':
    case 'disable': {
      const p = parseArgs(rest, {});
      const store = await ctx.open();
      const a = await resolveOrFail(store, oneRef(p, sub));
      const updated = await store.accounts.setEnabled(a.id, sub === 'enable');
      if (ctx.globals.json) ctx.io.out(json(accountJson(updated)));
      else ctx.io.out(`${sub}d account ${updated.id} ${updated.aor}`);
      return 0;
    }
    case 'remove': {
      const p = parseArgs(rest, {});
      const store = await ctx.open();
      const a = await resolveOrFail(store, oneRef(p, 'remove'));
      await store.accounts.remove(a.id);
      if (ctx.globals.json) ctx.io.out(json({ removed: a.id, aor: a.aor }));
      else ctx.io.out(`removed account ${a.id} ${a.aor}`);
      return 0;
    }
    case 'import':
      return importCommand(ctx, rest);
    case undefined:
      throw new UsageError('account: missing subcommand (add, import, list, show, set, enable, disable, remove)');
    default:
      throw new UsageError(`account: unknown subcommand "${sub}"`);
  }
}
