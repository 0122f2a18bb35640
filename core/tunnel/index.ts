/**
 * core/tunnel: the incoming-call relay (a B2BUA without media, DESIGN.md flow 4), text messages
 * store-and-forward (flow 5), and the relay of the phones' own requests to the provider.
 */
export { Tunnel, createTunnel, attachTunnel } from './tunnel.js';
export { TunnelError, type TunnelErrorCode } from './errors.js';
export { DEFAULT_TUNNEL_CONFIG, type TunnelAccounts, type TunnelBinding, type TunnelConfig, type TunnelCounters, type TunnelDeps, type TunnelPush, type TunnelRegistrar, type TunnelStore, type BindingRemovalReason } from './types.js';
export { PUSH_STATUS_HEADER, REASON_HEADER, pushDelivered } from './incoming.js';
export { CALL_ID_HEADER } from './invite.js';
export { MESSAGE_ID_HEADER } from './messages.js';
export { COMPLETED_ELSEWHERE, isCompletedElsewhere } from './headers.js';
export { SetupTime, SETUP_BUCKETS_S } from './setup-time.js';
export { tunnelPush } from './push.js';
export { DeviceAuth, DEVICE_AUTH_SCOPES, type DeviceAuthOptions, type DeviceAuthScope } from './device-auth.js';
