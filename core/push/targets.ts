/**
 * Which of a device's tokens a push goes to. iOS 13+ devices hold a PushKit (voip) token that
 * may only carry pushes CallKit reports as calls, and a remote token for the rest; FCM devices
 * hold one token ('remote') that carries everything.
 */
import type { Binding, PushTarget } from '../registrar/types.js';
import { CALL_VERBS, type PushVerb } from './protocol.js';

/**
 * Verbs a VoIP token may carry: the call and the two that end it (the app reports and ends the
 * call). Mirrors the mediator's rule (mediator/apns-payload.ts): anything else to a voip token
 * is refused there, so we do not send it.
 */
const VOIP_ALLOWED: ReadonlySet<PushVerb> = new Set<PushVerb>(['NotifyIncomingCall', 'NotifyIncomingCallMissed', 'NotifyIncomingCallAnsweredElsewhere']);

export function pickTarget(targets: readonly PushTarget[], verb: PushVerb): PushTarget | undefined {
  const voip = targets.find((t) => t.kind === 'voip');
  const remote = targets.find((t) => t.kind === 'remote');
  if (CALL_VERBS.has(verb)) return voip ?? remote;
  if (remote) return remote;
  return voip && VOIP_ALLOWED.has(verb) ? voip : undefined;
}

export function isBinding(x: Binding | PushTarget): x is Binding {
  return (x as Binding).pushTargets !== undefined;
}
