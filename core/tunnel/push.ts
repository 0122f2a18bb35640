/**
 * The tunnel's view of core/push's PushClient. The tunnel hands back to `send` exactly the
 * binding objects the registrar gave it (core/registrar `Binding`s, which `TunnelBinding`
 * describes only in part), so the conversion below is a narrowing of what already is a Binding.
 */
import type { PushClient } from '../push/index.js';
import type { Binding } from '../registrar/index.js';
import type { TunnelPush } from './types.js';

export function tunnelPush(client: PushClient): TunnelPush {
  return {
    sendToAccount: (verb, accountId, payload) => client.sendToAccount(verb, accountId, payload as never),
    send: (verb, binding, payload) => client.send(verb, binding as unknown as Binding, payload as never),
  };
}
