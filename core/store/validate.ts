/**
 * Input checks for provisioning, the same rules as the CHECK constraints of the schema but with
 * messages a person can act on. Deliberately small: a SIP or SIPS URI (RFC 3261 §19.1.1) with a
 * user part for an AOR, without for a registrar or proxy; the full grammar is core/sip's job.
 */
import { accountKeyFromUri } from '../shard/key.js';
import { StoreError } from './errors.js';

export type Transport = 'udp' | 'tcp' | 'tls';
export const TRANSPORTS: readonly Transport[] = ['udp', 'tcp', 'tls'];

const AOR_RE = /^(sips?):([^@\s;?>]+)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/i;
const SERVER_URI_RE = /^(sips?):(?:[^@\s;?>]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(;[^\s?>]*)?$/i;

export interface ParsedAor {
  /** the AOR with scheme and host in lower case (they compare case-insensitively, §19.1.4). */
  aor: string;
  user: string;
  host: string;
}

export function parseAor(text: string): ParsedAor {
  const m = AOR_RE.exec(text.trim());
  if (!m) throw new StoreError('STORE_INVALID', `invalid AOR "${clip(text)}": expected sip:user@domain`);
  const port = m[4] ?? '';
  if (port && Number(port.slice(1)) > 65535) throw new StoreError('STORE_INVALID', `invalid AOR "${clip(text)}": port out of range`);
  const host = m[3]!.toLowerCase();
  return { aor: `${m[1]!.toLowerCase()}:${m[2]}@${host}${port}`, user: m[2]!, host };
}

/** registrar or outbound proxy: sip:host[:port][;params], scheme and host lower-cased. */
export function normalizeServerUri(text: string, what: string): string {
  const m = SERVER_URI_RE.exec(text.trim());
  if (!m) throw new StoreError('STORE_INVALID', `invalid ${what} URI "${clip(text)}": expected sip:host[:port]`);
  const port = m[3] ?? '';
  if (port && Number(port.slice(1)) > 65535) throw new StoreError('STORE_INVALID', `invalid ${what} URI "${clip(text)}": port out of range`);
  const t = text.trim();
  const colon = t.indexOf(':');
  return t.slice(0, colon).toLowerCase() + t.slice(colon);
}

export function checkTransport(t: string): Transport {
  const v = t.toLowerCase();
  if (!(TRANSPORTS as readonly string[]).includes(v)) throw new StoreError('STORE_INVALID', `invalid transport "${clip(t)}": expected udp, tcp or tls`);
  return v as Transport;
}

export function checkExpires(n: number): number {
  if (!Number.isInteger(n) || n < 30 || n > 604800) throw new StoreError('STORE_INVALID', `invalid expires ${n}: an integer from 30 to 604800 seconds`);
  return n;
}

/**
 * The account's shard key, as core/shard computes it for the bridge (user@host, host
 * lower-cased, user as written) and as the SQL function sipis_shard_key() stores it.
 */
export function shardKeyOf(aor: string): string {
  return accountKeyFromUri(aor);
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
