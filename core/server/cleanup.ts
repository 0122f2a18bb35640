/**
 * The clean-up sweep (sipis-facts "Clean-up"): a device binding not seen for 3 days (7 for
 * premium accounts) is removed; an account whose upstream registration has been failing for
 * 12 hours is switched off; both get warning pushes 12 h and 1 h before, and a last push when it
 * happens, with the two verbs of the push protocol made for it (core/push/protocol.ts): an alert
 * NotifyExpiryWarning with `expiresAt` (when it happens) and a text, then NotifyInstanceOff with
 * a `reason` and a text. Internally (metrics, logs) each push has a clean-up reason:
 *
 *   device   expiring              ×N warnings, then  removed             (InstanceOff reason `unseen`)
 *   account  registration-failing  ×N warnings, then  registration-failed (to each of its devices)
 *
 * One pass at a time (a timer armed after each pass; never overlapping), each bounded
 * (`batchSize` rows per statement, `maxPerPass` rows looked at, the next pass resuming where this
 * one stopped). Every decision is re-checked by the statement that acts (core/store/cleanup.ts),
 * so two sipis processes never act twice on a row; besides, a process acts only on the accounts
 * its shard owns (the owner holds the account's bindings in memory and runs its registration).
 *
 * Removal is the device registrar's: the row goes (DELETE that re-checks `last_seen`), then the
 * registrar drops it from memory as it would for an Expires: 0 (`bindingsDeleted`). Switch-off is
 * `sipis-ctl account disable`'s: `enabled = false` on the row, whose NOTIFY makes the owner's
 * upstream engine send the unREGISTER; the reason is kept in `account.disabled_reason`.
 *
 * Nobody is removed or switched off untold: the act waits until a warning for that due time
 * went out at least the shortest warning offset before (so a device whose warnings were missed,
 * while sipis or the database was down or when the sweep was first deployed, is warned first
 * and removed an hour later), and an account is warned only after 10 minutes of failure (a
 * provider's blip is no reason to alert its users).
 *
 * Pushes are best-effort: sent after the database work, never awaited by the pass, at most
 * MAX_PENDING_PUSHES at a time (the push client's queue is shared with calls): a page is acted
 * on only when its pushes fit, waiting for earlier ones to drain for up to half an interval,
 * else left to the next pass. A warning counts as sent when it is claimed; a mediator that is
 * down loses it, and delays nothing. A database that is down fails the pass (logged, counted);
 * the next one tries again.
 */
import type { Logger } from 'pino';
import { pickTarget, type PushClient, type SendOutcome } from '../push/index.js';
import { pushTargetsOf } from '../registrar/stored.js';
import type { CleanupAges, CleanupCandidate, CleanupToken, Store } from '../store/index.js';
import { settleWithin } from './admin.js';
import type { SipisConfig } from './config.js';
import { counter, gauge, type Metric } from './metrics.js';

/** pushes of the clean-up outstanding at most (queued or in flight at the push client): a pass waits for room. */
export const MAX_PENDING_PUSHES = 256;

export type CleanupReason = 'expiring' | 'removed' | 'registration-failing' | 'registration-failed';
const REASONS: readonly CleanupReason[] = ['expiring', 'removed', 'registration-failing', 'registration-failed'];
/**
 * The alert texts (English; an app that shows its own reads `expiresAt`, and the verb and
 * `reason` of NotifyInstanceOff). The time is written in UTC, as ISO 8601 without milliseconds.
 */
const WARNING_TEXT: Record<'expiring' | 'registration-failing', (at: string) => string> = {
  expiring: (at) => `This phone stops receiving calls at ${at.slice(0, 16).replace('T', ' ')} UTC unless the app is opened before then.`,
  'registration-failing': (at) => `Your provider keeps refusing the registration: calls stop at ${at.slice(0, 16).replace('T', ' ')} UTC unless it recovers.`,
};
const OFF_TEXT: Record<'removed' | 'registration-failed', string> = {
  removed: 'This phone no longer receives calls: open the app to receive them again.',
  'registration-failed': 'Calls are switched off: your provider kept refusing the registration.',
};

/** what became of a clean-up push: the push client's outcome, or why none was sent. */
export type CleanupPushOutcome = SendOutcome | 'no-token' | 'no-mediator' | 'dropped';
const OUTCOMES: readonly CleanupPushOutcome[] = ['delivered', 'token-dead', 'rejected', 'retry-later', 'failed', 'no-token', 'no-mediator', 'dropped'];

/** What the sweep needs of the device registrar (core/registrar DeviceRegistrar fits). */
export interface BindingsMemory {
  bindingsDeleted(ids: readonly string[], reason: 'stale'): unknown;
}

export interface CleanupOptions {
  store: Store;
  config: SipisConfig['cleanup'];
  /** does this process own the account with this shard key (core/server/app.ts shardPredicate)? */
  owns: (shardKey: string) => boolean;
  /** absent with devices off. */
  registrar?: BindingsMemory | undefined;
  /** absent without a mediator: nothing is pushed, the rest happens all the same. */
  push?: PushClient | undefined;
  log: Logger;
  /** the clock (ms), for tests. */
  now?: () => number;
}

export interface CleanupCounters {
  passes: number;
  failures: number;
  deviceWarnings: number;
  accountWarnings: number;
  devicesRemoved: number;
  accountsSwitchedOff: number;
}

/** What one pass did (or why it failed). */
export interface PassReport {
  ok: boolean;
  error?: string;
  deviceWarnings: number;
  devicesRemoved: number;
  accountWarnings: number;
  accountsSwitchedOff: number;
  /** rows looked at (devices + accounts). */
  examined: number;
  ms: number;
}

export class CleanupSweeper {
  readonly counters: CleanupCounters = { passes: 0, failures: 0, deviceWarnings: 0, accountWarnings: 0, devicesRemoved: 0, accountsSwitchedOff: 0 };
  /** pushes by reason and outcome. */
  private readonly pushCounts = new Map<string, number>();
  private readonly ages: CleanupAges;
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PassReport> | undefined;
  private closed = false;
  private readonly pending = new Set<Promise<void>>();
  /** keyset cursors: a pass cut short by maxPerPass resumes here. */
  private cursor = { devices: '', accounts: '' };
  lastPassAt: number | undefined;
  lastSuccessAt: number | undefined;
  lastError: string | undefined;

  constructor(private readonly opts: CleanupOptions) {
    const c = opts.config;
    this.ages = { staleMs: c.staleAfterS * 1000, premiumStaleMs: c.premiumStaleAfterS * 1000, failingMs: c.failingAfterS * 1000, warningsMs: c.warningsS.map((w) => w * 1000) };
    this.log = opts.log.child({ component: 'cleanup' });
    this.now = opts.now ?? Date.now;
  }

  /** Arms the timer: the first pass after `firstDelayMs` (default: the interval, at most a minute). */
  start(firstDelayMs = Math.min(60_000, this.opts.config.intervalS * 1000)): void {
    if (this.closed || this.timer) return;
    this.arm(firstDelayMs);
    this.log.info({ intervalS: this.opts.config.intervalS, staleAfterS: this.opts.config.staleAfterS, premiumStaleAfterS: this.opts.config.premiumStaleAfterS, failingAfterS: this.opts.config.failingAfterS, warningsS: this.opts.config.warningsS }, 'clean-up sweep armed');
  }

  /**
   * Stops the timer; resolves when the pass in progress has ended (it stops after its current
   * page: what a statement committed is acted on, its pushes handed out) and the pushes in flight
   * have their outcome, or after `graceMs`, whichever comes first.
   */
  async close(graceMs = 3000): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await settleWithin(
      (async () => {
        await this.running;
        await this.drained();
      })(),
      graceMs,
    );
  }

  /** One pass now, or the one already running. Never rejects. */
  runOnce(): Promise<PassReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** resolves when every push handed out so far has its outcome (tests, shutdown). */
  async drained(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** pushes sent (or not) for a reason and outcome. */
  pushes(reason: CleanupReason, outcome: CleanupPushOutcome): number {
    return this.pushCounts.get(`${reason} ${outcome}`) ?? 0;
  }

  metrics(): Metric[] {
    const c = this.counters;
    const pushSamples: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const reason of REASONS) for (const outcome of OUTCOMES) {
      const value = this.pushes(reason, outcome);
      if (value > 0 || outcome === 'delivered') pushSamples.push({ labels: { reason, outcome }, value });
    }
    return [
      counter('sipis_cleanup_sweeps_total', 'clean-up passes completed without error', c.passes),
      counter('sipis_cleanup_sweep_failures_total', 'clean-up passes that failed (database unreachable or refusing); the next pass tries again', c.failures),
      {
        name: 'sipis_cleanup_warnings_total',
        help: 'warnings issued before a removal (device) or a switch-off (account); an account warning is pushed to each of its devices',
        type: 'counter',
        samples: [
          { labels: { subject: 'device' }, value: c.deviceWarnings },
          { labels: { subject: 'account' }, value: c.accountWarnings },
        ],
      },
      counter('sipis_cleanup_devices_removed_total', 'device bindings removed for not being seen for too long', c.devicesRemoved),
      counter('sipis_cleanup_accounts_switched_off_total', 'accounts disabled because their upstream registration kept failing', c.accountsSwitchedOff),
      { name: 'sipis_cleanup_pushes_total', help: 'clean-up pushes (NotifyExpiryWarning, NotifyInstanceOff) by clean-up reason and outcome', type: 'counter', samples: pushSamples },
      gauge('sipis_cleanup_last_success_timestamp_seconds', 'when the last clean-up pass succeeded (0: none yet)', this.lastSuccessAt === undefined ? 0 : Math.floor(this.lastSuccessAt / 1000)),
    ];
  }

  /** for /status: the sweep's own state (the switched-off accounts come from the database). */
  status(): { enabled: true; intervalS: number; passes: number; failures: number; lastPassAt: string | null; lastSuccessAt: string | null; lastError: string | null; pendingPushes: number } {
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    return {
      enabled: true,
      intervalS: this.opts.config.intervalS,
      passes: this.counters.passes,
      failures: this.counters.failures,
      lastPassAt: iso(this.lastPassAt),
      lastSuccessAt: iso(this.lastSuccessAt),
      lastError: this.lastError ?? null,
      pendingPushes: this.pending.size,
    };
  }

  /**
   * Waits until `n` more pushes fit under MAX_PENDING_PUSHES (an account's go to each of its
   * devices: n is a floor), or false at `deadline` or shutdown.
   */
  private async room(n: number, deadline: number): Promise<boolean> {
    const want = Math.min(n, MAX_PENDING_PUSHES);
    while (this.pending.size + want > MAX_PENDING_PUSHES) {
      const left = deadline - Date.now();
      if (this.closed || left <= 0) return false;
      await settleWithin(Promise.race([...this.pending]), Math.min(left, 1000));
    }
    return true;
  }

  private arm(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then(() => this.arm(this.opts.config.intervalS * 1000));
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<PassReport> {
    const started = Date.now();
    const now = new Date(this.now());
    const report: PassReport = { ok: true, deviceWarnings: 0, devicesRemoved: 0, accountWarnings: 0, accountsSwitchedOff: 0, examined: 0, ms: 0 };
    this.lastPassAt = now.getTime();
    try {
      await this.accounts(now, report);
      await this.devices(now, report);
      this.counters.passes++;
      this.lastSuccessAt = now.getTime();
      this.lastError = undefined;
    } catch (err) {
      // a dead or refusing database: the rows stay as they are, the next pass finds them again
      report.ok = false;
      report.error = (err as Error).message;
      this.counters.failures++;
      this.lastError = report.error;
      // at shutdown the store closes under a pass: not worth a warning
      if (this.closed) this.log.debug({ err: report.error }, 'clean-up pass cut short by shutdown');
      else this.log.warn({ err: report.error, code: (err as { code?: string }).code }, 'clean-up pass failed; the next one tries again');
    }
    report.ms = Date.now() - started;
    if (report.deviceWarnings || report.devicesRemoved || report.accountWarnings || report.accountsSwitchedOff) {
      const { ok, error, ...rest } = report;
      this.log.info({ ...rest, ok, ...(error ? { error } : {}) }, 'clean-up pass');
    }
    return report;
  }

  /** candidates of one kind, page by page from the cursor, up to maxPerPass; `act` gets our shard's. */
  private async scan(
    kind: 'devices' | 'accounts',
    now: Date,
    report: PassReport,
    act: (mine: CleanupCandidate[]) => Promise<void>,
  ): Promise<void> {
    const { batchSize, maxPerPass } = this.opts.config;
    let budget = maxPerPass;
    // a pass waits for its pushes to drain at most half an interval, then leaves the rest to the next
    const deadline = Date.now() + (this.opts.config.intervalS * 1000) / 2;
    while (budget > 0 && !this.closed) {
      const limit = Math.min(batchSize, budget);
      const after = this.cursor[kind];
      const page = kind === 'devices' ? await this.opts.store.cleanup.deviceCandidates(now, this.ages, after, limit) : await this.opts.store.cleanup.accountCandidates(now, this.ages, after, limit);
      report.examined += page.rows.length;
      budget -= page.rows.length;
      const mine = page.rows.filter((r) => this.opts.owns(r.shardKey));
      if (mine.length > 0) {
        // pushes are claimed only when they can be sent: a claimed warning that is dropped is lost
        if (!(await this.room(mine.length, deadline))) return;
        await act(mine);
      }
      // the end of the table: the next pass starts from the beginning again
      this.cursor[kind] = page.next ?? '';
      if (page.next === null) return;
    }
  }

  private async devices(now: Date, report: PassReport): Promise<void> {
    const store = this.opts.store.cleanup;
    await this.scan('devices', now, report, async (mine) => {
      const removed = await store.removeDevices(
        mine.filter((r) => r.due).map((r) => r.id),
        now,
        this.ages,
      );
      if (removed.length > 0) {
        this.opts.registrar?.bindingsDeleted(
          removed.map((d) => String(d.deviceId)),
          'stale',
        );
        this.counters.devicesRemoved += removed.length;
        report.devicesRemoved += removed.length;
        for (const d of removed) {
          this.log.info({ device: d.deviceId, account: d.accountId, lastSeen: new Date(d.lastSeen).toISOString() }, 'stale device removed');
          this.notify(d.accountId, d.tokens, 'removed');
        }
      }
      // the rest, overdue ones too: a device whose warnings were missed is warned before it goes
      const gone = new Set(removed.map((d) => d.deviceId));
      const warned = await store.warnDevices(
        mine.filter((r) => !gone.has(r.id)).map((r) => r.id),
        now,
        this.ages,
      );
      this.counters.deviceWarnings += warned.length;
      report.deviceWarnings += warned.length;
      for (const d of warned) {
        const expiresAt = new Date(d.dueAt).toISOString();
        this.log.debug({ device: d.deviceId, account: d.accountId, stage: d.stage, removalAt: expiresAt }, 'stale device warned');
        this.notify(d.accountId, d.tokens, 'expiring', expiresAt);
      }
    });
  }

  private async accounts(now: Date, report: PassReport): Promise<void> {
    const store = this.opts.store.cleanup;
    await this.scan('accounts', now, report, async (mine) => {
      const off = await store.switchOffAccounts(
        mine.filter((r) => r.due).map((r) => r.id),
        now,
        this.ages,
      );
      const offIds = new Set(off.map((a) => a.accountId));
      const warned = await store.warnAccounts(
        mine.filter((r) => !offIds.has(r.id)).map((r) => r.id),
        now,
        this.ages,
      );
      this.counters.accountsSwitchedOff += off.length;
      report.accountsSwitchedOff += off.length;
      this.counters.accountWarnings += warned.length;
      report.accountWarnings += warned.length;
      for (const a of off) this.log.warn({ account: a.accountId, aor: a.aor, reason: a.reason }, 'account switched off: its registration kept failing');
      for (const a of warned) this.log.info({ account: a.accountId, stage: a.stage, failingSince: new Date(a.failingSince).toISOString(), switchOffAt: new Date(a.dueAt).toISOString() }, 'failing account warned');
      if (off.length + warned.length === 0) return;
      // whom to tell: every device of those accounts (best-effort, like the pushes themselves)
      const devices = await store.devicesOf([...off.map((a) => a.accountId), ...warned.map((a) => a.accountId)]);
      const dueOf = new Map(warned.map((a) => [a.accountId, new Date(a.dueAt).toISOString()]));
      for (const d of devices) {
        if (offIds.has(d.accountId)) this.notify(d.accountId, d.tokens, 'registration-failed');
        else this.notify(d.accountId, d.tokens, 'registration-failing', dueOf.get(d.accountId)!);
      }
    });
  }

  /**
   * The push of one clean-up step to a device's remote (or FCM) token: a warning (with the time
   * it happens, `expiresAt`) or the news that it happened; never throws, never awaited by the pass.
   */
  private notify(accountId: number, tokens: readonly CleanupToken[], reason: CleanupReason, expiresAt = ''): void {
    const push = this.opts.push;
    if (!push) return this.count(reason, 'no-mediator');
    const warning = reason === 'expiring' || reason === 'registration-failing';
    const verb = warning ? 'NotifyExpiryWarning' : 'NotifyInstanceOff';
    const target = pickTarget(pushTargetsOf(tokens), verb);
    if (!target) return this.count(reason, 'no-token');
    if (this.pending.size >= MAX_PENDING_PUSHES) return this.count(reason, 'dropped');
    const opts = { selector: String(accountId) };
    const sent = warning
      ? push.send('NotifyExpiryWarning', target, { expiresAt, text: WARNING_TEXT[reason](expiresAt) }, opts)
      : push.send('NotifyInstanceOff', target, { reason: reason === 'removed' ? 'unseen' : 'registration-failed', text: OFF_TEXT[reason] }, opts);
    const p: Promise<void> = sent
      .then(
        (r) => {
          this.count(reason, r.outcome);
          if (r.outcome !== 'delivered') this.log.debug({ account: accountId, reason, outcome: r.outcome, why: r.reason }, 'clean-up push not delivered');
        },
        (err: unknown) => {
          this.count(reason, 'failed');
          this.log.debug({ account: accountId, reason, err: (err as Error).message }, 'clean-up push failed');
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private count(reason: CleanupReason, outcome: CleanupPushOutcome): void {
    const k = `${reason} ${outcome}`;
    this.pushCounts.set(k, (this.pushCounts.get(k) ?? 0) + 1);
  }
}
