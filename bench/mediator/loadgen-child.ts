#!/usr/bin/env node
/**
 * The mediator benchmark's load generator as its own process (forked with an IPC channel), so
 * that neither the bench process nor the mediator pays for the client side. Each command
 * builds its requests first and answers `ready`; the parent reads the mediator's CPU clock and
 * sends `go`; the answer carries what was measured.
 *
 * The commands (`LoadCommand` in loadgen.ts): `closed`, n pushes over `window` connections
 * with one request in flight each (`batch`: that many pushes per POST /v1/push/batch); `open`, n pushes at a fixed rate, every latency sent back.
 */
import { requestFor } from '../../fixtures/push/requests.js';
import { HttpLoad, benchToken, ClosedLoad, openLoop, pushRequestBytes, type LoadCommand, type LoadResult } from './loadgen.js';

interface Setup {
  apiKey: string;
  appId: string;
}

const setup = JSON.parse(process.argv[2] ?? '{}') as Setup;
const send = (m: unknown) => process.send!(m);

async function run(cmd: LoadCommand, go: Promise<void>): Promise<LoadResult> {
  const push = (i: number) => requestFor('NotifyIncomingCall', setup.appId, benchToken(cmd.offset + i));
  const per = cmd.op === 'closed' ? (cmd.batch ?? 1) : 1;
  const reqs =
    per === 1
      ? Array.from({ length: cmd.n }, (_, i) => pushRequestBytes('127.0.0.1', setup.apiKey, JSON.stringify(push(i))))
      : Array.from({ length: Math.ceil(cmd.n / per) }, (_, k) =>
          pushRequestBytes('127.0.0.1', setup.apiKey, JSON.stringify({ requests: Array.from({ length: Math.min(per, cmd.n - k * per) }, (_, j) => push(k * per + j)) }), '/v1/push/batch'),
        );
  // Fresh connections per command (uWS closes HTTP connections idle for 10 s), opened before `ready`.
  if (cmd.op === 'closed') {
    const closed = new ClosedLoad('127.0.0.1', cmd.port, cmd.window, per);
    await closed.open();
    send({ ready: true });
    await go;
    try {
      return await closed.run(reqs);
    } finally {
      closed.close();
    }
  }
  // Fresh connections per command: uWS closes HTTP connections idle for 10 s.
  const load = new HttpLoad('127.0.0.1', cmd.port, cmd.connections);
  await load.open();
  send({ ready: true });
  await go;
  try {
    const t0 = process.hrtime.bigint();
    const r = await openLoop(cmd.rate, (cmd.n * 1000) / cmd.rate, async (i) => {
      const a = await load.send(reqs[i]!);
      return { ok: a.status === 200, latencyNs: a.latencyNs };
    });
    return { ns: Number(process.hrtime.bigint() - t0), failed: r.failed, latencies: r.latencies };
  } finally {
    load.close();
  }
}

let release: (() => void) | undefined;
process.on('message', (m: LoadCommand | { op: 'go' }) => {
  if (m.op === 'go') {
    release?.();
    return;
  }
  const go = new Promise<void>((r) => (release = r));
  run(m, go).then(
    (r) => send({ result: r }),
    (err: Error) => send({ error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
