/**
 * A registrar under test: a fresh database on a shared PostgreSQL cluster, an account, the
 * transaction layer on a MemoryTransport (or UDP), and phones. Shared by the registrar's and the
 * push client's tests.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type { PostgresCluster } from '../../../fixtures/postgres.js';
import { formatKeyEntry, parseKeyring, Store } from '../../store/index.js';
import { TransactionLayer } from '../../transaction/index.js';
import { MemoryNetwork, type Transport } from '../../transport/index.js';
import { DeviceRegistrar, type DeviceRegistrarOptions } from '../registrar.js';
import { TestPhone } from './phone.js';

export const DOMAIN = 'sipis.test';
export const SECRET = 'registrar-test-secret-0123456789';
export const keyring = parseKeyring(formatKeyEntry('k1', randomBytes(32)));
let dbCount = 0;

export interface Rig {
  store: Store;
  url: string;
  net: MemoryNetwork;
  server: Transport;
  layer: TransactionLayer;
  registrar: DeviceRegistrar;
  clock: { now: number };
  accountId: string;
  phone(address?: string, aor?: string): TestPhone;
  /** a second registrar on the same database (a restart). */
  restart(): Promise<DeviceRegistrar>;
  close(): Promise<void>;
}

export async function makeRig(pg: PostgresCluster, over: Partial<DeviceRegistrarOptions> = {}, storeOpts: { acquireTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<Rig> {
  const url = await pg.createDatabase(`reg${++dbCount}_${process.pid}`);
  const store = await Store.open({ url, keyring, listen: false, ...storeOpts });
  const acc = await store.accounts.add({ aor: 'sip:alice@provider.test', password: 'alice-secret', authUser: 'alice' });
  await store.accounts.add({ aor: 'sip:bob@provider.test', password: 'bob-secret' });
  const net = new MemoryNetwork();
  const server = net.transport('127.0.0.1', 5060);
  const layer = new TransactionLayer(server);
  const clock = { now: Date.now() };
  const log = pino({ level: process.env.SIPIS_TEST_LOG ?? 'silent' });
  const make = () =>
    new DeviceRegistrar({ store, domain: DOMAIN, digestSecret: SECRET, now: () => clock.now, sweepIntervalMs: 3_600_000, log, expires: { min: 60, max: 86_400, default: 3600 }, ...over });
  let registrar = make();
  layer.onRequest((tx, req) => {
    if (req.method === 'REGISTER') void registrar.handleRegister(tx, req);
    else tx.reply(405);
  });
  await registrar.start();
  let n = 0;
  const rig: Rig = {
    store,
    url,
    net,
    server,
    layer,
    get registrar() {
      return registrar;
    },
    clock,
    accountId: String(acc.id),
    phone(address = '127.0.0.1', aor = 'sip:alice@provider.test') {
      const t = net.transport(address, 6000 + ++n);
      return new TestPhone(t, { address: '127.0.0.1', port: 5060 }, aor, `sip:${DOMAIN}`);
    },
    async restart() {
      registrar.close();
      registrar = make();
      await registrar.start();
      return registrar;
    },
    async close() {
      registrar.close();
      layer.close();
      await server.close();
      await store.close();
    },
  };
  return rig;
}

export const ALICE = { username: 'alice', password: 'alice-secret' } as const;
