/**
 * Wiring of one mediator process: registry → dispatcher → HTTP edge, plus the two
 * lifecycle operations the binary maps to signals (reload on SIGHUP, drain on SIGTERM).
 * Tests start it in-process through `startMediator`.
 */
import type { Logger } from 'pino';
import type { MediatorConfig } from './config.js';
import { Dispatcher, type DispatcherOptions } from './dispatcher.js';
import { MediatorError } from './errors.js';
import { MediatorMetrics } from './metrics.js';
import { loadRegistry } from './registry.js';
import { PushServer } from './server.js';

export interface Mediator {
  port: number;
  metrics: MediatorMetrics;
  dispatcher: Dispatcher;
  /** Re-reads the app registry; keeps the old one (and returns the error) when the new is invalid. */
  reload(): { ok: true; added: string[]; changed: string[]; removed: string[] } | { ok: false; error: string };
  /** Stops accepting, waits up to the grace period for in-flight pushes, answers the rest, closes. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function startMediator(config: MediatorConfig, log: Logger, extra: Partial<DispatcherOptions> = {}): Promise<Mediator> {
  const registry = loadRegistry(config.appsFile);
  const metrics = new MediatorMetrics();
  const dispatcher = new Dispatcher(
    {
      log,
      metrics,
      maxInFlight: config.maxInFlight,
      deadlineMs: config.deadlineMs,
      attemptTimeoutMs: config.attemptTimeoutMs,
      ...extra,
    },
    registry,
  );
  metrics.registry.gauge('sipis_mediator_in_flight', 'Push requests being worked on.', () => dispatcher.inFlight);
  metrics.registry.gauge('sipis_mediator_upstream_pending', 'Requests on the wire or queued toward APNs/FCM.', () => dispatcher.upstreamPending);
  metrics.registry.gauge('sipis_mediator_apps', 'Apps in the registry.', () => dispatcher.appIds().length);
  const server = new PushServer({
    host: config.host,
    port: config.port,
    apiKeys: config.apiKeys,
    maxBodyBytes: config.maxBodyBytes,
    dispatcher,
    metrics,
    log,
  });
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    await dispatcher.close();
    throw new MediatorError('ERR_MEDIATOR_LISTEN', `listen: ${(err as Error).message}`, { cause: err, field: 'port' });
  }
  log.info({ host: config.host, port, apps: dispatcher.appIds() }, 'sipis-mediator listening');
  let stopping: Promise<void> | undefined;
  return {
    port,
    metrics,
    dispatcher,
    reload() {
      try {
        const next = loadRegistry(config.appsFile);
        const diff = dispatcher.swap(next);
        metrics.registryReloads.inc({ result: 'ok' });
        log.info(diff, 'app registry reloaded');
        return { ok: true, ...diff };
      } catch (err) {
        metrics.registryReloads.inc({ result: 'invalid' });
        const error = (err as Error).message;
        log.error({ error }, 'app registry reload refused; keeping the previous registry');
        return { ok: false, error };
      }
    },
    shutdown(graceMs = config.shutdownGraceMs) {
      stopping ??= (async () => {
        server.stopAccepting();
        log.info({ inFlight: dispatcher.inFlight, graceMs }, 'draining');
        const clean = await server.drained(graceMs);
        if (!clean) log.warn({ open: server.openRequests }, 'grace period over; answering the rest retry-later');
        server.close();
        await dispatcher.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}
