/**
 * Load generation and process measurement for the bridge benchmarks: a pipelined SIP client
 * over TCP or TLS (a window of requests in flight per connection, responses framed with the
 * bridge's own framer), CPU time and RSS of a process tree from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { StreamFramer } from '../../bridge/framer.js';

export interface LoadResult {
  /** request/response round trips completed in the measured window */
  roundTrips: number;
  seconds: number;
}

function request(n: number, localPort: number, transport: string): Buffer {
  return Buffer.from(
    `OPTIONS sip:bench@example.com SIP/2.0\r\n` +
      `Via: SIP/2.0/${transport} 127.0.0.1:${localPort};branch=z9hG4bK-bench-${n};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: "Bench User" <sip:user${n % 1000}@example.com>;tag=bt${n}\r\n` +
      'To: <sip:bench@example.com>\r\n' +
      `Call-ID: ${n}-bench@127.0.0.1\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      `Contact: <sip:user${n % 1000}@127.0.0.1:${localPort};transport=${transport.toLowerCase()};ob>\r\n` +
      'Accept: application/sdp\r\n' +
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY, REFER, UPDATE\r\n' +
      'Supported: outbound, path, gruu\r\n' +
      'User-Agent: sipis-bench/1.0\r\n' +
      'Content-Length: 0\r\n\r\n',
    'latin1',
  );
}

/**
 * Opens `conns` connections to host:port, keeps `window` requests in flight on each, warms up
 * for warmupMs, then counts completed round trips for measureMs.
 */
export async function pipelinedLoad(o: { port: number; tls?: ConnectionOptions; conns: number; window: number; warmupMs: number; measureMs: number; onWindow?: (phase: 'start' | 'end') => void }): Promise<LoadResult> {
  const sockets: Socket[] = [];
  let counting = false;
  let done = 0;
  let seq = 0;
  let stopped = false;
  const transport = o.tls ? 'TLS' : 'TCP';
  for (let c = 0; c < o.conns; c++) {
    const s: Socket = o.tls ? tlsConnect({ host: '127.0.0.1', port: o.port, ...o.tls }) : netConnect({ host: '127.0.0.1', port: o.port });
    await new Promise<void>((resolve, reject) => {
      s.once(o.tls ? 'secureConnect' : 'connect', () => resolve());
      s.once('error', reject);
    });
    s.setNoDelay(true);
    s.on('error', () => undefined);
    const lp = s.localPort ?? 0;
    const framer = new StreamFramer(
      {
        message: () => {
          if (counting) done++;
          if (!stopped) s.write(request(++seq, lp, transport));
        },
        ping: () => undefined,
      },
      1 << 16,
    );
    s.on('data', (d: Buffer) => framer.push(d));
    sockets.push(s);
    for (let w = 0; w < o.window; w++) s.write(request(++seq, lp, transport));
  }
  await new Promise((r) => setTimeout(r, o.warmupMs));
  o.onWindow?.('start');
  counting = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, o.measureMs));
  counting = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  o.onWindow?.('end');
  const roundTrips = done;
  stopped = true;
  for (const s of sockets) s.destroy();
  return { roundTrips, seconds };
}

/** pid and every descendant (Kamailio forks its workers). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** user + system CPU seconds of each process (USER_HZ = 100). */
export function cpuByPid(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(p, (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU seconds a process tree used between `before` (from cpuByPid) and now; new processes count whole. */
export function cpuSince(rootPid: number, before: Map<number, number>): number {
  let total = 0;
  for (const [pid, now] of cpuByPid(processTree(rootPid))) total += now - (before.get(pid) ?? 0);
  return total;
}

/** Resident set size in KiB (VmRSS) of one process. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}
