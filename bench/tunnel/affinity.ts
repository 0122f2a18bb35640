/**
 * CPU affinity for the relay benchmarks: the relay under test on a core of its own, the load
 * (sipp, dumpcap, the bench itself) on the others. Issue 8 states its targets for a relay "on one
 * core"; on a 2-core machine left to the scheduler, the two sipp processes and the capture run on
 * the relay's core half the time and each of their time slices is a delay in the relay's tail.
 * Both relays (sipis and the Kamailio peer) are pinned the same way, so their rows stay comparable.
 *
 * Linux only (taskset from util-linux, /proc); elsewhere, or with a single CPU, nothing is pinned
 * and the rows say so (`pinned: no`).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The parent of every process on this machine (from /proc/PID/stat). */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return m;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      m.set(Number(e), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return m;
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [p, pp] of parents()) {
    let a = byParent.get(pp);
    if (!a) byParent.set(pp, (a = []));
    a.push(p);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** Sets the CPU list (taskset syntax: "1", "0-2") of every thread of each process. */
function setAffinity(pids: readonly number[], cpus: string): boolean {
  let ok = pids.length > 0;
  for (const pid of pids) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) ok = false;
  }
  return ok;
}

export interface Pinning {
  /** what the rows report: the relay's CPU and the others', or 'no'. */
  readonly label: string;
  /** gives this process and its children all CPUs back. */
  release(): void;
}

/**
 * The relay's process tree on the last CPU; this process and its other children (the peers, the
 * capture, started before or after) on the rest.
 */
export function pinRelay(relayPid: number | undefined): Pinning {
  const n = availableParallelism();
  const none: Pinning = { label: 'no', release: () => undefined };
  if (relayPid === undefined || n < 2 || process.platform !== 'linux') return none;
  const relayCpu = String(n - 1);
  const rest = n === 2 ? '0' : `0-${n - 2}`;
  const relay = new Set(processTree(relayPid));
  const others = processTree(process.pid).filter((p) => !relay.has(p));
  if (!setAffinity([...relay], relayCpu) || !setAffinity(others, rest)) {
    setAffinity([...relay, ...others], `0-${n - 1}`);
    return none;
  }
  return {
    label: `relay on cpu ${relayCpu}, load on ${rest}`,
    release: () => void setAffinity(processTree(process.pid), `0-${n - 1}`),
  };
}
