/**
 * sipp on both sides of the bridge: a phone-side sipp over TCP (`-t t1`) and a sipis-side sipp
 * over UDP, for REGISTER (with a digest challenge passing through untouched) and full calls;
 * and a sipis-side sipp calling a registered phone through its flow. (Debian's sipp is built
 * without OpenSSL, so the TLS runs use the Node client in relay.test.ts.)
 */
import test from 'ava';
import { join } from 'node:path';
import { hasSipp, runSipp, SIPP_EXIT } from '../fixtures/sipp.js';
import { freeSipPort } from '../fixtures/net.js';
import { repoRoot } from '../fixtures/paths.js';
import pino from 'pino';
import { startBridge } from './bridge.js';
import { testConfig, udpPeer } from './testing/harness.js';
import { H } from './scan.js';
import { MiniUa } from './testing/sipua.js';
import { tcpWire } from './testing/wires.js';

const sipp = hasSipp() ? test.serial : test.skip;

async function bridgeTo(ports: number[]) {
  const config = testConfig(ports, (c) => {
    c.listen = { tcp: { host: '127.0.0.1', port: 0 } };
    c.probe = { intervalMs: 60_000, failures: 3, successes: 1 }; // sipp answers OPTIONS only in its scenario
  });
  return startBridge(config, pino({ level: config.logLevel }));
}

sipp('sipp REGISTER over TCP through the bridge to a sipp registrar over UDP (digest passes through)', async (t) => {
  const uasPort = await freeSipPort();
  const bridge = await bridgeTo([uasPort]);
  t.teardown(() => bridge.close());
  const uas = await runSipp({ scenario: 'uas-register.xml', localPort: uasPort, transport: 'udp', calls: 1, timeoutS: 20, keys: { user: 'alice', password: 'secret' } });
  await uas.ready;
  const uac = await runSipp({ scenario: 'uac-register.xml', remote: `127.0.0.1:${bridge.addresses.tcp!.port}`, transport: 'tcp', calls: 1, timeoutS: 20, service: 'alice', authUser: 'alice', authPassword: 'secret' });
  const [c, s] = await Promise.all([uac.done, uas.done]);
  t.is(c.code, SIPP_EXIT.ok, c.errors + c.output.slice(-2000));
  t.is(s.code, SIPP_EXIT.ok, s.errors + s.output.slice(-2000));
  t.is(bridge.metrics.toBackend.get('tcp'), 2);
  t.is(bridge.metrics.toPhone.get('tcp'), 2);
});

sipp('sipp calls over TCP through the bridge to a sipp UAS over UDP (INVITE/180/200/ACK/BYE, 5 calls)', async (t) => {
  const uasPort = await freeSipPort();
  const bridge = await bridgeTo([uasPort]);
  t.teardown(() => bridge.close());
  const uas = await runSipp({ scenario: 'uas-call.xml', localPort: uasPort, transport: 'udp', calls: 5, timeoutS: 30 });
  await uas.ready;
  const uac = await runSipp({ scenario: 'uac-call.xml', remote: `127.0.0.1:${bridge.addresses.tcp!.port}`, transport: 'tcp', calls: 5, rate: 10, timeoutS: 30, service: 'bob' });
  const [c, s] = await Promise.all([uac.done, uas.done]);
  t.is(c.code, SIPP_EXIT.ok, c.errors + c.output.slice(-2000));
  t.is(s.code, SIPP_EXIT.ok, s.errors + s.output.slice(-2000));
  t.is(c.stats?.successful, 5);
});

sipp('a sipp UAC on the UDP side calls a phone through its flow (Path URI as Route)', async (t) => {
  const registrar = await udpPeer();
  const bridge = await bridgeTo([registrar.port]);
  registrar.wire.target = { host: '127.0.0.1', port: bridge.addresses.udp!.port };
  t.teardown(async () => {
    registrar.wire.close();
    await bridge.close();
  });
  const wire = await tcpWire(bridge.addresses.tcp!.port);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'alice@example.com', contactParams: ';transport=tcp', autoAnswer: true });
  t.teardown(() => phone.close());
  t.is((await phone.register()).status, 200);
  const path = registrar.ua.received.find((m) => m.method === 'REGISTER')!.first(H.PATH)!;
  const uac = await runSipp({
    scenario: join(repoRoot, 'bridge', 'testing', 'sipp', 'uac-call-routed.xml'),
    remote: `127.0.0.1:${bridge.addresses.udp!.port}`,
    transport: 'udp',
    calls: 2,
    timeoutS: 20,
    service: 'alice',
    keys: { route: path, phone: `127.0.0.1:${wire.localPort}` },
  });
  const c = await uac.done;
  t.is(c.code, SIPP_EXIT.ok, c.errors + c.output.slice(-2000));
  t.is(phone.received.filter((m) => m.method === 'INVITE').length, 2);
  t.is(phone.received.filter((m) => m.method === 'BYE').length, 2);
});
