/**
 * The node arguments of the sipis child the tunnel benchmarks start (bench/tunnel/sipis-child.ts):
 * what `SIPIS_BENCH_NODE_ARGS` gives (GC experiments: --trace-gc, --max-semi-space-size=N, …).
 * The child applies the V8 settings of the sipis binary itself (core/server/v8-flags.ts), unless
 * started with `--v8-defaults`.
 */
export function childNodeArgs(): string[] {
  return (process.env.SIPIS_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}
