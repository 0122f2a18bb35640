/**
 * Memory per idle phone connection held by sipis-bridge (the real binary, its own process):
 * RSS after opening N idle connections minus RSS before, divided by N. TLS is the case that
 * matters (target: under 20 KiB per idle TLS connection): node:tls for TLS, uWebSockets.js
 * (uSockets + OpenSSL, `ssl_prefer_low_memory_usage`) for WSS; TCP is shown for reference.
 *
 * N: 500 (quick, CI), 10000 (full). 50000 runs only when the file-descriptor limit allows both
 * this process and the bridge to hold that many sockets (this machine's hard limit is 20000,
 * and an unprivileged process cannot raise it): otherwise the row says it was skipped.
 *
 * The bridge runs with its default limits (idle timeout 300 s included: since the idle and
 * handshake timeouts are sweeps, not a timer per connection, they cost nothing per connection
 * and the figure is the one a deployment gets). Before each measurement the bridge runs a
 * full GC (a hook loaded with `--import` for this benchmark only: SIGUSR2 → `gc()`), so the
 * garbage of the handshake storm is not counted as connection state; then RSS is sampled
 * three times, 500 ms apart, and the row shows the median. The clients are this process, the
 * bridge is its own: only the bridge's RSS is counted. What an idle TLS connection is made of
 * (OpenSSL's SSL object alone is 7.4 KiB) is in the comment at the top of bridge/stream.ts.
 *
 *   npm run bench -- bridge-memory          npm run bench -- --quick bridge-memory
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { freeTcpPort } from '../../fixtures/net.js';
import { repoRoot } from '../../fixtures/paths.js';
import { startProc } from '../../fixtures/proc.js';
import { generateTestCerts, writeTestCerts } from '../../fixtures/tls/certs.js';
import type { BenchRow, BenchSuite } from '../lib.js';
import { rssKiB } from './load.js';
import { wsWire } from '../../bridge/testing/wires.js';
import { waitTcp } from './relay.bench.js';

function fdLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

type Kind = 'tls' | 'tcp' | 'wss';

async function openMany(n: number, port: number, kind: Kind, ca: string): Promise<Socket[]> {
  const tls = kind === 'tls';
  const out: Socket[] = [];
  const batch = 100;
  for (let i = 0; i < n; i += batch) {
    const group = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, () =>
        kind === 'wss' ? wsWire(port, { tls: { ca, servername: 'localhost' } }).then((w) => w.socket) : new Promise<Socket>((resolve, reject) => {
          const s: Socket = tls ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }) : netConnect({ host: '127.0.0.1', port });
          s.once(tls ? 'secureConnect' : 'connect', () => resolve(s));
          s.once('error', reject);
        }),
      ),
    );
    for (const s of group) s.on('error', () => undefined);
    out.push(...group);
  }
  return out;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Loaded into the bridge for this benchmark only: SIGUSR2 runs a full GC (node --expose-gc). */
const GC_HOOK = 'data:text/javascript,process.on("SIGUSR2",()=>{globalThis.gc();setTimeout(()=>globalThis.gc(),100)});';

/** A full GC in the bridge, then the median of three RSS samples 500 ms apart. */
async function medianRss(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await settle(600);
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await settle(500);
    samples.push(rssKiB(pid));
  }
  return samples.sort((a, b) => a - b)[1]!;
}

const suite: BenchSuite = {
  name: 'bridge-memory',
  async run(opts) {
    const certs = writeTestCerts();
    const ca = generateTestCerts().caPem;
    const rows: BenchRow[] = [];
    const sizes = opts.quick ? [500] : [10_000, 50_000];
    try {
      for (const kind of ['tls', 'wss', 'tcp'] as const) {
        for (const n of sizes) {
          const name = `idle ${kind.toUpperCase()} connections held: ${n}`;
          if (n + 500 > fdLimit()) {
            rows.push({ suite: 'bridge-memory', name, medianNs: 0, opsPerSec: 0, samples: 0, extra: { skipped: `fd limit ${fdLimit()} < ${n + 500} (each process holds n sockets)` } });
            continue;
          }
          const port = await freeTcpPort();
          const bridge = startProc(process.execPath, [
            '--expose-gc', '--import', GC_HOOK, join(repoRoot, 'dist', 'bridge', 'main.js'), `--${kind}`, `127.0.0.1:${port}`, '--tls-cert', certs.cert, '--tls-key', certs.key,
            '--udp', '127.0.0.1:0', '--backend', '127.0.0.1:9', '--log-level', 'warn', '--max-conns-per-ip', '1000000', '--probe-interval', '60000',
          ]);
          try {
            await waitTcp(port);
            const pid = bridge.child.pid!;
            // warm up: the first connections pay for code loading, JIT and TLS context set-up
            for (const s of await openMany(opts.quick ? 100 : 200, port, kind, ca)) s.destroy();
            await settle(1000);
            const before = await medianRss(pid);
            const t0 = Date.now();
            const socks = await openMany(n, port, kind, ca);
            const openS = (Date.now() - t0) / 1000;
            await settle(opts.quick ? 500 : 2000);
            const after = await medianRss(pid);
            const perConn = (after - before) / n;
            rows.push({
              suite: 'bridge-memory',
              name,
              medianNs: 0,
              opsPerSec: n / openS,
              samples: n,
              extra: { rssBeforeMiB: (before / 1024).toFixed(1), rssAfterMiB: (after / 1024).toFixed(1), kibPerConn: perConn.toFixed(1), target: kind === 'tcp' ? '-' : '< 20 KiB' },
            });
            for (const s of socks) s.destroy();
          } finally {
            await bridge.stop();
          }
        }
      }
    } finally {
      certs.remove();
    }
    return rows;
  },
};

export default suite;
