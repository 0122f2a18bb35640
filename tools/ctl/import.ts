/**
 * `sipis-ctl account import [FILE|-]`: bulk provisioning from JSON Lines, one account per line
 * (`{"aor":"sip:alice@example.com","password":"…","registrar":"sip:…"}`; the keys of
 * `account add`'s options in camelCase). Read in chunks of 5000 lines, each written with one
 * statement; existing AORs are skipped, so re-running an interrupted import is safe.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { StoreError, type AccountInput } from '../../core/store/index.js';
import { parseArgs, UsageError } from './args.js';
import type { Context } from './context.js';
import { json } from './output.js';

const KEYS = new Set(['aor', 'password', 'authUser', 'registrar', 'outboundProxy', 'transport', 'expires', 'realm', 'displayName', 'premium', 'enabled']);
const CHUNK = 5000;

function toInput(line: string, lineNo: number): AccountInput {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new StoreError('STORE_INVALID', `line ${lineNo}: not a JSON object`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new StoreError('STORE_INVALID', `line ${lineNo}: not a JSON object`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new StoreError('STORE_INVALID', `line ${lineNo}: unknown key "${k.slice(0, 40)}"`);
  const str = (k: string, required = false): string | undefined => {
    const x = o[k];
    if (x === undefined || x === null) {
      if (required) throw new StoreError('STORE_INVALID', `line ${lineNo}: missing ${k}`);
      return undefined;
    }
    if (typeof x !== 'string') throw new StoreError('STORE_INVALID', `line ${lineNo}: ${k} must be a string`);
    return x;
  };
  const bool = (k: string): boolean | undefined => {
    const x = o[k];
    if (x === undefined) return undefined;
    if (typeof x !== 'boolean') throw new StoreError('STORE_INVALID', `line ${lineNo}: ${k} must be true or false`);
    return x;
  };
  const expires = o.expires;
  if (expires !== undefined && typeof expires !== 'number') throw new StoreError('STORE_INVALID', `line ${lineNo}: expires must be a number`);
  return {
    aor: str('aor', true)!,
    password: str('password', true),
    authUser: str('authUser'),
    registrar: str('registrar'),
    outboundProxy: str('outboundProxy') ?? null,
    transport: str('transport'),
    expires,
    realm: str('realm') ?? null,
    displayName: str('displayName') ?? null,
    premium: bool('premium'),
    enabled: bool('enabled'),
  };
}

export async function importCommand(ctx: Context, argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv, {});
  if (p.positionals.length > 1) throw new UsageError('account import takes one file (or - for standard input)');
  const file = p.positionals[0] ?? '-';
  const store = await ctx.open();
  const input: Readable = file === '-' ? ctx.io.stdin() : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    if (file === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (err: NodeJS.ErrnoException) => reject(new StoreError('STORE_INVALID', `cannot read ${file}: ${err.code ?? err.message}`)));
  });
  await opened;
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let batch: AccountInput[] = [];
  const lineOf: number[] = []; // file line of each row in the batch
  let inserted = 0;
  let duplicates = 0;
  const flush = async () => {
    if (!batch.length) return;
    try {
      const r = await store.accounts.addMany(batch);
      inserted += r.inserted;
      duplicates += r.duplicates.length;
    } catch (err) {
      // addMany names the row within the batch: turn it into the file's line number
      if (err instanceof StoreError) {
        const m = /^row (\d+): (.*)$/.exec(err.message);
        if (m) throw new StoreError(err.code, `line ${lineOf[Number(m[1]) - 1]}: ${m[2]} (${inserted} imported before it)`);
      }
      throw err;
    }
    batch = [];
    lineOf.length = 0;
  };
  // an AOR given twice is a mistake whose intent cannot be guessed (which password?): refused,
  // like any bad row, where ON CONFLICT DO NOTHING would silently keep the first
  const seen = new Map<string, number>();
  for await (const line of lines) {
    lineNo++;
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const input = toInput(line, lineNo);
    const first = seen.get(input.aor);
    if (first !== undefined) throw new StoreError('STORE_INVALID', `line ${lineNo}: AOR ${input.aor} is already on line ${first} (${inserted} imported before it)`);
    seen.set(input.aor, lineNo);
    lineOf.push(lineNo);
    batch.push(input);
    if (batch.length >= CHUNK) await flush();
  }
  await flush();
  if (ctx.globals.json) ctx.io.out(json({ inserted, duplicates }));
  else ctx.io.out(`imported ${inserted} account(s), skipped ${duplicates} existing AOR(s)`);
  return 0;
}
