/**
 * Messages relayed per second, phone TCP → relay → UDP backend → relay → phone TCP, on loopback:
 * sipis-bridge (its own process, the real binary) against Kamailio 5.6 configured as the same
 * stateless TCP→UDP relay (fixtures/kamailio/bridge-relay.cfg, children=1, tcp_children=1),
 * measured in the same run against the same UDP responder (a child process). The load
 * generator (this process) keeps a window of requests in flight on a few connections.
 *
 * Reported per relay: round trips/s (each is two relayed messages), the relay's CPU seconds in
 * the window (its whole process tree, from /proc) and round trips per CPU-second ("per core"),
 * the fair comparison on a 2-core machine shared with the load generator and the responder.
 *
 *   npm run bench -- bridge-relay          (10 s per relay)
 *   npm run bench -- --quick bridge-relay  (1.5 s per relay)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectionOptions } from 'node:tls';
import { generateTestCerts, writeTestCerts } from '../../fixtures/tls/certs.js';
import { hasKamailio, startKamailio } from '../../fixtures/kamailio.js';
import { freeSipPort, freeTcpPort } from '../../fixtures/net.js';
import { startProc, type Proc } from '../../fixtures/proc.js';
import type { BenchRow, BenchSuite } from '../lib.js';
import { cpuByPid, cpuSince, pipelinedLoad, processTree } from './load.js';

/** compiled files are found next to this bench, so it runs from any --outDir. */
const here = dirname(fileURLToPath(import.meta.url));

const node = process.execPath;

export async function startResponder(): Promise<{ proc: Proc; port: number }> {
  const proc = startProc(node, [join(here, 'udp-responder.js')]);
  const line = await proc.waitFor(/ready (\d+)/);
  return { proc, port: Number(/ready (\d+)/.exec(line)![1]) };
}

export async function waitTcp(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on tcp ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function measure(name: string, port: number, pid: number, quick: boolean, tls?: ConnectionOptions): Promise<BenchRow> {
  let cpu0 = new Map<number, number>();
  let cpu = 0;
  const r = await pipelinedLoad({
    port,
    tls,
    conns: 8,
    window: 16,
    warmupMs: quick ? 800 : 1500,
    measureMs: quick ? 1500 : 10_000,
    onWindow: (phase) => {
      if (phase === 'start') cpu0 = cpuByPid(processTree(pid));
      else cpu = cpuSince(pid, cpu0);
    },
  });
  const rate = r.roundTrips / r.seconds;
  return {
    suite: 'bridge-relay',
    name,
    medianNs: rate > 0 ? 1e9 / rate : 0,
    opsPerSec: rate,
    samples: r.roundTrips,
    extra: {
      msgsPerSec: Math.round(2 * rate),
      relayCpuS: Number(cpu.toFixed(2)),
      roundTripsPerCpuS: cpu > 0 ? Math.round(r.roundTrips / cpu) : 'n/a',
    },
  };
}

/** Kamailio's tls module ships in a separate Debian package (kamailio-tls-modules). */
function kamailioHasTls(): boolean {
  return ['/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so', '/usr/lib/kamailio/modules/tls.so'].some((p) => existsSync(p));
}

const suite: BenchSuite = {
  name: 'bridge-relay',
  async run(opts) {
    const rows: BenchRow[] = [];
    const responder = await startResponder();
    const certs = writeTestCerts();
    const clientTls: ConnectionOptions = { ca: generateTestCerts().caPem, servername: 'localhost' };
    // quick (CI): TCP only; full: TCP and TLS
    const transports = opts.quick ? (['tcp'] as const) : (['tcp', 'tls'] as const);
    try {
      for (const t of transports) {
        const T = t.toUpperCase();
        const tls = t === 'tls' ? clientTls : undefined;
        const port = await freeTcpPort();
        const bridge = startProc(node, [
          join(here, '..', '..', 'bridge', 'main.js'), `--${t}`, `127.0.0.1:${port}`, '--tls-cert', certs.cert, '--tls-key', certs.key,
          '--udp', '127.0.0.1:0', '--backend', `127.0.0.1:${responder.port}`, '--log-level', 'warn', '--idle-timeout', '0', '--max-conns-per-ip', '100000', '--probe-interval', '1000',
        ]);
        try {
          await waitTcp(port).catch((err: Error) => {
            throw new Error(`${err.message}; sipis-bridge output:\n${bridge.output().slice(-3000)}`);
          });
          rows.push(await measure(`sipis-bridge ${T}→UDP→${T}`, port, bridge.child.pid!, opts.quick, tls));
        } finally {
          await bridge.stop();
        }
        if (!hasKamailio() || (t === 'tls' && !kamailioHasTls())) continue;
        const [kt, ku, kl] = [await freeTcpPort(), await freeSipPort(), await freeTcpPort()];
        const defines: Record<string, string | true> = { TCP_LISTEN: `tcp:127.0.0.1:${kt}`, UDP_LISTEN: `udp:127.0.0.1:${ku}`, BACKEND: `"sip:127.0.0.1:${responder.port};transport=udp"` };
        if (t === 'tls') {
          const cfg = join(certs.dir, 'kamailio-tls.cfg');
          writeFileSync(cfg, `[server:default]\nmethod = TLSv1.2+\ncertificate = ${certs.cert}\nprivate_key = ${certs.key}\nverify_certificate = no\nrequire_certificate = no\n\n[client:default]\nverify_certificate = no\nrequire_certificate = no\n`);
          Object.assign(defines, { WITH_TLS: true, TLS_LISTEN: `tls:127.0.0.1:${kl}`, TLS_CFG: `"${cfg}"` });
        }
        const kam = await startKamailio({ cfg: 'bridge-relay.cfg', defines, waitPorts: [ku] });
        try {
          const kport = t === 'tls' ? kl : kt;
          await waitTcp(kport).catch((err: Error) => {
            throw new Error(`${err.message}; kamailio output:\n${kam.proc.output().slice(-3000)}`);
          });
          rows.push(await measure(`kamailio ${T}→UDP→${T} (children=1, tcp_children=1)`, kport, kam.proc.child.pid!, opts.quick, tls));
        } finally {
          await kam.stop();
        }
      }
    } finally {
      certs.remove();
      await responder.proc.stop();
    }
    // ratios against Kamailio on the same transport
    for (const r of rows) {
      const T = /(TCP|TLS)→/.exec(r.name)?.[1];
      const base = rows.find((b) => b.name.startsWith(`kamailio ${T}`));
      if (base) {
        r.baseline = base.name;
        r.ratio = r.medianNs / base.medianNs;
      }
    }
    return rows;
  },
};

export default suite;
