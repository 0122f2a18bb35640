/**
 * CPU split of a process from Linux `perf` samples (all its threads, kernel included), for
 * the mediator profile tool. V8's own profiler samples wall-clock time on the main thread:
 * a send() that wakes the receiver and gets the process descheduled is charged to the JS
 * function that called it, and GC helper threads are invisible. perf counts CPU cycles.
 * The node process must run with --perf-basic-prof so JIT frames have names.
 *
 * Each sample goes to the first category matching a frame from the leaf up, so the kernel
 * time under a send() is "send", and JS time is charged to the file of the leaf JS frame.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

interface Category {
  name: string;
  match: (sym: string, dso: string) => boolean;
}

/** Looked for from the leaf up; the first frame matching one of these decides. */
const SPECIFIC: Category[] = [
  { name: 'GC (V8 heap, all threads)', match: (s) => /Scaveng|MarkCompact|ConcurrentMarking|IncrementalMarking|Heap::|MemoryAllocator|Sweeper/.test(s) },
  { name: 'kernel: send (HTTP answers, uWS)', match: (s) => /^(__send|__sys_sendto|__x64_sys_sendto)$/.test(s) },
  { name: 'kernel: recv (HTTP requests, uWS)', match: (s) => /^(__libc_recv|__sys_recvfrom|__x64_sys_recvfrom)$/.test(s) },
  { name: 'kernel: writev/write (TLS toward APNs)', match: (s) => /^(__x64_sys_writev|__x64_sys_write|do_writev)$/.test(s) },
  { name: 'kernel: read (TLS from APNs)', match: (s) => /^(__x64_sys_read|ksys_read)$/.test(s) },
  { name: 'kernel: epoll', match: (s) => /^(do_epoll_wait|ep_poll|__x64_sys_epoll_wait|__x64_sys_epoll_pwait)$/.test(s) },
  { name: 'JSON.parse', match: (s) => /JsonParse/.test(s) },
  { name: 'JSON.stringify', match: (s) => /JsonStringif/.test(s) },
  { name: 'TLS (OpenSSL, TLSWrap)', match: (s, d) => /libcrypto|libssl/.test(d) || /TLSWrap|^(aesni_|ossl_|EVP_|SSL_)/.test(s) },
  { name: 'JS: HTTP edge (mediator/server)', match: (s) => s.includes('mediator/server.js') },
  { name: 'JS: validation (core/push/protocol)', match: (s) => s.includes('push/protocol.js') },
  { name: 'JS: dispatcher, APNs adapter, payload, metrics', match: (s) => /mediator\/(dispatcher|apns|apns-payload|adapter|json|metrics|apns-auth)\.js/.test(s) },
  { name: 'JS: HTTP/2 client (h2pool, h2/)', match: (s) => /mediator\/(h2pool\.js|h2\/)/.test(s) },
  { name: 'JS: node internals (microtasks, net, streams)', match: (s) => / node:/.test(s) },
];

/** Otherwise the leaf frame's binary decides. */
const GENERIC: Category[] = [
  { name: 'kernel: other (faults, scheduling, softirq)', match: (_s, d) => d.includes('kernel') },
  { name: 'uWS native (HTTP parsing, sockets)', match: (_s, d) => d.includes('uws_') },
  { name: 'libc (malloc, memcpy)', match: (_s, d) => d.includes('libc.so') },
  { name: 'JS: other', match: (_s, d) => d.includes('perf-') },
  { name: 'V8/node runtime (C++, builtins)', match: () => true },
];

/** Starts `perf record` on `pid`; `stop()` ends it and resolves once the data file is written. */
export function startPerf(pid: number, file: string): { stop(): Promise<void> } {
  const p: ChildProcess = spawn('perf', ['record', '-F', '1999', '-g', '-p', String(pid), '-o', file], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  return {
    async stop() {
      p.kill('SIGINT');
      await exited;
    },
  };
}

export function perfAvailable(): boolean {
  return spawnSync('perf', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Reads `perf script` of `file`: each category's share, and its us per push given the CPU per push. */
export function perfSplit(file: string, usPerPush: number): string {
  const r = spawnSync('perf', ['script', '-i', file, '-F', 'period,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) return `perf script failed: ${r.stderr}`;
  const totals = new Map<string, number>();
  let total = 0;
  for (const block of r.stdout.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim());
    if (lines.length < 2) continue;
    const period = Number(lines[0]!.trim().split(/\s+/)[0]);
    if (!Number.isFinite(period)) continue;
    // "<ip> <sym> (<dso>)", leaf first.
    const frames = lines.slice(1).flatMap((l) => {
      const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(l);
      return m ? [{ sym: m[1]!, dso: m[2]! }] : [];
    });
    let cat: string | undefined;
    for (const f of frames) {
      cat = SPECIFIC.find((c) => c.match(f.sym, f.dso))?.name;
      if (cat) break;
    }
    const leaf = frames[0] ?? { sym: '', dso: '' };
    cat ??= GENERIC.find((c) => c.match(leaf.sym, leaf.dso))!.name;
    totals.set(cat, (totals.get(cat) ?? 0) + period);
    total += period;
  }
  // Samples are cycles at ~1999 Hz: the share of each category of the process's CPU.
  const out = [`${'perf split of the process CPU (all threads)'.padEnd(54)} %  us/push`];
  for (const [k, v] of [...totals].sort((a, b) => b[1] - a[1])) {
    out.push(`  ${k.padEnd(48)} ${((100 * v) / total).toFixed(1).padStart(5)}  ${((usPerPush * v) / total).toFixed(1).padStart(6)}`);
  }
  return out.join('\n');
}
