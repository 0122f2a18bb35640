/**
 * core/registrar: the device-facing registrar (RFC 3261 §10.3, RFC 8599 push parameters,
 * RFC 3327 Path, sipis-bridge flows). The call tunnel and the push client code against the
 * types here (see /work/brief-issue8.md "The contract between registrar and tunnel").
 */
export { DeviceRegistrar, DEFAULT_EXPIRY, type DeviceRegistrarOptions, type RegistrarCounters } from './registrar.js';
export type { Binding, BindingFlow, PushTarget, RegisteredInfo, RemovalReason, SourceAddress } from './types.js';
export { RegistrarError, type RegistrarErrorCode } from './errors.js';
export { StoreAccountDirectory, type AccountDirectory, type DeviceAccount } from './accounts.js';
export { parsePushParams, featureCaps, hasPushParams, SUPPORTED_PROVIDERS, type PushParamsResult, type PushParamsOptions } from './pn-params.js';
export { parseFlowHeader, BridgeTrust, deviceAddress } from './flow.js';
export { AuthGuard, DEFAULT_AUTH_GUARD, addressOf, type AuthGuardOptions } from './auth-guard.js';
export type { ExpiryPolicy } from './plan.js';
export { OPTION_TAGS, SUPPORTED_OPTIONS } from './options.js';
