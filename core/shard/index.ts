/**
 * core/shard: the consistent hash sipis, sipis-bridge and sipis-ctl share.
 * `new ShardRing(backends).lookup(accountKey)` names the sipis process that owns an account.
 */
export { ShardRing, lookup, parseBackendSpec, type Backend, type BackendSpec } from './ring.js';
export { accountKeyFromHeader, accountKeyFromInput, accountKeyFromUri, keyHeaderFor, SHARD_KEY_SOURCES, type ShardKeySource } from './key.js';
export { BackendProber, PROBE_BRANCH_PREFIX, type ProbeOptions } from './probe.js';
export { ShardError, type ShardErrorCode } from './errors.js';
export { fnv1a32, fmix32, unitScore } from './hash.js';
