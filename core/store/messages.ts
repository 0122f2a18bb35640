/**
 * Text messages waiting for a device (RFC 3428), pending and missed calls, badge counts.
 * A MESSAGE is stored before it is acknowledged, so nothing acknowledged is lost across a restart.
 */
import type { Pool } from './pool.js';

export interface MessageInput {
  accountId: number;
  /** Call-ID + CSeq of the MESSAGE: the same request retransmitted is stored once. */
  dedupeKey?: string | null;
  fromUri: string;
  fromDisplay?: string | null;
  toUri?: string | null;
  contentType: string;
  body: Buffer;
}

export interface StoredMessage {
  id: number;
  accountId: number;
  fromUri: string;
  fromDisplay: string | null;
  toUri: string | null;
  contentType: string;
  body: Buffer;
  receivedAt: Date;
  attempts: number;
}

interface MessageRow {
  id: string;
  account_id: string;
  from_uri: string;
  from_display: string | null;
  to_uri: string | null;
  content_type: string;
  body: Buffer;
  received_at: Date;
  attempts: number;
}

export type CallOutcome = 'answered' | 'missed' | 'answered-elsewhere' | 'no-response' | 'failed';

export interface PendingCallInput {
  callId: string;
  accountId: number;
  fromUri: string;
  fromDisplay?: string | null;
}

export interface MissedCall {
  id: number;
  callId: string;
  fromUri: string;
  fromDisplay: string | null;
  startedAt: Date;
  endedAt: Date;
  outcome: Exclude<CallOutcome, 'answered'>;
}

export class MessageStore {
  constructor(private readonly pool: Pool) {}

  /** stores a message (idempotent per dedupeKey); `duplicate` when it was already there. */
  async store(m: MessageInput): Promise<{ id: number; duplicate: boolean }> {
    const rows = await this.pool.execute<{ id: string; inserted: boolean }>(
      'message_store',
      `WITH ins AS (
         INSERT INTO message (account_id, dedupe_key, from_uri, from_display, to_uri, content_type, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (account_id, dedupe_key) DO NOTHING RETURNING id)
       SELECT id, true AS inserted FROM ins
       UNION ALL
       SELECT id, false FROM message WHERE account_id = $1 AND dedupe_key = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [m.accountId, m.dedupeKey ?? null, m.fromUri, m.fromDisplay ?? null, m.toUri ?? null, m.contentType, m.body],
    );
    if (rows[0]) return { id: Number(rows[0].id), duplicate: !rows[0].inserted };
    // the duplicate was committed by another session after this statement's snapshot
    const again = await this.pool.query<{ id: string }>('SELECT id FROM message WHERE account_id = $1 AND dedupe_key = $2', [m.accountId, m.dedupeKey ?? null]);
    return { id: Number(again[0]!.id), duplicate: true };
  }

  /** oldest first. */
  async listUndelivered(accountId: number, limit = 100): Promise<StoredMessage[]> {
    const rows = await this.pool.execute<MessageRow>(
      'message_undelivered',
      `SELECT id, account_id, from_uri, from_display, to_uri, content_type, body, received_at, attempts
       FROM message WHERE account_id = $1 AND delivered_at IS NULL ORDER BY id LIMIT $2`,
      [accountId, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      accountId: Number(r.account_id),
      fromUri: r.from_uri,
      fromDisplay: r.from_display,
      toUri: r.to_uri,
      contentType: r.content_type,
      body: r.body,
      receivedAt: r.received_at,
      attempts: r.attempts,
    }));
  }

  async markDelivered(ids: readonly number[]): Promise<number> {
    if (!ids.length) return 0;
    const rows = await this.pool.query(
      'UPDATE message SET delivered_at = now() WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL RETURNING id',
      [`{${ids.map((i) => Math.trunc(i)).join(',')}}`],
    );
    return rows.length;
  }

  async countAttempt(id: number): Promise<void> {
    await this.pool.query('UPDATE message SET attempts = attempts + 1 WHERE id = $1', [id]);
  }

  /** a call waiting for a woken device. Idempotent on Call-ID. */
  async startPendingCall(c: PendingCallInput): Promise<void> {
    await this.pool.query(
      `INSERT INTO pending_call (call_id, account_id, from_uri, from_display) VALUES ($1, $2, $3, $4)
       ON CONFLICT (call_id) DO NOTHING`,
      [c.callId, c.accountId, c.fromUri, c.fromDisplay ?? null],
    );
  }

  /** ends a pending call; every outcome but 'answered' is kept as a missed call. */
  async finishPendingCall(callId: string, outcome: CallOutcome): Promise<boolean> {
    const rows = await this.pool.query(
      `WITH done AS (DELETE FROM pending_call WHERE call_id = $1 RETURNING *)
       INSERT INTO missed_call (account_id, call_id, from_display, from_uri, started_at, outcome)
       SELECT account_id, call_id, from_display, from_uri, started_at, $2 FROM done WHERE $2 <> 'answered'
       ON CONFLICT (account_id, call_id) DO NOTHING
       RETURNING id`,
      [callId, outcome],
    );
    return outcome === 'answered' || rows.length > 0;
  }

  async listPendingCalls(): Promise<Array<PendingCallInput & { startedAt: Date }>> {
    const rows = await this.pool.query<{ call_id: string; account_id: string; from_uri: string; from_display: string | null; started_at: Date }>(
      'SELECT call_id, account_id, from_uri, from_display, started_at FROM pending_call ORDER BY started_at',
    );
    return rows.map((r) => ({ callId: r.call_id, accountId: Number(r.account_id), fromUri: r.from_uri, fromDisplay: r.from_display, startedAt: r.started_at }));
  }

  async listMissedCalls(accountId: number, limit = 50): Promise<MissedCall[]> {
    const rows = await this.pool.query<{ id: string; call_id: string; from_uri: string; from_display: string | null; started_at: Date; ended_at: Date; outcome: MissedCall['outcome'] }>(
      'SELECT id, call_id, from_uri, from_display, started_at, ended_at, outcome FROM missed_call WHERE account_id = $1 ORDER BY started_at DESC LIMIT $2',
      [accountId, limit],
    );
    return rows.map((r) => ({ id: Number(r.id), callId: r.call_id, fromUri: r.from_uri, fromDisplay: r.from_display, startedAt: r.started_at, endedAt: r.ended_at, outcome: r.outcome }));
  }

  /** adds `delta` to the badge (never below 0) and returns the new count. */
  async bumpBadge(accountId: number, delta: number): Promise<number> {
    const rows = await this.pool.query<{ count: number }>(
      `INSERT INTO badge (account_id, count) VALUES ($1, greatest(0, $2::int))
       ON CONFLICT (account_id) DO UPDATE SET count = greatest(0, badge.count + $2::int), updated_at = now()
       RETURNING count`,
      [accountId, delta],
    );
    return rows[0]!.count;
  }
}
