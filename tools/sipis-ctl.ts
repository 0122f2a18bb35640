#!/usr/bin/env node
/**
 * sipis-ctl: provisioning and status against the sipis database.
 *
 *   sipis-ctl [--db URL] [--key-file PATH] [--json] <command> ...
 *
 * Exit codes: 0 done, 1 the request failed (bad input, unknown account, duplicate AOR,
 * database unreachable), 2 usage error. Passwords never appear in output or errors.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ENV_DB_URL, ENV_SECRET_KEY, ENV_SECRET_KEY_FILE, isStoreError } from '../core/store/index.js';
import { accountCommand, ACCOUNT_USAGE } from './ctl/account.js';
import { UsageError } from './ctl/args.js';
import { Context, type Globals, type Io } from './ctl/context.js';
import { dbCommand, DB_USAGE, statusCommand } from './ctl/db.js';
import { VERSION, versionRequested } from '../core/version.js';

export const USAGE = `usage: sipis-ctl [--db URL] [--key-file PATH] [--json] <command> ...

${ACCOUNT_USAGE}

${DB_USAGE}

global options:
  --db URL          PostgreSQL URL (default: $${ENV_DB_URL}, then $DATABASE_URL)
  --key-file PATH   keyring file, lines "<key-id>:<base64 32 bytes>", first = current
                    (default: $${ENV_SECRET_KEY_FILE}, or the keyring text in $${ENV_SECRET_KEY})
  --json            machine-readable output
  --help            this text
  --version         the version`;

/** splits the global options (allowed anywhere) from the command's own arguments. */
function splitGlobals(argv: readonly string[]): { globals: Globals; help: boolean; rest: string[] } {
  const globals: Globals = { json: false };
  let help = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const take = (name: string): string | undefined => {
      if (a === `--${name}`) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`--${name} needs a value`);
        return v;
      }
      if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
      return undefined;
    };
    const db = take('db');
    if (db !== undefined) {
      globals.db = db;
      continue;
    }
    const kf = take('key-file');
    if (kf !== undefined) {
      globals.keyFile = kf;
      continue;
    }
    if (a === '--json') globals.json = true;
    else if (a === '--help' || a === '-h') help = true;
    else rest.push(a);
  }
  return { globals, help, rest };
}

export async function run(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let ctx: Context | null = null;
  try {
    if (versionRequested(argv)) {
      io.out(`sipis-ctl ${VERSION}`);
      return 0;
    }
    const { globals, help, rest } = splitGlobals(argv);
    if (help) {
      io.out(USAGE);
      return 0;
    }
    ctx = new Context(globals, io, env);
    const [cmd, ...args] = rest;
    switch (cmd) {
      case 'account':
        return await accountCommand(ctx, args);
      case 'db':
        return await dbCommand(ctx, args);
      case 'status':
        return await statusCommand(ctx, args);
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`sipis-ctl: ${err.message}\n(sipis-ctl --help for usage)`);
      return 2;
    }
    if (isStoreError(err)) {
      io.err(`sipis-ctl: ${err.message} [${err.code}]`);
      return 1;
    }
    io.err(`sipis-ctl: unexpected error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  } finally {
    await ctx?.close();
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) {
      process.stderr.write('password: ');
    }
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c: string) => {
      data += c;
      if (data.length > 64 * 1024) reject(new UsageError('standard input too long for a password'));
    });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

// run when executed (also through node_modules/.bin symlinks), not when imported
const isMain = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const io: Io = {
    out: (t) => process.stdout.write(t + '\n'),
    err: (t) => process.stderr.write(t + '\n'),
    readStdin,
    stdin: () => process.stdin,
  };
  process.exitCode = await run(process.argv.slice(2), io);
}
