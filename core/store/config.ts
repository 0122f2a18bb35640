/**
 * The store's configuration names, shared by sipis and sipis-ctl so both read the same
 * environment: the database URL and the keyring that encrypts account passwords at rest.
 *
 * Keyring text (env `SIPIS_SECRET_KEY`, or a file named by `--key-file` / `SIPIS_SECRET_KEY_FILE`):
 * entries `<key-id>:<base64 of 32 random bytes>` separated by commas or new lines; the FIRST entry
 * is the current key (new secrets are encrypted with it), the others only decrypt older rows until
 * `sipis-ctl db rotate-key` re-encrypts them. Lines starting with `#` are comments.
 * Generate one with `sipis-ctl db gen-key --id k1`.
 */
import { readFileSync } from 'node:fs';
import { StoreError } from './errors.js';

export const ENV_DB_URL = 'SIPIS_DB_URL';
/** fallback for the URL, the name most hosting platforms set. */
export const ENV_DB_URL_FALLBACK = 'DATABASE_URL';
export const ENV_SECRET_KEY = 'SIPIS_SECRET_KEY';
export const ENV_SECRET_KEY_FILE = 'SIPIS_SECRET_KEY_FILE';

export const KEY_BYTES = 32;
const KEY_ID_RE = /^[A-Za-z0-9_.-]{1,32}$/;

export interface Keyring {
  /** id of the key new secrets are encrypted with. */
  currentKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

/**
 * Parses keyring text. Error messages name the entry by position and id only: the key
 * material never appears in an error or a log.
 */
export function parseKeyring(text: string, source = 'keyring'): Keyring {
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!entries.length) throw new StoreError('STORE_KEY', `${source}: no key entries (expected "<key-id>:<base64 32 bytes>")`);
  const keys = new Map<string, Buffer>();
  let currentKeyId = '';
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    if (colon <= 0) throw new StoreError('STORE_KEY', `${source}: entry ${i + 1} is not "<key-id>:<base64>"`);
    const id = entry.slice(0, colon);
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID_RE.test(id)) throw new StoreError('STORE_KEY', `${source}: entry ${i + 1} has an invalid key id (letters, digits, _ . - up to 32)`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new StoreError('STORE_KEY', `${source}: key "${id}" is not base64`);
    const key = Buffer.from(b64, 'base64');
    if (key.length !== KEY_BYTES) throw new StoreError('STORE_KEY', `${source}: key "${id}" is ${key.length} bytes, expected ${KEY_BYTES}`);
    if (keys.has(id)) throw new StoreError('STORE_KEY', `${source}: key id "${id}" appears twice`);
    keys.set(id, key);
    if (i === 0) currentKeyId = id;
  });
  return { currentKeyId, keys };
}

export function formatKeyEntry(id: string, key: Buffer): string {
  return `${id}:${key.toString('base64')}`;
}

export interface StoreEnvConfig {
  url: string | undefined;
  keyring: Keyring | undefined;
}

/**
 * Reads the URL and keyring: explicit values first (command-line flags), then the environment.
 * A key file wins over the env key when both are given.
 */
export function loadStoreConfig(
  opts: { url?: string; keyFile?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): StoreEnvConfig {
  const url = opts.url ?? env[ENV_DB_URL] ?? env[ENV_DB_URL_FALLBACK];
  const keyFile = opts.keyFile ?? env[ENV_SECRET_KEY_FILE];
  let keyring: Keyring | undefined;
  if (keyFile) {
    let text: string;
    try {
      text = readFileSync(keyFile, 'utf8');
    } catch (err) {
      throw new StoreError('STORE_KEY', `cannot read key file ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    keyring = parseKeyring(text, `key file ${keyFile}`);
  } else if (env[ENV_SECRET_KEY]) {
    keyring = parseKeyring(env[ENV_SECRET_KEY], ENV_SECRET_KEY);
  }
  return { url: url || undefined, keyring };
}
