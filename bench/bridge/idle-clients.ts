/**
 * Child process of the bridge-memory benchmark: opens N idle phone connections (TCP, TLS or
 * secure WebSocket) to one bridge listener and holds them until its stdin closes. Its own
 * process so that the clients' sockets count against their own file-descriptor limit (20 000
 * per process on the CI machine) and their memory and CPU stay out of the bridge's figures.
 *
 *   node idle-clients.js '{"kind":"tls","port":5061,"n":12500,"localAddresses":["127.0.0.2"],"caFile":"ca.pem"}'
 *
 * Prints `READY <n> <seconds>` once every connection is established (TLS: handshake done;
 * WSS: upgrade answered), `FAIL <message>` and exit 1 when one fails. Connections are opened
 * `batch` at a time, each from the next source address in turn: one source address has only
 * ~28 000 ephemeral ports (net.ipv4.ip_local_port_range), and binding to a given address takes
 * a port of its own, so 50 000 connections need at least two.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { wsWire } from '../../bridge/testing/wires.js';

export interface IdleClientsSpec {
  kind: 'tcp' | 'tls' | 'wss';
  host?: string;
  port: number;
  n: number;
  localAddresses?: string[];
  caFile?: string;
  batch?: number;
}

async function openOne(spec: IdleClientsSpec, ca: Buffer | undefined, localAddress: string | undefined): Promise<Socket> {
  const host = spec.host ?? '127.0.0.1';
  if (spec.kind === 'wss') {
    // wsWire has no localAddress option: WSS runs below 28k connections per run
    return (await wsWire(spec.port, { host, tls: { servername: 'localhost', ...(ca ? { ca } : {}) } })).socket;
  }
  const where = localAddress === undefined ? { host, port: spec.port } : { host, port: spec.port, localAddress };
  return new Promise<Socket>((resolve, reject) => {
    const s: Socket = spec.kind === 'tls' ? tlsConnect({ ...where, servername: 'localhost', ...(ca ? { ca } : {}) }) : netConnect(where);
    s.once(spec.kind === 'tls' ? 'secureConnect' : 'connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as IdleClientsSpec;
  const ca = spec.caFile ? readFileSync(spec.caFile) : undefined;
  const locals = spec.localAddresses?.length ? spec.localAddresses : [undefined];
  const batch = spec.batch ?? 100;
  const sockets: Socket[] = [];
  const t0 = Date.now();
  for (let i = 0; i < spec.n; i += batch) {
    const group = await Promise.all(Array.from({ length: Math.min(batch, spec.n - i) }, (_, j) => openOne(spec, ca, locals[(i + j) % locals.length])));
    for (const s of group) s.on('error', () => undefined);
    sockets.push(...group);
  }
  process.stdout.write(`READY ${sockets.length} ${((Date.now() - t0) / 1000).toFixed(1)}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  process.stdout.write(`FAIL ${(err as Error).message}\n`);
  process.exit(1);
});
