#!/usr/bin/env node
/**
 * sipis-bridge: TCP / TLS / WebSocket ⇄ UDP front end of sipis. `--help` prints usage (exit 0);
 * a configuration error prints what is wrong and exits 2. SIGHUP reloads the TLS certificate
 * without dropping connections; SIGINT/SIGTERM close everything and exit 0.
 */
import pino from 'pino';
import { loadConfig, usage } from './config.js';
import { BridgeError } from './errors.js';
import { startBridge } from './bridge.js';
import { VERSION, versionRequested } from '../core/version.js';

async function main(): Promise<number> {
  if (versionRequested(process.argv)) {
    process.stdout.write(`sipis-bridge ${VERSION}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = loadConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof BridgeError && err.code === 'ERR_CONFIG') {
      process.stderr.write(`sipis-bridge: ${err.message}\n(see sipis-bridge --help)\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  const log = pino({ level: parsed.config.logLevel, base: { name: 'sipis-bridge' } });
  let bridge;
  try {
    bridge = await startBridge(parsed.config, log);
  } catch (err) {
    if (err instanceof BridgeError && err.code === 'ERR_CONFIG') {
      process.stderr.write(`sipis-bridge: ${err.message}\n`);
      return 2;
    }
    // one line a person reads first (a port in use, …), then the structured record
    process.stderr.write(`sipis-bridge: cannot start: ${(err as Error).message}\n`);
    log.fatal({ err }, 'cannot start');
    return 1;
  }
  process.on('SIGHUP', () => {
    try {
      bridge.reloadTls();
    } catch (err) {
      log.error({ err }, 'TLS reload failed; the previous certificate stays in use');
    }
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('shutting down');
  await bridge.close();
  return 0;
}

process.exitCode = await main();
