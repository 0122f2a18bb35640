/**
 * The device side of sipis, wired onto the transaction layer: the device registrar
 * (core/registrar), the push client of the mediator (core/push), the call tunnel and text
 * messages (core/tunnel), and the request router between them (brief-issue8.md "Request routing
 * inside sipis"):
 *
 *   REGISTER whose Request-URI host is ours (the sipis domain, the advertised host, our
 *   addresses) or that came through a bridge     → DeviceRegistrar (a REGISTER to any other
 *                                                  domain: 403, sipis is no proxy)
 *   anything else                                → Tunnel.handleRequest: in-dialog by tags,
 *                                                  `acc-<id>` from the account's provider,
 *                                                  else a registered device's own request;
 *                                                  OPTIONS to sipis itself → 200
 *   ACK for 2xx, CANCEL, stray 2xx               → the tunnel
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { PushClient } from '../push/index.js';
import { AuthGuard, BridgeTrust, DeviceRegistrar } from '../registrar/index.js';
import type { DigestAlgorithm } from '../sip/digest.js';
import type { Store } from '../store/index.js';
import type { SipMessage } from '../sip/index.js';
import type { TransactionLayer } from '../transaction/index.js';
import { DeviceAuth, SETUP_BUCKETS_S, createTunnel, tunnelPush, type DeviceAuthScope, type Tunnel, type TunnelPush } from '../tunnel/index.js';
import type { AccountIndex } from './accounts.js';
import type { SipisConfig } from './config.js';
import { ServerError } from './errors.js';
import { counter, gauge, histogram, type Metric } from './metrics.js';
import type { ProviderSources } from './provider-sources.js';

export interface Devices {
  registrar: DeviceRegistrar;
  /** undefined without push.mediatorUrl. */
  push: PushClient | undefined;
  tunnel: Tunnel;
  metrics(): Metric[];
  status(): { bindings: number; withPush: number; calls: { incoming: number; outgoing: number; dialogs: number }; pushesPending: number };
  close(): void;
}

export interface DevicesDeps {
  store: Store;
  layer: TransactionLayer;
  accounts: AccountIndex;
  providers: ProviderSources;
  /** hosts that mean sipis itself (lowercase; IPv6 in brackets). */
  localHosts: ReadonlySet<string>;
  log: Logger;
}

/** A secret from its file (first line, trimmed) or its value; never logged, never echoed in errors. */
export function readSecret(value: string | undefined, file: string | undefined, field: string): string | undefined {
  if (!file) return value;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ServerError('ERR_CONFIG_INVALID', `config ${field}File: cannot read ${file}: ${(err as Error).message}`, { field: `${field}File` });
  }
  const line = text.split('\n', 1)[0]!.trim();
  if (!line) throw new ServerError('ERR_CONFIG_INVALID', `config ${field}File: ${file} is empty`, { field: `${field}File` });
  return line;
}

/** Without a mediator: every push fails at once (a sleeping phone cannot be woken; awake ones still ring). */
const NO_PUSH: TunnelPush = {
  sendToAccount: () => Promise.resolve([]),
  send: () => Promise.resolve({ outcome: 'failed', reason: 'no mediator configured' }),
};

export async function startDevices(cfg: SipisConfig, deps: DevicesDeps): Promise<Devices> {
  const { store, layer, log } = deps;
  let secret = readSecret(cfg.devices.digestSecret, cfg.devices.digestSecretFile, 'devices.digestSecret');
  if (secret !== undefined && Buffer.byteLength(secret) < 16) throw new ServerError('ERR_CONFIG_INVALID', 'config devices.digestSecret: must be at least 16 bytes', { field: 'devices.digestSecret' });
  if (secret === undefined) {
    // the binary refuses to start without one (requireRuntime); an in-process server gets a
    // per-process key: nonces then neither survive a restart nor verify on another shard
    secret = randomBytes(32).toString('base64');
    log.warn('devices.digestSecret not set: a random one for this process (set the same one on every shard)');
  }
  const registrar = new DeviceRegistrar({
    store,
    guard: new AuthGuard({ limit: cfg.devices.authFailLimit, windowS: cfg.devices.authFailWindowS, blockS: cfg.devices.authBlockS }),
    domain: cfg.domain,
    digestSecret: secret,
    algorithms: cfg.devices.algorithms as DigestAlgorithm[],
    bridges: cfg.devices.bridges,
    flowTimerS: cfg.devices.flowTimerS,
    expires: { min: cfg.devices.expiresMinS, default: cfg.devices.expiresDefaultS, max: cfg.devices.expiresMaxS },
    log,
  });
  const unfollow = registrar.followAccountChanges(store);
  try {
    await registrar.start();
  } catch (err) {
    unfollow();
    registrar.close();
    throw new ServerError('ERR_STARTUP_DB', `cannot load device bindings: ${(err as Error).message}`, { cause: err });
  }

  let push: PushClient | undefined;
  if (cfg.push.mediatorUrl) {
    const apiKey = readSecret(cfg.push.apiKey, cfg.push.apiKeyFile, 'push.apiKey') ?? '';
    push = new PushClient({ url: cfg.push.mediatorUrl, apiKey, registrar, deadlineMs: cfg.push.deadlineS * 1000, attemptTimeoutMs: cfg.push.attemptTimeoutS * 1000, log });
  } else {
    log.warn('push.mediatorUrl not set: no pushes, sleeping phones cannot be woken');
  }

  const tunnel = createTunnel({
    layer,
    registrar,
    push: push ? tunnelPush(push) : NO_PUSH,
    store: store.messages,
    accounts: deps.accounts,
    config: {
      readinessTimeoutMs: cfg.tunnel.readinessTimeoutS * 1000,
      reachableWindowMs: cfg.tunnel.reachableWindowS * 1000,
      reachableGraceMs: cfg.tunnel.reachableGraceS * 1000,
      maxMessageBytes: cfg.tunnel.maxMessageBytes,
    },
    logger: log,
    localHosts: [...deps.localHosts],
    isProviderSource: (source, account) => deps.providers.isProviderSource(source, account),
    // the registrar's nonce key and realm: a phone may answer with the nonce of its last 401
    deviceAuth: new DeviceAuth({ secret, realm: cfg.domain, algorithms: cfg.devices.algorithms as DigestAlgorithm[], scope: cfg.devices.requestAuth as DeviceAuthScope, guard: registrar.guard }),
  });

  const bridges = new BridgeTrust(cfg.devices.bridges);
  /** A REGISTER addressed to the domain of its own AOR (To), an account of this sipis. */
  const registersHostedAor = (req: SipMessage): boolean => {
    const to = req.to.uri;
    const host = req.requestUri.host;
    return to.user !== undefined && host === to.host && req.requestUri.user === undefined && deps.accounts.findByUser(to.user, host) !== undefined;
  };
  let foreignRegisters = 0;
  layer.onRequest((tx, req) => {
    const src = tx.remote;
    if (req.method === 'REGISTER') {
      // RFC 3261 §10.3 step 1: a registrar serves the domains it has bindings for: its own name,
      // and the domain of every account it hosts, which is what a phone configured with the
      // provider's domain and sipis as its outbound proxy puts in the Request-URI. sipis is no
      // proxy to forward the rest. Through a bridge, the phone addressed the bridge's name: believed.
      if (deps.localHosts.has(req.requestUri.host.toLowerCase()) || bridges.trusts(src) || registersHostedAor(req)) return void registrar.handleRegister(tx, req, src);
      foreignRegisters++;
      return void tx.reply(403, 'Not A Registrar For This Domain');
    }
    tunnel.handleRequest(tx, req, src);
  });
  layer.onAck((ack) => void tunnel.handleAck(ack));
  layer.onCancel((cancel, inv) => {
    if (!tunnel.handleCancel(cancel, inv) && inv.lastStatus < 200) inv.reply(487, 'Request Terminated');
  });
  layer.onStrayResponse((res) => void tunnel.handleStrayResponse(res));

  const metrics = (): Metric[] => {
    const c = tunnel.counters;
    const size = tunnel.size;
    const st = tunnel.setupTime;
    return [
      ...registrar.metricFamilies(),
      counter('sipis_device_register_foreign_total', 'REGISTERs for another domain refused with 403', foreignRegisters),
      ...(push?.metricFamilies() ?? []),
      {
        name: 'sipis_calls_total',
        help: 'calls finished, by direction and outcome (in: from the provider to the phones; out: the phones\' own)',
        type: 'counter',
        samples: [
          { labels: { direction: 'in', outcome: 'answered' }, value: c.callsAnswered },
          { labels: { direction: 'in', outcome: 'missed' }, value: c.callsMissed },
          { labels: { direction: 'in', outcome: 'answered-elsewhere' }, value: c.callsAnsweredElsewhere },
          { labels: { direction: 'in', outcome: 'no-response' }, value: c.callsNoResponse },
          { labels: { direction: 'in', outcome: 'failed' }, value: c.callsFailed },
        ],
      },
      counter('sipis_calls_in_total', 'incoming calls from providers', c.callsIn),
      counter('sipis_device_request_challenges_total', 'phones\' own requests answered 407 (device request digest)', c.deviceChallenges),
      counter('sipis_device_request_auth_failures_total', 'phones\' own requests refused for wrong or malformed credentials (403, 400)', c.deviceAuthFailures),
      counter('sipis_calls_out_total', 'calls placed by phones, relayed to their provider', c.callsOut),
      { name: 'sipis_calls_in_progress', help: 'calls being set up or talking, by direction', type: 'gauge', samples: [{ labels: { direction: 'in' }, value: size.incoming }, { labels: { direction: 'out' }, value: size.outgoing }] },
      gauge('sipis_tunnel_dialogs', 'dialogs held by the tunnel (two per answered call)', size.dialogs),
      histogram('sipis_tunnel_setup_seconds', 'from the provider\'s INVITE to the phone\'s 2xx relayed (push, wake-up, REGISTER and ringing included)', { bounds: SETUP_BUCKETS_S, cumulative: st.buckets, sum: st.sumS, count: st.count }),
      counter('sipis_tunnel_pushes_sent_total', 'pushes the tunnel asked for (calls and messages)', c.pushesSent),
      counter('sipis_tunnel_pushes_confirmed_total', 'pushes the mediator confirmed delivered', c.pushesConfirmed),
      counter('sipis_tunnel_pushes_failed_total', 'pushes that were not delivered', c.pushesFailed),
      counter('sipis_tunnel_relayed_requests_total', 'in-dialog requests relayed between the two dialogs', c.relayedRequests),
      counter('sipis_tunnel_reinvites_held_total', 're-INVITEs that arrived before the ACK of the 2xx before them and waited for it', c.reinvitesHeld),
      counter('sipis_tunnel_relayed_responses_total', 'responses relayed between the two dialogs', c.relayedResponses),
      {
        name: 'sipis_messages_total',
        help: 'text messages by what happened to them',
        type: 'counter',
        samples: [
          { labels: { outcome: 'stored' }, value: c.messagesStored },
          { labels: { outcome: 'delivered' }, value: c.messagesDelivered },
          { labels: { outcome: 'dropped' }, value: c.messagesDropped },
          { labels: { outcome: 'refused' }, value: c.messagesRefused },
        ],
      },
      counter('sipis_provider_source_refused_total', 'requests to an account\'s Contact from an address that is not its provider (403)', deps.providers.refused),
      gauge('sipis_providers_resolved', 'provider hosts whose addresses are known', deps.providers.stats.resolved),
    ];
  };

  return {
    registrar,
    push,
    tunnel,
    metrics,
    status: () => ({ bindings: registrar.size, withPush: registrar.withPush, calls: tunnel.size, pushesPending: push?.size ?? 0 }),
    close() {
      tunnel.close();
      push?.close();
      unfollow();
      registrar.close();
    },
  };
}
