#!/usr/bin/env node
/**
 * A sipis-mediator whose adapters answer "delivered" at once, without touching the network:
 * the HTTP edge, validation, dispatch and answer alone. The benchmark and the profiler run it
 * as a child to separate what the edge costs from what the push-service side costs.
 * Same arguments and environment as sipis-mediator.
 */
import { pino } from 'pino';
import type { PushRequest } from '../../core/push/protocol.js';
import type { PushAdapter, PushResult, PushSink } from '../../mediator/adapter.js';
import { loadConfig } from '../../mediator/config.js';
import { startMediator } from '../../mediator/mediator.js';

// `--defer`: answer from a later turn of the event loop (as a real upstream answer arrives),
// not from the microtask queue of the request's own uWS callback.
const defer = process.argv.includes('--defer');
const parsed = loadConfig(process.argv.slice(2).filter((a) => a !== '--defer'), process.env);
if (!parsed.config) throw new Error('edge-child: --apps and an API key are required');
const log = pino({ name: 'sipis-mediator', level: parsed.config.logLevel });
const m = await startMediator(parsed.config, log, {
  adapterFactory: (app): PushAdapter => ({
    platform: app.platform,
    pending: 0,
    send: (r: PushRequest): Promise<PushResult> =>
      defer
        ? new Promise((resolve) => setImmediate(() => resolve({ outcome: 'delivered', pushId: r.requestId })))
        : Promise.resolve({ outcome: 'delivered', pushId: r.requestId }),
    // The callback form the real adapters have (the dispatcher prefers it): answered at once,
    // or from a later event-loop turn with --defer.
    start: (r: PushRequest, _deadline: number, sink: PushSink): void => {
      if (defer) setImmediate(() => sink.settle({ outcome: 'delivered', pushId: r.requestId }));
      else sink.settle({ outcome: 'delivered', pushId: r.requestId });
    },
    close: () => Promise.resolve(),
  }),
});
process.on('SIGTERM', () => void m.shutdown().then(() => process.exit(0)));
// Exit with the parent (the benchmark or the profiler): stdin closes when it goes away.
process.stdin.resume();
process.stdin.on('end', () => void m.shutdown(100).then(() => process.exit(0)));
