/**
 * Starting a bridge in-process against UDP test peers, for the bridge's tests and benchmarks.
 */
import pino from 'pino';
import { defaultConfig, type BridgeConfig } from '../config.js';
import { startBridge, type RunningBridge } from '../bridge.js';
import { MiniUa } from './sipua.js';
import { udpWire, type UdpWire } from './wires.js';

export interface UdpPeer {
  ua: MiniUa;
  wire: UdpWire;
  port: number;
}

/** A UDP SIP peer on loopback that answers everything (REGISTER 200, INVITE 180+200, …). */
export async function udpPeer(aor = 'sipis@127.0.0.1', bindPort = 0, target?: { host: string; port: number }): Promise<UdpPeer> {
  const wire = await udpWire(target, bindPort);
  const ua = new MiniUa({ wire, transport: 'UDP', sentBy: `127.0.0.1:${wire.port}`, aor, autoAnswer: true });
  return { ua, wire, port: wire.port };
}

export function testConfig(backendPorts: number[], over: (c: BridgeConfig) => void = () => undefined): BridgeConfig {
  const c = defaultConfig();
  c.listen = { tcp: { host: '127.0.0.1', port: 0 }, ws: { host: '127.0.0.1', port: 0 } };
  c.backends = backendPorts.map((port) => ({ host: '127.0.0.1', port }));
  c.admin = { host: '127.0.0.1', port: 0 };
  c.probe = { intervalMs: 200, failures: 2, successes: 1 };
  c.logLevel = process.env.SIPIS_TEST_LOG ?? 'silent';
  over(c);
  return c;
}

export async function bridgeWithPeers(peers: UdpPeer[], over?: (c: BridgeConfig) => void): Promise<RunningBridge> {
  const config = testConfig(peers.map((p) => p.port), over);
  const bridge = await startBridge(config, pino({ level: config.logLevel }));
  for (const p of peers) p.wire.target = { host: '127.0.0.1', port: bridge.addresses.udp!.port };
  return bridge;
}
