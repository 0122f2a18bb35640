/**
 * The bindings in memory: by id, by account and instance, by push token; and their expiry on
 * one min-heap (core/upstream's DueHeap) that the registrar's single sweep timer drains.
 * Lookups (`bindingsOf`) never touch the database.
 */
import { DueHeap, type HeapItem } from '../upstream/due-heap.js';
import type { Binding } from './types.js';

export interface BindingRecord extends HeapItem {
  binding: Binding;
  /** RFC 3261 §10.3 step 7: the Call-ID and CSeq of the REGISTER that last updated it. */
  callId: string;
  cseq: number;
  /** the Contact's `+sip.instance` as sent (echoed in the 200), when there was one. */
  instanceParam?: string;
  /** its RFC 5626 reg-id (echoed in the 200); not kept across a restart, the next refresh brings it. */
  regId?: string;
}

export class BindingTable {
  private readonly byId = new Map<string, BindingRecord>();
  private readonly byAccount = new Map<string, Map<string, BindingRecord>>();
  private readonly byToken = new Map<string, Set<string>>();
  private readonly heap = new DueHeap<BindingRecord>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): BindingRecord | undefined {
    return this.byId.get(id);
  }

  find(accountId: string, instanceId: string): BindingRecord | undefined {
    return this.byAccount.get(accountId)?.get(instanceId);
  }

  /** every record of the account, expired or not (the sweep may lag by one tick). */
  ofAccount(accountId: string): Iterable<BindingRecord> {
    return this.byAccount.get(accountId)?.values() ?? [];
  }

  /** ids of the bindings holding this token. */
  withToken(token: string): string[] {
    return [...(this.byToken.get(token) ?? [])];
  }

  /** inserts or replaces (same id) a record and schedules its expiry. */
  put(rec: BindingRecord): void {
    const b = rec.binding;
    const old = this.byId.get(b.id);
    if (old && old !== rec) this.remove(b.id);
    this.byId.set(b.id, rec);
    let m = this.byAccount.get(b.accountId);
    if (!m) this.byAccount.set(b.accountId, (m = new Map()));
    const clash = m.get(b.instanceId);
    if (clash && clash !== rec) this.remove(clash.binding.id);
    m.set(b.instanceId, rec);
    this.indexTokens(rec);
    this.heap.schedule(rec, b.expiresAt);
  }

  /** re-indexes tokens after `rec.binding.pushTargets` changed. */
  reindexTokens(rec: BindingRecord, oldTokens: readonly string[]): void {
    for (const t of oldTokens) this.unindexToken(t, rec.binding.id);
    this.indexTokens(rec);
  }

  remove(id: string): BindingRecord | undefined {
    const rec = this.byId.get(id);
    if (!rec) return undefined;
    this.byId.delete(id);
    const m = this.byAccount.get(rec.binding.accountId);
    if (m?.get(rec.binding.instanceId) === rec) {
      m.delete(rec.binding.instanceId);
      if (m.size === 0) this.byAccount.delete(rec.binding.accountId);
    }
    for (const t of rec.binding.pushTargets) this.unindexToken(t.token, id);
    this.heap.cancel(rec);
    return rec;
  }

  /** removes and returns the next record whose expiry is at or before `now`. */
  popExpired(now: number): BindingRecord | undefined {
    const rec = this.heap.popDue(now);
    if (!rec) return undefined;
    this.remove(rec.binding.id);
    return rec;
  }

  all(): IterableIterator<BindingRecord> {
    return this.byId.values();
  }

  private indexTokens(rec: BindingRecord): void {
    for (const t of rec.binding.pushTargets) {
      let s = this.byToken.get(t.token);
      if (!s) this.byToken.set(t.token, (s = new Set()));
      s.add(rec.binding.id);
    }
  }

  private unindexToken(token: string, id: string): void {
    const s = this.byToken.get(token);
    if (!s) return;
    s.delete(id);
    if (s.size === 0) this.byToken.delete(token);
  }
}
