/**
 * A binding as read back from the database (core/store DeviceBinding) → the in-memory Binding:
 * the flow and Path decoded from `flow_token` (flow.ts), dead tokens left out.
 */
import type { DeviceBinding } from '../store/index.js';
import { decodeStoredFlow } from './flow.js';
import type { Binding, PushTarget } from './types.js';

/** voip before remote, so a binding's targets read the same from a REGISTER and from the database. */
export const byKind = (a: PushTarget, b: PushTarget): number => (a.kind === b.kind ? 0 : a.kind === 'voip' ? -1 : 1);

/** A stored push token as the registrar and the push client know it. */
interface StoredToken {
  kind: string;
  provider: string;
  appId: string | null;
  token: string;
  pnParam: string | null;
}

/** The push targets of stored tokens (live ones: the caller leaves dead ones out), voip first; other kinds are not pushed to. */
export function pushTargetsOf(tokens: readonly StoredToken[]): PushTarget[] {
  const targets: PushTarget[] = [];
  for (const t of tokens) {
    if (t.kind !== 'voip' && t.kind !== 'remote') continue;
    const pt: PushTarget = { provider: t.provider, kind: t.kind, appId: t.appId ?? '', token: t.token };
    if (t.pnParam !== null) pt.param = t.pnParam;
    targets.push(pt);
  }
  return targets.sort(byKind);
}

/** throws RegistrarError ERR_REGISTRAR_FLOW when the stored flow does not decode. */
export function bindingFromStored(d: DeviceBinding): Binding {
  const decoded = decodeStoredFlow(d.flowToken, d.viaBridge, d.source);
  const targets = pushTargetsOf(d.pushTokens.filter((t) => t.deadAt === null));
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
