/**
 * The consistent hash that maps an account key to the sipis process (shard) that owns it.
 *
 * Why weighted rendezvous (highest random weight) hashing and not a ring of virtual nodes:
 * - a deployment has a handful of sipis processes (a process holds 15k–50k users), so an O(n)
 *   scan over n ≤ ~20 backends costs less than a binary search over the thousands of virtual
 *   nodes a ring needs for a ±10 % spread, and holds no per-node table in memory;
 * - the spread follows the weights exactly in expectation (Schindelhauer & Schomaker's
 *   logarithmic method: score = −weight / ln(u), u uniform in (0,1) per key and backend), where
 *   a ring only approximates them through the number of virtual nodes;
 * - minimal disruption comes for free: a backend that goes out loses exactly its own keys, each
 *   to the backend with the next-highest score, and gets exactly those back when it returns;
 *   nobody else's keys move.
 *
 * The score of a (key, backend) pair depends only on the key's hash and the backend's seed
 * (the hash of its id), never on the list's order or size: sipis, the bridge and sipis-ctl
 * agree as long as they share the same backend ids and weights.
 */
import { ShardError } from './errors.js';
import { fnv1a32, unitScore } from './hash.js';

export interface BackendSpec {
  /** stable identity of the shard; defaults to `host:port`. Changing it moves its keys. */
  id?: string;
  host: string;
  port: number;
  /** relative share of the keys, > 0; default 1. */
  weight?: number;
}

export interface Backend {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** the hash of the id: the backend's side of every rendezvous score. */
  readonly seed: number;
  /** in service (probed alive); only backends that are up receive keys. */
  up: boolean;
}

export class ShardRing {
  readonly #backends: Backend[];
  readonly #byId = new Map<string, Backend>();

  constructor(specs: readonly BackendSpec[]) {
    if (specs.length === 0) throw new ShardError('ERR_SHARD_NO_BACKENDS', 'at least one backend is required');
    this.#backends = specs.map((s, i) => {
      if (!s.host || !Number.isInteger(s.port) || s.port <= 0 || s.port > 65535) {
        throw new ShardError('ERR_SHARD_BAD_BACKEND', `backend #${i + 1}: need a host and a port 1-65535`);
      }
      const weight = s.weight ?? 1;
      if (!Number.isFinite(weight) || weight <= 0) {
        throw new ShardError('ERR_SHARD_BAD_WEIGHT', `backend #${i + 1}: weight must be a positive number, got ${s.weight}`);
      }
      const id = s.id ?? `${s.host}:${s.port}`;
      if (this.#byId.has(id)) throw new ShardError('ERR_SHARD_DUPLICATE_BACKEND', `backend id ${id} appears twice`);
      const b: Backend = { id, host: s.host, port: s.port, weight, seed: fnv1a32(id), up: true };
      this.#byId.set(id, b);
      return b;
    });
  }

  get backends(): readonly Backend[] {
    return this.#backends;
  }

  get(id: string): Backend | undefined {
    return this.#byId.get(id);
  }

  /** Marks a backend in or out of service; returns true when its state changed. */
  setUp(id: string, up: boolean): boolean {
    const b = this.#byId.get(id);
    if (!b) throw new ShardError('ERR_SHARD_UNKNOWN_BACKEND', `no backend ${id}`);
    if (b.up === up) return false;
    b.up = up;
    return true;
  }

  /** The backend that owns `key` among those up; undefined when none is up. */
  lookup(key: string): Backend | undefined {
    return this.lookupHash(fnv1a32(key));
  }

  /** The owner ignoring health: where the key lives when every backend is up. */
  home(key: string): Backend {
    return this.lookupHash(fnv1a32(key), true)!;
  }

  lookupHash(keyHash: number, includeDown = false): Backend | undefined {
    let best: Backend | undefined;
    let bestScore = -Infinity;
    const list = this.#backends;
    for (let i = 0; i < list.length; i++) {
      const b = list[i]!;
      if (!b.up && !includeDown) continue;
      // −w / ln(u): ln(u) < 0, so the score is positive; larger wins. Ties (probability ~2^-52)
      // go to the earlier backend in the *sorted-by-id* sense below to stay order independent.
      const score = -b.weight / Math.log(unitScore(keyHash, b.seed));
      if (score > bestScore || (score === bestScore && best !== undefined && b.id < best.id)) {
        best = b;
        bestScore = score;
      }
    }
    return best;
  }
}

/** Convenience for callers (sipis-ctl) that hold a ring: the id of the owner, or undefined. */
export function lookup(ring: ShardRing, key: string): Backend | undefined {
  return ring.lookup(key);
}

/**
 * Parses `host:port[;weight=N][;id=NAME]` (also `[v6]:port`), the form used in flags and env.
 */
export function parseBackendSpec(text: string): BackendSpec {
  const parts = text.trim().split(';');
  const hostport = parts[0]!.trim();
  let host: string;
  let portText: string;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0 || hostport[close + 1] !== ':') throw new ShardError('ERR_SHARD_BAD_BACKEND', `bad backend ${JSON.stringify(text)}: expected [v6]:port`);
    host = hostport.slice(1, close);
    portText = hostport.slice(close + 2);
  } else {
    const colon = hostport.lastIndexOf(':');
    if (colon <= 0) throw new ShardError('ERR_SHARD_BAD_BACKEND', `bad backend ${JSON.stringify(text)}: expected host:port`);
    host = hostport.slice(0, colon);
    portText = hostport.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new ShardError('ERR_SHARD_BAD_BACKEND', `bad backend ${JSON.stringify(text)}: port must be 1-65535`);
  const spec: BackendSpec = { host, port };
  for (const p of parts.slice(1)) {
    const [k, v] = p.split('=', 2).map((s) => s.trim());
    if (k === 'weight' || k === 'w') {
      const w = Number(v);
      if (!Number.isFinite(w) || w <= 0) throw new ShardError('ERR_SHARD_BAD_WEIGHT', `bad weight in ${JSON.stringify(text)}`);
      spec.weight = w;
    } else if (k === 'id' && v) spec.id = v;
    else throw new ShardError('ERR_SHARD_BAD_BACKEND', `unknown backend parameter ${JSON.stringify(p)} in ${JSON.stringify(text)}`);
  }
  return spec;
}
