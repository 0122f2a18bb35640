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
import { connect } from 'node:net';
import { join } from 'node:path';
import { hasKamailio, startKamailio } from '../../fixtures/kamailio.js';
import { freeSipPort, freeTcpPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { startProc, type Proc } from '../../fixtures/proc.js';
import type { BenchRow, BenchSuite } from '../lib.js';
import { cpuSeconds, pipelinedLoad, processTree } from './load.js';

const node = process.execPath;

export async function startResponder(): Promise<{ proc: Proc; port: number }> {
  const proc = startProc(node, [join(repoRoot, 'dist', 'bench', 'bridge', 'udp-responder.js')]);
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

async function measure(name: string, port: number, pid: number, quick: boolean): Promise<BenchRow> {
  const pids = processTree(pid);
  let cpu0 = 0;
  let cpu = 0;
  const r = await pipelinedLoad({
    port,
    conns: 8,
    window: 16,
    warmupMs: quick ? 400 : 1500,
    measureMs: quick ? 1500 : 10_000,
    onWindow: (phase) => {
      if (phase === 'start') cpu0 = cpuSeconds(pids);
      else cpu = cpuSeconds(pids) - cpu0;
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

const suite: BenchSuite = {
  name: 'bridge-relay',
  async run(opts) {
    const rows: BenchRow[] = [];
    const responder = await startResponder();
    try {
      const tcp = await freeTcpPort();
      const bridge = startProc(node, [join(repoRoot, 'dist', 'bridge', 'main.js'), '--tcp', `127.0.0.1:${tcp}`, '--udp', '127.0.0.1:0', '--backend', `127.0.0.1:${responder.port}`, '--log-level', 'warn', '--idle-timeout', '0', '--max-conns-per-ip', '100000', '--probe-interval', '1000']);
      try {
        await waitTcp(tcp);
        rows.push(await measure('sipis-bridge TCP→UDP→TCP', tcp, bridge.child.pid!, opts.quick));
      } finally {
        await bridge.stop();
      }
      if (hasKamailio()) {
        const [kt, ku] = [await freeTcpPort(), await freeSipPort()];
        const kam = await startKamailio({
          cfg: 'bridge-relay.cfg',
          defines: { TCP_LISTEN: `tcp:127.0.0.1:${kt}`, UDP_LISTEN: `udp:127.0.0.1:${ku}`, BACKEND: `"sip:127.0.0.1:${responder.port};transport=udp"` },
          waitPorts: [ku],
        });
        try {
          await waitTcp(kt);
          rows.push(await measure('kamailio TCP→UDP→TCP (children=1, tcp_children=1)', kt, kam.proc.child.pid!, opts.quick));
        } finally {
          await kam.stop();
        }
      }
    } finally {
      await responder.proc.stop();
    }
    const base = rows.find((r) => r.name.startsWith('kamailio'));
    if (base) {
      for (const r of rows) {
        r.baseline = base.name;
        r.ratio = r.medianNs / base.medianNs;
      }
    }
    return rows;
  },
};

export default suite;
