/**
 * Account passwords at rest: AES-256-GCM with a 12-byte random IV (NIST SP 800-38D §8.2.2) and
 * a 16-byte tag. Stored value = iv || tag || ciphertext, plus the key id in its own column so
 * decryption picks the right key and rotation can find rows still under an old key.
 * The additional authenticated data binds a ciphertext to its key id, so a row whose key-id
 * column was edited fails to decrypt instead of decrypting garbage.
 *
 * Errors never contain the plaintext, the key or the ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './config.js';
import { StoreError } from './errors.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGO = 'aes-256-gcm';

function aad(keyId: string): Buffer {
  return Buffer.from(`sipis/password/v1/${keyId}`, 'utf8');
}

export interface SealedSecret {
  enc: Buffer;
  keyId: string;
}

export function encryptSecret(keyring: Keyring, plaintext: string): SealedSecret {
  const keyId = keyring.currentKeyId;
  const key = keyring.keys.get(keyId);
  if (!key) throw new StoreError('STORE_KEY', `current key id "${keyId}" is not in the keyring`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGO, key, iv);
  cipher.setAAD(aad(keyId));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { enc: Buffer.concat([iv, cipher.getAuthTag(), body]), keyId };
}

export function decryptSecret(keyring: Keyring, enc: Buffer, keyId: string): string {
  const key = keyring.keys.get(keyId);
  if (!key) throw new StoreError('STORE_DECRYPT', `no key with id "${keyId}" in the keyring`);
  if (enc.length < IV_BYTES + TAG_BYTES) throw new StoreError('STORE_DECRYPT', 'stored secret is truncated');
  try {
    const decipher = createDecipheriv(ALGO, key, enc.subarray(0, IV_BYTES));
    decipher.setAAD(aad(keyId));
    decipher.setAuthTag(enc.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(enc.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    // node's message ("Unsupported state or unable to authenticate data") is safe, but we do not
    // chain the cause: nothing from inside the cipher should travel with this error.
    throw new StoreError('STORE_DECRYPT', `stored secret failed authentication with key "${keyId}" (wrong key or tampered data)`);
  }
}

export function generateKey(): Buffer {
  return randomBytes(32);
}
