/**
 * The incoming call (DESIGN.md flow 4): an INVITE from the provider for an account.
 *
 * 1. 100 Trying at once (the push and the wake-up take seconds; §17.2.1 lets us send it now).
 * 2. Devices reachable now get our INVITE at once. "Reachable now" (TunnelConfig): an unexpired
 *    binding that either has no push target (nothing else can wake it, so it must be awake) or
 *    registered within `reachableWindowMs` (a phone in the foreground refreshes often; one
 *    that went quiet is probably suspended). A wrong guess is cheap: when our INVITE to it ends
 *    with 408 (no answer), 430 (RFC 5626 §5.3: the bridge lost the flow) or 503 (transport),
 *    the call falls back to a push, and 430 also drops the binding. A reachable device that has a
 *    push target and gave no provisional response within `reachableGraceMs` is pushed too (a
 *    dead TCP flow behind the bridge is only noticed by Timer B, 32 s later).
 * 3. Otherwise (and for every asleep device with a push token) `NotifyIncomingCall` to every
 *    device of the account, and 180 with `X-Sipis-Push-Status: Alerting-Device`; then
 *    `Push-Notification-Sent` once the mediator confirmed a delivery.
 * 4. The device's REGISTER is its readiness: 180 `Device-Making-Progress`, then our INVITE to
 *    that binding. Responses, in-dialog requests and ACKs are relayed (call.ts, relay.ts).
 * 5. No device answered within `readinessTimeoutMs` → 480 with
 *    `X-Sipis-Reason: No-Response-From-Device`; sooner, with `Push-Failed` or
 *    `No-Device-To-Alert`, once nothing can reach the user (giveUpIfHopeless). The caller's CANCEL → 487, CANCEL to every
 *    ringing device, and a `NotifyIncomingCallMissed` push, or `…AnsweredElsewhere` when the
 *    CANCEL says `Reason: SIP;cause=200` (RFC 3326). Missed calls are written to the store.
 */
import { randomUUID } from 'node:crypto';
import type { Dialog } from '../dialog/index.js';
import type { SipMessage } from '../sip/index.js';
import { ChurnMap, ExpiryQueue, type InviteServerTransaction, type WheelTimer } from '../transaction/index.js';
import type { CallOutcome } from '../store/messages.js';
import { BridgedCall, type CallHooks, type Leg } from './call.js';
import { bindingHint, bindingTarget, contactFor, forgetDialog, registerPair, setDialogEntry, type TunnelContext } from './context.js';
import { COMPLETED_ELSEWHERE, isCompletedElsewhere } from './headers.js';
import { buildLegRequest, CALL_ID_HEADER } from './invite.js';
import { relayedResponse } from './relay.js';
import { reachableNow, type TunnelBinding } from './types.js';

export const PUSH_STATUS_HEADER = 'X-Sipis-Push-Status';
export const REASON_HEADER = 'X-Sipis-Reason';

/** Failures that mean "the device cannot be reached this way", not "the user said no". */
const UNREACHABLE = new Set([408, 430, 503]);
const DECLINED = new Set([486, 600, 603]);

/**
 * What the long-lived maps below hold for a call: a cell emptied when the call ends, never the
 * call's state itself. V8 keeps the entries of a Map's hash table after replacing the table (it
 * rehashes every few insertions when entries come and go, and an old-generation table's
 * replacement is old too), and the scavenger takes every old-to-young pointer as a root until
 * the next full GC. A discarded table that pointed at a call in flight would keep the call's
 * whole graph (legs, dialogs, messages) alive and promote it: that was 85 % of all calls at 500
 * calls/s, ~10 KB each (bench/tunnel/gc.bench.ts). An emptied cell holds nothing.
 */
interface Held {
  st: IncomingState | undefined;
}

interface IncomingState {
  call: BridgedCall;
  held: Held;
  /** the caller (From URI and display name) for the pushes, kept apart from the INVITE the call lets go when it ends. */
  callerUri: string;
  callerName: string | undefined;
  pushed: boolean;
  /** device instances pushed for this call (per-device pushes); made on the first push. */
  pushedTo: Set<string> | undefined;
  /** Push-Notification-Sent was sent. */
  confirmed: boolean;
  /** pushes of this call not settled yet, and whether any was delivered (see giveUpIfHopeless). */
  pushesPending: number;
  delivered: boolean;
  /** a device got in touch (registered) or a leg rang: no more push status 180s. */
  progress: boolean;
  /** the readiness timeout is pending (it runs in IncomingCalls.readiness, which is never cancelled). */
  armed: boolean;
  /** reachableGraceMs timer, while "reachable" devices with push targets have not answered. */
  grace: WheelTimer | null;
  timedOut: boolean;
  /** the latest leg per device instance. */
  legs: Map<string, Leg>;
  dialogs: Dialog[];
  /** store writes for this call, in order (start, then finish); undefined until the first. */
  db: Promise<unknown> | undefined;
  startedAt: number;
  /** Call-ID, From tag and CSeq of the caller's INVITE (see IncomingCalls.byRequest). */
  requestKey: string;
}

/** At least one push delivered? Accepts the push client's result shapes (types.ts TunnelPush). */
export function pushDelivered(r: unknown): boolean {
  if (Array.isArray(r)) return r.some((x) => pushDelivered(x));
  if (typeof r !== 'object' || r === null) return false;
  const o = r as { outcome?: unknown; delivered?: unknown; result?: unknown };
  if (o.outcome === 'delivered') return true;
  // core/push PushClient.sendToAccount: [{ binding, result: { outcome } }]
  if (o.result !== undefined) return pushDelivered(o.result);
  return typeof o.delivered === 'number' && o.delivered > 0;
}

export class IncomingCalls implements CallHooks {
  /** by call id (a string key: a call as key would be kept by a discarded table too, see Held). */
  private readonly states = new ChurnMap<string, Held>();
  private readonly byTx = new ChurnMap<InviteServerTransaction, Held>();
  /** calls waiting for a device of the account. */
  private readonly waiting = new ChurnMap<string, Set<Held>>();
  /**
   * Calls by their INVITE's Call-ID, From tag and CSeq, until they end. The same INVITE arriving
   * again over another path (a new branch, so a new server transaction) is a merged request: RFC
   * 3261 §8.2.2.2 answers it 482 Loop Detected instead of ringing and pushing the phones twice.
   */
  private readonly byRequest = new ChurnMap<string, Held>();

  /**
   * Readiness timeouts (2 min by default) of the calls waiting for a device: batched per wheel
   * tick and holding only each call's Held cell, so a call that ends early leaves nothing behind
   * (core/transaction/expiry.ts says why a wheel timer per call promoted every call's graph).
   */
  private readonly readiness: ExpiryQueue<Held>;

  constructor(private readonly ctx: TunnelContext) {
    this.readiness = new ExpiryQueue<Held>(ctx.layer.wheel, (h) => {
      const st = h.st;
      if (st?.armed) this.timeout(st);
    });
  }

  get size(): number {
    return this.states.size;
  }

  handleInvite(tx: InviteServerTransaction, req: SipMessage, accountId: string): void {
    const ctx = this.ctx;
    if (!ctx.deps.accounts.get(accountId)) {
      tx.reply(404, 'Not Found');
      return;
    }
    if (req.maxForwards === 0) {
      tx.reply(483, 'Too Many Hops');
      return;
    }
    if (!req.from.tag) {
      tx.reply(400, 'Missing From Tag');
      return;
    }
    const requestKey = `${req.cseq.seq} ${req.from.tag} ${req.callId}`;
    if (this.byRequest.has(requestKey)) {
      tx.reply(482, 'Loop Detected');
      return;
    }
    // 100 Trying now (§17.2.1), unless the transaction layer already sent it (timers.trying = 0)
    if (tx.lastStatus === 0) tx.reply(100, 'Trying');
    ctx.counters.callsIn++;
    const call = new BridgedCall(randomUUID(), accountId, tx, contactFor(ctx, accountId, tx.remote), undefined, ctx.layer, ctx.dialogs, ctx.counters, this, ctx.log);
    const held: Held = { st: undefined };
    const st: IncomingState = { call, held, callerUri: req.from.uri.raw, callerName: req.from.displayName ?? undefined, pushed: false, pushedTo: undefined, confirmed: false, pushesPending: 0, delivered: false, progress: false, armed: true, grace: null, timedOut: false, legs: new Map(), dialogs: [], db: undefined, startedAt: performance.now(), requestKey };
    held.st = st;
    this.states.set(call.id, held);
    this.byRequest.set(requestKey, held);
    this.byTx.set(tx, held);
    let set = this.waiting.get(accountId);
    if (!set) this.waiting.set(accountId, (set = new Set()));
    set.add(held);
    this.db(st, (s) => s.startPendingCall({ callId: call.id, accountId: Number(accountId), fromUri: req.from.uri.raw, fromDisplay: req.from.displayName ?? null }));
    // up to 1 % (at most 1 s) late: one batch a second for the default 2 minutes, not 100
    this.readiness.add(held, ctx.config.readinessTimeoutMs, Math.min(1000, ctx.config.readinessTimeoutMs / 100));

    const now = ctx.now();
    const bindings = ctx.deps.registrar.bindingsOf(accountId);
    let asleepWithPush = false;
    let awakeWithPush = false;
    for (const b of bindings) {
      if (this.reachable(b, now)) {
        this.invite(st, b);
        if (b.pushTargets.length > 0) awakeWithPush = true;
      } else if (b.pushTargets.length > 0) asleepWithPush = true;
    }
    const pushing = st.legs.size === 0 || asleepWithPush;
    ctx.log?.info({ call: call.id, account: accountId, sipCallId: req.callId, devices: bindings.length, invited: st.legs.size, push: pushing }, 'incoming call');
    if (pushing) this.push(st);
    else if (awakeWithPush && ctx.config.reachableGraceMs > 0) {
      st.grace = ctx.layer.wheel.schedule(ctx.config.reachableGraceMs, () => {
        st.grace = null;
        if (call.pending && !call.answered && !call.legs.some((l) => l.state === 'early')) this.push(st, 'unanswered');
      });
    }
  }

  /** Did `b` register on another flow (or contact) than the one `leg` was sent to? */
  private moved(leg: Leg, b: TunnelBinding): boolean {
    const old = leg.binding;
    return !old || old.contact !== b.contact || old.flow.via !== b.flow.via || old.flow.flowId !== b.flow.flowId || old.path.join() !== b.path.join();
  }

  /** see the file comment, step 2. */
  reachable(b: TunnelBinding, now: number): boolean {
    return reachableNow(b, now, this.ctx.config.reachableWindowMs);
  }

  /** A device registered: readiness for every call of its account still waiting. */
  onRegistered(b: TunnelBinding): void {
    const set = this.waiting.get(b.accountId);
    if (!set) return;
    for (const h of [...set]) {
      const st = h.st;
      if (!st) continue;
      const call = st.call;
      if (!call.pending || call.answered) continue;
      const prev = st.legs.get(b.instanceId);
      if (prev?.alive) {
        // the same device on the same flow: it re-registered while our INVITE is on its way
        if (prev.state === 'early' || !this.moved(prev, b)) continue;
        // on a new flow: the INVITE on the old one will never arrive; send it on the new one
        call.cancelLegs(undefined, undefined, prev);
      } else if (prev && !UNREACHABLE.has(prev.finalStatus)) continue;
      if (st.pushed && !st.progress) call.provisional(180, 'Ringing', [[PUSH_STATUS_HEADER, 'Device-Making-Progress']]);
      st.progress = true;
      this.invite(st, b);
    }
  }

  /** The caller's CANCEL (the layer answered it 200). */
  cancel(cancel: SipMessage, tx: InviteServerTransaction): boolean {
    const st = this.byTx.get(tx)?.st;
    if (!st) return false;
    const call = st.call;
    if (!call.pending) return true;
    const elsewhere = isCompletedElsewhere(cancel.header('Reason'));
    call.fail(487, 'Request Terminated', [], elsewhere ? COMPLETED_ELSEWHERE : undefined);
    this.outcome(st, elsewhere ? 'answered-elsewhere' : 'missed');
    return true;
  }

  close(): void {
    for (const h of this.states.values()) if (h.st) this.stopWaiting(h.st);
    this.states.clear();
    this.readiness.clear();
    this.byTx.clear();
    this.byRequest.clear();
    this.waiting.clear();
  }

  // ---- CallHooks ----------------------------------------------------------------------------

  legFailed(call: BridgedCall, leg: Leg, status: number, res: SipMessage | undefined): void {
    const st = this.states.get(call.id)?.st;
    if (!st || !call.pending) return;
    const b = leg.binding;
    if (UNREACHABLE.has(status) && b) {
      // not reachable after all: wake the devices (this one first: the binding object still
      // holds its push tokens) and wait for a REGISTER (or the timeout)
      this.push(st, 'asleep', b);
      if (status === 430) void this.ctx.deps.registrar.removeBinding(b.id, 'flow-failed').catch(() => undefined);
      if (st.timedOut && !call.anyAlive()) this.noResponse(st);
      else this.giveUpIfHopeless(st);
      return;
    }
    if (call.anyAlive()) return; // other devices still ringing
    // the user (or the device) answered no: relay its answer, status and reason, to the caller
    if (res) call.inbound.respond(relayedResponse(call.inbound, res, undefined));
    else call.inbound.reply(480, 'Temporarily Unavailable', { headers: [[REASON_HEADER, 'No-Response-From-Device']] });
    call.finish();
    this.outcome(st, DECLINED.has(status) ? 'answered' : 'failed');
  }

  answered(call: BridgedCall, _leg: Leg): void {
    const st = this.states.get(call.id)?.st;
    if (!st) return;
    this.ctx.counters.callsAnswered++;
    const setupMs = performance.now() - st.startedAt;
    this.ctx.setupTime.observe(setupMs);
    this.ctx.log?.info({ call: call.id, account: call.accountId, setupMs: Math.round(setupMs) }, 'incoming call answered');
    this.stopWaiting(st);
    registerPair(this.ctx, call.pair!, () => call.finish());
    this.db(st, (s) => s.finishPendingCall(call.id, 'answered'));
    // the early dialogs that lost are no longer needed
    for (const d of st.dialogs) if (d !== call.pair!.a.dialog && d !== call.pair!.b.dialog) forgetDialog(this.ctx, d);
    st.dialogs.length = 0;
  }

  ended(call: BridgedCall): void {
    const st = this.states.get(call.id)?.st;
    if (!st) return;
    this.stopWaiting(st);
    this.states.delete(call.id);
    this.byTx.delete(call.inbound);
    this.byRequest.delete(st.requestKey);
    // unpaired dialogs: all of them when the call was never answered, else those of a fork that
    // answered late (ACKed and ended with BYE, call.ts ackAndBye)
    for (const d of st.dialogs) forgetDialog(this.ctx, d);
    st.held.st = undefined;
    st.dialogs.length = 0;
  }

  dialogCreated(call: BridgedCall, d: Dialog): void {
    setDialogEntry(this.ctx, d.key, { call });
    this.states.get(call.id)?.st?.dialogs.push(d);
  }

  // ---- steps --------------------------------------------------------------------------------

  private invite(st: IncomingState, b: TunnelBinding): void {
    const ctx = this.ctx;
    const call = st.call;
    const contact = contactFor(ctx, call.accountId, bindingHint(b));
    let invite: SipMessage;
    try {
      invite = buildLegRequest({ original: call.request, requestUri: b.contact, route: b.path, contact, headers: [[CALL_ID_HEADER, call.id]] });
    } catch (err) {
      ctx.log?.warn({ err, binding: b.id }, 'cannot build the INVITE for a device');
      return;
    }
    st.legs.set(b.instanceId, call.addLeg(invite, contact, bindingTarget(b), b));
  }

  /**
   * `NotifyIncomingCall` to the devices that need waking: the ones not invited at once
   * (`asleep`), plus the device whose INVITE just failed (`failed`: its binding may be on its
   * way out, the object still holds the tokens), or, when the grace expired, every device that
   * has not answered our INVITE with a provisional yet (`unanswered`).
   * Each device is pushed once per call. Without a per-device `send` on the push client, one
   * `sendToAccount` (every device) is all we can do.
   */
  private push(st: IncomingState, which: 'asleep' | 'unanswered' = 'asleep', failed?: TunnelBinding): void {
    const ctx = this.ctx;
    const call = st.call;
    const push = ctx.deps.push;
    const first = !st.pushed;
    let targets: TunnelBinding[] = [];
    if (push.send) {
      if (failed && failed.pushTargets.length > 0 && !st.pushedTo?.has(failed.instanceId)) targets.push(failed);
      for (const b of ctx.deps.registrar.bindingsOf(call.accountId)) {
        if (b.instanceId === failed?.instanceId) continue;
        if (b.pushTargets.length === 0 || st.pushedTo?.has(b.instanceId)) continue;
        const leg = st.legs.get(b.instanceId);
        if (which === 'asleep' ? leg !== undefined : leg?.state === 'early' || leg?.state === 'answered') continue;
        targets.push(b);
      }
      if (targets.length === 0) {
        // nobody to wake: no Alerting-Device (it says a push is under way, and none is)
        this.giveUpIfHopeless(st);
        return;
      }
    } else if (!first) return;
    st.pushed = true;
    if (first) call.provisional(180, 'Ringing', [[PUSH_STATUS_HEADER, 'Alerting-Device']]);
    const payload: Record<string, unknown> = { callId: call.id, callerUri: st.callerUri };
    if (st.callerName) payload.callerName = st.callerName;
    const sends: Array<Promise<unknown>> = [];
    const sendOne = (f: () => Promise<unknown>): void => {
      ctx.counters.pushesSent++;
      st.pushesPending++;
      try {
        sends.push(f());
      } catch (err) {
        sends.push(Promise.reject(err));
      }
    };
    if (push.send) {
      for (const b of targets) {
        (st.pushedTo ??= new Set()).add(b.instanceId);
        sendOne(() => push.send!('NotifyIncomingCall', b, payload));
      }
    } else sendOne(() => push.sendToAccount('NotifyIncomingCall', call.accountId, payload));
    targets = [];
    for (const p of sends) {
      p.then(
        (r) => {
          st.pushesPending--;
          if (!pushDelivered(r)) {
            ctx.counters.pushesFailed++;
            this.giveUpIfHopeless(st);
            return;
          }
          st.delivered = true;
          ctx.counters.pushesConfirmed++;
          if (!st.confirmed && call.pending && !call.answered && !st.progress && !call.legs.some((l) => l.state === 'early')) {
            st.confirmed = true;
            call.provisional(180, 'Ringing', [[PUSH_STATUS_HEADER, 'Push-Notification-Sent']]);
          }
        },
        (err: unknown) => {
          st.pushesPending--;
          ctx.counters.pushesFailed++;
          ctx.log?.warn({ err, call: call.id }, 'incoming call push failed');
          this.giveUpIfHopeless(st);
        },
      );
    }
  }


  private timeout(st: IncomingState): void {
    st.armed = false;
    st.timedOut = true;
    const call = st.call;
    // a device is ringing: it got in touch in time; the caller or the device ends the call
    if (!call.pending || call.answered || call.anyAlive()) return;
    this.noResponse(st);
  }

  /**
   * No device can be reached any more: none is being invited, no push is on its way and none was
   * delivered (every token dead, the mediator down, or no device with a push target at all).
   * Waiting out the readiness timeout would only keep the caller hearing ringback for up to two
   * minutes; 480 now, saying why. A device that registers on its own later finds the call over.
   */
  private giveUpIfHopeless(st: IncomingState): void {
    const call = st.call;
    if (!call.pending || call.answered || call.anyAlive() || st.pushesPending > 0 || st.delivered) return;
    call.fail(480, 'Temporarily Unavailable', [[REASON_HEADER, st.pushed ? 'Push-Failed' : 'No-Device-To-Alert']]);
    this.outcome(st, 'no-response');
  }

  private noResponse(st: IncomingState): void {
    const call = st.call;
    call.fail(480, 'Temporarily Unavailable', [[REASON_HEADER, 'No-Response-From-Device']]);
    this.outcome(st, 'no-response');
  }

  /** Counts, stores and pushes the end of a call that was not answered here. */
  private outcome(st: IncomingState, outcome: CallOutcome): void {
    const ctx = this.ctx;
    const call = st.call;
    if (outcome === 'missed' || outcome === 'no-response') ctx.counters.callsMissed++;
    if (outcome === 'answered-elsewhere') ctx.counters.callsAnsweredElsewhere++;
    if (outcome === 'no-response') ctx.counters.callsNoResponse++;
    if (outcome === 'failed') ctx.counters.callsFailed++;
    ctx.log?.info({ call: call.id, account: call.accountId, outcome }, 'incoming call ended');
    this.db(st, (s) => s.finishPendingCall(call.id, outcome));
    if (outcome === 'answered' || outcome === 'failed') return;
    const verb = outcome === 'answered-elsewhere' ? 'NotifyIncomingCallAnsweredElsewhere' : 'NotifyIncomingCallMissed';
    const payload: Record<string, unknown> = outcome === 'answered-elsewhere' ? { callId: call.id } : { callId: call.id, callerUri: st.callerUri };
    if (outcome !== 'answered-elsewhere' && st.callerName) payload.callerName = st.callerName;
    ctx.counters.pushesSent++;
    try {
      ctx.deps.push.sendToAccount(verb, call.accountId, payload).then(
        (r) => (pushDelivered(r) ? ctx.counters.pushesConfirmed++ : ctx.counters.pushesFailed++),
        () => ctx.counters.pushesFailed++,
      );
    } catch {
      ctx.counters.pushesFailed++;
    }
  }

  private stopWaiting(st: IncomingState): void {
    st.armed = false;
    this.ctx.layer.wheel.cancel(st.grace);
    st.grace = null;
    const set = this.waiting.get(st.call.accountId);
    set?.delete(st.held);
    if (set?.size === 0) this.waiting.delete(st.call.accountId);
  }

  /** Chains a store write for this call; failures are logged, never thrown into SIP processing. */
  private db(st: IncomingState, op: (s: NonNullable<TunnelContext['deps']['store']>) => Promise<unknown>): void {
    const store = this.ctx.deps.store;
    if (!store) return;
    st.db = (st.db ?? Promise.resolve()).then(() => op(store)).catch((err: unknown) => this.ctx.log?.warn({ err, call: st.call.id }, 'call record not written'));
  }
}
