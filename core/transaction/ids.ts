/**
 * Branch, tag and Call-ID generation. RFC 3261 §8.1.1.7: a branch unique across space and time
 * starting with the magic cookie; §19.3: tags and Call-IDs globally unique and random enough.
 * A random per-process prefix plus a counter gives uniqueness at the cost of an integer-to-string
 * conversion per id, instead of a crypto call per message.
 */
import { randomBytes } from 'node:crypto';

export const MAGIC_COOKIE = 'z9hG4bK';

const prefix = randomBytes(6).toString('base64url');
let counter = Math.floor(Math.random() * 0x10000);

export function newBranch(): string {
  return `${MAGIC_COOKIE}${prefix}${(++counter).toString(36)}`;
}

/** A To/From tag: random, so it also distinguishes restarts of this process. */
export function newTag(): string {
  return `${prefix.slice(0, 4)}${randomBytes(4).toString('hex')}${(++counter).toString(36)}`;
}

export function newCallId(host?: string): string {
  const id = `${randomBytes(9).toString('base64url')}${(++counter).toString(36)}`;
  return host ? `${id}@${host}` : id;
}
