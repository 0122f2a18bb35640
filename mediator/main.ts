#!/usr/bin/env node
/**
 * sipis-mediator: the unified push protocol in, APNs and FCM out.
 * Exit codes, as sipis and sipis-bridge: 0 after --help or a clean SIGTERM drain, 2 on a usage
 * error or an invalid configuration or app registry (the error names the field), 1 when it
 * cannot start (the port is taken, …).
 */
import { pino } from 'pino';
import { loadConfig, USAGE } from './config.js';
import { MediatorError } from './errors.js';
import { startMediator } from './mediator.js';
import { VERSION, versionRequested } from '../core/version.js';

async function main(): Promise<number | undefined> {
  if (versionRequested(process.argv)) {
    process.stdout.write(`sipis-mediator ${VERSION}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof MediatorError) {
      process.stderr.write(`sipis-mediator: ${err.message}\n`);
      if (err.code === 'ERR_MEDIATOR_USAGE') process.stderr.write(USAGE);
      return 2;
    }
    throw err;
  }
  if (parsed.help || !parsed.config) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = parsed.config;
  const log = pino({
    name: 'sipis-mediator',
    level: config.logLevel,
    // Belt and braces: nothing we log should carry these, but if an error object does…
    redact: ['authorization', '*.authorization', 'passphrase', '*.passphrase', 'private_key', '*.private_key', 'apiKeys'],
  });
  let mediator;
  try {
    mediator = await startMediator(config, log);
  } catch (err) {
    process.stderr.write(`sipis-mediator: ${(err as Error).message}\n`);
    // an invalid registry or credential file is a configuration error; a port taken is not
    return err instanceof MediatorError && err.code !== 'ERR_MEDIATOR_LISTEN' ? 2 : 1;
  }
  const m = mediator;
  process.on('SIGHUP', () => {
    m.reload();
  });
  let terminating = false;
  const stop = (signal: string) => {
    if (terminating) return;
    terminating = true;
    log.info({ signal }, 'shutting down');
    void m.shutdown().then(() => {
      log.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return undefined;
}

const code = await main();
if (code !== undefined) process.exitCode = code;
