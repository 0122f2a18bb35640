/**
 * Configuration of sipis-bridge from, in increasing precedence: defaults, a JSON file
 * (`--config FILE` or SIPIS_BRIDGE_CONFIG), environment variables (SIPIS_BRIDGE_*) and
 * command-line flags. Every value is validated here, at the edge, with an error that names
 * the option and where it came from (BridgeError ERR_CONFIG; the binary exits 2 on it).
 */
import { readFileSync } from 'node:fs';
import { parseBackendSpec, SHARD_KEY_SOURCES, ShardError, type BackendSpec, type ShardKeySource } from '../core/shard/index.js';
import { DEFAULT_LIMITS, type Limits } from './context.js';
import { BridgeError } from './errors.js';
import type { StreamTransport } from './flow.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface BridgeConfig {
  listen: Partial<Record<StreamTransport, HostPort>>;
  /** host:port phones reach each listener at, when it differs from the bound address. */
  advertise: Partial<Record<StreamTransport | 'udp', string>>;
  tls?: { certFile: string; keyFile: string; caFile?: string; verifyClient: boolean; maxVersion?: 'TLSv1.2' | 'TLSv1.3' };
  /** the UDP socket that talks to the sipis backends. */
  udp: HostPort;
  backends: BackendSpec[];
  /** extra addresses (besides the backends') allowed to send requests to phones. */
  trusted: string[];
  /**
   * Origins a browser WebSocket may come from (RFC 6455 §10.2), lowercase; empty = any. A
   * WebSocket without an Origin (a native phone, not a browser) is always let in.
   */
  wsOrigins: string[];
  shardKey: ShardKeySource;
  probe: { intervalMs: number; failures: number; successes: number };
  limits: Limits;
  /** admin HTTP (healthz, metrics, shard lookup); undefined = off. */
  admin?: HostPort;
  logLevel: string;
}

export function defaultConfig(): BridgeConfig {
  return {
    listen: {},
    advertise: {},
    udp: { host: '127.0.0.1', port: 0 },
    backends: [],
    trusted: [],
    wsOrigins: [],
    shardKey: 'auto',
    probe: { intervalMs: 2000, failures: 3, successes: 1 },
    limits: { ...DEFAULT_LIMITS },
    logLevel: 'info',
  };
}

type Setter = (c: BridgeConfig, value: string, where: string) => void;

interface OptionDef {
  flag: string;
  env: string;
  arg: string;
  help: string;
  set: Setter;
  /** a flag without a value */
  boolean?: boolean;
}

const fail = (where: string, msg: string): never => {
  throw new BridgeError('ERR_CONFIG', `${where}: ${msg}`);
};

export function parseHostPort(text: string, where: string): HostPort {
  const t = text.trim();
  let host: string;
  let portText: string;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0 || t[close + 1] !== ':') return fail(where, `expected [v6-address]:port, got ${JSON.stringify(text)}`);
    host = t.slice(1, close);
    portText = t.slice(close + 2);
  } else {
    const colon = t.lastIndexOf(':');
    if (colon <= 0) return fail(where, `expected host:port, got ${JSON.stringify(text)}`);
    host = t.slice(0, colon);
    portText = t.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) return fail(where, `port must be 0-65535, got ${JSON.stringify(portText)}`);
  return { host, port };
}

const int = (min: number, max: number) => (v: string, where: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) return fail(where, `expected an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  return n;
};

const bool = (v: string, where: string): boolean => {
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  return fail(where, `expected true or false, got ${JSON.stringify(v)}`);
};

function backendList(v: string, where: string): BackendSpec[] {
  try {
    return v.split(',').filter((s) => s.trim()).map((s) => parseBackendSpec(s));
  } catch (err) {
    if (err instanceof ShardError) return fail(where, err.message);
    throw err;
  }
}

function tlsOf(c: BridgeConfig): NonNullable<BridgeConfig['tls']> {
  c.tls ??= { certFile: '', keyFile: '', verifyClient: false };
  return c.tls;
}

const listenOpt = (t: StreamTransport): OptionDef => ({
  flag: t, env: t.toUpperCase(), arg: 'HOST:PORT', help: `${t.toUpperCase()} listener for phones`,
  set: (c, v, w) => { c.listen[t] = parseHostPort(v, w); },
});
const advertiseOpt = (t: StreamTransport | 'udp'): OptionDef => ({
  flag: `${t}-advertise`, env: `${t.toUpperCase()}_ADVERTISE`, arg: 'HOST:PORT', help: `address written in Via/Record-Route/Path for the ${t} side (default: the bound one)`,
  set: (c, v, w) => { const hp = parseHostPort(v, w); c.advertise[t] = hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`; },
});

export const OPTIONS: OptionDef[] = [
  listenOpt('tcp'), listenOpt('tls'), listenOpt('ws'), listenOpt('wss'),
  { flag: 'tls-cert', env: 'TLS_CERT', arg: 'FILE', help: 'PEM certificate (chain) for TLS and WSS', set: (c, v) => { tlsOf(c).certFile = v; } },
  { flag: 'tls-key', env: 'TLS_KEY', arg: 'FILE', help: 'PEM private key for TLS and WSS', set: (c, v) => { tlsOf(c).keyFile = v; } },
  { flag: 'tls-ca', env: 'TLS_CA', arg: 'FILE', help: 'PEM CA bundle for client certificates', set: (c, v) => { tlsOf(c).caFile = v; } },
  {
    flag: 'tls-max-version',
    env: 'TLS_MAX_VERSION',
    arg: '1.2|1.3',
    help: 'highest version the TLS listener offers (default 1.3; 1.2 saves ~1 KiB per idle connection)',
    set: (c, v, w) => {
      if (v !== '1.2' && v !== '1.3') fail(w, `expected 1.2 or 1.3, got ${JSON.stringify(v)}`);
      tlsOf(c).maxVersion = v === '1.2' ? 'TLSv1.2' : 'TLSv1.3';
    },
  },
  { flag: 'tls-verify-client', env: 'TLS_VERIFY_CLIENT', arg: '', boolean: true, help: 'require a client certificate signed by --tls-ca', set: (c, v, w) => { tlsOf(c).verifyClient = bool(v, w); } },
  { flag: 'udp', env: 'UDP', arg: 'HOST:PORT', help: 'UDP socket towards sipis (default 127.0.0.1:0)', set: (c, v, w) => { c.udp = parseHostPort(v, w); } },
  advertiseOpt('udp'), advertiseOpt('tcp'), advertiseOpt('tls'), advertiseOpt('ws'), advertiseOpt('wss'),
  { flag: 'backend', env: 'BACKENDS', arg: 'HOST:PORT[;weight=N][;id=ID]', help: 'a sipis shard (flag repeatable; env: comma-separated)', set: (c, v, w) => { c.backends.push(...backendList(v, w)); } },
  { flag: 'ws-origins', env: 'WS_ORIGINS', arg: 'ORIGIN[,ORIGIN…]', help: 'browser origins allowed on WS/WSS, e.g. https://app.example.com (default any)', set: (c, v, w) => {
    for (const o of v.split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!/^https?:\/\/[^/\s]+$/i.test(o)) fail(w, `not an origin (scheme://host[:port]): ${JSON.stringify(o)}`);
      c.wsOrigins.push(o.toLowerCase());
    }
  } },
  { flag: 'trusted', env: 'TRUSTED', arg: 'IP[,IP…]', help: 'extra addresses allowed to send to phones', set: (c, v) => { c.trusted.push(...v.split(',').map((s) => s.trim()).filter(Boolean)); } },
  { flag: 'shard-key', env: 'SHARD_KEY', arg: 'auto|from|to', help: 'header naming the account (auto: To for REGISTER, From otherwise)', set: (c, v, w) => {
    if (!(SHARD_KEY_SOURCES as readonly string[]).includes(v)) fail(w, `expected one of ${SHARD_KEY_SOURCES.join(', ')}, got ${JSON.stringify(v)}`);
    c.shardKey = v as ShardKeySource;
  } },
  { flag: 'probe-interval', env: 'PROBE_INTERVAL_MS', arg: 'MS', help: 'OPTIONS probe period per backend (default 2000)', set: (c, v, w) => { c.probe.intervalMs = int(50, 3_600_000)(v, w); } },
  { flag: 'probe-failures', env: 'PROBE_FAILURES', arg: 'N', help: 'missed probes before a backend is out (default 3)', set: (c, v, w) => { c.probe.failures = int(1, 100)(v, w); } },
  { flag: 'max-message-bytes', env: 'MAX_MESSAGE_BYTES', arg: 'N', help: 'largest SIP message (default 65536)', set: (c, v, w) => { c.limits.maxMessageBytes = int(1024, 16 << 20)(v, w); } },
  { flag: 'header-timeout', env: 'HEADER_TIMEOUT_MS', arg: 'MS', help: 'a message must complete within (default 10000)', set: (c, v, w) => { c.limits.headerTimeoutMs = int(100, 600_000)(v, w); } },
  { flag: 'idle-timeout', env: 'IDLE_TIMEOUT_MS', arg: 'MS', help: 'close silent connections after (0 = never, default 300000)', set: (c, v, w) => { c.limits.idleTimeoutMs = int(0, 86_400_000)(v, w); } },
  { flag: 'max-conns-per-ip', env: 'MAX_CONNS_PER_IP', arg: 'N', help: 'connections per source address (default 200)', set: (c, v, w) => { c.limits.maxConnectionsPerAddress = int(1, 10_000_000)(v, w); } },
  { flag: 'admin', env: 'ADMIN', arg: 'HOST:PORT', help: 'admin HTTP: /healthz /metrics /shard?key=', set: (c, v, w) => { c.admin = parseHostPort(v, w); } },
  { flag: 'log-level', env: 'LOG_LEVEL', arg: 'LEVEL', help: 'pino level (default info)', set: (c, v, w) => {
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(v)) fail(w, `unknown log level ${JSON.stringify(v)}`);
    c.logLevel = v;
  } },
];

export function usage(): string {
  // one column for every flag, the fixed ones included
  const line = (left: string, help: string) => `${`  ${left}`.padEnd(46)} ${help}`;
  return [
    'usage: sipis-bridge [--config FILE] [options]',
    '',
    'Terminates TCP, TLS and WebSocket SIP connections from phones and relays each message',
    'over UDP to the sipis shard that owns the account (see bridge/README.md).',
    '',
    line('--config FILE', 'JSON file with the same settings [SIPIS_BRIDGE_CONFIG]'),
    ...OPTIONS.map((o) => line(`--${o.flag}${o.arg ? ` ${o.arg}` : ''}`, `${o.help} [SIPIS_BRIDGE_${o.env}]`)),
    line('--help', 'this text'),
    line('--version', 'the version'),
  ].join('\n');
}

/** The JSON file: the BridgeConfig shape, with backends as objects or `host:port;weight=N` strings. */
function applyFile(c: BridgeConfig, file: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`config file ${file}`, (err as Error).message);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(`config file ${file}`, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  const where = (k: string) => `config file ${file}: ${k}`;
  const str = (k: string, v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : fail(where(k), 'expected a string or number'));
  const known = new Set(['listen', 'advertise', 'tls', 'udp', 'backends', 'trusted', 'wsOrigins', 'shardKey', 'probe', 'limits', 'admin', 'logLevel']);
  for (const k of Object.keys(o)) if (!known.has(k)) fail(where(k), `unknown setting (known: ${[...known].join(', ')})`);
  const byFlag = new Map(OPTIONS.map((d) => [d.flag, d]));
  const set = (flag: string, k: string, v: unknown) => byFlag.get(flag)!.set(c, str(k, v), where(k));
  const obj = (k: string): Record<string, unknown> => {
    const v = o[k];
    if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(where(k), 'expected an object');
    return v as Record<string, unknown>;
  };
  if (o.listen !== undefined) for (const [t, v] of Object.entries(obj('listen'))) {
    if (!['tcp', 'tls', 'ws', 'wss'].includes(t)) fail(where(`listen.${t}`), 'expected tcp, tls, ws or wss');
    set(t, `listen.${t}`, v);
  }
  if (o.advertise !== undefined) for (const [t, v] of Object.entries(obj('advertise'))) {
    if (!['tcp', 'tls', 'ws', 'wss', 'udp'].includes(t)) fail(where(`advertise.${t}`), 'expected tcp, tls, ws, wss or udp');
    set(`${t}-advertise`, `advertise.${t}`, v);
  }
  if (o.tls !== undefined) {
    const t = obj('tls');
    const map: Record<string, string> = { certFile: 'tls-cert', keyFile: 'tls-key', caFile: 'tls-ca', verifyClient: 'tls-verify-client', maxVersion: 'tls-max-version' };
    for (const [k, v] of Object.entries(t)) map[k] ? set(map[k]!, `tls.${k}`, v) : fail(where(`tls.${k}`), 'unknown setting');
  }
  if (o.udp !== undefined) set('udp', 'udp', o.udp);
  if (o.backends !== undefined) {
    if (!Array.isArray(o.backends)) fail(where('backends'), 'expected an array');
    (o.backends as unknown[]).forEach((b, i) => {
      if (typeof b === 'string') set('backend', `backends[${i}]`, b);
      else if (b && typeof b === 'object') {
        const { host, port, weight, id } = b as Record<string, unknown>;
        if (typeof host !== 'string' || typeof port !== 'number') return fail(where(`backends[${i}]`), 'expected {host, port, weight?, id?}');
        c.backends.push(...backendList(`${host.includes(':') ? `[${host}]` : host}:${port}${weight !== undefined ? `;weight=${str(`backends[${i}].weight`, weight)}` : ''}${id !== undefined ? `;id=${str(`backends[${i}].id`, id)}` : ''}`, where(`backends[${i}]`)));
      } else fail(where(`backends[${i}]`), 'expected a string or an object');
    });
  }
  if (o.trusted !== undefined) {
    if (!Array.isArray(o.trusted)) fail(where('trusted'), 'expected an array of addresses');
    set('trusted', 'trusted', (o.trusted as unknown[]).map((x) => str('trusted', x)).join(','));
  }
  if (o.wsOrigins !== undefined) {
    if (!Array.isArray(o.wsOrigins)) fail(where('wsOrigins'), 'expected an array of origins');
    set('ws-origins', 'wsOrigins', (o.wsOrigins as unknown[]).map((x) => str('wsOrigins', x)).join(','));
  }
  if (o.shardKey !== undefined) set('shard-key', 'shardKey', o.shardKey);
  if (o.probe !== undefined) {
    const map: Record<string, string> = { intervalMs: 'probe-interval', failures: 'probe-failures' };
    for (const [k, v] of Object.entries(obj('probe'))) map[k] ? set(map[k]!, `probe.${k}`, v) : fail(where(`probe.${k}`), 'unknown setting');
  }
  if (o.limits !== undefined) {
    const map: Record<string, string> = { maxMessageBytes: 'max-message-bytes', headerTimeoutMs: 'header-timeout', idleTimeoutMs: 'idle-timeout', maxConnectionsPerAddress: 'max-conns-per-ip' };
    for (const [k, v] of Object.entries(obj('limits'))) map[k] ? set(map[k]!, `limits.${k}`, v) : fail(where(`limits.${k}`), 'unknown setting');
  }
  if (o.admin !== undefined) set('admin', 'admin', o.admin);
  if (o.logLevel !== undefined) set('log-level', 'logLevel', o.logLevel);
}

export interface ParsedArgs {
  help: boolean;
  config: BridgeConfig;
}

/** Builds the configuration; throws BridgeError ERR_CONFIG with a readable message. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true, config: defaultConfig() };
  // pass 1: split flags, find --config
  const flags: Array<{ def: OptionDef; value: string }> = [];
  let configFile = env.SIPIS_BRIDGE_CONFIG;
  const byFlag = new Map(OPTIONS.map((d) => [d.flag, d]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) fail(`argument ${JSON.stringify(a)}`, 'unexpected (options start with --)');
    const eq = a.indexOf('=');
    const name = a.slice(2, eq >= 0 ? eq : undefined);
    let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
    if (name === 'config') {
      configFile = value ?? argv[++i] ?? fail('--config', 'needs a file name');
      continue;
    }
    const def = byFlag.get(name) ?? fail(`--${name}`, 'unknown option (see --help)');
    if (value === undefined) {
      if (def.boolean) value = 'true';
      else value = argv[++i] ?? fail(`--${name}`, `needs a value (${def.arg})`);
    }
    flags.push({ def, value });
  }
  const c = defaultConfig();
  if (configFile) applyFile(c, configFile);
  for (const def of OPTIONS) {
    const v = env[`SIPIS_BRIDGE_${def.env}`];
    if (v !== undefined && v !== '') {
      if (def.flag === 'backend') c.backends = [];
      if (def.flag === 'trusted') c.trusted = [];
      if (def.flag === 'ws-origins') c.wsOrigins = [];
      def.set(c, v, `SIPIS_BRIDGE_${def.env}`);
    }
  }
  let backendsFromFlags = false;
  for (const { def, value } of flags) {
    if (def.flag === 'backend' && !backendsFromFlags) {
      c.backends = [];
      backendsFromFlags = true;
    }
    def.set(c, value, `--${def.flag}`);
  }
  validate(c);
  return { help: false, config: c };
}

export function validate(c: BridgeConfig): void {
  if (Object.keys(c.listen).length === 0) fail('configuration', 'no listener: give at least one of --tcp, --tls, --ws, --wss');
  if (c.backends.length === 0) fail('configuration', 'no sipis backend: give --backend HOST:PORT (or SIPIS_BRIDGE_BACKENDS)');
  const ids = new Set<string>();
  for (const b of c.backends) {
    const id = b.id ?? `${b.host}:${b.port}`;
    if (ids.has(id)) fail('backends', `backend ${id} appears twice`);
    ids.add(id);
  }
  if (c.listen.tls || c.listen.wss) {
    if (!c.tls?.certFile || !c.tls.keyFile) fail('configuration', 'the TLS/WSS listener needs --tls-cert and --tls-key');
    if (c.tls!.verifyClient && !c.tls!.caFile) fail('--tls-verify-client', 'needs --tls-ca to check client certificates against');
  }
  if (c.limits.idleTimeoutMs > 0 && c.limits.idleTimeoutMs < c.limits.headerTimeoutMs) fail('--idle-timeout', 'must not be shorter than --header-timeout');
  // uWebSockets.js aborts the whole process (a C++ exception) on an idleTimeout over 960 s
  if ((c.listen.ws || c.listen.wss) && c.limits.idleTimeoutMs > 960_000) fail('--idle-timeout', 'at most 960000 with a WebSocket listener (uWebSockets.js limit)');
}
