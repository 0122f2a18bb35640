/**
 * Branch, tag and Call-ID generation. RFC 3261 §8.1.1.7: a branch unique across space and time
 * starting with the magic cookie; §19.3: tags and Call-IDs globally unique and random enough.
 * A random per-process prefix plus a counter gives uniqueness at the cost of an integer-to-string
 * conversion per id, instead of a crypto call per message.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

export const MAGIC_COOKIE = 'z9hG4bK';

const prefix = randomBytes(6).toString('base64url');
let counter = Math.floor(Math.random() * 0x10000);

/** Random bytes drawn from one 4 KiB buffer refilled when used up: one crypto call per 1024 tags. */
const pool = Buffer.alloc(4096);
let poolPos = pool.length;

/** The offset of `n` unused random bytes in the pool (refilled first when fewer are left). */
function take(n: number): number {
  if (poolPos + n > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const at = poolPos;
  poolPos += n;
  return at;
}

function random32(): number {
  return pool.readUInt32LE(take(4));
}

export function newBranch(): string {
  return `${MAGIC_COOKIE}${prefix}${(++counter).toString(36)}`;
}

/** A To/From tag: 32 random bits (§19.3) and a counter, unique within this process. */
export function newTag(): string {
  return `${random32().toString(36)}${(++counter).toString(36)}`;
}

/**
 * 72 random bits and a counter. From the pool too: randomBytes per call was a crypto call and an
 * ArrayBuffer of its own per call, which every scavenge then sweeps.
 */
export function newCallId(host?: string): string {
  const at = take(9);
  const id = `${pool.toString('base64url', at, at + 9)}${(++counter).toString(36)}`;
  return host ? `${id}@${host}` : id;
}
