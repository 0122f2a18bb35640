/**
 * Wiring of the sipis server: store (migrations applied at open), UDP transport, transaction
 * layer, upstream engine (loaded from the store, following LISTEN/NOTIFY), admin HTTP.
 * `startSipis` is what the binary (main.ts) and the local stack (stack.ts) call; tests call it
 * in-process.
 *
 * With devices on (the default), devices.ts adds the device registrar, the push client, the call
 * tunnel and text messages, and routes the layer's requests between them; the accounts they see
 * come from the engine through an AOR index (accounts.ts), and requests to an account's Contact
 * are believed only from its provider's resolved addresses (provider-sources.ts).
 *
 * With cleanup.enabled (the default), cleanup.ts sweeps stale devices and failing accounts of
 * this shard every cleanup.intervalS.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { ShardRing, parseBackendSpec } from '../shard/index.js';
import { Store, parseKeyring, type Keyring } from '../store/index.js';
import { TransactionLayer } from '../transaction/index.js';
import { SipResolver, UdpTransport, type UdpListen } from '../transport/index.js';
import { contactUserFor } from '../upstream/contact.js';
import { UpstreamEngine } from '../upstream/engine.js';
import { SipRegistrationSender } from '../upstream/sender.js';
import type { PushClient } from '../push/index.js';
import type { DeviceRegistrar } from '../registrar/index.js';
import type { Tunnel } from '../tunnel/index.js';
import { AccountIndex } from './accounts.js';
import { VERSION } from '../version.js';
import { AdminServer, CHECK_DEADLINE_MS, databaseCheck, settleWithin, type HealthReport } from './admin.js';
import { CleanupSweeper } from './cleanup.js';
import type { SipisConfig } from './config.js';
import { startDevices, type Devices } from './devices.js';
import { ServerError } from './errors.js';
import { counter, formatMetrics, gauge, statsJson, type Metric } from './metrics.js';
import { ProviderSources } from './provider-sources.js';
import { followAccountChanges, loadIntoEngine, toStored, unregisterDisabled, type AccountMirror } from './upstream-store.js';

export interface SipisServer {
  config: SipisConfig;
  log: Logger;
  store: Store;
  transport: UdpTransport;
  layer: TransactionLayer;
  engine: UpstreamEngine;
  /** the accounts as the tunnel sees them (by id, by AOR). */
  accounts: AccountIndex;
  /** registrar, push client, tunnel: undefined with devices.enabled off. */
  devices: Devices | undefined;
  registrar: DeviceRegistrar | undefined;
  /** the mediator's client: undefined without devices or without push.mediatorUrl. */
  push: PushClient | undefined;
  tunnel: Tunnel | undefined;
  /** the clean-up sweep: undefined with cleanup.enabled off. */
  cleanup: CleanupSweeper | undefined;
  admin: AdminServer | undefined;
  adminAddress: AddressInfo | undefined;
  /** accounts loaded at start-up. */
  loaded: number;
  /** SIGTERM path: unregister nothing, flush states, close everything. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** engine tuning for tests (e.g. short backoff); merged over what the config says. */
  engine?: Partial<ConstructorParameters<typeof UpstreamEngine>[0]>;
  /** transaction timers for tests (T1 etc.). */
  timers?: { T1?: number; T2?: number; T4?: number };
  /** the clean-up sweep's clock (ms) and first pass, for tests (default Date.now, the interval up to a minute). */
  cleanup?: { now?: () => number; firstDelayMs?: number };
}

/** The first external address of a family, for a wildcard bind without --advertise. */
function guessAddress(family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && (family === 4 ? a.family === 'IPv4' : a.family === 'IPv6' && !a.address.startsWith('fe80'))) return a.address;
    }
  }
  return undefined;
}

/**
 * A listen address; a wildcard one (0.0.0.0, ::) needs an address to advertise in Via and in
 * the Contact we register (a provider cannot send INVITEs to 0.0.0.0): --advertise, else the
 * host's first external address of that family.
 */
export function parseListen(text: string, advertise: string | undefined, log?: Logger): UdpListen {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text)!;
  const l: UdpListen = { host: m[1] ?? m[2]!, port: Number(m[3]) };
  if (advertise) l.advertise = advertise;
  else if (l.host === '0.0.0.0' || l.host === '::') {
    const guess = guessAddress(l.host === '::' ? 6 : 4);
    if (guess) {
      l.advertise = guess;
      log?.warn({ listen: text, advertise: guess }, 'wildcard listen address: advertising the first external address; set --advertise to choose');
    }
  }
  return l;
}

function keyringOf(cfg: SipisConfig): Keyring | undefined {
  if (cfg.secretKeyFile) {
    let text: string;
    try {
      text = readFileSync(cfg.secretKeyFile, 'utf8');
    } catch (err) {
      throw new ServerError('ERR_CONFIG_INVALID', `config secretKeyFile: cannot read ${cfg.secretKeyFile}: ${(err as Error).message}`, { field: 'secretKeyFile', cause: err });
    }
    return parseKeyring(text, cfg.secretKeyFile);
  }
  return cfg.secretKey ? parseKeyring(cfg.secretKey, 'secretKey') : undefined;
}

/** `(shardKey) => boolean` from the shard config: rendezvous home ignoring health (ownership must not flap). */
export function shardPredicate(cfg: SipisConfig): (shardKey: string) => boolean {
  if (cfg.shard.backends.length === 0) return () => true;
  let ring: ShardRing;
  try {
    ring = new ShardRing(cfg.shard.backends.map(parseBackendSpec));
  } catch (err) {
    throw new ServerError('ERR_CONFIG_INVALID', `config shard.backends: ${(err as Error).message}`, { field: 'shard.backends', cause: err });
  }
  const self = cfg.shard.self!;
  if (!ring.get(self)) throw new ServerError('ERR_CONFIG_INVALID', `config shard.self: ${self} is not one of shard.backends`, { field: 'shard.self' });
  return (key) => ring.home(key).id === self;
}

export async function startSipis(cfg: SipisConfig, opts: StartOptions = {}): Promise<SipisServer> {
  const log = opts.log ?? pino({ level: cfg.logLevel, base: { name: 'sipis' } });
  if (!cfg.databaseUrl) throw new ServerError('ERR_CONFIG_INVALID', 'config databaseUrl: is required', { field: 'databaseUrl' });
  const keyring = keyringOf(cfg);
  const owns = shardPredicate(cfg);

  let store: Store;
  try {
    store = await Store.open({ url: cfg.databaseUrl, keyring, logger: log, appName: 'sipis' });
  } catch (err) {
    throw new ServerError('ERR_STARTUP_DB', `cannot open the database: ${(err as Error).message}`, { cause: err });
  }
  let transport: UdpTransport;
  try {
    // 4 MiB socket buffers (the kernel caps them at net.core.rmem_max): a burst of responses to a
    // start-up wave must not overflow the default ~200 KiB and cost a 500 ms retransmission each
    transport = await UdpTransport.listen({ listen: cfg.listen.map((l) => parseListen(l, cfg.advertise, log)), recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  } catch (err) {
    await store.close();
    throw new ServerError('ERR_STARTUP_LISTEN', `cannot listen on ${cfg.listen.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
  const resolver = new SipResolver();
  const layer = new TransactionLayer(transport, { logger: log, resolver, ...(opts.timers ? { timers: opts.timers } : {}) });
  // Until the device registrar and the call tunnel take requests over (`server.layer.onRequest`
  // replaces this): answer a provider's OPTIONS keep-alive to our Contact, refuse the rest politely.
  layer.onRequest((tx, req) => {
    if (req.method === 'OPTIONS') tx.reply(200, 'OK', { headers: [['Allow', 'OPTIONS']] });
    else tx.reply(480, 'Temporarily Unavailable');
  });
  const first = transport.endpoints[0]!;
  const sb = transport.sentBy(first.address.includes(':') ? { address: '::1', port: 5060 } : { address: '127.0.0.1', port: 5060 });
  const contactFor = (id: string): string => `sip:${contactUserFor(id)}@${sb.host}:${sb.port}`;
  const upLog = log.child({ component: 'upstream' });
  const engine = new UpstreamEngine({
    sender: new SipRegistrationSender(layer, { resolver }),
    save: async (records) => {
      await store.registrations.saveMany(records.map((r) => toStored(r, contactFor)));
    },
    rate: cfg.upstream.registerRate,
    maxInFlight: cfg.upstream.maxInFlight,
    flushIntervalMs: cfg.upstream.flushIntervalMs,
    policy: {
      defaultExpires: cfg.upstream.defaultExpires,
      backoff: { baseMs: cfg.upstream.backoffBaseS * 1000, maxMs: cfg.upstream.backoffMaxS * 1000, authFailureMs: cfg.upstream.authFailureBackoffS * 1000 },
    },
    log: upLog,
    ...opts.engine,
  });

  // what "sipis itself" is in a phone's Request-URI or From: the domain, the advertised host, our addresses
  const bracket = (h: string): string => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h).toLowerCase();
  const localHosts = new Set<string>([cfg.domain.toLowerCase(), bracket(sb.host)]);
  if (cfg.advertise) localHosts.add(bracket(cfg.advertise));
  for (const e of transport.endpoints) localHosts.add(bracket(e.address));
  const accounts = new AccountIndex(engine, localHosts, log);
  const providers = new ProviderSources({ resolver, extra: cfg.providers.addresses, refreshS: cfg.providers.refreshS, log: log.child({ component: 'providers' }) });
  const mirror: AccountMirror = {
    put: (a) => {
      accounts.put(a);
      providers.track(a);
    },
    remove: (id) => {
      accounts.remove(id);
      providers.untrack(id);
    },
    replaceAll: (all) => {
      accounts.replaceAll(all);
      providers.replaceAll(all);
    },
  };

  let loaded = 0;
  let unfollow: () => void = () => undefined;
  let devices: Devices | undefined;
  // a start-up that fails half way closes what it had opened, in reverse order
  const unwind = async (): Promise<void> => {
    unfollow();
    providers.close();
    layer.close();
    await transport.close();
    await store.close();
  };
  try {
    // subscribe before loading so no change between the load and the subscription is lost
    unfollow = followAccountChanges(store, engine, owns, upLog, mirror);
    loaded = await loadIntoEngine(store, engine, owns, upLog, mirror);
    await unregisterDisabled(store, engine, owns, upLog);
  } catch (err) {
    await unwind();
    throw new ServerError('ERR_STARTUP_DB', `cannot load accounts: ${(err as Error).message}`, { cause: err });
  }
  if (cfg.devices.enabled) {
    try {
      // the providers' addresses first: an INVITE right after our first REGISTER must be believed
      await providers.ready();
      devices = await startDevices(cfg, { store, layer, accounts, providers, localHosts, log });
    } catch (err) {
      await unwind();
      throw err;
    }
  }
  engine.start();
  let cleanup: CleanupSweeper | undefined;
  if (cfg.cleanup.enabled) {
    cleanup = new CleanupSweeper({ store, config: cfg.cleanup, owns, registrar: devices?.registrar, push: devices?.push, log, ...(opts.cleanup?.now ? { now: opts.cleanup.now } : {}) });
    cleanup.start(opts.cleanup?.firstDelayMs);
  }
  log.info({ listen: transport.endpoints, accounts: loaded, rate: cfg.upstream.registerRate }, 'sipis started');

  // bounded (admin.ts): probes time out after 1–3 s, a dead database would hold them 5 s
  const health = async (): Promise<HealthReport> => {
    const database = await databaseCheck(store.pool);
    const tpOk = transport.endpoints.length > 0;
    return {
      ok: database.ok && tpOk,
      checks: {
        database,
        transport: tpOk ? { ok: true, detail: transport.endpoints.map((e) => `${e.address}:${e.port}`).join(' ') } : { ok: false, detail: 'no socket' },
      },
    };
  };
  const metricList = (): Metric[] => {
    const by = engine.countByState();
    const c = engine.counters;
    const tc = transport.counters;
    const lc = layer.counters;
    const list: Metric[] = [
      { name: 'sipis_upstream_registrations', help: 'accounts by upstream registration state', type: 'gauge', samples: Object.entries(by).map(([state, value]) => ({ labels: { state }, value })) },
      counter('sipis_upstream_registers_sent_total', 'REGISTER requests sent (refreshes, first registrations, answers to challenges)', c.registersSent),
      counter('sipis_upstream_unregisters_sent_total', 'REGISTER requests with Expires 0 sent', c.unregistersSent),
      counter('sipis_upstream_register_ok_total', '2xx responses to REGISTER', c.responsesOk),
      counter('sipis_upstream_register_challenged_total', '401/407 responses to REGISTER', c.challenges),
      counter('sipis_upstream_register_failed_total', 'other final error responses to REGISTER', c.failures),
      counter('sipis_upstream_register_timeouts_total', 'REGISTER transactions without a final response', c.timeouts),
      gauge('sipis_upstream_in_flight', 'REGISTER transactions in progress', engine.inFlight),
      gauge('sipis_upstream_backlog', 'paced REGISTERs due and waiting for the rate limit', engine.backlog),
      gauge('sipis_upstream_pending_state_writes', 'registration states waiting to be written', engine.pendingWrites),
      counter('sipis_db_errors_total', 'failed registration state writes', c.dbErrors),
      counter('sipis_db_state_rows_written_total', 'registration state rows written', c.dbWrites),
      counter('sipis_transactions_client_total', 'client transactions created', lc.clientCreated),
      counter('sipis_transactions_server_total', 'server transactions created', lc.serverCreated),
      gauge('sipis_transactions_live', 'live transactions', layer.clients.size + layer.servers.size),
      counter('sipis_datagrams_in_total', 'UDP datagrams received', tc.datagramsIn),
      counter('sipis_datagrams_out_total', 'UDP datagrams sent', tc.datagramsOut),
      counter('sipis_datagram_parse_errors_total', 'datagrams that did not parse', tc.parseErrors),
      counter('sipis_send_errors_total', 'UDP send errors', tc.sendErrors),
      ...(devices?.metrics() ?? []),
      ...(cleanup?.metrics() ?? []),
    ];
    return list;
  };
  const metrics = (): string => formatMetrics(metricList());
  /** messages waiting for a phone (the whole database: shards share it); null when it cannot be asked. */
  const pendingMessages = async (): Promise<number | null> => {
    if (store.pool.down) return null;
    const r = await settleWithin(store.pool.query<{ n: string }>('SELECT count(*) AS n FROM message WHERE delivered_at IS NULL'), CHECK_DEADLINE_MS);
    return r !== undefined && 'value' in r ? Number(r.value[0]?.n ?? 0) : null;
  };
  /** accounts the clean-up switched off, with their reasons; null when the database cannot be asked. */
  const switchedOff = async () => {
    if (store.pool.down) return null;
    const r = await settleWithin(store.cleanup.switchedOff(10), CHECK_DEADLINE_MS);
    return r !== undefined && 'value' in r ? r.value : null;
  };
  const status = async () => {
    const d = devices?.status();
    // the rest comes from memory: with the database away /status still answers, within the deadline
    const [db, pending, off] = await Promise.all([databaseCheck(store.pool), d ? pendingMessages() : null, switchedOff()]);
    return {
      accounts: engine.countByState(),
      total: engine.size,
      inFlight: engine.inFlight,
      backlog: engine.backlog,
      pendingStateWrites: engine.pendingWrites,
      registersSent: engine.counters.registersSent,
      devices: d ? { bindings: d.bindings, withPush: d.withPush } : null,
      pendingMessages: pending,
      calls: d ? { incoming: d.calls.incoming, outgoing: d.calls.outgoing, dialogs: d.calls.dialogs } : null,
      pushesPending: d ? d.pushesPending : null,
      cleanup: { ...(cleanup?.status() ?? { enabled: false }), switchedOff: off },
      domain: cfg.domain,
      listen: transport.endpoints,
      database: db.ok ? 'up' : 'down',
    };
  };

  let admin: AdminServer | undefined;
  let adminAddress: AddressInfo | undefined;
  if (cfg.admin.port >= 0) {
    const startedAt = Date.now();
    const about = () => ({
      name: 'sipis',
      version: VERSION,
      node: process.version,
      pid: process.pid,
      startedAt: new Date(startedAt).toISOString(),
      uptimeS: Math.floor((Date.now() - startedAt) / 1000),
      domain: cfg.domain,
      listen: transport.endpoints,
    });
    const stats = () => ({ since: new Date(startedAt).toISOString(), uptimeS: Math.floor((Date.now() - startedAt) / 1000), ...statsJson(metricList()) });
    admin = new AdminServer({ health, metrics, status, about, stats }, log.child({ component: 'admin' }));
    try {
      adminAddress = await admin.listen(cfg.admin.host, cfg.admin.port);
    } catch (err) {
      void cleanup?.close(0);
      devices?.close();
      providers.close();
      await engine.stop();
      unfollow();
      layer.close();
      await transport.close();
      await store.close();
      throw new ServerError('ERR_STARTUP_LISTEN', `cannot listen for admin HTTP on ${cfg.admin.host}:${cfg.admin.port}: ${(err as Error).message}`, { cause: err });
    }
  }

  let closing: Promise<void> | undefined;
  return {
    config: cfg,
    log,
    store,
    transport,
    layer,
    engine,
    accounts,
    devices,
    registrar: devices?.registrar,
    push: devices?.push,
    tunnel: devices?.tunnel,
    cleanup,
    admin,
    adminAddress,
    loaded,
    close() {
      closing ??= (async () => {
        unfollow();
        // before the push client and the store go: a pass's committed work gets its pushes
        await cleanup?.close();
        // calls in progress are dropped (memory only); bindings and messages stay in the database
        devices?.close();
        providers.close();
        await engine.stop();
        await admin?.close();
        layer.close();
        await transport.close();
        await store.close();
        log.info({ written: engine.counters.dbWrites }, 'sipis stopped');
      })();
      return closing;
    },
  };
}

