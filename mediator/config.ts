/**
 * The mediator's configuration: defaults < JSON file (--config) < environment
 * (SIPIS_MEDIATOR_*) < command-line flags. Validated whole, with errors naming the field and
 * where it came from, before anything listens.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MediatorError } from './errors.js';

export interface MediatorConfig {
  host: string;
  port: number;
  apiKeys: string[];
  appsFile: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Requests worked on at once before new ones get 503 retry-later. */
  maxInFlight: number;
  maxBodyBytes: number;
  /**
   * Budget of one push including retries toward APNs/FCM: every request is answered within it.
   * Keep it below the client's per-attempt timeout with margin (sipis: push.attemptTimeoutS,
   * 4 s), or the client gives up first, never hears the retry-later, and sends the same push
   * again while the mediator still works on it.
   */
  deadlineMs: number;
  /** Budget of one HTTP/2 exchange with APNs/FCM (waiting for a connection included). */
  attemptTimeoutMs: number;
  /** On SIGTERM: how long in-flight pushes may take before they are answered retry-later. */
  shutdownGraceMs: number;
}

export const DEFAULTS: Omit<MediatorConfig, 'apiKeys' | 'appsFile'> = {
  host: '127.0.0.1',
  port: 8090,
  logLevel: 'info',
  maxInFlight: 20_000,
  maxBodyBytes: 8192,
  // A call push is worth little after a few seconds (the caller is waiting for the phone), and
  // sipis waits 4 s per attempt: 3 s leaves it a second to hear our answer. An attempt gets 2 s,
  // so one stuck on a dead connection leaves room for one more on another.
  deadlineMs: 3000,
  attemptTimeoutMs: 2000,
  shutdownGraceMs: 10_000,
};

export const USAGE = `usage: sipis-mediator [--config FILE] [options]

Turns the SIPIS unified push protocol (POST /v1/push, see mediator/PROTOCOL.md) into
APNs and FCM HTTP v1 requests.

options (each overrides the config file and the environment):
  --config FILE        JSON config file (keys: host, port, apiKeys, appsFile, logLevel,
                       maxInFlight, maxBodyBytes, deadlineMs, attemptTimeoutMs, shutdownGraceMs)
  --host HOST          listen address               (SIPIS_MEDIATOR_HOST, default 127.0.0.1)
  --port PORT          listen port, 0 = any free    (SIPIS_MEDIATOR_PORT, default 8090)
  --api-key KEY        client bearer key, repeatable (SIPIS_MEDIATOR_API_KEYS, comma-separated;
                       prefer the environment or the file: flags show in ps)
  --apps FILE          app registry JSON            (SIPIS_MEDIATOR_APPS_FILE)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (SIPIS_MEDIATOR_LOG_LEVEL)
  -h, --help           print this and exit
  --version            print the version and exit

signals: SIGHUP reloads the app registry (kept as it was if the new one is invalid);
SIGTERM stops accepting, finishes in-flight pushes within shutdownGraceMs, exits 0.
`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface CliResult {
  help: boolean;
  config?: MediatorConfig;
}

const bad = (field: string, msg: string, code: 'ERR_MEDIATOR_CONFIG' | 'ERR_MEDIATOR_USAGE' = 'ERR_MEDIATOR_CONFIG') =>
  new MediatorError(code, `${field}: ${msg}`, { field });

function int(v: unknown, field: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw bad(field, `must be an integer ${min}–${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** Parses argv (without node and script) and env; throws MediatorError (code USAGE or CONFIG). */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): CliResult {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'api-key': { type: 'string', multiple: true },
        apps: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new MediatorError('ERR_MEDIATOR_USAGE', (err as Error).message, { cause: err });
  }
  if (values.help) return { help: true };

  const merged: Record<string, unknown> = { ...DEFAULTS };
  const origin: Record<string, string> = {};
  let base = process.cwd();
  if (typeof values.config === 'string') {
    const file = resolve(values.config);
    base = dirname(file);
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw bad('--config', `cannot load ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(file, 'must hold a JSON object');
    for (const [k, v] of Object.entries(doc)) {
      if (!(k in DEFAULTS) && k !== 'apiKeys' && k !== 'appsFile') throw bad(`${file}: ${k}`, 'unknown key');
      merged[k] = k === 'appsFile' && typeof v === 'string' ? resolve(base, v) : v;
      origin[k] = file;
    }
  }
  const fromEnv: Array<[string, string]> = [
    ['SIPIS_MEDIATOR_HOST', 'host'],
    ['SIPIS_MEDIATOR_PORT', 'port'],
    ['SIPIS_MEDIATOR_API_KEYS', 'apiKeys'],
    ['SIPIS_MEDIATOR_APPS_FILE', 'appsFile'],
    ['SIPIS_MEDIATOR_LOG_LEVEL', 'logLevel'],
    ['SIPIS_MEDIATOR_MAX_IN_FLIGHT', 'maxInFlight'],
    ['SIPIS_MEDIATOR_DEADLINE_MS', 'deadlineMs'],
    ['SIPIS_MEDIATOR_SHUTDOWN_GRACE_MS', 'shutdownGraceMs'],
  ];
  for (const [name, key] of fromEnv) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    merged[key] = key === 'apiKeys' ? v.split(',').map((s) => s.trim()).filter(Boolean) : key === 'appsFile' ? resolve(v) : v;
    origin[key] = name;
  }
  const flags: Array<[string, string]> = [
    ['host', 'host'],
    ['port', 'port'],
    ['api-key', 'apiKeys'],
    ['apps', 'appsFile'],
    ['log-level', 'logLevel'],
  ];
  for (const [flag, key] of flags) {
    const v = values[flag];
    if (v === undefined) continue;
    merged[key] = key === 'appsFile' ? resolve(String(v)) : v;
    origin[key] = `--${flag}`;
  }
  const where = (k: string) => origin[k] ?? 'default';
  const f = (k: string) => `${k} (from ${where(k)})`;

  if (typeof merged.host !== 'string' || merged.host === '') throw bad(f('host'), 'must be a host name or address');
  const apiKeys = merged.apiKeys;
  if (!Array.isArray(apiKeys) || apiKeys.length === 0) {
    throw bad('apiKeys', 'at least one client key is required (config apiKeys, SIPIS_MEDIATOR_API_KEYS or --api-key)', origin.apiKeys ? 'ERR_MEDIATOR_CONFIG' : 'ERR_MEDIATOR_USAGE');
  }
  for (const k of apiKeys) {
    // Never echo the key itself.
    if (typeof k !== 'string' || k.length < 16) throw bad(f('apiKeys'), 'each key must be a string of at least 16 characters');
  }
  if (typeof merged.appsFile !== 'string' || merged.appsFile === '') {
    throw bad('appsFile', 'the app registry file is required (config appsFile, SIPIS_MEDIATOR_APPS_FILE or --apps)', 'ERR_MEDIATOR_USAGE');
  }
  if (!LEVELS.includes(merged.logLevel as (typeof LEVELS)[number])) throw bad(f('logLevel'), `must be one of ${LEVELS.join(', ')}`);
  const config: MediatorConfig = {
    host: merged.host,
    port: int(merged.port, f('port'), 0, 65535),
    apiKeys: apiKeys as string[],
    appsFile: merged.appsFile,
    logLevel: merged.logLevel as MediatorConfig['logLevel'],
    maxInFlight: int(merged.maxInFlight, f('maxInFlight'), 1, 10_000_000),
    maxBodyBytes: int(merged.maxBodyBytes, f('maxBodyBytes'), 256, 1 << 20),
    deadlineMs: int(merged.deadlineMs, f('deadlineMs'), 100, 600_000),
    attemptTimeoutMs: int(merged.attemptTimeoutMs, f('attemptTimeoutMs'), 50, 600_000),
    shutdownGraceMs: int(merged.shutdownGraceMs, f('shutdownGraceMs'), 0, 600_000),
  };
  return { help: false, config };
}
