/**
 * V8 settings sipis runs with, applied once at start-up before any traffic (main.ts; the sipis
 * child of the relay benchmarks applies the same, bench/tunnel/sipis-child.ts), and the node
 * flags it should be started with (NODE_FLAGS, below).
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
 */
import { setFlagsFromString } from 'node:v8';

export const V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/**
 * Node flags the sipis process should be started with (they size the heap when the process
 * starts, so no code can set them later): `node --max-semi-space-size=8 …/main.js`, or
 * `NODE_OPTIONS=--max-semi-space-size=8` in the service's environment.
 *
 * `--max-semi-space-size=8` (MiB; V8's default grows it to 16 under load): a scavenge's pause
 * is the time to copy what survives it, which at 500 relayed calls/s is what the calls of the
 * last interval keep lingering (Timers J/L/M, ~2 KB a call). Half the young generation means a
 * scavenge twice as often with half as much to copy: about the same GC time in all, in pauses
 * half as long, and the p99 delay of a relayed message is set by the longest pauses. Measured
 * with bench/tunnel/gc.bench.ts: scavenge p50 4.6 -> 1.6 ms, scavenge ms per 1000 calls
 * 27.6 -> 19.8. Smaller still (4, 2, 1) adds more per-scavenge work than it saves.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** The NODE_FLAGS this process was not started with (in its arguments or NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return NODE_FLAGS.filter((f) => {
    const name = f.split('=')[0]!;
    return !given.some((g) => g === f || g.startsWith(`${name}=`) || g.replaceAll('_', '-').startsWith(`${name}=`));
  });
}

let applied = false;

/** Applies V8_FLAGS to this process (once; later calls do nothing). */
export function applyV8Flags(): void {
  if (applied) return;
  applied = true;
  for (const f of V8_FLAGS) setFlagsFromString(f);
}
