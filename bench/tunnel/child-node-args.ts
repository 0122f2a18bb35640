/**
 * The node arguments of the sipis child the tunnel benchmarks start (bench/tunnel/sipis-child.ts):
 * the start-up flags of the sipis binary (core/server/v8-flags.ts NODE_FLAGS), left out for a
 * `--v8-defaults` child (the peer with V8's own settings), then what `SIPIS_BENCH_NODE_ARGS`
 * adds (GC experiments: --trace-gc, --max-semi-space-size=N, …).
 */
import { NODE_FLAGS } from '../../core/server/v8-flags.js';

export function childNodeArgs(childArgs: readonly string[] = []): string[] {
  const extra = (process.env.SIPIS_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  return [...(childArgs.includes('--v8-defaults') ? [] : NODE_FLAGS), ...extra];
}
