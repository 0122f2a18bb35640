/**
 * One INVITE bridged back to back: the inbound side (the INVITE we received, we are its UAS)
 * and one or more outbound legs (INVITEs we send, we are their UAC). Used both ways:
 * - incoming call: inbound = the provider's INVITE, legs = one INVITE per woken device;
 * - outgoing call: inbound = the phone's INVITE, leg = our INVITE to the provider.
 *
 * Responses of the legs are relayed to the inbound side with one To tag (the inbound side sees
 * one dialog whatever the number of devices). First 2xx wins (RFC 3261 §16.7 step 6 applied to
 * a B2BUA): the other legs are cancelled with `Reason: SIP;cause=200;text="Call completed
 * elsewhere"` (RFC 3326), and a late 2xx from one of them is ACKed and ended with BYE.
 *
 * Reliable provisional responses (RFC 3262) are relayed end to end: each leg's RSeq is mapped
 * to an RSeq of ours on the inbound side (several legs have independent RSeq spaces), and the
 * PRACK's RAck is mapped back. The phone retransmits its reliable 1xx until the PRACK arrives;
 * each retransmission is relayed with the same mapped RSeq, so no retransmission timer here.
 */
import type { Logger } from 'pino';
import { Dialog, type DialogStore } from '../dialog/index.js';
import type { SipMessage } from '../sip/index.js';
import { keep, keptBytes, lastKeptIn, type ClientTransaction, type ClientTransactionUser, type InviteServerTransaction, type TransactionError, type TransactionLayer } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import { TunnelError } from './errors.js';
import { COMPLETED_ELSEWHERE } from './headers.js';
import { DialogPair, relayedResponse, sendOpts, type Side } from './relay.js';
import type { TunnelBinding, TunnelCounters } from './types.js';

/**
 * The TU of an answered leg's INVITE transaction once its call is over (Timer M, 32 s): our ACK
 * again for each retransmission of the 2xx (§13.2.2.4). One object per call, no closure; the
 * ACK's bytes move into the lingering slabs (they now live at most Timer M, like the
 * transaction's own), so the memory of their own that the call kept them in goes with the call.
 */
class AckResender implements ClientTransactionUser {
  private readonly seq: number;
  /** the ACK's bytes: `len` of them at `at` in `mem` (linger.ts keep: no view object per call). */
  private readonly mem: Buffer;
  private readonly at: number;
  private readonly len: number;
  private readonly target: Endpoint;

  constructor(
    ack: { seq: number; data: Buffer; target: Endpoint },
    private readonly transport: TransactionLayer['transport'],
  ) {
    this.seq = ack.seq;
    this.at = keep(ack.data);
    this.mem = lastKeptIn();
    this.len = ack.data.length;
    this.target = ack.target;
  }

  onResponse(res: SipMessage): void {
    if (res.status >= 200 && res.status < 300 && res.cseq.seq === this.seq) this.transport.send(keptBytes(this.mem, this.at, this.len), this.target);
  }
}

const IGNORE_RESPONSES: ClientTransactionUser = { onResponse() {} };

export type LegState = 'calling' | 'early' | 'answered' | 'failed' | 'cancelled';

export class Leg {
  state: LegState = 'calling';
  tx: ClientTransaction | undefined;
  private sent: SipMessage | undefined;
  /** early dialogs by the callee's To tag, then the confirmed one. */
  readonly dialogs = new Map<string, Dialog>();
  dialog: Dialog | undefined;
  finalStatus = 0;
  finalResponse: SipMessage | undefined;
  /** answered by a 401/407 and re-sent with credentials (outgoing legs). */
  authTries = 0;
  side: Side | undefined;

  constructor(
    readonly index: number,
    invite: SipMessage,
    /** our Contact on this leg. */
    readonly contact: string,
    readonly target: Endpoint | undefined,
    readonly binding: TunnelBinding | undefined,
  ) {
    this.sent = invite;
  }

  /**
   * The INVITE as sent (its Via stamped by the layer). Once the leg answered it is re-parsed on
   * demand from the bytes its transaction keeps (`dropInvite`); gone once the call ended.
   */
  get invite(): SipMessage {
    if (this.sent) return this.sent;
    if (this.tx && this.tx.state !== 'Terminated') return this.tx.request;
    throw new TunnelError('ERR_TUNNEL_CALL_ENDED', `leg ${this.index} has ended: its INVITE is released`);
  }

  /** The leg answered: only a fork's late 2xx still needs its INVITE, re-parsed then from `tx`. */
  dropInvite(): void {
    if (this.tx) this.sent = undefined;
  }

  set invite(m: SipMessage) {
    this.sent = m;
  }

  get alive(): boolean {
    return this.state === 'calling' || this.state === 'early';
  }

  /**
   * The leg is over and its call too: let go of its messages and dialogs (BridgedCall.dispose),
   * and of the bytes of its INVITE that the lingering transaction would keep for 32 s.
   */
  release(): void {
    this.tx?.releaseRequest();
    this.sent = this.finalResponse = this.dialog = this.side = this.tx = undefined;
  }
}

export interface CallHooks {
  /** a leg ended with a final error (or a transport/timeout error: `res` undefined). */
  legFailed(call: BridgedCall, leg: Leg, status: number, res: SipMessage | undefined): void;
  /** a leg answered first; the call is established. */
  answered(call: BridgedCall, leg: Leg): void;
  /** a non-2xx final answer on a leg that may be retried (401/407 on outgoing legs): true = handled. */
  retry?(call: BridgedCall, leg: Leg, res: SipMessage): boolean;
  /** the call is over (pair ended, or the inbound side got its final error). */
  ended(call: BridgedCall): void;
  /** a dialog of this call was created (the tunnel indexes it for in-dialog requests). */
  dialogCreated(call: BridgedCall, d: Dialog): void;
}

export class BridgedCall {
  readonly legs: Leg[] = [];
  winner: Leg | undefined;
  pair: DialogPair | undefined;
  /** the inbound side's dialog (UAS), from the first 1xx/2xx with a To tag we relayed. */
  inboundDialog: Dialog | undefined;
  inboundSide: Side | undefined;
  finished = false;
  /** the Reason of the CANCELs sent when the call failed (a leg answering late gets it on its BYE). */
  private endReason: string | undefined;
  /** inbound RSeq → the leg, its RSeq and the early dialog it belongs to. */
  private rseqIn: Map<number, { leg: Leg; rseq: string; dialog: Dialog }> | undefined;
  private rseqOut: Map<string, number> | undefined;
  private nextRseq = 1 + Math.floor(Math.random() * 1_000_000);
  /** the leg of the last provisional with a To tag (where early UPDATE/INFO go). */
  private lastEarly: Leg | undefined;
  /** see `request`. */
  private received: SipMessage | undefined;
  /**
   * Whether our own 180s (X-Sipis-Push-Status) may be sent: not when the caller requires 100rel,
   * because then every provisional must be sent reliably (RFC 3262 §3) and ours are not; the
   * phone's own provisionals are still relayed, reliably, with their RSeq mapped.
   */
  private readonly ownProvisionals: boolean;

  constructor(
    readonly id: string,
    readonly accountId: string,
    readonly inbound: InviteServerTransaction,
    /** our Contact towards the inbound side. */
    readonly inboundContact: string,
    /** explicit destination of requests to the inbound side (a direct UDP phone), else routed. */
    readonly inboundTarget: Endpoint | undefined,
    private readonly layer: TransactionLayer,
    private readonly dialogs: DialogStore,
    private readonly counters: TunnelCounters,
    private readonly hooks: CallHooks,
    private readonly log: Logger | undefined,
  ) {
    this.received = inbound.request;
    this.ownProvisionals = !inbound.request.require.includes('100rel');
  }

  /**
   * The INVITE we received, held by the call while it lasts (the transaction keeps only its
   * bytes once answered, core/transaction/linger.ts); gone once the call ended (`dispose`).
   */
  get request(): SipMessage {
    if (!this.received) throw new TunnelError('ERR_TUNNEL_CALL_ENDED', `call ${this.id} has ended: its INVITE is released`);
    return this.received;
  }

  get answered(): boolean {
    return this.winner !== undefined;
  }

  /** true while the inbound INVITE has no final answer. */
  get pending(): boolean {
    return !this.finished && this.inbound.lastStatus < 200;
  }

  anyAlive(): boolean {
    return this.legs.some((l) => l.alive);
  }

  /** Sends `invite` as a new leg. */
  addLeg(invite: SipMessage, contact: string, target: Endpoint | undefined, binding?: TunnelBinding): Leg {
    const leg = new Leg(this.legs.length, invite, contact, target, binding);
    this.legs.push(leg);
    this.send(leg, invite);
    return leg;
  }

  /** (Re)sends a leg's INVITE in a new client transaction (after a 401/407: same leg). */
  send(leg: Leg, invite: SipMessage): void {
    leg.invite = invite;
    leg.state = 'calling';
    leg.tx = this.layer.sendRequest(
      invite,
      {
        onResponse: (res) => this.onLegResponse(leg, res),
        onError: (err) => this.onLegError(leg, err),
      },
      sendOpts(leg),
    );
  }

  /** A provisional response of our own on the inbound side (180 with X-Sipis-Push-Status …). */
  provisional(status: number, reason: string, headers: Array<[string, string]>): void {
    if (!this.pending || !this.ownProvisionals) return;
    const res = this.inbound.buildResponse(status, reason, { headers: [...headers, ['Contact', this.inboundContact]] });
    this.ensureInboundDialog(res);
    this.inbound.respond(res);
  }

  /** Ends the inbound INVITE with an error of ours and cancels every leg. */
  fail(status: number, reason: string, headers: Array<[string, string]> = [], cancelReason?: string): void {
    if (!this.pending) return;
    this.endReason = cancelReason;
    this.cancelLegs(undefined, cancelReason);
    this.inbound.reply(status, reason, { headers });
    this.finish();
  }

  /** Cancels every live leg but `except` (or only `only`). */
  cancelLegs(except: Leg | undefined, reason?: string, only?: Leg): void {
    for (const l of this.legs) {
      if (l === except || (only && l !== only) || !l.alive || !l.tx) continue;
      l.state = 'cancelled';
      this.layer.cancel(l.tx, reason);
    }
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.ended(this);
    this.release();
    this.dispose();
  }

  /**
   * The call is over: drop the messages, dialogs and leg state it held, keeping only the legs
   * still waiting for a final answer (a late 2xx must be ACKed and ended with BYE, and needs
   * their INVITE and early dialogs). Nothing should reach an ended call, but something V8's
   * scavenger takes as a root does keep it reachable until the next full GC: measured with
   * bench/tunnel/gc.bench.ts at 500 calls/s, a finished call kept its whole graph (~7 KB of
   * parsed messages, dialogs and maps) through two scavenges, which promoted it to the old
   * generation, where it died: half of all the bytes promoted. An emptied call costs a few
   * fields.
   */
  private dispose(): void {
    this.received = undefined;
    // nothing will answer the inbound INVITE again: its lingering transaction needs only its last response
    this.inbound.releaseRequest();
    for (const l of this.legs) if (!l.alive) l.release();
    this.pair = this.inboundDialog = this.inboundSide = this.winner = this.lastEarly = undefined;
    this.rseqIn = this.rseqOut = undefined;
    // the legs that are over are let go too (no Map.clear(): it allocates a new table)
    if (this.legs.some((l) => !l.alive)) {
      const alive = this.legs.filter((l) => l.alive);
      this.legs.length = 0;
      for (const l of alive) this.legs.push(l);
    }
  }

  /**
   * The call is over, but the answered leg's INVITE transaction lingers in Accepted for Timer M
   * (32 s) and would keep this whole call (legs, dialogs, messages) reachable through its TU
   * callbacks. Hand it a TU that only re-sends our ACK for a retransmitted 2xx (§13.2.2.4), which
   * is all that is left to do. Legs still waiting for a final answer (cancelled ones) keep theirs:
   * a late 2xx must still be ACKed and ended with BYE.
   */
  private release(): void {
    const leg = this.winner;
    const tx = leg?.tx;
    if (!leg || !tx || tx.state !== 'Accepted') return;
    const ack = leg.side?.lastAck;
    tx.user = ack ? new AckResender(ack, this.layer.transport) : IGNORE_RESPONSES;
  }

  private ensureInboundDialog(res: SipMessage): Dialog | undefined {
    if (this.inboundDialog) return this.inboundDialog;
    if (!res.to.tag || !this.request.contact.length) return undefined;
    try {
      this.inboundDialog = this.dialogs.add(Dialog.asUas(this.request, res));
      this.hooks.dialogCreated(this, this.inboundDialog);
    } catch (err) {
      this.log?.debug({ err }, 'no inbound dialog');
    }
    return this.inboundDialog;
  }

  private legDialog(leg: Leg, res: SipMessage): Dialog | undefined {
    const tag = res.to.tag;
    if (!tag || !res.contact.length) return undefined;
    let d = leg.dialogs.get(tag);
    if (d) {
      d.receiveResponse(res);
      return d;
    }
    try {
      d = this.dialogs.add(Dialog.asUac(leg.invite, res));
    } catch (err) {
      this.log?.debug({ err }, 'leg response creates no dialog');
      return undefined;
    }
    leg.dialogs.set(tag, d);
    this.hooks.dialogCreated(this, d);
    return d;
  }

  private onLegResponse(leg: Leg, res: SipMessage): void {
    const status = res.status;
    if (status === 100) return;
    if (status < 200) return this.onLegProvisional(leg, res);
    if (status < 300) return this.onLeg2xx(leg, res);
    if (leg.state === 'answered') return;
    if (this.hooks.retry?.(this, leg, res)) return;
    const wasCancelled = leg.state === 'cancelled';
    leg.state = wasCancelled ? 'cancelled' : 'failed';
    leg.finalStatus = status;
    leg.finalResponse = res;
    for (const d of leg.dialogs.values()) {
      d.terminate();
      this.dialogs.delete(d);
    }
    if (!wasCancelled) this.hooks.legFailed(this, leg, status, res);
  }

  private onLegError(leg: Leg, err: TransactionError): void {
    if (!leg.alive) return;
    leg.state = 'failed';
    leg.finalStatus = err.status;
    this.log?.debug({ call: this.id, leg: leg.index, code: err.code }, 'leg failed without a response');
    this.hooks.legFailed(this, leg, err.status, undefined);
  }

  private onLegProvisional(leg: Leg, res: SipMessage): void {
    if (!leg.alive) return;
    const d = this.legDialog(leg, res);
    if (d) {
      leg.state = 'early';
      this.lastEarly = leg;
    }
    if (!this.pending || this.answered) return;
    const extra: Array<[string, string]> = [];
    const rseq = res.header('RSeq')?.trim();
    if (rseq && d && res.require.includes('100rel')) {
      // RFC 3262 §7.1: RSeq is per response sender; ours on the inbound side maps each leg's.
      const key = `${leg.index}:${d.remoteTag}:${rseq}`;
      const rseqOut = (this.rseqOut ??= new Map());
      let mine = rseqOut.get(key);
      if (mine === undefined) {
        mine = this.nextRseq++;
        rseqOut.set(key, mine);
        (this.rseqIn ??= new Map()).set(mine, { leg, rseq, dialog: d });
      }
      extra.push(['RSeq', String(mine)]);
    }
    const out = relayedResponse(this.inbound, res, this.inboundContact, extra);
    this.ensureInboundDialog(out);
    this.counters.relayedResponses++;
    this.inbound.respond(out);
  }

  private onLeg2xx(leg: Leg, res: SipMessage): void {
    const d = this.legDialog(leg, res);
    if (this.winner && this.winner !== leg) {
      // a second device answered too (it did not see our CANCEL in time): ACK and end it (§13.2.2.4)
      if (d) this.ackAndBye(leg, d, COMPLETED_ELSEWHERE);
      return;
    }
    if (this.winner === leg) {
      // a retransmitted 2xx: ACK again if the inbound side ACKed already, else relay it again
      const side = leg.side;
      if (side?.lastAck && side.lastAck.seq === res.cseq.seq) {
        this.layer.transport.send(side.lastAck.data, side.lastAck.target);
        return;
      }
      if (this.inbound.state === 'Accepted') this.inbound.respond(relayedResponse(this.inbound, res, this.inboundContact));
      return;
    }
    if (!d || this.finished || this.inbound.lastStatus >= 300 || this.inbound.state === 'Terminated') {
      // nobody left to take the call (the caller cancelled meanwhile): ACK and hang up, with
      // the Reason our CANCEL carried; none when the call was abandoned, so that the phone
      // shows it as missed (cause=200 would tell it the call was answered elsewhere)
      leg.state = 'cancelled';
      if (d) this.ackAndBye(leg, d, this.endReason);
      return;
    }
    leg.state = 'answered';
    leg.dialog = d;
    this.winner = leg;
    for (const [tag, other] of leg.dialogs) {
      if (other === d) continue;
      other.terminate();
      this.dialogs.delete(other);
      leg.dialogs.delete(tag);
    }
    this.cancelLegs(leg, COMPLETED_ELSEWHERE);
    const out = relayedResponse(this.inbound, res, this.inboundContact);
    const inboundDialog = this.ensureInboundDialog(out);
    this.counters.relayedResponses++;
    this.inbound.respond(out);
    if (!inboundDialog) {
      this.log?.warn({ call: this.id }, 'inbound INVITE without Contact: cannot keep the dialog');
      this.ackAndBye(leg, d, undefined);
      return;
    }
    // our own 2xx confirms the inbound dialog (not receiveResponse: that is for responses we
    // receive, and would take our own Contact as the remote target)
    inboundDialog.state = 'confirmed';
    this.inboundSide = { dialog: inboundDialog, target: this.inboundTarget, contact: this.inboundContact };
    // the 2xx we relay is ACKed by the inbound side; our ACK to this leg follows from that one
    leg.side = { dialog: d, target: leg.target, contact: leg.contact, awaitingAck: [] };
    this.pair = new DialogPair(this.inboundSide, leg.side);
    this.hooks.answered(this, leg);
    // Established: what only setting the call up needed goes, so that a call that lasts an hour
    // keeps its dialogs and little else (its messages would otherwise be promoted with it and
    // live in the old generation for as long: ~7.5 KB a call, bench/tunnel/gc.bench.ts with
    // calls held 5 s). The INVITE we received: its transaction keeps the bytes for a 2xx we
    // relay again. Ours to the devices: Leg.invite re-parses them if a fork or a cancelled leg
    // answers late.
    this.received = undefined;
    for (const l of this.legs) l.dropInvite();
  }

  /** The early-dialog peer of an in-dialog request on the inbound side (UPDATE, INFO, PRACK). */
  earlyTarget(req: SipMessage): { side: Side; extra: Array<[string, string]> } | undefined {
    if (req.method === 'PRACK') {
      const m = /^\s*(\d+)\s+\d+\s+(\S+)/.exec(req.header('RAck') ?? '');
      const entry = m ? this.rseqIn?.get(Number(m[1])) : undefined;
      if (!entry || entry.dialog.state === 'terminated') return undefined;
      const side: Side = { dialog: entry.dialog, target: entry.leg.target, contact: entry.leg.contact };
      return { side, extra: [['RAck', `${entry.rseq} ${entry.leg.invite.cseq.seq} INVITE`]] };
    }
    const leg = this.lastEarly;
    if (!leg?.alive) return undefined;
    const d = [...leg.dialogs.values()].pop();
    if (!d) return undefined;
    return { side: { dialog: d, target: leg.target, contact: leg.contact }, extra: [] };
  }

  /** The leg an early dialog belongs to. */
  legOf(d: Dialog): Leg | undefined {
    for (const l of this.legs) for (const x of l.dialogs.values()) if (x === d) return l;
    return undefined;
  }

  /** An early-dialog request from a leg (UPDATE/INFO from the phone before answer): the inbound side. */
  inboundEarlySide(): Side | undefined {
    if (!this.inboundDialog || !this.pending) return undefined;
    return { dialog: this.inboundDialog, target: this.inboundTarget, contact: this.inboundContact };
  }

  /** ACKs a 2xx nobody will take and ends that dialog with a BYE (RFC 3326 Reason when given). */
  private ackAndBye(leg: Leg, d: Dialog, reason: string | undefined): void {
    void this.layer.sendAck(d.createAck(), sendOpts(leg)).catch(() => undefined);
    const bye = d.createRequest('BYE', { headers: reason === undefined ? [] : [['Reason', reason]] });
    d.terminate();
    this.dialogs.delete(d);
    this.layer.sendRequest(bye, { onResponse() {} }, sendOpts(leg));
  }
}
