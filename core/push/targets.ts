/**
 * Which of a device's tokens a push goes to. iOS 13+ devices hold a PushKit (voip) token that
 * may only carry pushes CallKit reports as calls, and a remote token for the rest; FCM devices
 * hold one token ('remote') that carries everything.
 */
import type { Binding, PushTarget } from '../registrar/types.js';
import { CALL_VERBS, VOIP_VERBS, type PushVerb } from './protocol.js';

export function pickTarget(targets: readonly PushTarget[], verb: PushVerb): PushTarget | undefined {
  const voip = targets.find((t) => t.kind === 'voip');
  const remote = targets.find((t) => t.kind === 'remote');
  if (CALL_VERBS.has(verb)) return voip ?? remote;
  if (remote) return remote;
  // The mediator refuses anything else to a VoIP token: not sent at all.
  return voip && VOIP_VERBS.has(verb) ? voip : undefined;
}

export function isBinding(x: Binding | PushTarget): x is Binding {
  return (x as Binding).pushTargets !== undefined;
}
