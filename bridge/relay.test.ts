/**
 * Phone ⇄ bridge ⇄ UDP peer over every front end: REGISTER (Path, flow header, rport),
 * a call placed by the phone, and a call placed towards the phone through its flow.
 */
import test, { type ExecutionContext } from 'ava';
import { H } from './scan.js';
import { bridgeWithPeers, udpPeer } from './testing/harness.js';
import { MiniUa } from './testing/sipua.js';
import { tcpWire, tlsWire, wsWire, type StreamWire } from './testing/wires.js';
import { generateTestCerts, writeTestCerts } from '../fixtures/tls/certs.js';
import type { RunningBridge } from './bridge.js';

const certs = writeTestCerts();
test.after.always(() => certs.remove());

type Kind = 'tcp' | 'tls' | 'ws' | 'wss';
const VIA: Record<Kind, 'TCP' | 'TLS' | 'WS' | 'WSS'> = { tcp: 'TCP', tls: 'TLS', ws: 'WS', wss: 'WSS' };

async function connectPhone(kind: Kind, bridge: RunningBridge): Promise<StreamWire> {
  const port = bridge.addresses[kind]!.port;
  const tls = { ca: generateTestCerts().caPem, servername: 'localhost' };
  switch (kind) {
    case 'tcp':
      return tcpWire(port);
    case 'tls':
      return tlsWire(port, tls);
    case 'ws':
      return wsWire(port);
    case 'wss':
      return wsWire(port, { tls });
  }
}

async function flowThrough(t: ExecutionContext, kind: Kind): Promise<void> {
  const peer = await udpPeer();
  const bridge = await bridgeWithPeers([peer], (c) => {
    c.listen = { [kind]: { host: '127.0.0.1', port: 0 } };
    c.tls = { certFile: certs.cert, keyFile: certs.key, verifyClient: false };
  });
  t.teardown(async () => {
    peer.wire.close();
    await bridge.close();
  });
  const wire = await connectPhone(kind, bridge);
  const phone = new MiniUa({ wire, transport: VIA[kind], sentBy: `127.0.0.1:${wire.localPort}`, aor: 'alice@example.com', contactParams: `;transport=${kind}`, autoAnswer: true });
  t.teardown(() => phone.close());

  // REGISTER: the peer sees our Via, the phone's Via with received/rport, Path and X-Sipis-Flow
  const ok = await phone.register();
  t.is(ok.status, 200);
  t.is(ok.values(H.VIA).length, 1, 'the bridge removed its own Via');
  const reg = peer.ua.received.find((m) => m.method === 'REGISTER')!;
  const vias = reg.values(H.VIA);
  t.is(vias.length, 2);
  t.regex(vias[0]!, new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${bridge.addresses.udp!.port};branch=z9hG4bKsb\\.`));
  t.regex(vias[1]!, new RegExp(`^SIP/2\\.0/${VIA[kind]} .*;received=127\\.0\\.0\\.1${kind.startsWith('ws') ? ';rport$' : `;rport=${wire.localPort}`}`));
  const path = reg.first(H.PATH)!;
  const m = /^<sip:([^@]+)@127\.0\.0\.1:(\d+);lr;ob>$/.exec(path);
  t.truthy(m, path);
  const flowId = m![1]!;
  t.is(Number(m![2]), bridge.addresses.udp!.port);
  const flowHeader = reg.first(H.X_SIPIS_FLOW)!;
  t.is(flowHeader, `id=${flowId};transport=${kind};src=127.0.0.1:${kind.startsWith('ws') ? 0 : wire.localPort}`);
  t.is(reg.text.match(/^Max-Forwards: (\d+)/m)?.[1], '69');

  // a call from the phone: both dialogs route through the bridge (double Record-Route)
  const call = await phone.call('sip:bob@example.com');
  t.true(call.ringing);
  t.is(call.byeOk.status, 200);
  t.is(call.routeSet.length, 2);
  t.regex(call.routeSet[0]!, new RegExp(`transport=${kind};lr>$`));
  const invite = peer.ua.received.find((x) => x.method === 'INVITE')!;
  t.regex(invite.values(H.RECORD_ROUTE)[0]!, new RegExp(`^<sip:${flowId}@127\\.0\\.0\\.1:${bridge.addresses.udp!.port};lr>$`));
  const bye = await peer.ua.waitFor((x) => x.method === 'BYE');
  t.is(bye.values(H.ROUTE).length, 0, 'the bridge popped its own Route entries');

  // a call towards the phone: sipis's side uses the Path URI as its Route
  const back = await peer.ua.call(`sip:alice@127.0.0.1:${wire.localPort}`, { routes: [path] });
  t.is(back.ok.status, 200);
  t.is(back.byeOk.status, 200);
  const inInvite = phone.received.find((x) => x.method === 'INVITE')!;
  t.is(inInvite.values(H.ROUTE).length, 0);
  t.regex(inInvite.values(H.VIA)[0]!, new RegExp(`^SIP/2\\.0/${VIA[kind]} 127\\.0\\.0\\.1:${bridge.addresses[kind]!.port};branch=z9hG4bKsb\\.${flowId}\\.`));
  t.is(inInvite.values(H.X_SIPIS_FLOW).length, 0);
  t.truthy(phone.received.find((x) => x.method === 'BYE'));
  t.is(bridge.metrics.connections.get(kind), 1);
  t.true(bridge.metrics.toBackend.get(kind) >= 6);
  t.true(bridge.metrics.toPhone.get(kind) >= 6);
}

for (const kind of ['tcp', 'tls', 'ws', 'wss'] as const) {
  test.serial(`${kind}: REGISTER, a call from the phone and a call to the phone through its flow`, flowThrough, kind);
}
