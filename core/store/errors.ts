/**
 * Typed errors of the store layer. Callers branch on `code` and on `retryable`:
 * a retryable error means "nothing is known to have changed, or the write was an idempotent
 * upsert: try again later"; a non-retryable one needs a different request.
 */
import { SipStackError } from '../errors.js';

export type StoreErrorCode =
  /** no connection to PostgreSQL right now (down, restarting, queue full, wait deadline passed). */
  | 'STORE_UNAVAILABLE'
  /** a query took longer than its deadline; its connection was dropped. */
  | 'STORE_TIMEOUT'
  /** the statement lost a race (deadlock, serialization failure, lock timeout): run it again. */
  | 'STORE_BUSY'
  /** the store was closed. */
  | 'STORE_CLOSED'
  /** PostgreSQL rejected the statement (syntax, constraint, …); `sqlState` says which. */
  | 'STORE_QUERY'
  /** a unique key already exists (duplicate AOR, …). */
  | 'STORE_CONFLICT'
  /** the row asked for does not exist. */
  | 'STORE_NOT_FOUND'
  /** the input does not fit the schema (bad SIP URI, transport, expiry). */
  | 'STORE_INVALID'
  /** the schema is older or newer than this code knows; or a migration failed. */
  | 'STORE_SCHEMA'
  /** the secret-key configuration is missing or malformed. */
  | 'STORE_KEY'
  /** a stored secret could not be decrypted (wrong key, unknown key id, tampered data). */
  | 'STORE_DECRYPT';

const RETRYABLE = new Set<StoreErrorCode>(['STORE_UNAVAILABLE', 'STORE_TIMEOUT', 'STORE_BUSY']);

export class StoreError extends SipStackError {
  declare readonly code: StoreErrorCode;
  /** PostgreSQL SQLSTATE when the server reported the error. */
  readonly sqlState: string | undefined;
  readonly retryable: boolean;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; sqlState?: string }) {
    super(code, message, options);
    this.sqlState = options?.sqlState;
    this.retryable = RETRYABLE.has(code);
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
