/**
 * Schema v2: what the clean-up sweep (core/server/cleanup.ts, core/store/cleanup.ts) records.
 *
 * - `account.disabled_reason` / `disabled_at`: why and when an account was switched off (the
 *   sweep writes 'registration failing since …'; `sipis-ctl account show` and /status print it).
 *   Enabling the account clears both (BEFORE trigger), whoever enables it: sipis-ctl, the admin
 *   API or the provider's plain SQL.
 * - `device.warned_due_at` / `warning_stage` and the same pair on `upstream_registration`: how
 *   many warning pushes went out for which due time (removal of a stale device, switch-off of a
 *   failing account). A warning counts only while `warned_due_at` equals the current due time:
 *   a REGISTER that moves `last_seen` (or a registration that stops failing) moves the due time,
 *   so the old warnings no longer count and nothing else has to reset them.
 * - Re-enabling an account stops its failure clock: `failing_since`, `failures`, `retry_at` and
 *   the warnings of its `upstream_registration` row are cleared (statement trigger), so neither
 *   the sweep nor a restarting sipis (which loads the row) sees the old failure.
 */
export const version = 2;
export const name = 'cleanup';

export const sql = String.raw`
ALTER TABLE account
  ADD COLUMN disabled_reason text,           -- why the clean-up switched the account off
  ADD COLUMN disabled_at     timestamptz;    -- when it was disabled (by anyone)
-- /status lists the accounts the clean-up switched off, newest first
CREATE INDEX account_switched_off ON account (disabled_at DESC) WHERE disabled_reason IS NOT NULL;

ALTER TABLE device
  ADD COLUMN warned_due_at timestamptz,                -- the removal time the warnings were for
  ADD COLUMN warning_stage smallint NOT NULL DEFAULT 0, -- warnings sent for it (0, 1, 2, …)
  ADD COLUMN warned_at     timestamptz;                -- when the last one was claimed

-- the sweep reads stale devices in (last_seen, id) order from the old end: only those, not the table
DROP INDEX device_last_seen;
CREATE INDEX device_last_seen ON device (last_seen, id);

ALTER TABLE upstream_registration
  ADD COLUMN warned_due_at timestamptz,                -- the switch-off time the warnings were for
  ADD COLUMN warning_stage smallint NOT NULL DEFAULT 0,
  ADD COLUMN warned_at     timestamptz;

-- v1's function plus the disabled_* bookkeeping
CREATE OR REPLACE FUNCTION sipis_account_before() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.updated_at := now();
  IF NEW.password_plain IS NOT NULL THEN
    -- a new plaintext supersedes the old ciphertext until sipis seals it
    NEW.password_enc := NULL;
    NEW.password_key_id := NULL;
  END IF;
  IF NEW.enabled THEN
    -- enabled again (or never disabled): no reason to show any more
    NEW.disabled_reason := NULL;
    NEW.disabled_at := NULL;
  ELSIF TG_OP = 'INSERT' OR OLD.enabled THEN
    NEW.disabled_at := coalesce(NEW.disabled_at, now());
  END IF;
  RETURN NEW;
END $fn$;

-- An account enabled again starts with a clean failure record (one statement for a bulk enable).
CREATE FUNCTION sipis_account_reenabled() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE upstream_registration r
     SET failing_since = NULL, failures = 0, retry_at = NULL, warned_due_at = NULL, warning_stage = 0, warned_at = NULL, updated_at = now()
    FROM new_rows n JOIN old_rows o ON o.id = n.id
   WHERE r.account_id = n.id AND n.enabled AND NOT o.enabled
     AND (r.failing_since IS NOT NULL OR r.failures <> 0 OR r.retry_at IS NOT NULL OR r.warning_stage <> 0);
  RETURN NULL;
END $fn$;
CREATE TRIGGER account_reenabled AFTER UPDATE ON account REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sipis_account_reenabled();
`;
