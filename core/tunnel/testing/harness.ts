/**
 * The tunnel on real UDP sockets on loopback with fake collaborators (testing/fakes.ts), plus a
 * provider peer and phone peers (fixtures/e2e/peer.ts): what the tunnel's tests and the
 * in-process benchmark assemble.
 */
import type { Logger } from 'pino';
import { Peer } from '../../../fixtures/e2e/peer.js';
import { TransactionLayer } from '../../transaction/index.js';
import { UdpTransport, type Endpoint } from '../../transport/index.js';
import type { UpstreamAccount } from '../../upstream/types.js';
import { attachTunnel, createTunnel, type Tunnel } from '../tunnel.js';
import type { TunnelConfig, TunnelDeps } from '../types.js';
import { FakePush, FakeRegistrar, MemoryMessageStore, StaticAccounts } from './fakes.js';

export interface Harness {
  tunnel: Tunnel;
  layer: TransactionLayer;
  transport: UdpTransport;
  registrar: FakeRegistrar;
  push: FakePush;
  store: MemoryMessageStore;
  account: UpstreamAccount;
  /** sipis's endpoint and `host:port`. */
  sipis: Endpoint;
  sipisHostPort: string;
  provider: Peer;
  phones: Peer[];
  /** the Request-URI the provider uses for the account (its upstream Contact). */
  accountUri: string;
  close(): Promise<void>;
}

export async function startHarness(opts: { config?: Partial<TunnelConfig>; phones?: number; T1?: number; logger?: Logger; noStore?: boolean; isProviderSource?: TunnelDeps['isProviderSource']; deviceAuth?: TunnelDeps['deviceAuth'] } = {}): Promise<Harness> {
  const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port: 0 }] });
  const layer = new TransactionLayer(transport, { timers: { T1: opts.T1 ?? 100 } });
  const provider = await Peer.listen();
  const phones: Peer[] = [];
  for (let i = 0; i < (opts.phones ?? 1); i++) phones.push(await Peer.listen());
  const account: UpstreamAccount = {
    id: '1',
    aor: 'sip:alice@sipis.test',
    authUser: 'alice',
    password: 'secret',
    registrar: `sip:${provider.hostPort}`,
    enabled: true,
  };
  const registrar = new FakeRegistrar((user) => (user === 'alice' ? '1' : undefined));
  const push = new FakePush();
  const store = new MemoryMessageStore();
  const tunnel = createTunnel({
    layer,
    registrar,
    push,
    ...(opts.noStore ? {} : { store }),
    accounts: new StaticAccounts([account]),
    config: opts.config ?? {},
    ...(opts.logger ? { logger: opts.logger } : {}),
    localHosts: ['sipis.test'],
    ...(opts.isProviderSource ? { isProviderSource: opts.isProviderSource } : {}),
    ...(opts.deviceAuth ? { deviceAuth: opts.deviceAuth } : {}),
  });
  attachTunnel(layer, tunnel, (tx, req, src) => registrar.handleRegister(tx, req, src));
  const sipis = transport.endpoints[0]!;
  const sipisHostPort = `${sipis.address}:${sipis.port}`;
  return {
    tunnel,
    layer,
    transport,
    registrar,
    push,
    store,
    account,
    sipis,
    sipisHostPort,
    provider,
    phones,
    accountUri: `sip:acc-1@${sipisHostPort}`,
    async close() {
      tunnel.close();
      layer.close();
      await transport.close();
      await provider.close();
      for (const p of phones) await p.close();
    },
  };
}
