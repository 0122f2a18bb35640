/**
 * core/store: PostgreSQL through pg-native (async API only). A leaf layer: it imports nothing
 * from the SIP stack, and the upstream engine, registrar and tunnel import it.
 */
export { Store, type StoreOptions, type StoreStatus, type AccountChangeEvent } from './store.js';
export { StoreError, isStoreError, type StoreErrorCode } from './errors.js';
export { Pool, type PoolOptions, type Queryable } from './pool.js';
export { PgConnection, type SqlParam } from './connection.js';
export { migrate, schemaVersion, type MigrateResult } from './migrate.js';
export { migrations, latestVersion, type Migration } from './migrations/index.js';
export {
  ENV_DB_URL,
  ENV_DB_URL_FALLBACK,
  ENV_SECRET_KEY,
  ENV_SECRET_KEY_FILE,
  loadStoreConfig,
  parseKeyring,
  formatKeyEntry,
  type Keyring,
  type StoreEnvConfig,
} from './config.js';
export { encryptSecret, decryptSecret, generateKey, type SealedSecret } from './crypto.js';
export { AccountStore, type Account, type AccountInput, type AccountPatch, type ListOptions, type Page } from './accounts.js';
export {
  RegistrationStore,
  REGISTRATION_STATES,
  type RegistrationState,
  type RegistrationStateName,
  type AccountWithRegistration,
} from './registrations.js';
export { DeviceStore, type BindingInput, type DeviceBinding, type PushToken, type PushTokenInput } from './devices.js';
export {
  CleanupStore,
  type CleanupAges,
  type CleanupCandidate,
  type CandidatePage,
  type CleanupToken,
  type WarnedDevice,
  type RemovedDevice,
  type WarnedAccount,
  type SwitchedOffAccount,
  type AccountDevice,
  type SwitchedOffSummary,
} from './cleanup.js';
export { MessageStore, type MessageInput, type StoredMessage, type CallOutcome, type PendingCallInput, type MissedCall } from './messages.js';
export { AccountChangeListener, ACCOUNT_CHANNEL, type AccountChange, type ResyncReason } from './listener.js';
export { parseAor, normalizeServerUri, shardKeyOf, checkTransport, TRANSPORTS, type Transport } from './validate.js';
