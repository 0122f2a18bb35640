/**
 * Two dialogs joined back to back (RFC 7092 §3.1): what one side sends inside its dialog is
 * re-issued by sipis inside the other side's dialog, and the answer is relayed back. Each side
 * has its own Call-ID, tags, CSeq numbering, route set and Contact (core/dialog builds the
 * requests, §12.2.1.1); bodies (SDP) and end-to-end headers are copied unchanged.
 *
 * ACK for 2xx is end to end (§13.2.2.4 is a UA rule; here the ACK travels so that an offer in
 * a 2xx gets its answer from the far end): the side that receives our 2xx ACKs us, we ACK the
 * other side, and keep that ACK to re-send for every 2xx retransmission that side sends. The
 * side that answered retransmits its 2xx until our ACK (§13.3.1.4); we relay each one, so the
 * 2xx towards the first side is retransmitted by the peer that owns it and no timer is needed
 * here.
 */
import type { Logger } from 'pino';
import type { Dialog, InDialogOptions } from '../dialog/index.js';
import type { SipMessage } from '../sip/index.js';
import { ChurnMap, ownBytes, type ClientTransaction, type ServerTransaction, type TransactionLayer } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import { copiedHeaders } from './headers.js';
import type { TunnelCounters } from './types.js';

/** One side of a pair: our dialog with that peer, and how to reach it. */
export interface Side {
  dialog: Dialog;
  /** explicit destination (a direct UDP phone whose Contact may be a private address), else routed. */
  target: Endpoint | undefined;
  /** our Contact on this side (name-addr). */
  contact: string;
  /** the last ACK we sent on this side, re-sent for retransmitted 2xx of that INVITE. */
  lastAck?: { seq: number; data: Buffer; target: Endpoint };
  /**
   * Set while this side's peer answered our INVITE with a 2xx that we have not ACKed yet (that
   * ACK comes end to end from the other side). A re-INVITE for this side waits here until it is
   * sent: no new INVITE transaction while one is in progress (§14.1), and the ACK may carry the
   * answer to an offer in the 2xx. The other side's ACK and re-INVITE can arrive swapped when a
   * proxy's workers reorder them (RFC 5407 §3.1.4).
   */
  awaitingAck?: Array<() => void> | undefined;
  /** the last re-INVITE this side's peer sent us (RFC 3261 §14.2: one at a time, see `overlapping`). */
  inviteIn?: ServerTransaction | undefined;
  /** the last INVITE we sent this side's peer (a relayed re-INVITE). */
  inviteOut?: ClientTransaction | undefined;
}

/**
 * RFC 3261 §14.2 for a re-INVITE from `from`'s peer: while that peer's previous INVITE has no
 * final answer yet → 500 with Retry-After (0 to 10 s, at random); while an INVITE we sent that
 * peer is still unanswered (the other side's re-INVITE, relayed: glare) → 491 Request Pending,
 * which makes the peer retry after a random wait (§14.1). Without this both would be relayed,
 * and sipis itself would run two INVITE transactions in one dialog, which §14.1 forbids.
 */
function overlapping(from: Side): [status: number, reason: string, headers: Array<[string, string]>] | undefined {
  const inbound = from.inviteIn;
  if (inbound && inbound.lastStatus < 200 && inbound.state !== 'Terminated') {
    return [500, 'Server Internal Error', [['Retry-After', String(Math.floor(Math.random() * 11))]]];
  }
  const outbound = from.inviteOut;
  if (outbound && (outbound.state === 'Calling' || outbound.state === 'Proceeding')) return [491, 'Request Pending', []];
  return undefined;
}

/** Our ACK for a 2xx on one side (Side.lastAck): re-sent for each retransmission of that 2xx. */
class SentAck {
  constructor(readonly seq: number, readonly data: Buffer, readonly target: Endpoint) {}
}

/** Methods whose requests and 2xx refresh the remote target: they carry our Contact (§12.2.1.1). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);

export function sendOpts(side: { target: Endpoint | undefined }): { target?: Endpoint } {
  return side.target ? { target: side.target } : {};
}

/**
 * A response to `stx` built from the far side's response `res`: same status and reason, the
 * end-to-end headers and the body byte for byte, our Contact when the far end sent one.
 */
export function relayedResponse(stx: ServerTransaction, res: SipMessage, contact: string | undefined, extra: Array<[string, string]> = []): SipMessage {
  const headers = copiedHeaders(res);
  if (contact && res.hasHeader('Contact')) headers.push(['Contact', contact]);
  for (const h of extra) headers.push(h);
  const body = res.body;
  if (body.length === 0) return stx.buildResponse(res.status, res.reason, { headers });
  return stx.buildResponse(res.status, res.reason, { headers, body, contentType: res.header('Content-Type') ?? 'application/octet-stream' });
}

/** Max-Forwards for the re-issued request: one less than received (loop protection), at most 70. */
export function nextMaxForwards(req: SipMessage): number {
  const mf = req.maxForwards;
  return mf === undefined ? 70 : Math.min(70, Math.max(0, mf - 1));
}

/** Lets the re-INVITEs held for `side`'s ACK go on (Side.awaitingAck). */
function releaseHeld(side: Side): void {
  const held = side.awaitingAck;
  side.awaitingAck = undefined;
  if (held) for (const release of held) release();
}

export class DialogPair {
  ended = false;
  /** called once when the pair ends (BYE relayed, or a side failed). */
  onEnd: ((pair: DialogPair) => void) | undefined;

  constructor(
    readonly a: Side,
    readonly b: Side,
  ) {}

  other(s: Side): Side {
    return s === this.a ? this.b : this.a;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.a.dialog.terminate();
    this.b.dialog.terminate();
    // re-INVITEs still waiting for an ACK are answered now (481: the dialog is gone)
    releaseHeld(this.a);
    releaseHeld(this.b);
    const cb = this.onEnd;
    this.onEnd = undefined;
    cb?.(this);
  }
}

/** The relay engine: in-dialog requests, ACKs and CANCELs of re-INVITEs between paired dialogs. */
export class Relay {
  /** relayed in-dialog INVITEs: server transaction → the client transaction on the other side. */
  private readonly reinvites = new ChurnMap<ServerTransaction, ClientTransaction>();

  constructor(
    private readonly layer: TransactionLayer,
    private readonly counters: TunnelCounters,
    private readonly log: Logger | undefined,
  ) {}

  /**
   * An in-dialog request from `from`'s peer: checked against `from.dialog` (§12.2.2), re-issued
   * in `to.dialog`, the answer relayed back. `extra` adds mapped headers (RAck).
   */
  request(tx: ServerTransaction, req: SipMessage, pair: DialogPair, from: Side, extra: Array<[string, string]> = []): void {
    const bad = from.dialog.receiveRequest(req);
    if (bad) {
      tx.reply(bad);
      return;
    }
    const to = pair.other(from);
    if (req.method === 'INVITE') {
      const refused = overlapping(from);
      if (refused) return void tx.reply(refused[0], refused[1], { headers: refused[2] });
      from.inviteIn = tx;
    }
    if (to.awaitingAck) {
      if (req.method === 'INVITE') return this.holdUntilAck(tx, req, pair, from, to, extra);
      // a BYE that overtook the ACK: we ACK the other side ourselves first (without a body: the
      // session ends), or that peer would keep retransmitting its 2xx to a dialog gone (§13.3.1.4)
      // and receive a BYE before the ACK it waits for (§15); the late ACK then finds the dialog over
      if (req.method === 'BYE') this.sendAckTo(to, {});
    }
    this.forward(tx, req, pair, from, extra);
  }

  /**
   * The re-INVITE waits for the ACK `to` is owed (see Side.awaitingAck), at most 64*T1: by then
   * its peer gave up retransmitting the 2xx and ends the call with BYE (§13.3.1.4), and the
   * re-INVITE is refused with 500 and Retry-After as for overlapping INVITEs (§14.2).
   */
  private holdUntilAck(tx: ServerTransaction, req: SipMessage, pair: DialogPair, from: Side, to: Side, extra: Array<[string, string]>): void {
    this.counters.reinvitesHeld++;
    let done = false;
    const timer = this.layer.wheel.schedule(this.layer.timers.H, () => {
      if (done) return;
      done = true;
      if (tx.lastStatus < 200) tx.reply(500, 'Server Internal Error', { headers: [['Retry-After', String(1 + Math.floor(Math.random() * 10))]] });
    });
    to.awaitingAck!.push(() => {
      if (done) return;
      done = true;
      this.layer.wheel.cancel(timer);
      // cancelled meanwhile (the layer answered 487) or timed out: nothing left to relay
      if (tx.lastStatus >= 200 || tx.state === 'Terminated') return;
      this.forward(tx, req, pair, from, extra);
    });
  }

  /** Re-issues a checked in-dialog request on the other side and relays its answer back. */
  private forward(tx: ServerTransaction, req: SipMessage, pair: DialogPair, from: Side, extra: Array<[string, string]>): void {
    const to = pair.other(from);
    const method = req.method;
    if (pair.ended || to.dialog.state === 'terminated') {
      tx.reply(method === 'BYE' ? 200 : 481);
      return;
    }
    const headers = copiedHeaders(req);
    headers.push(['Max-Forwards', String(nextMaxForwards(req))], ...extra);
    const body = req.body;
    let out: SipMessage;
    try {
      out = to.dialog.createRequest(method, {
        headers,
        ...(body.length > 0 ? { body, contentType: req.header('Content-Type') ?? 'application/octet-stream' } : {}),
        ...(TARGET_REFRESH.has(method) ? { contact: to.contact } : {}),
      });
    } catch (err) {
      this.log?.debug({ err, method }, 'cannot re-issue in-dialog request');
      tx.reply(500, 'Server Internal Error');
      return;
    }
    this.counters.relayedRequests++;
    if (method === 'BYE') {
      // the BYE ends both dialogs whatever the far end says (§15.1.2: the UAC considers the
      // session terminated once it sent BYE)
      from.dialog.terminate();
    }
    const ctx = this.layer.sendRequest(
      out,
      {
        onResponse: (res, ctx) => {
          if (res.status === 100) return;
          if (method === 'INVITE' && res.status >= 200 && res.status < 300) {
            if (this.resendAck(to, res)) return;
            // our ACK for it comes once `from` ACKs the 2xx we relay
            to.awaitingAck ??= [];
          }
          to.dialog.receiveResponse(res);
          this.counters.relayedResponses++;
          if (tx.state === 'Terminated' || (tx.lastStatus >= 200 && !(method === 'INVITE' && res.status < 300))) return;
          tx.respond(relayedResponse(tx, res, TARGET_REFRESH.has(method) ? from.contact : undefined));
          if (res.status >= 200) {
            this.reinvites.delete(tx);
            // answered for good (a re-INVITE's 2xx may still be relayed again): both lingering
            // transactions keep only what absorbs retransmissions, not the requests' bytes
            if (method !== 'INVITE') {
              tx.releaseRequest();
              ctx.releaseRequest();
            }
          }
          if (method === 'BYE' && res.status >= 200) pair.end();
        },
        onError: (err) => {
          this.reinvites.delete(tx);
          if (method === 'BYE') {
            if (tx.lastStatus < 200) tx.reply(200);
            pair.end();
            return;
          }
          if (tx.lastStatus < 200) tx.reply(err.status === 503 ? 503 : 408);
        },
      },
      sendOpts(to),
    );
    if (method === 'INVITE') {
      this.reinvites.set(tx, ctx);
      to.inviteOut = ctx;
    }
  }

  /** ACK for a 2xx from `from`'s peer: ACK the other side (end to end, with any body). */
  ack(ack: SipMessage, pair: DialogPair, from: Side): void {
    // a dialog whose BYE came first is over: we ACKed the other side ourselves (see request)
    if (pair.ended || from.dialog.state === 'terminated') return;
    from.dialog.receiveRequest(ack);
    const to = pair.other(from);
    if (to.dialog.state === 'terminated') return;
    const seq = to.dialog.inviteSeq;
    if (to.lastAck?.seq === seq) {
      // an ACK retransmitted by the peer (it saw our 2xx again): re-send ours
      this.layer.transport.send(to.lastAck.data, to.lastAck.target);
      return;
    }
    const body = ack.body;
    this.counters.relayedRequests++;
    this.sendAckTo(to, body.length > 0 ? { body, contentType: ack.header('Content-Type') ?? 'application/sdp' } : {});
  }

  /** Our ACK for the 2xx of `to`'s peer, then the re-INVITEs held for it (Side.awaitingAck). */
  private sendAckTo(to: Side, opts: InDialogOptions): void {
    const seq = to.dialog.inviteSeq;
    const out = to.dialog.createAck(opts);
    this.layer.sendAck(out, sendOpts(to)).then(
      (sent) => {
        // kept for the whole call and for Timer M after it: bytes of its own, not a pool slice
        to.lastAck = new SentAck(seq, ownBytes(sent.data), sent.target);
      },
      (err: unknown) => this.log?.debug({ err }, 'ACK not sent'),
    );
    // re-INVITEs held for this ACK follow it: when its target is known at once (an IP, the
    // bridge) the ACK is already queued on the socket before them
    releaseHeld(to);
  }

  /** A 2xx retransmission on `side` that we already ACKed: ACK again. True when handled. */
  resendAck(side: Side, res: SipMessage): boolean {
    const last = side.lastAck;
    if (!last || last.seq !== res.cseq.seq) return false;
    this.layer.transport.send(last.data, last.target);
    return true;
  }

  /** The peer cancelled a relayed re-INVITE: cancel ours (the layer already answered 487 … or we do). */
  cancelReinvite(stx: ServerTransaction): boolean {
    const ctx = this.reinvites.get(stx);
    if (!ctx) return false;
    this.reinvites.delete(stx);
    this.layer.cancel(ctx);
    if (stx.lastStatus < 200) stx.reply(487, 'Request Terminated');
    return true;
  }
}
