/**
 * Errors of the sipis server wiring (config, start-up), each with a stable code.
 */
import { SipStackError } from '../errors.js';

export type ServerErrorCode =
  /** a config value is missing or invalid; `field` names it. */
  | 'ERR_CONFIG_INVALID'
  /** the config file could not be read or is not JSON. */
  | 'ERR_CONFIG_FILE'
  /** a command-line usage error (unknown flag, missing value): exit 2. */
  | 'ERR_USAGE'
  /** the database could not be reached or migrated at start-up. */
  | 'ERR_STARTUP_DB'
  /** a listen address could not be bound. */
  | 'ERR_STARTUP_LISTEN';

export class ServerError extends SipStackError {
  declare readonly code: ServerErrorCode;
  /** the config field at fault, e.g. `upstream.registerRate`. */
  readonly field: string | undefined;
  constructor(code: ServerErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(code, message, options);
    this.field = options?.field;
  }
}
