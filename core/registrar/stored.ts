/**
 * A binding as read back from the database (core/store DeviceBinding) → the in-memory Binding:
 * the flow and Path decoded from `flow_token` (flow.ts), dead tokens left out.
 */
import type { DeviceBinding } from '../store/index.js';
import { decodeStoredFlow } from './flow.js';
import type { Binding, PushTarget } from './types.js';

/** voip before remote, so a binding's targets read the same from a REGISTER and from the database. */
export const byKind = (a: PushTarget, b: PushTarget): number => (a.kind === b.kind ? 0 : a.kind === 'voip' ? -1 : 1);

/** throws RegistrarError ERR_REGISTRAR_FLOW when the stored flow does not decode. */
export function bindingFromStored(d: DeviceBinding): Binding {
  const decoded = decodeStoredFlow(d.flowToken, d.viaBridge, d.source);
  const targets: PushTarget[] = [];
  for (const t of d.pushTokens) {
    if (t.deadAt !== null || (t.kind !== 'voip' && t.kind !== 'remote')) continue;
    const pt: PushTarget = { provider: t.provider, kind: t.kind, appId: t.appId ?? '', token: t.token };
    if (t.pnParam !== null) pt.param = t.pnParam;
    targets.push(pt);
  }
  targets.sort(byKind);
  const binding: Binding = {
    id: String(d.id),
    accountId: String(d.accountId),
    instanceId: d.instanceId,
    contact: d.contact,
    path: decoded.path,
    flow: decoded.flow,
    expiresAt: d.expiresAt.getTime(),
    pushTargets: targets,
    lastSeen: d.lastSeen.getTime(),
  };
  if (d.userAgent !== null) binding.userAgent = d.userAgent;
  return binding;
}
