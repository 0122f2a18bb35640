/**
 * The dialogs a UA holds, by (Call-ID, local tag, remote tag) (§12). A request's dialog is
 * found by its To tag (ours) and From tag (theirs); a response's by its From tag (ours) and To
 * tag (theirs). Forked early dialogs share Call-ID and local tag and differ in the remote tag,
 * so they are separate entries.
 */
import type { SipMessage } from '../sip/index.js';
import { ChurnMap } from '../transaction/churn-map.js';
import { Dialog, dialogKey } from './dialog.js';

export class DialogStore {
  /** entries come and go with every call: a ChurnMap (core/transaction/churn-map.ts says why). */
  private readonly dialogs = new ChurnMap<string, Dialog>();

  get size(): number {
    return this.dialogs.size;
  }

  add(d: Dialog): Dialog {
    this.dialogs.set(d.key, d);
    return d;
  }

  get(callId: string, localTag: string, remoteTag: string): Dialog | undefined {
    return this.dialogs.get(dialogKey(callId, localTag, remoteTag));
  }

  /** The dialog an incoming request belongs to (undefined: out of dialog, or unknown → 481). */
  matchRequest(req: SipMessage): Dialog | undefined {
    const local = req.to.tag;
    if (!local) return undefined;
    return this.dialogs.get(dialogKey(req.callId, local, req.from.tag ?? ''));
  }

  /** The dialog a response to our request belongs to. */
  matchResponse(res: SipMessage): Dialog | undefined {
    const remote = res.to.tag;
    if (!remote) return undefined;
    return this.dialogs.get(dialogKey(res.callId, res.from.tag ?? '', remote));
  }

  /**
   * UAC: the dialog for a 1xx/2xx to our INVITE, created on first sight (one per remote tag:
   * forks stay apart), updated otherwise. Undefined for a response without To tag.
   */
  fromResponse(invite: SipMessage, res: SipMessage): Dialog | undefined {
    if (!res.to.tag || res.status >= 300 || res.status === 100) return undefined;
    const found = this.matchResponse(res);
    if (found) {
      found.receiveResponse(res);
      return found;
    }
    if (!res.contact.length) return undefined;
    return this.add(Dialog.asUac(invite, res));
  }

  /** The early dialogs of one INVITE (same Call-ID and local tag), e.g. to end the losing forks. */
  forks(callId: string, localTag: string): Dialog[] {
    const out: Dialog[] = [];
    for (const d of this.dialogs.values()) if (d.callId === callId && d.localTag === localTag) out.push(d);
    return out;
  }

  delete(d: Dialog): void {
    if (this.dialogs.get(d.key) === d) this.dialogs.delete(d.key);
  }
}
