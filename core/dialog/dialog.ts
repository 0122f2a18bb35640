/**
 * A dialog (RFC 3261 §12): the state a UA keeps between two peers for one call — Call-ID, local
 * and remote tags, URIs, CSeq numbers, remote target and route set — and the in-dialog requests
 * built from it. Early dialogs (from a 1xx with a To tag) and confirmed ones (from a 2xx); each
 * fork of an INVITE (same Call-ID and local tag, another remote tag) is its own Dialog.
 */
import { createRequest, type SipMessage } from '../sip/index.js';
import { DialogError } from './errors.js';
import { routeRequest } from './route.js';

export type DialogState = 'early' | 'confirmed' | 'terminated';

/** Methods whose request (and 2xx) may change the remote target (§12.2, RFC 3311, RFC 6665). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);

export interface InDialogOptions {
  headers?: Array<[string, string]>;
  body?: Buffer | string;
  contentType?: string;
  /** our Contact for this request (required by §12.2.1.1 for target refresh requests). */
  contact?: string;
}

/**
 * `s` in memory of its own. A parsed message's Call-ID is a slice of the whole header block's
 * text (core/sip decodes the block once and cuts values out of it), and V8 keeps a slice of 13
 * characters or more as a view that holds its parent: a dialog that lives as long as its call
 * would keep the ~0.5 KB header text of the message that created it. The concatenation is
 * flattened into a new string of its own (ToNumber flattens in place, see
 * core/transaction/linger.ts flatten); the slice of that is a view of ~40 characters.
 */
function ownString(s: string): string {
  const c = `\u0000${s}`;
  void Number(c);
  return c.slice(1);
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

export class Dialog {
  state: DialogState;
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** From of our requests (with our tag) and To of them (with theirs), as header field values. */
  readonly localHeader: string;
  readonly remoteHeader: string;
  /** the URI our requests go to (Contact of the peer, §12.1). */
  remoteTarget: string;
  /** Route header values to put on our requests, in order (§12.1.1/§12.1.2). */
  routeSet: string[];
  /** the last CSeq number we used, and the last one the peer used (undefined until it sends one). */
  localSeq: number;
  remoteSeq: number | undefined;
  readonly isUac: boolean;
  /** the CSeq number of the INVITE (or re-INVITE) this dialog's next ACK answers. */
  inviteSeq: number;

  private constructor(init: {
    isUac: boolean;
    state: DialogState;
    callId: string;
    localTag: string;
    remoteTag: string;
    localHeader: string;
    remoteHeader: string;
    remoteTarget: string;
    routeSet: string[];
    localSeq: number;
    remoteSeq: number | undefined;
    inviteSeq: number;
  }) {
    this.isUac = init.isUac;
    this.state = init.state;
    this.callId = ownString(init.callId);
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localHeader = init.localHeader;
    this.remoteHeader = init.remoteHeader;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.inviteSeq = init.inviteSeq;
  }

  /** (Call-ID, local tag, remote tag) as one string, made once: every lookup of the dialog uses it. */
  get key(): string {
    return (this.keyCache ??= dialogKey(this.callId, this.localTag, this.remoteTag));
  }
  private keyCache: string | undefined;

  /**
   * §12.1.2: the UAC side, from the request we sent and a 1xx (early) or 2xx (confirmed) response
   * carrying a To tag. Route set = Record-Route of the response, reversed.
   */
  static asUac(request: SipMessage, response: SipMessage): Dialog {
    const remoteTag = response.to.tag;
    if (!remoteTag) throw new DialogError('ERR_DIALOG_NO_TAG', `${response.status} without a To tag creates no dialog`);
    const target = response.contact[0]?.uri.raw;
    if (!target) throw new DialogError('ERR_DIALOG_NO_TARGET', `${response.status} to ${request.method} has no Contact`);
    return new Dialog({
      isUac: true,
      state: response.status >= 200 ? 'confirmed' : 'early',
      callId: request.callId,
      localTag: request.from.tag ?? '',
      remoteTag,
      localHeader: request.header('From')!,
      remoteHeader: response.header('To')!,
      remoteTarget: target,
      routeSet: response.recordRoute.map((r) => r.raw).reverse(),
      localSeq: request.cseq.seq,
      remoteSeq: undefined,
      inviteSeq: request.cseq.seq,
    });
  }

  /**
   * §12.1.1: the UAS side, from the request received and the 1xx/2xx we answer with (its To
   * carries our tag). Route set = Record-Route of the request, in order.
   */
  static asUas(request: SipMessage, response: SipMessage): Dialog {
    const localTag = response.to.tag;
    if (!localTag) throw new DialogError('ERR_DIALOG_NO_TAG', 'our response has no To tag');
    const target = request.contact[0]?.uri.raw;
    if (!target) throw new DialogError('ERR_DIALOG_NO_TARGET', `${request.method} has no Contact`);
    return new Dialog({
      isUac: false,
      state: response.status >= 200 ? 'confirmed' : 'early',
      callId: request.callId,
      localTag,
      remoteTag: request.from.tag ?? '',
      localHeader: response.header('To')!,
      remoteHeader: request.header('From')!,
      remoteTarget: target,
      routeSet: request.recordRoute.map((r) => r.raw),
      // §12.1.1: our local sequence number is empty; the first request we send starts from 1.
      localSeq: 0,
      remoteSeq: request.cseq.seq,
      inviteSeq: request.cseq.seq,
    });
  }

  /**
   * §12.2.2: checks an in-dialog request and updates the state. Returns the error status to
   * answer with (500 for an out-of-order CSeq), or 0 when the request may be processed.
   */
  receiveRequest(req: SipMessage): number {
    if (this.state === 'terminated') return 481;
    const method = req.method;
    if (method !== 'ACK' && method !== 'CANCEL') {
      const seq = req.cseq.seq;
      if (this.remoteSeq !== undefined && seq < this.remoteSeq) return 500;
      this.remoteSeq = seq;
    }
    if (TARGET_REFRESH.has(method)) {
      const c = req.contact[0];
      if (c && !c.star) this.remoteTarget = c.uri.raw;
    }
    if (method === 'INVITE') this.inviteSeq = req.cseq.seq;
    return 0;
  }

  /**
   * A response to a request we sent in this dialog (or to the INVITE that created it): a 2xx
   * confirms an early dialog and, on the UAC side, fixes the route set from the 2xx (§13.2.2.4);
   * the Contact of a 1xx/2xx to a target refresh request updates the remote target (§12.2.1.2).
   */
  receiveResponse(res: SipMessage): void {
    if (this.state === 'terminated') return;
    const status = res.status;
    const method = res.cseq.method;
    if (status >= 200 && status < 300 && this.state === 'early') {
      this.state = 'confirmed';
      if (this.isUac && method === 'INVITE') this.routeSet = res.recordRoute.map((r) => r.raw).reverse();
    }
    if (status < 300 && TARGET_REFRESH.has(method)) {
      const c = res.contact[0];
      if (c && !c.star) this.remoteTarget = c.uri.raw;
    }
    // §12.3: 481 and 408 to an in-dialog request end the dialog.
    if (status === 481 || (status === 408 && method !== 'INVITE')) this.state = 'terminated';
  }

  /** §12.2.1.1: a new request inside the dialog (BYE, re-INVITE, UPDATE, INFO, …), CSeq + 1. */
  createRequest(method: string, opts: InDialogOptions = {}): SipMessage {
    if (this.state === 'terminated') throw new DialogError('ERR_DIALOG_TERMINATED', `${method} in a terminated dialog`);
    const seq = ++this.localSeq;
    if (method === 'INVITE') this.inviteSeq = seq;
    return this.build(method, seq, opts);
  }

  /** §13.2.2.4: the ACK for a 2xx: the INVITE's CSeq number, method ACK, same routing. */
  createAck(opts: InDialogOptions = {}): SipMessage {
    return this.build('ACK', this.inviteSeq, opts);
  }

  /** RFC 3262 §7.2: PRACK for a reliable provisional response, RAck = RSeq CSeq-num CSeq-method. */
  createPrack(reliable: SipMessage, opts: InDialogOptions = {}): SipMessage {
    const rseq = reliable.header('RSeq')?.trim();
    if (!rseq || !/^\d+$/.test(rseq)) throw new DialogError('ERR_DIALOG_NO_TARGET', 'response has no RSeq: not a reliable provisional response');
    const rack: [string, string] = ['RAck', `${rseq} ${reliable.cseq.seq} ${reliable.cseq.method}`];
    return this.createRequest('PRACK', { ...opts, headers: [rack, ...(opts.headers ?? [])] });
  }

  terminate(): void {
    this.state = 'terminated';
  }

  private build(method: string, seq: number, opts: InDialogOptions): SipMessage {
    const routed = routeRequest(this.remoteTarget, this.routeSet);
    const headers: Array<[string, string]> = [
      // a placeholder the transaction layer replaces with ours (createRequest needs a Via)
      ['Via', 'SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bKdialog'],
      ['From', this.localHeader],
      ['To', this.remoteHeader],
      ['Call-ID', this.callId],
      ['CSeq', `${seq} ${method}`],
    ];
    for (const r of routed.routes) headers.push(['Route', r]);
    if (opts.contact) headers.push(['Contact', opts.contact]);
    if (opts.headers) headers.push(...opts.headers);
    return createRequest({ method, uri: routed.uri, headers, body: opts.body, contentType: opts.contentType });
  }
}
