/**
 * The sipis-bridge binary: --help (exit 0), usage errors (exit 2), a real start with a
 * config from the environment, a relayed REGISTER, SIGHUP reload and a clean SIGTERM.
 */
import test from 'ava';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { VERSION } from '../core/version.js';
import { repoRoot } from '../fixtures/paths.js';
import { freeTcpPort } from '../fixtures/net.js';
import { startProc } from '../fixtures/proc.js';
import { writeTestCerts } from '../fixtures/tls/certs.js';
import { udpPeer } from './testing/harness.js';
import { MiniUa } from './testing/sipua.js';
import { tcpWire } from './testing/wires.js';

const bin = join(repoRoot, 'dist', 'bridge', 'main.js');

test('--help prints usage and --version the version, both exit 0; a bad flag exits 2 with a readable message', (t) => {
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: sipis-bridge/);
  const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  t.is(version.status, 0);
  t.is(version.stdout, `sipis-bridge ${VERSION}\n`);
  const bad = spawnSync(process.execPath, [bin, '--tcp', 'x'], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--tcp: expected host:port/);
  const none = spawnSync(process.execPath, [bin], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.is(none.status, 2);
  t.regex(none.stderr, /no listener/);
});

test('the binary relays, reloads on SIGHUP and exits 0 on SIGTERM', async (t) => {
  const certs = writeTestCerts();
  t.teardown(() => certs.remove());
  const peer = await udpPeer();
  t.teardown(() => peer.wire.close());
  const [tcp, tls, admin] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
  const proc = startProc(process.execPath, [bin, '--tcp', `127.0.0.1:${tcp}`, '--admin', `127.0.0.1:${admin}`], {
    env: {
      ...process.env,
      SIPIS_BRIDGE_BACKENDS: `127.0.0.1:${peer.port}`,
      SIPIS_BRIDGE_TLS: `127.0.0.1:${tls}`,
      SIPIS_BRIDGE_TLS_CERT: certs.cert,
      SIPIS_BRIDGE_TLS_KEY: certs.key,
      SIPIS_BRIDGE_UDP: '127.0.0.1:0',
    },
  });
  t.teardown(() => void proc.stop('SIGKILL'));
  const line = await proc.waitFor(/"msg":"sipis-bridge listening"[^\n]*|sipis-bridge listening[^\n]*/);
  t.truthy(line);
  const udpPort = Number(/"udp":\{"host":"127\.0\.0\.1","port":(\d+)\}/.exec(proc.output())![1]);
  peer.wire.target = { host: '127.0.0.1', port: udpPort };
  const wire = await tcpWire(tcp);
  const phone = new MiniUa({ wire, transport: 'TCP', sentBy: `127.0.0.1:${wire.localPort}`, aor: 'a@example.com' });
  t.is((await phone.register()).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  t.regex(metrics, /sipis_bridge_messages_to_backend_total\{transport="tcp"\} 1/);
  proc.child.kill('SIGHUP');
  await proc.waitFor(/TLS certificate and key reloaded/);
  t.is((await phone.register()).status, 200);
  phone.close();
  t.is(await proc.stop('SIGTERM', 5000), 0);
});

test('a second bridge on a WebSocket port in use exits 1 instead of sharing it (uWS would bind it with SO_REUSEPORT)', async (t) => {
  const peer = await udpPeer();
  t.teardown(() => peer.wire.close());
  const ws = await freeTcpPort();
  const start = async () =>
    startProc(process.execPath, [bin, '--tcp', `127.0.0.1:${await freeTcpPort()}`, '--ws', `127.0.0.1:${ws}`, '--udp', '127.0.0.1:0', '--backend', `127.0.0.1:${peer.port}`], { env: { PATH: process.env.PATH } });
  const first = await start();
  t.teardown(() => void first.stop('SIGKILL'));
  await first.waitFor(/sipis-bridge listening/);
  const second = await start();
  t.teardown(() => void second.stop('SIGKILL'));
  t.is(await second.exited, 1);
  t.regex(second.output(), new RegExp(`sipis-bridge: cannot start: cannot listen on 127\\.0\\.0\\.1:${ws} for ws`));
  t.is(await first.stop('SIGTERM', 5000), 0, 'the first one ran on');
});
