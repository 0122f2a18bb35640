/**
 * What the tunnel's parts (incoming calls, outgoing relay, text messages) share: the layer, the
 * dialogs of every bridged call and the index from a dialog to the call or pair it belongs to,
 * the counters, and small helpers (our Contact, the destination of a binding).
 */
import type { Logger } from 'pino';
import type { Dialog, DialogStore } from '../dialog/index.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { Endpoint } from '../transport/index.js';
import { hostForUri } from '../transport/index.js';
import { contactUserFor } from '../upstream/contact.js';
import type { BridgedCall } from './call.js';
import { parseHostPort } from './headers.js';
import type { DialogPair, Relay, Side } from './relay.js';
import type { SetupTime } from './setup-time.js';
import type { TunnelBinding, TunnelConfig, TunnelCounters, TunnelDeps } from './types.js';

export interface DialogEntry {
  call?: BridgedCall;
  pair?: DialogPair;
  side?: Side;
}

export interface TunnelContext {
  readonly deps: TunnelDeps;
  readonly layer: TransactionLayer;
  readonly dialogs: DialogStore;
  readonly relay: Relay;
  readonly config: TunnelConfig;
  readonly counters: TunnelCounters;
  readonly setupTime: SetupTime;
  readonly log: Logger | undefined;
  readonly now: () => number;
  /** dialog key → what it belongs to. */
  readonly byDialog: Map<string, DialogEntry>;
}

/** Our Contact for an account, as seen from `remote` (the socket of that family, §18.1.1). */
export function contactFor(ctx: TunnelContext, accountId: string, remote: Endpoint | undefined): string {
  const hint = remote ?? { address: '127.0.0.1', port: 5060 };
  const sb = ctx.layer.transport.sentBy(hint);
  return `<sip:${contactUserFor(accountId)}@${hostForUri(sb.host)}:${sb.port}>`;
}

/**
 * Where requests to a binding go: with a Path, the route decides (the bridge, RFC 3327);
 * without one, the address its datagrams came from (RFC 5626 §5.3: a phone behind NAT is
 * reachable only through the flow it opened, not at the private address of its Contact).
 */
export function bindingTarget(b: TunnelBinding): Endpoint | undefined {
  if (b.path.length > 0) return undefined;
  return parseHostPort(b.flow.via);
}

/** The address requests to a binding leave towards (for our Contact's address family). */
export function bindingHint(b: TunnelBinding): Endpoint | undefined {
  return parseHostPort(b.flow.via);
}

/**
 * Indexes `entry` under a dialog key. An entry it replaces is emptied first: a hash table V8
 * discarded may still point at it, and must not keep the call alive through it (incoming.ts, Held).
 */
export function setDialogEntry(ctx: TunnelContext, key: string, entry: DialogEntry): void {
  const old = ctx.byDialog.get(key);
  if (old) old.call = old.pair = old.side = undefined;
  ctx.byDialog.set(key, entry);
}

/** Indexes a pair's two dialogs and removes them when the pair ends. */
export function registerPair(ctx: TunnelContext, pair: DialogPair, onEnd?: () => void): void {
  setDialogEntry(ctx, pair.a.dialog.key, { pair, side: pair.a });
  setDialogEntry(ctx, pair.b.dialog.key, { pair, side: pair.b });
  pair.onEnd = () => {
    forgetDialog(ctx, pair.a.dialog);
    forgetDialog(ctx, pair.b.dialog);
    onEnd?.();
  };
}

export function forgetDialog(ctx: TunnelContext, d: Dialog): void {
  const e = ctx.byDialog.get(d.key);
  if (e) e.call = e.pair = e.side = undefined;
  ctx.byDialog.delete(d.key);
  ctx.dialogs.delete(d);
}
