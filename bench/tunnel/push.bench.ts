/**
 * Calls per second with push and wake-up: every call finds its phone asleep, so sipis pushes
 * (core/push PushClient → sipis-mediator in this process → mock APNs over HTTP/2), the phone
 * "wakes" when the mock APNs received its push (it REGISTERs), and only then gets the INVITE,
 * answers, and the caller hangs up. K phones (one account each) take calls one after another,
 * the K loops in parallel: quick 4 × 2 calls, full 16 × 10. Reported: completed calls per
 * second, and the median / p99 call setup time (INVITE sent → 200 received by the caller),
 * which is dominated by the push round trip and the REGISTER, not by the relay.
 */
import pino from 'pino';
import type { BindingSource } from '../../core/push/index.js';
import { PushClient } from '../../core/push/index.js';
import { TransactionLayer } from '../../core/transaction/index.js';
import { UdpTransport } from '../../core/transport/index.js';
import { attachTunnel, createTunnel, tunnelPush } from '../../core/tunnel/index.js';
import { FakeRegistrar, StaticAccounts } from '../../core/tunnel/testing/fakes.js';
import type { UpstreamAccount } from '../../core/upstream/types.js';
import { Peer, SDP } from '../../fixtures/e2e/peer.js';
import { freeTcpPort } from '../../fixtures/net.js';
import { API_KEY, apnsToken, makePushEnv } from '../../fixtures/push/env.js';
import { DEFAULTS as MEDIATOR_DEFAULTS } from '../../mediator/config.js';
import { startMediator } from '../../mediator/mediator.js';
import type { BenchOptions, BenchRow, BenchSuite } from '../lib.js';

const now = (): number => performance.now();

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = now() + ms;
  while (!cond()) {
    if (now() > end) throw new Error('timed out waiting for the push');
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const loops = opts.quick ? 4 : 16;
  const perLoop = opts.quick ? 2 : 10;
  const log = pino({ level: 'silent' });
  const env = await makePushEnv();
  const med = await startMediator({ ...MEDIATOR_DEFAULTS, host: '127.0.0.1', port: await freeTcpPort(), apiKeys: [API_KEY], appsFile: env.appsFile, logLevel: 'silent' }, log);
  const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  const layer = new TransactionLayer(transport);
  const registrar = new FakeRegistrar((user) => (/^u\d+$/.test(user) ? user.slice(1) : undefined));
  const push = new PushClient({ url: `http://127.0.0.1:${med.port}`, apiKey: API_KEY, registrar: registrar as unknown as BindingSource, log });
  const accounts: UpstreamAccount[] = [];
  for (let k = 1; k <= loops; k++) accounts.push({ id: String(k), aor: `sip:u${k}@provider.test`, authUser: `u${k}`, password: 'x', registrar: 'sip:127.0.0.1:9', enabled: true });
  const tunnel = createTunnel({ layer, registrar, push: tunnelPush(push), accounts: new StaticAccounts(accounts), config: { reachableWindowMs: 0 } });
  attachTunnel(layer, tunnel, (tx, req, src) => registrar.handleRegister(tx, req, src));
  const sipis = transport.endpoints[0]!;
  const caller = await Peer.listen();
  const phones: Peer[] = [];
  const setup: number[] = [];
  let ok = 0;
  try {
    for (let k = 1; k <= loops; k++) phones.push(await Peer.listen());
    const tokens = phones.map(() => apnsToken());
    // each phone registered once with its push token, then "asleep"
    await Promise.all(phones.map((p, i) => p.register(sipis, `u${i + 1}`, { instance: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, pushToken: tokens[i]! })));
    const received = (token: string): number => env.apns.received.filter((r) => r.token === token).length;
    const loop = async (i: number): Promise<void> => {
      const phone = phones[i]!;
      const token = tokens[i]!;
      for (let c = 0; c < perLoop; c++) {
        const before = received(token);
        const t0 = now();
        const inv = caller.invite(`sip:acc-${i + 1}@127.0.0.1:${sipis.port}`, { target: sipis, body: SDP('127.0.0.1') });
        await until(() => received(token) > before, 10_000);
        await phone.register(sipis, `u${i + 1}`, { instance: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, pushToken: token });
        const pi = await phone.request('INVITE');
        phone.answer(pi, 200, { body: SDP('127.0.0.1') });
        await inv.response(200);
        setup.push(now() - t0);
        await inv.ack();
        await phone.acks.next();
        const bye = caller.inDialog(inv.dialog!, 'BYE');
        phone.answer(await phone.request('BYE'), 200);
        if ((await bye).status === 200) ok++;
      }
    };
    const t0 = now();
    await Promise.all(phones.map((_, i) => loop(i)));
    const wallS = (now() - t0) / 1000;
    setup.sort((a, b) => a - b);
    const p = (q: number): number => setup[Math.min(setup.length - 1, Math.floor(q * setup.length))]!;
    const ops = ok / wallS;
    return [
      {
        suite: 'tunnel-push',
        name: `calls with push + wake-up (${loops} phones in parallel, mediator + mock APNs)`,
        medianNs: ops > 0 ? 1e9 / ops : 0,
        opsPerSec: ops,
        samples: ok,
        extra: { setupP50ms: p(0.5).toFixed(1), setupP99ms: p(0.99).toFixed(1), pushes: env.apns.received.length, calls: ok },
      },
    ];
  } finally {
    tunnel.close();
    push.close();
    layer.close();
    await transport.close();
    await caller.close();
    for (const p of phones) await p.close();
    await med.shutdown(0);
    await env.cleanup();
  }
}

const suite: BenchSuite = { name: 'tunnel-push', run };
export default suite;
