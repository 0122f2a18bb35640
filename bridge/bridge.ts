/**
 * Wiring of one sipis-bridge process: the UDP socket(s) towards sipis (one per address family,
 * shared by every flow: 100k phones cost 100k TCP sockets, not 100k more UDP ones), the shard
 * ring and its prober, the relay, the listeners and the admin server.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { BackendProber, ShardRing } from '../core/shard/index.js';
import { createAdminServer } from './admin.js';
import { BridgeError } from './errors.js';
import type { BridgeConfig } from './config.js';
import { BridgeContext } from './context.js';
import { FlowTable, type StreamTransport } from './flow.js';
import { BridgeMetrics } from './metrics.js';
import { Relay } from './relay.js';
import { hostport, StreamListener, type TlsFiles } from './stream.js';
import { WsListener } from './ws.js';

export interface RunningBridge {
  readonly ring: ShardRing;
  readonly metrics: BridgeMetrics;
  readonly flows: FlowTable;
  /** bound addresses, by listener, plus `udp` and `admin`. */
  readonly addresses: Partial<Record<StreamTransport | 'udp' | 'admin', { host: string; port: number }>>;
  reloadTls(): void;
  close(): Promise<void>;
}

export async function startBridge(config: BridgeConfig, log: Logger = pino({ level: config.logLevel })): Promise<RunningBridge> {
  const ring = new ShardRing(config.backends);
  const metrics = new BridgeMetrics();
  const flows = new FlowTable();
  const addresses: RunningBridge['addresses'] = {};

  // UDP towards sipis. Backend names are resolved once, here: the hot path sends to IP
  // literals (no DNS per datagram) and trusts datagrams by source IP.
  const v6 = isIPv6(config.udp.host);
  const resolved = new Map<string, string>();
  for (const b of ring.backends) {
    if (isIP(b.host)) {
      resolved.set(b.host, b.host);
      continue;
    }
    try {
      resolved.set(b.host, (await dnsLookup(b.host, { family: v6 ? 6 : 4 })).address);
    } catch (err) {
      throw new BridgeError('ERR_CONFIG', `backend ${b.id}: cannot resolve ${b.host}: ${(err as Error).message}`, { cause: err });
    }
  }
  const udp = createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(config.udp.port, config.udp.host, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  const udpAddr = udp.address();
  addresses.udp = { host: config.udp.host, port: udpAddr.port };
  const udpAdvertise = config.advertise.udp ?? hostport(config.udp.host, udpAddr.port);
  const sendUdp = (parts: Buffer[], port: number, host: string): void => {
    udp.send(parts, port, resolved.get(host) ?? host, (err) => {
      if (err) {
        metrics.dropped.inc('udp-send-error');
        log.debug({ err, host, port }, 'UDP send failed');
      }
    });
  };

  const trusted = new Set<string>([...config.trusted, ...resolved.values()]);
  const prober = new BackendProber(ring, {
    intervalMs: config.probe.intervalMs,
    failures: config.probe.failures,
    successes: config.probe.successes,
    localHostport: udpAdvertise,
    send: (b, bytes) => sendUdp([bytes], b.port, b.host),
  });
  const shardLog = log.child({ component: 'shard' });
  prober.on('down', (b) => {
    metrics.backendChanges.inc(b.id);
    shardLog.warn({ backend: b.id }, 'backend out of service: its accounts move to the others');
  });
  prober.on('up', (b) => {
    metrics.backendChanges.inc(b.id);
    shardLog.info({ backend: b.id }, 'backend back in service: its accounts return');
  });

  const relay = new Relay({ ring, keySource: config.shardKey, udpAdvertise, flows, metrics, log: log.child({ component: 'relay' }), prober, trusted, sendUdp });
  udp.on('message', (msg, rinfo) => relay.fromBackend(msg, rinfo.address, rinfo.port));
  udp.on('error', (err) => log.error({ err }, 'UDP socket error'));

  const ctx = new BridgeContext(config.limits, flows, relay, metrics, log.child({ component: 'conn' }));
  const tls: TlsFiles | undefined = config.tls ? { certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile: config.tls.caFile, verifyClient: config.tls.verifyClient, maxVersion: config.tls.maxVersion } : undefined;
  const streams: StreamListener[] = [];
  const wsListeners: WsListener[] = [];
  let admin: Server | undefined;
  const close = async (): Promise<void> => {
    prober.stop();
    ctx.stopSweep();
    await Promise.all([...streams.map((s) => s.close()), ...wsListeners.map((w) => w.close())]);
    if (admin) await new Promise<void>((resolve) => admin!.close(() => resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  };
  try {
    for (const t of ['tcp', 'tls'] as const) {
      const at = config.listen[t];
      if (!at) continue;
      const l = new StreamListener(t, ctx, { advertise: config.advertise[t], tls });
      streams.push(l);
      addresses[t] = await l.listen(at.host, at.port);
      relay.addOwnAddress(l.info.advertise);
    }
    for (const t of ['ws', 'wss'] as const) {
      const at = config.listen[t];
      if (!at) continue;
      const l = new WsListener(t === 'wss', ctx, { advertise: config.advertise[t], tls, origins: config.wsOrigins });
      wsListeners.push(l);
      addresses[t] = await l.listen(at.host, at.port);
      relay.addOwnAddress(l.info.advertise);
    }
    if (config.admin) {
      const srv = createAdminServer(ring, metrics, flows);
      admin = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(config.admin!.port, config.admin!.host, () => resolve());
      });
      const a = srv.address();
      addresses.admin = { host: config.admin.host, port: a && typeof a === 'object' ? a.port : config.admin.port };
    }
  } catch (err) {
    await close();
    throw err;
  }
  ctx.startSweep();
  prober.start();
  log.info({ addresses, backends: ring.backends.map((b) => `${b.id} w=${b.weight}`) }, 'sipis-bridge listening');
  return {
    ring,
    metrics,
    flows,
    addresses,
    reloadTls() {
      for (const s of streams) s.reloadTls();
      log.info('TLS certificate and key reloaded');
    },
    close,
  };
}
