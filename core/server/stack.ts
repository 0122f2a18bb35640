/**
 * The local stack for a first look (`npm start`): PostgreSQL (the one named by SIPIS_DB_URL /
 * DATABASE_URL, else an embedded throw-away cluster in a temp folder), a keyring (SIPIS_SECRET_KEY
 * or a generated one written to a temp key file for sipis-ctl), and sipis on loopback. Prints
 * the addresses and how to add an account. The lead's tools/stack.ts adds the mediator and
 * the bridge around it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { freeSipPort } from '../../fixtures/net.js';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { formatKeyEntry, generateKey } from '../store/index.js';
import { startSipis, type SipisServer } from './app.js';
import { loadConfig } from './config.js';

export interface LocalStackOptions {
  /** SIP port on 127.0.0.1 (default 5060, or a free one when 5060 is taken). */
  sipPort?: number;
  /** admin HTTP port (default 8088; 0 = any). */
  adminPort?: number;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** print the banner (default true). */
  print?: boolean;
  /**
   * more sipis options, as on the command line (e.g. `--mediator-url`, `--bridges`,
   * `--domain`); the environment (SIPIS_MEDIATOR_API_KEY…) is read too.
   */
  args?: string[];
}

export interface LocalStack {
  sipis: SipisServer;
  databaseUrl: string;
  keyFile: string;
  /** the banner text printed at start. */
  banner: string;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  const { createSocket } = await import('node:dgram');
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? pino({ level: env.SIPIS_LOG_LEVEL ?? 'info', base: { name: 'sipis' } });
  const dir = mkdtempSync(join(tmpdir(), 'sipis-stack-'));
  let pg: PostgresCluster | undefined;
  let databaseUrl = env.SIPIS_DB_URL || env.DATABASE_URL;
  if (!databaseUrl) {
    pg = await startPostgres();
    databaseUrl = await pg.createDatabase('sipis');
  }
  const keyFile = join(dir, 'sipis.key');
  writeFileSync(keyFile, (env.SIPIS_SECRET_KEY || formatKeyEntry('local', generateKey())) + '\n', { mode: 0o600 });
  const sipPort = opts.sipPort ?? ((await portFree(5060)) ? 5060 : await freeSipPort());
  // one sipis, so any digest nonce key will do: generated unless the environment has one
  const digestSecret = env.SIPIS_DIGEST_SECRET || randomBytes(24).toString('base64url');
  const cfg = loadConfig(
    ['--listen', `127.0.0.1:${sipPort}`, '--admin-port', String(opts.adminPort ?? 8088), '--db-url', databaseUrl, '--secret-key-file', keyFile, ...(opts.args ?? [])],
    { ...env, SIPIS_SECRET_KEY: '', SIPIS_DIGEST_SECRET: digestSecret },
  );
  let sipis: SipisServer;
  try {
    sipis = await startSipis(cfg, { log });
  } catch (err) {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const admin = sipis.adminAddress ? `http://127.0.0.1:${sipis.adminAddress.port}` : '(off)';
  const banner = [
    '',
    'SIPIS local stack',
    `  SIP (UDP)      127.0.0.1:${sipis.transport.endpoints[0]!.port}`,
    `  admin HTTP     ${admin}/status  ${admin}/metrics  ${admin}/healthz`,
    `  database       ${pg ? 'embedded PostgreSQL (removed on exit)' : 'from SIPIS_DB_URL / DATABASE_URL'}`,
    ...(cfg.devices.enabled ? [`  phones         REGISTER sip:127.0.0.1:${sipis.transport.endpoints[0]!.port} (realm ${cfg.domain}), To = the account's AOR, its password`] : []),
    '',
    'Add an account (sipis registers it at its provider within a second):',
    `  export SIPIS_DB_URL='${databaseUrl}'`,
    `  export SIPIS_SECRET_KEY_FILE='${keyFile}'`,
    `  npx sipis-ctl account add sip:alice@provider.example --password secret --registrar sip:provider.example`,
    '',
  ].join('\n');
  if (opts.print ?? true) process.stdout.write(banner + '\n');
  return {
    sipis,
    databaseUrl,
    keyFile,
    banner,
    async stop() {
      await sipis.close();
      await pg?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
