#!/usr/bin/env -S node --single-threaded-gc
/**
 * `sipis`: the SIP Instance Server. Settings from a JSON file, SIPIS_* environment variables
 * and options (see `sipis --help`). Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 start-up
 * failure (database unreachable, address in use), 2 usage or configuration error.
 */
import pino from 'pino';
import { startSipis } from './app.js';
import { loadConfig, requireRuntime, usage, parseArgs } from './config.js';
import { ServerError } from './errors.js';
import { isStoreError } from '../store/errors.js';
import { applyV8Flags, missingNodeFlags } from './v8-flags.js';
import { VERSION, versionRequested } from '../version.js';

async function main(argv: string[]): Promise<number> {
  if (versionRequested(argv)) {
    process.stdout.write(`sipis ${VERSION}\n`);
    return 0;
  }
  applyV8Flags();
  let cfg;
  try {
    if (parseArgs(argv).help) {
      process.stdout.write(usage() + '\n');
      return 0;
    }
    cfg = loadConfig(argv);
    requireRuntime(cfg);
  } catch (err) {
    if (err instanceof ServerError) {
      process.stderr.write(`sipis: ${err.message}\n`);
      if (err.code === 'ERR_USAGE') process.stderr.write('try: sipis --help\n');
      return 2;
    }
    throw err;
  }
  const log = pino({ level: cfg.logLevel, base: { name: 'sipis' } });
  // the shebang passes them; `node main.js` without them runs, with a longer relay delay tail
  const missing = missingNodeFlags();
  if (missing.length > 0) log.warn({ nodeFlags: missing }, 'started without the node flags sipis runs with (core/server/v8-flags.ts): GC helper threads compete with the event loop for its core');
  let server;
  try {
    server = await startSipis(cfg, { log });
  } catch (err) {
    const e = err as Error & { code?: string };
    log.fatal({ code: e.code, err: e.cause ?? e }, e.message);
    process.stderr.write(`sipis: ${e.message}\n`);
    // a malformed keyring is found only when the store opens, but it is a configuration error
    return (e instanceof ServerError && e.code === 'ERR_CONFIG_INVALID') || isStoreError(e, 'STORE_KEY') ? 2 : 1;
  }
  if (server.adminAddress) log.info({ admin: `http://${server.adminAddress.address}:${server.adminAddress.port}` }, 'admin HTTP ready');
  // SIGTERM: unregister nothing (bindings stay valid at the providers), flush states, exit 0
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      server.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // pg-native / timers must not keep a stopped server alive
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`sipis: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
