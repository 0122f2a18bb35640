/**
 * V8 settings sipis runs with, applied once at start-up before any traffic (main.ts; the sipis
 * child of the relay benchmarks applies the same, bench/tunnel/sipis-child.ts).
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

let applied = false;

/** Applies V8_FLAGS to this process (once; later calls do nothing). */
export function applyV8Flags(): void {
  if (applied) return;
  applied = true;
  for (const f of V8_FLAGS) setFlagsFromString(f);
}
