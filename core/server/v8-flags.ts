/**
 * V8 settings sipis runs with: NODE_FLAGS on node's command line (the binary's shebang), V8_FLAGS
 * applied once at start-up before any traffic (main.ts; the sipis child of the relay benchmarks
 * is started and set up the same way, bench/tunnel/sipis-child.ts and child-node-args.ts).
 *
 * `--single-threaded-gc` (NODE_FLAGS): all of V8's GC work on the event loop's thread, marking
 * in V8's own bounded incremental steps, instead of parallel scavenger tasks and concurrent
 * marking and sweeping threads. A deployment runs one sipis process per core (the bridge spreads
 * the users over them), so those helper threads have no spare core: they take the core from the
 * event loop in whole scheduler slices, at times the OS chooses, and a scavenge waits for its
 * helpers when they are not running. Measured with the relay on a core of its own
 * (bench/tunnel/delay.bench.ts at 500 calls/s, load on the other core, 10 s windows, runs of
 * both alternated): p99 added per relayed message 607, 621, 819, 956, 982, 2870, 5108 µs with
 * V8's threads (longest GC pause 11-12.6 ms); single-threaded 519-1018 µs over 15 runs, median
 * 719, 13 under 1 ms (Kamailio in the same runs 849-2468, median 1023). The CPU per call is the
 * same (tunnel-relay: 1,835 calls per CPU-second either way).
 * It must be on the command line: set at run time (v8.setFlagsFromString) it aborts V8 at the
 * next full GC (a check in cppgc's concurrent marker), so main.ts only logs when it is missing.
 *
 * `--no-allocation-site-pretenuring`: V8 watches every object and array literal (an "allocation
 * site") and, once most objects from one survive a scavenge, allocates that site's objects
 * straight in the old generation. Under the relay's load this backfires. An object of such a site
 * that dies young dies in the old generation still pointing at young objects, and the scavenger
 * takes every old-to-young pointer as a root until the next full GC: it keeps the young call
 * state behind it alive and promotes it. That call state then looks long-lived too, so more sites
 * are tenured. This was the retainer that kept ended calls alive through scavenges. Measured with
 * bench/tunnel/gc.bench.ts at 500 calls/s: promoted 6.0 -> 2.4 KB per call, survived 6.5 -> 2.7 KB
 * (what is left is what lingering transactions keep for 32 s). Objects that do live long are
 * promoted by the scavenger instead, once.
 *
 * The flag is read when V8 takes its pretenuring decisions (at each scavenge), so setting it
 * before the first one is enough; node's `--v8-options` lists it.
 *
 * Not adopted: `--max-semi-space-size=8` (a start-up flag). It halves each scavenge's pause
 * (tunnel-gc p50 4.6 -> 1.6 ms, runs under the same load) but doubles their number, and the
 * relay's p99 delay was no better (tunnel-delay at 500 calls/s, quiet machine, alternating runs:
 * 848 and 941 µs with V8's 16 MiB, 1082 and 916 µs with 8).
 */
import { setFlagsFromString } from 'node:v8';

export const V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Node/V8 options sipis must be started with (they cannot be set once V8 runs). */
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** NODE_FLAGS this process was started without (node refuses them in NODE_OPTIONS: only its arguments count). */
export function missingNodeFlags(): string[] {
  return NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
}

let applied = false;

/** Applies V8_FLAGS to this process (once; later calls do nothing). */
export function applyV8Flags(): void {
  if (applied) return;
  applied = true;
  for (const f of V8_FLAGS) setFlagsFromString(f);
}
