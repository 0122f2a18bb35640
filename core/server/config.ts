/**
 * sipis configuration: defaults < JSON file (`--config FILE` or SIPIS_CONFIG) < environment
 * (SIPIS_*) < command-line flags. Every value is validated with an error that names the field
 * (`ServerError` ERR_CONFIG_INVALID, `.field`), so a typo in a deployment is one readable line,
 * not a stack trace. The table `FIELDS` is the single description of every setting: file path,
 * env name, flag, type and help text (the --help output is generated from it).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ServerError } from './errors.js';
import { DEVICE_AUTH_SCOPES } from '../tunnel/device-auth.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface SipisConfig {
  /** UDP addresses to listen on, `host:port` (`[v6]:port`). */
  listen: string[];
  /** host (name or IP) put in our Contact and Via when it differs from the bound address (NAT). */
  advertise: string | undefined;
  /** the SIPIS domain: digest realm for devices, our own identity. */
  domain: string;
  /** PostgreSQL connection string (libpq). */
  databaseUrl: string | undefined;
  /** keyring text for the encrypted account passwords (core/store/config.ts format, same as sipis-ctl's). */
  secretKey: string | undefined;
  /** a file holding the keyring instead (wins over secretKey). */
  secretKeyFile: string | undefined;
  upstream: {
    /** REGISTER transactions started per second (token bucket). */
    registerRate: number;
    /** REGISTER transactions in flight at most. */
    maxInFlight: number;
    /** seconds asked for when an account does not say. */
    defaultExpires: number;
    backoffBaseS: number;
    backoffMaxS: number;
    /** delay after an authentication failure (401 twice, 403, 404). */
    authFailureBackoffS: number;
    /** how often pending registration states are written to the database. */
    flushIntervalMs: number;
  };
  admin: {
    host: string;
    /** 0 = any free port; -1 = no admin HTTP. */
    port: number;
  };
  logLevel: LogLevel;
  shard: {
    /** the shard set, `host:port[;weight=N][;id=NAME]` each; empty = this process owns everything. */
    backends: string[];
    /** which of them this process is (its id, default `host:port`). */
    self: string | undefined;
  };
  /** phones registering to sipis (core/registrar), the call tunnel and text messages (core/tunnel). */
  devices: {
    /** off: register-on-behalf only (every device request gets 480). */
    enabled: boolean;
    /** HMAC key of the stateless digest nonces, ≥ 16 bytes: the same on every shard (a nonce from one must verify on another). */
    digestSecret: string | undefined;
    /** a file holding it instead (wins over digestSecret). */
    digestSecretFile: string | undefined;
    /** digest algorithms offered, one challenge each, in this order (RFC 8760 §2.4); MD5 first because many phones answer only the first. */
    algorithms: string[];
    /** binding lifetime bounds, seconds (RFC 3261 §10.3 step 7: 423 below min, cut above max). */
    expiresMinS: number;
    expiresDefaultS: number;
    expiresMaxS: number;
    /** sipis-bridge source addresses (`ip` or `ip:port`) whose X-Sipis-Flow header and Path are believed. */
    bridges: string[];
    /** RFC 5626 Flow-Timer (seconds) suggested to outbound phones in the REGISTER 2xx; 0 = none. */
    flowTimerS: number;
    /**
     * which of the devices' own requests (calls, messages they place) must carry digest
     * credentials (407): `udp` those on plain UDP flows, whose source address can be forged;
     * `all`; `none` (core/tunnel/device-auth.ts).
     */
    requestAuth: string;
    /** password guessing (core/registrar/auth-guard.ts): this many failed digests from one address within authFailWindowS block it for authBlockS; 0 = off. */
    authFailLimit: number;
    authFailWindowS: number;
    authBlockS: number;
  };
  /** the client of sipis-mediator (core/push). */
  push: {
    /** mediator base URL, e.g. `http://127.0.0.1:8090`; absent: no pushes (sleeping phones cannot be woken). */
    mediatorUrl: string | undefined;
    /** the mediator's API key (prefer the env or a file: never logged). */
    apiKey: string | undefined;
    apiKeyFile: string | undefined;
    /** budget of one push including retries, seconds. */
    deadlineS: number;
    /** one HTTP attempt, seconds. */
    attemptTimeoutS: number;
  };
  tunnel: {
    /** how long an incoming call waits for a device to get in touch (then 480 No-Response-From-Device). */
    readinessTimeoutS: number;
    /** a binding registered within this window gets the INVITE at once, without a push. */
    reachableWindowS: number;
    /** a "reachable" device silent this long after our INVITE is pushed anyway. */
    reachableGraceS: number;
    /** MESSAGE bodies above this get 413 (RFC 3428 §8). */
    maxMessageBytes: number;
  };
  /**
   * The clean-up sweep (core/server/cleanup.ts): stale devices removed, accounts whose upstream
   * registration keeps failing switched off, warning pushes before both. Durations in seconds.
   */
  cleanup: {
    /** off: nothing is removed or switched off, no warning is pushed. */
    enabled: boolean;
    /** a device binding not seen (no REGISTER) for this long is removed (3 days). */
    staleAfterS: number;
    /** the same for devices of premium accounts (7 days); at least staleAfterS. */
    premiumStaleAfterS: number;
    /** an enabled account whose registration has failed without a break for this long is switched off (12 h). */
    failingAfterS: number;
    /** warning pushes this long before a removal or a switch-off (12 h and 1 h). */
    warningsS: number[];
    /** time between two sweeps (5 min); a sweep never overlaps the previous one. */
    intervalS: number;
    /** rows per statement. */
    batchSize: number;
    /** rows looked at per sweep, devices and accounts each; the next sweep goes on from there. */
    maxPerPass: number;
  };
  /** where providers' requests (INVITE, MESSAGE to an account's Contact) may come from. */
  providers: {
    /** extra addresses or CIDRs believed besides the accounts' resolved registrars and outbound proxies. */
    addresses: string[];
    /** how often the provider host names are resolved again, seconds. */
    refreshS: number;
  };
}

export function defaultConfig(): SipisConfig {
  return {
    listen: ['0.0.0.0:5060'],
    advertise: undefined,
    domain: hostname(),
    databaseUrl: undefined,
    secretKey: undefined,
    secretKeyFile: undefined,
    upstream: { registerRate: 200, maxInFlight: 1000, defaultExpires: 3600, backoffBaseS: 30, backoffMaxS: 1800, authFailureBackoffS: 1800, flushIntervalMs: 1000 },
    admin: { host: '127.0.0.1', port: 8088 },
    logLevel: 'info',
    shard: { backends: [], self: undefined },
    devices: { enabled: true, digestSecret: undefined, digestSecretFile: undefined, algorithms: ['MD5', 'SHA-256'], expiresMinS: 60, expiresDefaultS: 3600, expiresMaxS: 7 * 24 * 3600, bridges: [], flowTimerS: 0, requestAuth: 'udp', authFailLimit: 10, authFailWindowS: 60, authBlockS: 300 },
    push: { mediatorUrl: undefined, apiKey: undefined, apiKeyFile: undefined, deadlineS: 10, attemptTimeoutS: 4 },
    tunnel: { readinessTimeoutS: 120, reachableWindowS: 30, reachableGraceS: 2, maxMessageBytes: 4 * 1024 * 1024 },
    cleanup: { enabled: true, staleAfterS: 3 * 86400, premiumStaleAfterS: 7 * 86400, failingAfterS: 12 * 3600, warningsS: [12 * 3600, 3600], intervalS: 300, batchSize: 500, maxPerPass: 20_000 },
    providers: { addresses: [], refreshS: 300 },
  };
}

type Kind = 'string' | 'list' | 'int' | 'number' | 'level' | 'bool' | 'ints';

interface Field {
  /** dotted path in the JSON file and in SipisConfig. */
  path: string;
  env: string;
  flag: string;
  kind: Kind;
  help: string;
  min?: number;
  max?: number;
}

export const FIELDS: readonly Field[] = [
  { path: 'listen', env: 'SIPIS_LISTEN', flag: '--listen', kind: 'list', help: 'UDP host:port to listen on, comma-separated (default 0.0.0.0:5060)' },
  { path: 'advertise', env: 'SIPIS_ADVERTISE', flag: '--advertise', kind: 'string', help: 'host to put in Contact/Via instead of the bound address' },
  { path: 'domain', env: 'SIPIS_DOMAIN', flag: '--domain', kind: 'string', help: 'SIPIS domain and digest realm (default: host name)' },
  { path: 'databaseUrl', env: 'SIPIS_DB_URL', flag: '--db-url', kind: 'string', help: 'PostgreSQL connection string (required; DATABASE_URL also read)' },
  { path: 'secretKey', env: 'SIPIS_SECRET_KEY', flag: '--secret-key', kind: 'string', help: 'keyring "<id>:<base64 32 bytes>[,...]" for account passwords (or --secret-key-file)' },
  { path: 'secretKeyFile', env: 'SIPIS_SECRET_KEY_FILE', flag: '--secret-key-file', kind: 'string', help: 'file holding the keyring (sipis-ctl db gen-key writes one)' },
  { path: 'upstream.registerRate', env: 'SIPIS_REGISTER_RATE', flag: '--register-rate', kind: 'number', min: 0.01, max: 1e6, help: 'REGISTERs started per second (default 200)' },
  { path: 'upstream.maxInFlight', env: 'SIPIS_MAX_IN_FLIGHT', flag: '--max-in-flight', kind: 'int', min: 1, max: 1_000_000, help: 'REGISTER transactions in flight at most (default 1000)' },
  { path: 'upstream.defaultExpires', env: 'SIPIS_DEFAULT_EXPIRES', flag: '--default-expires', kind: 'int', min: 1, max: 2 ** 31 - 1, help: 'registration expiry asked for, seconds (default 3600)' },
  { path: 'upstream.backoffBaseS', env: 'SIPIS_BACKOFF_BASE', flag: '--backoff-base', kind: 'number', min: 0.1, max: 86400, help: 'first retry delay after a failure, seconds (default 30)' },
  { path: 'upstream.backoffMaxS', env: 'SIPIS_BACKOFF_MAX', flag: '--backoff-max', kind: 'number', min: 0.1, max: 86400 * 7, help: 'retry delay cap, seconds (default 1800)' },
  { path: 'upstream.authFailureBackoffS', env: 'SIPIS_AUTH_FAILURE_BACKOFF', flag: '--auth-failure-backoff', kind: 'number', min: 1, max: 86400 * 7, help: 'delay after a wrong password / 403 / 404, seconds (default 1800)' },
  { path: 'upstream.flushIntervalMs', env: 'SIPIS_FLUSH_INTERVAL_MS', flag: '--flush-interval-ms', kind: 'int', min: 10, max: 600_000, help: 'how often registration states are written, ms (default 1000)' },
  { path: 'admin.host', env: 'SIPIS_ADMIN_HOST', flag: '--admin-host', kind: 'string', help: 'admin HTTP address (default 127.0.0.1)' },
  { path: 'admin.port', env: 'SIPIS_ADMIN_PORT', flag: '--admin-port', kind: 'int', min: -1, max: 65535, help: 'admin HTTP port, 0 = any, -1 = off (default 8088)' },
  { path: 'logLevel', env: 'SIPIS_LOG_LEVEL', flag: '--log-level', kind: 'level', help: `log level: ${LOG_LEVELS.join(', ')} (default info)` },
  { path: 'shard.backends', env: 'SIPIS_SHARD_BACKENDS', flag: '--shard-backends', kind: 'list', help: 'all shards, host:port[;weight=N][;id=NAME], comma-separated' },
  { path: 'shard.self', env: 'SIPIS_SHARD_SELF', flag: '--shard-self', kind: 'string', help: 'the id of this shard among --shard-backends' },
  { path: 'devices.enabled', env: 'SIPIS_DEVICES', flag: '--devices', kind: 'bool', help: 'serve phones: registrar, call tunnel, messages (default on; off = register-on-behalf only)' },
  { path: 'devices.digestSecret', env: 'SIPIS_DIGEST_SECRET', flag: '--digest-secret', kind: 'string', help: 'nonce key for device digest, >= 16 bytes, the same on every shard (required with devices on)' },
  { path: 'devices.digestSecretFile', env: 'SIPIS_DIGEST_SECRET_FILE', flag: '--digest-secret-file', kind: 'string', help: 'file holding the nonce key instead' },
  { path: 'devices.algorithms', env: 'SIPIS_DIGEST_ALGORITHMS', flag: '--digest-algorithms', kind: 'list', help: 'digest challenges offered, in order (default MD5,SHA-256)' },
  { path: 'devices.expiresMinS', env: 'SIPIS_DEVICE_EXPIRES_MIN', flag: '--device-expires-min', kind: 'int', min: 1, max: 2 ** 31 - 1, help: 'shortest device registration accepted, seconds; below: 423 (default 60)' },
  { path: 'devices.expiresDefaultS', env: 'SIPIS_DEVICE_EXPIRES', flag: '--device-expires', kind: 'int', min: 1, max: 2 ** 31 - 1, help: 'device registration lifetime when the phone asks none, seconds (default 3600)' },
  { path: 'devices.expiresMaxS', env: 'SIPIS_DEVICE_EXPIRES_MAX', flag: '--device-expires-max', kind: 'int', min: 1, max: 2 ** 31 - 1, help: 'longest device registration granted, seconds (default 604800)' },
  { path: 'devices.bridges', env: 'SIPIS_BRIDGES', flag: '--bridges', kind: 'list', help: 'sipis-bridge source addresses (ip or ip:port) whose X-Sipis-Flow and Path are believed' },
  { path: 'devices.flowTimerS', env: 'SIPIS_FLOW_TIMER', flag: '--flow-timer', kind: 'int', min: 0, max: 3600, help: 'keep-alive interval suggested to outbound phones (RFC 5626 Flow-Timer), seconds; 0 = none (default); keep it below the bridge --idle-timeout' },
  { path: 'devices.requestAuth', env: 'SIPIS_DEVICE_REQUEST_AUTH', flag: '--device-request-auth', kind: 'string', help: 'digest (407) for the phones\' own calls and messages: udp = on plain UDP flows, whose source can be forged (default), all, none' },
  { path: 'devices.authFailLimit', env: 'SIPIS_AUTH_FAIL_LIMIT', flag: '--auth-fail-limit', kind: 'int', min: 0, max: 1_000_000, help: 'failed device digests from one address that block it (REGISTER and own requests); 0 = never (default 10)' },
  { path: 'devices.authFailWindowS', env: 'SIPIS_AUTH_FAIL_WINDOW', flag: '--auth-fail-window', kind: 'int', min: 1, max: 86400, help: 'the window those failures are counted in, seconds (default 60)' },
  { path: 'devices.authBlockS', env: 'SIPIS_AUTH_BLOCK', flag: '--auth-block', kind: 'int', min: 1, max: 7 * 86400, help: 'how long a blocked address gets 403 unread, seconds (default 300)' },
  { path: 'push.mediatorUrl', env: 'SIPIS_MEDIATOR_URL', flag: '--mediator-url', kind: 'string', help: 'sipis-mediator base URL, e.g. http://127.0.0.1:8090 (none: no pushes)' },
  { path: 'push.apiKey', env: 'SIPIS_MEDIATOR_API_KEY', flag: '--mediator-api-key', kind: 'string', help: 'the mediator API key (prefer the env or --mediator-api-key-file)' },
  { path: 'push.apiKeyFile', env: 'SIPIS_MEDIATOR_API_KEY_FILE', flag: '--mediator-api-key-file', kind: 'string', help: 'file holding the mediator API key' },
  { path: 'push.deadlineS', env: 'SIPIS_PUSH_DEADLINE', flag: '--push-deadline', kind: 'number', min: 0.1, max: 3600, help: 'budget of one push including retries, seconds (default 10)' },
  { path: 'push.attemptTimeoutS', env: 'SIPIS_PUSH_ATTEMPT_TIMEOUT', flag: '--push-attempt-timeout', kind: 'number', min: 0.1, max: 600, help: 'one HTTP request to the mediator, seconds (default 4; keep it above the mediator deadline, 3 s by default, or a retry-later is never heard)' },
  { path: 'tunnel.readinessTimeoutS', env: 'SIPIS_READINESS_TIMEOUT', flag: '--readiness-timeout', kind: 'number', min: 0.1, max: 3600, help: 'wait for a pushed phone to register, seconds; then 480 (default 120)' },
  { path: 'tunnel.reachableWindowS', env: 'SIPIS_REACHABLE_WINDOW', flag: '--reachable-window', kind: 'number', min: 0, max: 86400, help: 'a phone registered this recently gets the INVITE without a push, seconds (default 30)' },
  { path: 'tunnel.reachableGraceS', env: 'SIPIS_REACHABLE_GRACE', flag: '--reachable-grace', kind: 'number', min: 0, max: 3600, help: 'push a "reachable" phone silent this long after our INVITE, seconds (default 2)' },
  { path: 'tunnel.maxMessageBytes', env: 'SIPIS_MAX_MESSAGE_BYTES', flag: '--max-message-bytes', kind: 'int', min: 1, max: 64 * 1024 * 1024, help: 'MESSAGE bodies above this get 413 (default 4194304)' },
  { path: 'cleanup.enabled', env: 'SIPIS_CLEANUP', flag: '--cleanup', kind: 'bool', help: 'remove stale devices and switch off accounts whose registration keeps failing, with warning pushes (default on)' },
  { path: 'cleanup.staleAfterS', env: 'SIPIS_CLEANUP_STALE_AFTER', flag: '--cleanup-stale-after', kind: 'int', min: 60, max: 3650 * 86400, help: 'remove a device not seen (no REGISTER) for this long, seconds (default 259200 = 3 days)' },
  { path: 'cleanup.premiumStaleAfterS', env: 'SIPIS_CLEANUP_PREMIUM_STALE_AFTER', flag: '--cleanup-premium-stale-after', kind: 'int', min: 60, max: 3650 * 86400, help: 'the same for devices of premium accounts, seconds (default 604800 = 7 days)' },
  { path: 'cleanup.failingAfterS', env: 'SIPIS_CLEANUP_FAILING_AFTER', flag: '--cleanup-failing-after', kind: 'int', min: 60, max: 3650 * 86400, help: 'switch off an account whose provider registration has failed this long without a break, seconds (default 43200 = 12 h)' },
  { path: 'cleanup.warningsS', env: 'SIPIS_CLEANUP_WARNINGS', flag: '--cleanup-warnings', kind: 'ints', min: 1, max: 3650 * 86400, help: 'warning pushes this long before a removal or a switch-off, seconds, comma-separated; empty = none (default 43200,3600)' },
  { path: 'cleanup.intervalS', env: 'SIPIS_CLEANUP_INTERVAL', flag: '--cleanup-interval', kind: 'number', min: 0.1, max: 86400, help: 'time between two clean-up sweeps, seconds; shorter than the shortest warning (default 300)' },
  { path: 'cleanup.batchSize', env: 'SIPIS_CLEANUP_BATCH', flag: '--cleanup-batch', kind: 'int', min: 1, max: 1000, help: 'rows per clean-up statement (default 500)' },
  { path: 'cleanup.maxPerPass', env: 'SIPIS_CLEANUP_MAX_PER_PASS', flag: '--cleanup-max-per-pass', kind: 'int', min: 1, max: 10_000_000, help: 'devices (and accounts) looked at per sweep at most; the next sweep goes on from there (default 20000)' },
  { path: 'providers.addresses', env: 'SIPIS_PROVIDER_ADDRESSES', flag: '--provider-addresses', kind: 'list', help: 'extra provider addresses or CIDRs allowed to send calls and messages to accounts' },
  { path: 'providers.refreshS', env: 'SIPIS_PROVIDER_REFRESH', flag: '--provider-refresh', kind: 'number', min: 1, max: 86400, help: 'how often provider host names are resolved again, seconds (default 300)' },
];

const bad = (field: string, msg: string): ServerError => new ServerError('ERR_CONFIG_INVALID', `config ${field}: ${msg}`, { field });

function convert(f: Field, raw: unknown, source: string): unknown {
  const where = `${f.path} (${source})`;
  switch (f.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw bad(f.path, `${where} must be a non-empty string, got ${JSON.stringify(raw)}`);
      return raw.trim();
    case 'list': {
      const list = typeof raw === 'string' ? raw.split(',') : raw;
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad(f.path, `${where} must be a list of strings`);
      return list.map((x: string) => x.trim()).filter((x: string) => x !== '');
    }
    case 'int':
    case 'number': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(f.path, `${where} must be a number, got ${JSON.stringify(raw)}`);
      if (f.kind === 'int' && !Number.isInteger(n)) throw bad(f.path, `${where} must be an integer, got ${n}`);
      if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) throw bad(f.path, `${where} must be between ${f.min} and ${f.max}, got ${n}`);
      return n;
    }
    case 'ints': {
      const list = typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter((x) => x !== '') : raw;
      if (!Array.isArray(list)) throw bad(f.path, `${where} must be a list of whole numbers, got ${JSON.stringify(raw)}`);
      return list.map((x: unknown) => {
        const n = typeof x === 'string' && x.trim() !== '' ? Number(x) : x;
        if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(f.path, `${where} must be a list of whole numbers, got ${JSON.stringify(x)}`);
        if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) throw bad(f.path, `${where}: each must be between ${f.min} and ${f.max}, got ${n}`);
        return n;
      });
    }
    case 'level':
      if (typeof raw !== 'string' || !LOG_LEVELS.includes(raw as LogLevel)) throw bad(f.path, `${where} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const v = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if (['true', 'on', 'yes', '1'].includes(v)) return true;
      if (['false', 'off', 'no', '0'].includes(v)) return false;
      throw bad(f.path, `${where} must be true or false (on/off, yes/no, 1/0), got ${JSON.stringify(raw)}`);
    }
  }
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[parts.at(-1)!] = value;
}

function getPath(obj: unknown, path: string): unknown {
  let o = obj;
  for (const p of path.split('.')) {
    if (o === null || typeof o !== 'object') return undefined;
    o = (o as Record<string, unknown>)[p];
  }
  return o;
}

export interface ParsedArgs {
  help: boolean;
  configFile: string | undefined;
  /** flag → value, as given. */
  values: Map<string, string>;
}

/** `--name value` or `--name=value`; throws ERR_USAGE for unknown flags and missing values. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { help: false, configFile: undefined, values: new Map() };
  const known = new Set(FIELDS.map((f) => f.flag));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name !== '--config' && !known.has(name)) throw new ServerError('ERR_USAGE', `unknown option ${JSON.stringify(name)} (see --help)`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      // a value that begins with '--' is taken for a forgotten one; `--name=value` passes any value
      if (value === undefined || value.startsWith('--')) throw new ServerError('ERR_USAGE', `option ${name} needs a value (${name}=VALUE for one that begins with --)`);
      i++;
    }
    if (name === '--config') out.configFile = value;
    else out.values.set(name, value);
  }
  return out;
}

function parseListen(field: string, text: string): string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : -1;
  if (!m || port < 0 || port > 65535) throw bad(field, `${JSON.stringify(text)} is not host:port or [v6]:port`);
  return text;
}

/** Merges defaults, file, env and flags; validates; throws ServerError naming the field. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SipisConfig {
  const args = parseArgs(argv);
  const cfg = defaultConfig() as unknown as Record<string, unknown>;
  const file = args.configFile ?? env.SIPIS_CONFIG;
  if (file) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ServerError('ERR_CONFIG_FILE', `config file ${file}: ${(err as Error).message}`, { cause: err, field: 'config' });
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ServerError('ERR_CONFIG_FILE', `config file ${file}: must hold a JSON object`, { field: 'config' });
    checkUnknownKeys(json as Record<string, unknown>, defaultConfig() as unknown as Record<string, unknown>, '');
    for (const f of FIELDS) {
      const v = getPath(json, f.path);
      if (v !== undefined && v !== null) setPath(cfg, f.path, convert(f, v, `file ${file}`));
    }
  }
  if (env.DATABASE_URL && !env.SIPIS_DB_URL) env = { ...env, SIPIS_DB_URL: env.DATABASE_URL };
  for (const f of FIELDS) {
    const v = env[f.env];
    if (v !== undefined && v !== '') setPath(cfg, f.path, convert(f, v, `env ${f.env}`));
  }
  for (const f of FIELDS) {
    const v = args.values.get(f.flag);
    if (v !== undefined) setPath(cfg, f.path, convert(f, v, `flag ${f.flag}`));
  }
  const c = cfg as unknown as SipisConfig;
  if (c.listen.length === 0) throw bad('listen', 'at least one listen address is needed');
  c.listen = c.listen.map((l) => parseListen('listen', l));
  if (c.upstream.backoffMaxS < c.upstream.backoffBaseS) throw bad('upstream.backoffMaxS', `must be >= upstream.backoffBaseS (${c.upstream.backoffBaseS})`);
  if (c.shard.backends.length > 0 && !c.shard.self) throw bad('shard.self', 'is required when shard.backends is set');
  checkDevices(c);
  checkCleanup(c);
  return c;
}

/** The clean-up's durations must make sense together (checked even when it is off: it may be turned on). */
function checkCleanup(c: SipisConfig): void {
  const k = c.cleanup;
  if (k.premiumStaleAfterS < k.staleAfterS) {
    throw bad('cleanup.premiumStaleAfterS', `must be at least cleanup.staleAfterS (${k.staleAfterS}): premium devices are kept longer, not shorter; got ${k.premiumStaleAfterS}`);
  }
  if (new Set(k.warningsS).size !== k.warningsS.length) throw bad('cleanup.warningsS', `lists a warning twice: ${k.warningsS.join(',')}`);
  for (const w of k.warningsS) {
    if (w >= k.staleAfterS) throw bad('cleanup.warningsS', `a warning ${w} s before removal must be shorter than cleanup.staleAfterS (${k.staleAfterS} s)`);
    // a warning as early as the failing age goes out when the failure starts
    if (w > k.failingAfterS) throw bad('cleanup.warningsS', `a warning ${w} s before switch-off must not be longer than cleanup.failingAfterS (${k.failingAfterS} s)`);
  }
  if (k.warningsS.length > 0 && k.intervalS >= Math.min(...k.warningsS)) {
    throw bad('cleanup.intervalS', `must be shorter than the shortest warning (${Math.min(...k.warningsS)} s), or that warning could be skipped; got ${k.intervalS}`);
  }
  if (k.maxPerPass < k.batchSize) throw bad('cleanup.maxPerPass', `must be at least cleanup.batchSize (${k.batchSize}), got ${k.maxPerPass}`);
}

/** Digest algorithms the registrar can challenge with (core/sip/digest-algorithms.ts). */
const ALGORITHMS = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'];

/** `ip`, `ip:port` or `[v6]:port`. */
function isAddress(text: string): boolean {
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
  if (!m) return isIP(text) !== 0;
  return isIP(m[1]!) !== 0 && (m[2] === undefined || Number(m[2]) <= 65535);
}

/** `ip` or `ip/prefix`. */
function isCidr(text: string): boolean {
  const [ip, prefix, extra] = text.split('/');
  const family = isIP(ip ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function checkDevices(c: SipisConfig): void {
  const d = c.devices;
  if (d.algorithms.length === 0) throw bad('devices.algorithms', 'at least one digest algorithm is needed');
  for (const a of d.algorithms) if (!ALGORITHMS.includes(a)) throw bad('devices.algorithms', `unknown digest algorithm ${JSON.stringify(a)}; one of ${ALGORITHMS.join(', ')}`);
  if (new Set(d.algorithms).size !== d.algorithms.length) throw bad('devices.algorithms', 'lists an algorithm twice');
  if (!(d.expiresMinS <= d.expiresDefaultS && d.expiresDefaultS <= d.expiresMaxS)) {
    throw bad('devices.expiresDefaultS', `must satisfy expiresMinS (${d.expiresMinS}) <= expiresDefaultS (${d.expiresDefaultS}) <= expiresMaxS (${d.expiresMaxS})`);
  }
  // never echo a secret in an error: only its length
  if (d.digestSecret !== undefined && Buffer.byteLength(d.digestSecret) < 16) throw bad('devices.digestSecret', `must be at least 16 bytes, got ${Buffer.byteLength(d.digestSecret)}`);
  if (!(DEVICE_AUTH_SCOPES as readonly string[]).includes(d.requestAuth)) throw bad('devices.requestAuth', `${JSON.stringify(d.requestAuth)} is not one of ${DEVICE_AUTH_SCOPES.join(', ')}`);
  for (const b of d.bridges) if (!isAddress(b)) throw bad('devices.bridges', `${JSON.stringify(b)} is not an IP address, ip:port or [v6]:port`);
  for (const a of c.providers.addresses) if (!isCidr(a)) throw bad('providers.addresses', `${JSON.stringify(a)} is not an IP address or CIDR (ip/prefix)`);
  if (c.push.mediatorUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(c.push.mediatorUrl);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw bad('push.mediatorUrl', `${JSON.stringify(c.push.mediatorUrl)} is not an http(s) URL`);
  }
}

function checkUnknownKeys(json: Record<string, unknown>, shape: Record<string, unknown>, prefix: string): void {
  for (const [k, v] of Object.entries(json)) {
    const path = prefix + k;
    if (!(k in shape)) throw bad(path, `unknown setting ${JSON.stringify(path)}`);
    const s = shape[k];
    if (s && typeof s === 'object' && !Array.isArray(s) && v && typeof v === 'object' && !Array.isArray(v)) checkUnknownKeys(v as Record<string, unknown>, s as Record<string, unknown>, path + '.');
  }
}

/** Checks the settings the running server cannot do without (the stack launcher fills them in). */
export function requireRuntime(c: SipisConfig): asserts c is SipisConfig & { databaseUrl: string } {
  if (!c.databaseUrl) throw bad('databaseUrl', 'is required (--db-url or SIPIS_DB_URL)');
  if (!c.secretKey && !c.secretKeyFile) throw bad('secretKey', 'is required (--secret-key, SIPIS_SECRET_KEY or --secret-key-file)');
  if (c.devices.enabled && !c.devices.digestSecret && !c.devices.digestSecretFile) {
    throw bad('devices.digestSecret', 'is required when devices are on (--digest-secret, SIPIS_DIGEST_SECRET or --digest-secret-file; the same on every shard), or --devices off');
  }
  if (c.push.mediatorUrl && !c.push.apiKey && !c.push.apiKeyFile) throw bad('push.apiKey', 'is required with push.mediatorUrl (SIPIS_MEDIATOR_API_KEY or --mediator-api-key-file)');
}

export function usage(): string {
  const lines = [
    'usage: sipis [--config FILE] [options]',
    '',
    'The SIPIS server: registers every enabled account at its provider and serves devices over UDP.',
    'Settings come from defaults < JSON file (--config, SIPIS_CONFIG) < environment < options.',
    '',
    'options (environment variable in brackets):',
    `  --config FILE${' '.repeat(22)}JSON file with the settings below (nested as in the dotted names) [SIPIS_CONFIG]`,
  ];
  for (const f of FIELDS) lines.push(`  ${(f.flag + ' VALUE').padEnd(34)} ${f.help} [${f.env}]`);
  lines.push('  --help                             this text', '  --version                          the version', '', 'exit codes: 0 stopped cleanly, 1 start-up failure, 2 usage or config error');
  return lines.join('\n');
}
