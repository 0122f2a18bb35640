/**
 * Errors of the shard layer, each with a stable code (the undici model: branch on `code`).
 */
import { SipStackError } from '../errors.js';

export type ShardErrorCode =
  | 'ERR_SHARD_NO_BACKENDS'
  | 'ERR_SHARD_BAD_BACKEND'
  | 'ERR_SHARD_DUPLICATE_BACKEND'
  | 'ERR_SHARD_BAD_WEIGHT'
  | 'ERR_SHARD_UNKNOWN_BACKEND'
  | 'ERR_SHARD_BAD_KEY';

export class ShardError extends SipStackError {
  declare readonly code: ShardErrorCode;
  constructor(code: ShardErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
