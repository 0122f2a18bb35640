/**
 * Text messages (RFC 3428) for an account, store and forward (DESIGN.md flow 5).
 *
 * From the provider: stored first, then 200 (RFC 3428 §7: a 2xx means the message was
 * accepted; we never acknowledge what is not in the database, so nothing acknowledged is lost
 * across a restart), then `NotifyTextMessage`. A database error answers 503 with Retry-After so
 * the provider retries. The store de-duplicates on Call-ID + CSeq, so a retransmission that
 * arrives after the 200 was lost is stored once. `application/im-iscomposing+xml` (RFC 3994)
 * is answered 200 and dropped: a typing indicator for a sleeping phone is worthless. Bodies
 * above `maxMessageBytes` get 413 (RFC 3428 §8 leaves the limit to the server; over UDP the
 * parser's datagram limit answers first, this check is for what gets past it).
 *
 * To the device: when a binding registers (its readiness), the account's pending messages are
 * sent to it one at a time, oldest first, each as a MESSAGE with the original From, body and
 * Content-Type; a message is marked delivered only after the device's 2xx. A failure stops the
 * batch (order is kept) and counts an attempt; the next REGISTER tries again.
 */
import { createRequest, generateCallId, generateTag, type SipMessage } from '../sip/index.js';
import type { StoredMessage } from '../store/messages.js';
import type { ServerTransaction } from '../transaction/index.js';
import { bindingTarget, type TunnelContext } from './context.js';
import { quoteDisplay } from './headers.js';
import { PLACEHOLDER_VIA } from './invite.js';
import { sendOpts } from './relay.js';
import { reachableNow, type TunnelBinding } from './types.js';

const IS_COMPOSING = 'application/im-iscomposing+xml';
export const MESSAGE_ID_HEADER = 'X-Sipis-Message-Id';

export class TextMessages {
  /** accounts with a delivery running → a REGISTER came in meanwhile (run again after). */
  private readonly delivering = new Map<string, TunnelBinding | null>();

  constructor(private readonly ctx: TunnelContext) {}

  handle(tx: ServerTransaction, req: SipMessage, accountId: string): void {
    const ctx = this.ctx;
    const account = ctx.deps.accounts.get(accountId);
    if (!account) return void tx.reply(404, 'Not Found');
    if (req.mediaType === IS_COMPOSING) {
      ctx.counters.messagesDropped++;
      return void tx.reply(200, 'OK');
    }
    if (req.body.length > ctx.config.maxMessageBytes) {
      ctx.counters.messagesRefused++;
      return void tx.reply(413, 'Request Entity Too Large');
    }
    const store = ctx.deps.store;
    if (!store) return void tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '30']] });
    const from = req.from;
    // copy the body: the message's raw buffer is the datagram, kept only as long as the request
    const body = Buffer.from(req.body);
    store
      .store({
        accountId: Number(accountId),
        dedupeKey: `${req.callId} ${req.cseq.seq}`,
        fromUri: from.uri.raw,
        fromDisplay: from.displayName ?? null,
        toUri: req.to.uri.raw,
        contentType: req.header('Content-Type') ?? 'text/plain',
        body,
      })
      .then(
        ({ id, duplicate }) => {
          if (tx.lastStatus < 200) tx.reply(200, 'OK');
          if (duplicate) return;
          ctx.counters.messagesStored++;
          this.push(accountId, id, req, body);
          this.deliverNow(accountId);
        },
        (err: unknown) => {
          ctx.log?.warn({ err, accountId }, 'message not stored');
          if (tx.lastStatus < 200) tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
        },
      );
  }

  /** A device registered: deliver what waits for its account. */
  onRegistered(b: TunnelBinding): void {
    if (!this.ctx.deps.store) return;
    if (this.delivering.has(b.accountId)) {
      this.delivering.set(b.accountId, b);
      return;
    }
    this.delivering.set(b.accountId, null);
    void this.run(b);
  }

  private deliverNow(accountId: string): void {
    // a device awake right now gets the message at once (same rule as calls, incoming.ts)
    const now = this.ctx.now();
    const b = this.ctx.deps.registrar
      .bindingsOf(accountId)
      .find((x) => reachableNow(x, now, this.ctx.config.reachableWindowMs));
    if (b) this.onRegistered(b);
  }

  private async run(first: TunnelBinding): Promise<void> {
    let b: TunnelBinding | null = first;
    while (b) {
      try {
        // the REGISTER that queued this run may be long gone (a delivery before it waited out
        // a silent device's Timer F): deliver to the binding as it is now, not to one unregistered
        const live = this.current(b);
        if (live) await this.deliver(live);
      } catch (err) {
        this.ctx.log?.warn({ err, accountId: b.accountId }, 'message delivery stopped');
      }
      const next: TunnelBinding | null = this.delivering.get(b.accountId) ?? null;
      if (next) this.delivering.set(b.accountId, null);
      else this.delivering.delete(b.accountId);
      b = next;
    }
  }

  /** `b` as the registrar holds it now; undefined once it was removed, expired or its flow failed. */
  private current(b: TunnelBinding): TunnelBinding | undefined {
    const now = this.ctx.now();
    return this.ctx.deps.registrar.bindingsOf(b.accountId).find((x) => x.id === b.id && x.expiresAt > now && !x.flowFailed);
  }

  private async deliver(b: TunnelBinding): Promise<void> {
    const store = this.ctx.deps.store!;
    const pending = await store.listUndelivered(Number(b.accountId), this.ctx.config.deliverBatch);
    for (const m of pending) {
      const status = await this.send(b, m);
      if (status >= 200 && status < 300) {
        await store.markDelivered([m.id]);
        this.ctx.counters.messagesDelivered++;
        continue;
      }
      await store.countAttempt(m.id).catch(() => undefined);
      if (status === 430) await this.ctx.deps.registrar.removeBinding(b.id, 'flow-failed').catch(() => undefined);
      return;
    }
  }

  /** One MESSAGE to a binding; resolves with the final status (408/503 for no answer). */
  private send(b: TunnelBinding, m: StoredMessage): Promise<number> {
    const ctx = this.ctx;
    const account = ctx.deps.accounts.get(b.accountId);
    const headers: Array<[string, string]> = [['Via', PLACEHOLDER_VIA]];
    for (const r of b.path) headers.push(['Route', r]);
    headers.push(
      ['From', `${m.fromDisplay ? `${quoteDisplay(m.fromDisplay)} ` : ''}<${m.fromUri}>;tag=${generateTag()}`],
      ['To', `<${m.toUri ?? account?.aor ?? b.contact}>`],
      ['Call-ID', generateCallId()],
      ['CSeq', '1 MESSAGE'],
      // no Contact: a MESSAGE creates no dialog, and RFC 3428 §4 forbids user agents to insert one
      // RFC 3261 §20.17: when the message was received, since it is delivered later
      ['Date', m.receivedAt.toUTCString()],
      [MESSAGE_ID_HEADER, String(m.id)],
    );
    let req: SipMessage;
    try {
      req = createRequest({ method: 'MESSAGE', uri: b.contact, headers, body: m.body, contentType: m.contentType });
    } catch (err) {
      ctx.log?.warn({ err, id: m.id }, 'stored message cannot be sent');
      return Promise.resolve(400);
    }
    return new Promise((resolve) => {
      ctx.layer.sendRequest(
        req,
        {
          onResponse: (res) => {
            if (res.status >= 200) resolve(res.status);
          },
          onError: (err) => resolve(err.status),
        },
        sendOpts({ target: bindingTarget(b) }),
      );
    });
  }

  private push(accountId: string, id: number, req: SipMessage, body: Buffer): void {
    const ctx = this.ctx;
    const payload: Record<string, unknown> = { messageId: String(id), senderUri: req.from.uri.raw };
    if (req.from.displayName) payload.senderName = req.from.displayName;
    const n = ctx.config.previewChars;
    if (n > 0 && req.mediaType === 'text/plain') {
      const text = body.toString('utf8');
      payload.preview = text.length > n ? `${text.slice(0, n - 1)}…` : text;
    }
    ctx.counters.pushesSent++;
    try {
      ctx.deps.push.sendToAccount('NotifyTextMessage', accountId, payload).then(
        () => ctx.counters.pushesConfirmed++,
        () => ctx.counters.pushesFailed++,
      );
    } catch {
      ctx.counters.pushesFailed++;
    }
  }
}
