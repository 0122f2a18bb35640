/**
 * Shard look-ups per second: weighted rendezvous hashing over 3, 8 and 32 backends, against a
 * baseline of hashing the key alone (the part every scheme pays) and a classic ring of virtual
 * nodes with binary search (the alternative ring.ts argues against), measured in the same run.
 *
 *   npm run bench -- shard          (full)
 *   npm run bench -- --quick shard
 */
import { fnv1a32, fmix32, ShardRing } from '../../core/shard/index.js';
import { runMicro, withRatios, type BenchSuite } from '../lib.js';

const KEYS = Array.from({ length: 4096 }, (_, i) => `user${i * 7919}@example.com`);

function ringOf(n: number): ShardRing {
  return new ShardRing(Array.from({ length: n }, (_, i) => ({ host: '10.0.0.1', port: 5060 + i, weight: 1 + (i % 3) })));
}

/** The alternative: 160 virtual nodes per weight unit, binary search on the key hash. */
function vnodeRing(n: number): (key: string) => number {
  const points: Array<[number, number]> = [];
  for (let b = 0; b < n; b++) {
    const vnodes = 160 * (1 + (b % 3));
    for (let v = 0; v < vnodes; v++) points.push([fmix32(fnv1a32(`10.0.0.1:${5060 + b}#${v}`)), b]);
  }
  points.sort((a, b) => a[0] - b[0]);
  const hashes = Uint32Array.from(points.map((p) => p[0]));
  const owners = Uint16Array.from(points.map((p) => p[1]));
  return (key: string) => {
    const h = fmix32(fnv1a32(key));
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return owners[lo === hashes.length ? 0 : lo]!;
  };
}

const suite: BenchSuite = {
  name: 'shard',
  async run(opts) {
    const rings = [3, 8, 32].map((n) => [n, ringOf(n)] as const);
    const vnode8 = vnodeRing(8);
    let i = 0;
    const next = () => KEYS[i++ & 4095]!;
    const rows = await runMicro(
      'shard',
      [
        { name: 'hash key only (fnv1a32)', fn: () => fnv1a32(next()), batch: 1000 },
        ...rings.map(([n, r]) => ({ name: `rendezvous lookup, ${n} backends`, fn: () => r.lookup(next()), batch: 1000 })),
        { name: 'vnode ring lookup, 8 backends (alternative)', fn: () => vnode8(next()), batch: 1000 },
      ],
      opts,
    );
    return withRatios(rows, 'rendezvous lookup, 3 backends');
  },
};

export default suite;
