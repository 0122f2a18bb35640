/**
 * The phone's own requests (an outgoing INVITE, MESSAGE, SUBSCRIBE, OPTIONS …) relayed to the
 * provider in the account's name: the provider knows only the account (its AOR, its digest
 * credentials), never the device.
 *
 * - Request-URI: the number or URI the phone dialled, with the host replaced by the AOR's
 *   domain when the phone addressed sipis (`sip:123@sipis.example` → `sip:123@provider`).
 * - From: the account's AOR (display name from the phone's From), our tag; To: as dialled.
 * - Routed through the account's outbound proxy, else its registrar, as a pre-loaded loose
 *   Route (RFC 3261 §8.1.2): a provider's registrar host is where its proxy listens too, and
 *   the AOR's domain need not resolve from here.
 * - 401/407 from the provider are answered with the account's credentials (core/sip digest
 *   client, one nonce state per account) and never reach the phone.
 * - INVITE: bridged like an incoming call (call.ts) with the roles swapped; SUBSCRIBE / REFER:
 *   the dialogs created by the 2xx are paired so NOTIFYs find their way back. A NOTIFY may
 *   overtake that 2xx (RFC 6665 §4.1.2.4: the subscriber must accept it): it is held until the
 *   2xx has paired the dialogs, then relayed, or answered 481 when the request fails instead.
 */
import { randomUUID } from 'node:crypto';
import { Dialog } from '../dialog/index.js';
import { DigestClientState, pickChallenge } from '../sip/digest.js';
import { generateTag, type SipMessage } from '../sip/index.js';
import { ChurnMap, type InviteServerTransaction, type ServerTransaction } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import type { UpstreamAccount } from '../upstream/types.js';
import { BridgedCall, type CallHooks, type Leg } from './call.js';
import { contactFor, forgetDialog, registerPair, setDialogEntry, type TunnelContext } from './context.js';
import { quoteDisplay } from './headers.js';
import { buildLegRequest, rebuildWith } from './invite.js';
import { DialogPair, relayedResponse } from './relay.js';

const MAX_AUTH_TRIES = 2;
const DIALOG_CREATING = new Set(['SUBSCRIBE', 'REFER']);
/** NOTIFYs held per pending SUBSCRIBE/REFER: a notifier sends one, maybe two, before its 2xx. */
const MAX_EARLY_NOTIFIES = 4;

/** A subscription is found by the Call-ID and our From tag, which the NOTIFY carries as its To tag. */
const subscriptionKey = (callId: string, ourTag: string): string => `${callId}\n${ourTag}`;

/** `sip:host[:port]` of a provider server → a loose Route entry. */
function routeOf(server: string): string {
  const uri = server.startsWith('<') ? server.slice(1, server.indexOf('>')) : server;
  return `<${uri}${/;lr\b/.test(uri) ? '' : ';lr'}>`;
}

/** The AOR's host part (`sip:alice@example.com` → `example.com`). */
function aorHost(aor: string): string {
  const at = aor.indexOf('@');
  const rest = aor.slice(at + 1);
  const end = rest.search(/[;>?]/);
  return end < 0 ? rest : rest.slice(0, end);
}

export class OutgoingRelay implements CallHooks {
  private readonly digest = new Map<string, DigestClientState>();
  // ChurnMaps: entries come and go with every call (core/transaction/churn-map.ts says why)
  private readonly byTx = new ChurnMap<InviteServerTransaction, BridgedCall>();
  private readonly calls = new ChurnMap<BridgedCall, { account: UpstreamAccount; dialogs: Dialog[] }>();
  /** SUBSCRIBE/REFER sent to the provider and not yet answered: NOTIFYs that overtook the answer. */
  private readonly earlyNotifies = new ChurnMap<string, Array<() => void>>();

  constructor(private readonly ctx: TunnelContext) {}

  get size(): number {
    return this.calls.size;
  }

  /** The Request-URI towards the provider for what the phone dialled. */
  providerUri(req: SipMessage, account: UpstreamAccount, sipisHosts: ReadonlySet<string>): string {
    const ru = req.requestUri;
    if (!sipisHosts.has(ru.host)) return req.uri;
    const user = ru.user ?? '';
    const esc = user.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, (c) => encodeURIComponent(c));
    return `${ru.scheme === 'sips' ? 'sips' : 'sip'}:${esc}@${aorHost(account.aor)}`;
  }

  private build(req: SipMessage, account: UpstreamAccount, sipisHosts: ReadonlySet<string>, contact: string): SipMessage {
    const uri = this.providerUri(req, account, sipisHosts);
    const display = req.from.displayName;
    const from = `${display ? `${quoteDisplay(display)} ` : ''}<${account.aor}>;tag=${generateTag()}`;
    const toHeader = req.to;
    const to = sipisHosts.has(toHeader.uri.host) ? `<${uri}>` : req.header('To')!;
    return buildLegRequest({ original: req, requestUri: uri, route: [routeOf(account.outboundProxy ?? account.registrar)], contact, from, to });
  }

  invite(tx: InviteServerTransaction, req: SipMessage, account: UpstreamAccount, phoneTarget: Endpoint | undefined, sipisHosts: ReadonlySet<string>): void {
    const ctx = this.ctx;
    if (req.maxForwards === 0) return void tx.reply(483, 'Too Many Hops');
    if (tx.lastStatus === 0) tx.reply(100, 'Trying');
    ctx.counters.callsOut++;
    const call = new BridgedCall(randomUUID(), account.id, tx, contactFor(ctx, account.id, tx.remote), phoneTarget, ctx.layer, ctx.dialogs, ctx.counters, this, ctx.log);
    this.byTx.set(tx, call);
    this.calls.set(call, { account, dialogs: [] });
    const contact = contactFor(ctx, account.id, undefined);
    let out: SipMessage;
    try {
      out = this.build(req, account, sipisHosts, contact);
    } catch (err) {
      ctx.log?.debug({ err }, 'cannot build the provider INVITE');
      call.fail(400, 'Bad Request');
      return;
    }
    call.addLeg(out, contact, undefined);
  }

  /** Out-of-dialog requests other than INVITE: one transaction each, answered with what the provider says. */
  request(tx: ServerTransaction, req: SipMessage, account: UpstreamAccount, phoneTarget: Endpoint | undefined, sipisHosts: ReadonlySet<string>): void {
    const ctx = this.ctx;
    if (req.maxForwards === 0) return void tx.reply(483, 'Too Many Hops');
    const contact = contactFor(ctx, account.id, undefined);
    let out: SipMessage;
    try {
      out = this.build(req, account, sipisHosts, contact);
    } catch (err) {
      ctx.log?.debug({ err }, 'cannot build the provider request');
      return void tx.reply(400, 'Bad Request');
    }
    // Retries after a challenge keep the Call-ID and From tag, so one key covers them all.
    const subscription = DIALOG_CREATING.has(req.method) ? subscriptionKey(out.callId, out.from.tag ?? '') : undefined;
    if (subscription) this.earlyNotifies.set(subscription, []);
    let tries = 0;
    const send = (msg: SipMessage): void => {
      ctx.counters.relayedRequests++;
      ctx.layer.sendRequest(msg, {
        onResponse: (res) => {
          if (res.status < 200) return;
          if ((res.status === 401 || res.status === 407) && tries < MAX_AUTH_TRIES) {
            const again = this.authorized(account, msg, res);
            if (again) {
              tries++;
              return send(again);
            }
          }
          if (tx.lastStatus < 200) {
            ctx.counters.relayedResponses++;
            const phoneContact = contactFor(ctx, account.id, tx.remote);
            const ours = relayedResponse(tx, res, phoneContact);
            tx.respond(ours);
            if (res.status < 300 && subscription) this.pairSubscription(req, ours, msg, res, phoneContact, contact, phoneTarget);
          }
          if (subscription) this.releaseEarlyNotifies(subscription);
        },
        onError: (err) => {
          if (tx.lastStatus < 200) tx.reply(err.status);
          if (subscription) this.releaseEarlyNotifies(subscription);
        },
      });
    };
    send(out);
  }

  /**
   * A NOTIFY matching no dialog: when it belongs to a SUBSCRIBE/REFER still waiting for its
   * answer, `redo` runs once that answer is in (the dialogs are paired by then on a 2xx). The
   * NOTIFY's server transaction stays open meanwhile and absorbs the notifier's retransmissions.
   */
  holdEarlyNotify(req: SipMessage, redo: () => void): boolean {
    const held = this.earlyNotifies.get(subscriptionKey(req.callId, req.to.tag ?? ''));
    if (!held || held.length >= MAX_EARLY_NOTIFIES) return false;
    held.push(redo);
    return true;
  }

  private releaseEarlyNotifies(subscription: string): void {
    const held = this.earlyNotifies.get(subscription);
    this.earlyNotifies.delete(subscription);
    for (const redo of held ?? []) redo();
  }

  /** SUBSCRIBE/REFER answered 2xx: pair the phone's dialog with the provider's (RFC 6665 §4.1.2.1). */
  private pairSubscription(req: SipMessage, ours: SipMessage, out: SipMessage, res: SipMessage, phoneContact: string, contact: string, phoneTarget: Endpoint | undefined): void {
    try {
      const phone = this.ctx.dialogs.add(Dialog.asUas(req, ours));
      const provider = this.ctx.dialogs.add(Dialog.asUac(out, res));
      registerPair(this.ctx, new DialogPair({ dialog: phone, target: phoneTarget, contact: phoneContact }, { dialog: provider, target: undefined, contact }));
    } catch (err) {
      this.ctx.log?.debug({ err }, 'subscription dialog not paired');
    }
  }

  /** The request again with credentials for `res`'s challenge, or undefined when we cannot answer it. */
  private authorized(account: UpstreamAccount, msg: SipMessage, res: SipMessage): SipMessage | undefined {
    const proxy = res.status === 407;
    const challenge = pickChallenge(proxy ? res.proxyAuthenticate : res.wwwAuthenticate);
    if (!challenge || !account.password) return undefined;
    let state = this.digest.get(account.id);
    if (!state) this.digest.set(account.id, (state = new DigestClientState(4)));
    let value: string | undefined;
    try {
      value = state.authorize({ challenge, method: msg.method, uri: msg.uri, username: account.authUser, password: account.password });
    } catch (err) {
      this.ctx.log?.debug({ err }, 'cannot answer the challenge');
      return undefined;
    }
    if (!value) return undefined;
    return rebuildWith(msg, [[proxy ? 'Proxy-Authorization' : 'Authorization', value]]);
  }

  cancel(tx: InviteServerTransaction): boolean {
    const call = this.byTx.get(tx);
    if (!call) return false;
    call.fail(487, 'Request Terminated');
    return true;
  }

  close(): void {
    this.byTx.clear();
    this.calls.clear();
    this.earlyNotifies.clear();
  }

  // ---- CallHooks ----------------------------------------------------------------------------

  retry(call: BridgedCall, leg: Leg, res: SipMessage): boolean {
    if ((res.status !== 401 && res.status !== 407) || leg.authTries >= MAX_AUTH_TRIES) return false;
    const entry = this.calls.get(call);
    if (!entry || !call.pending) return false;
    const again = this.authorized(entry.account, leg.invite, res);
    if (!again) return false;
    leg.authTries++;
    call.send(leg, again);
    return true;
  }

  legFailed(call: BridgedCall, _leg: Leg, status: number, res: SipMessage | undefined): void {
    if (!call.pending) return;
    if (res) call.inbound.respond(relayedResponse(call.inbound, res, undefined));
    else call.inbound.reply(status);
    this.ctx.counters.callsFailed++;
    call.finish();
  }

  answered(call: BridgedCall): void {
    this.ctx.counters.callsAnswered++;
    registerPair(this.ctx, call.pair!, () => call.finish());
  }

  ended(call: BridgedCall): void {
    const entry = this.calls.get(call);
    this.calls.delete(call);
    this.byTx.delete(call.inbound);
    if (entry && !call.pair) for (const d of entry.dialogs) forgetDialog(this.ctx, d);
  }

  dialogCreated(call: BridgedCall, d: Dialog): void {
    setDialogEntry(this.ctx, d.key, { call });
    this.calls.get(call)?.dialogs.push(d);
  }
}
