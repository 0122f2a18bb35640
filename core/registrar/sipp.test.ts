/**
 * sipp as a push-capable phone against the registrar on real UDP sockets: directly over UDP,
 * and over TCP through sipis-bridge (X-Sipis-Flow and Path from a trusted bridge address).
 */
import test from 'ava';
import { join } from 'node:path';
import pino from 'pino';
import { startBridge } from '../../bridge/bridge.js';
import { testConfig } from '../../bridge/testing/harness.js';
import { freeSipPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { startPostgres, type PostgresCluster } from '../../fixtures/postgres.js';
import { APNS_TOKEN_APP, TEAM_ID, apnsToken } from '../../fixtures/push/env.js';
import { hasSipp, runSipp, SIPP_EXIT } from '../../fixtures/sipp.js';
import { Store } from '../store/index.js';
import { TransactionLayer } from '../transaction/index.js';
import { UdpTransport } from '../transport/index.js';
import { DeviceRegistrar, type DeviceRegistrarOptions } from './registrar.js';
import { DOMAIN, SECRET, keyring } from './testing/harness.js';
import type { Binding, RemovalReason } from './types.js';

const sipp = hasSipp() ? test.serial : test.skip;
const SCENARIO = join(repoRoot, 'core', 'registrar', 'testing', 'sipp', 'phone-register-pn.xml');
let pg: PostgresCluster;
let dbs = 0;

test.before(async () => {
  pg = await startPostgres();
});
test.after.always(async () => {
  await pg?.stop();
});

async function sipisOnUdp(t: { teardown(fn: () => Promise<void> | void): void }, over: Partial<DeviceRegistrarOptions> = {}) {
  const store = await Store.open({ url: await pg.createDatabase(`sipp${++dbs}_${process.pid}`), keyring, listen: false });
  const acc = await store.accounts.add({ aor: 'sip:alice@provider.test', password: 'alice-secret' });
  const port = await freeSipPort();
  const transport = await UdpTransport.listen({ listen: [{ host: '127.0.0.1', port }] });
  const layer = new TransactionLayer(transport);
  // Debian's sipp 3.6 answers only MD5 challenges (and reads the first one): offer MD5 first here.
  const registrar = new DeviceRegistrar({ store, domain: DOMAIN, digestSecret: SECRET, algorithms: ['MD5', 'SHA-256'], log: pino({ level: process.env.SIPIS_TEST_LOG ?? 'silent' }), ...over });
  await registrar.start();
  layer.onRequest((tx, req) => {
    if (req.method === 'REGISTER') void registrar.handleRegister(tx, req);
    else tx.reply(req.method === 'OPTIONS' ? 200 : 405);
  });
  const registered: Binding[] = [];
  const removed: Array<[Binding, RemovalReason]> = [];
  registrar.on('registered', (b) => registered.push(b));
  registrar.on('removed', (b, why) => removed.push([b, why]));
  t.teardown(async () => {
    registrar.close();
    layer.close();
    await transport.close();
    await store.close();
  });
  return { port, registrar, registered, removed, accountId: String(acc.id), store };
}

const keys = (voip: string, remote: string) => ({ aor_host: 'provider.test', token_voip: voip, token_remote: remote, app: APNS_TOKEN_APP, team: TEAM_ID });

sipp('sipp phone over UDP: digest, RFC 8599 two-token Contact, Feature-Caps and Contact checked in the 200, then Expires 0', async (t) => {
  const s = await sipisOnUdp(t);
  const [voip, remote] = [apnsToken(), apnsToken()];
  const run = await runSipp({ scenario: SCENARIO, remote: `127.0.0.1:${s.port}`, transport: 'udp', calls: 1, timeoutS: 20, service: 'alice', authUser: 'alice', authPassword: 'alice-secret', keys: keys(voip, remote) });
  const r = await run.done;
  t.is(r.code, SIPP_EXIT.ok, r.errors + r.output.slice(-2000));
  t.is(s.registered.length, 1);
  const b = s.registered[0]!;
  t.deepEqual(b.pushTargets.map((x) => [x.kind, x.token, x.appId]), [['voip', voip, APNS_TOKEN_APP], ['remote', remote, APNS_TOKEN_APP]]);
  t.like(b.flow, { transport: 'udp', viaBridge: false, source: `127.0.0.1:${run.localPort}` });
  t.is(b.userAgent, 'sipp-phone');
  t.deepEqual(s.removed.map(([x, why]) => [x.id, why]), [[b.id, 'unregistered']]);
  t.is(s.registrar.bindingsOf(s.accountId).length, 0);
});

sipp('sipp phone over TCP through sipis-bridge: the binding has the bridge flow and the Path with the flow token', async (t) => {
  // the bridge talks to sipis from 127.0.0.2, the only address whose X-Sipis-Flow is believed
  const s = await sipisOnUdp(t, { bridges: ['127.0.0.2'] });
  const config = testConfig([s.port], (c) => {
    c.listen = { tcp: { host: '127.0.0.1', port: 0 } };
    c.udp = { host: '127.0.0.2', port: 0 };
  });
  const bridge = await startBridge(config, pino({ level: config.logLevel }));
  t.teardown(() => bridge.close());
  const [voip, remote] = [apnsToken(), apnsToken()];
  const run = await runSipp({ scenario: SCENARIO, remote: `127.0.0.1:${bridge.addresses.tcp!.port}`, transport: 'tcp', calls: 1, timeoutS: 20, service: 'alice', authUser: 'alice', authPassword: 'alice-secret', keys: keys(voip, remote) });
  const r = await run.done;
  t.is(r.code, SIPP_EXIT.ok, r.errors + r.output.slice(-2000));
  t.is(s.registered.length, 1);
  const b = s.registered[0]!;
  t.is(b.flow.transport, 'tcp');
  t.true(b.flow.viaBridge);
  t.regex(b.flow.flowId ?? '', /^[0-9a-z]+x[0-9a-z]+$/);
  t.regex(b.flow.source, /^127\.0\.0\.1:\d+$/);
  t.is(b.flow.via, `127.0.0.2:${bridge.addresses.udp!.port}`);
  t.deepEqual(b.path, [`<sip:${b.flow.flowId}@127.0.0.2:${bridge.addresses.udp!.port};lr;ob>`]);
  t.is(b.pushTargets.length, 2);
  t.deepEqual(s.removed.map(([, why]) => why), ['unregistered']);
});
