-- OTA features (issue #9): city/region of terminals (campaign targeting), campaign retries of failed
-- terminals, and default heartbeat intervals per fleet, model and provider subtree.

-- Where the terminal stands, as the operator registered it (free text, trimmed, 1-64 characters).
ALTER TABLE terminals
  ADD COLUMN city text CHECK (city IS NULL OR (length(city) BETWEEN 1 AND 64 AND city = btrim(city))),
  ADD COLUMN region text CHECK (region IS NULL OR (length(region) BETWEEN 1 AND 64 AND region = btrim(region)));
CREATE INDEX terminals_city_idx ON terminals (city) WHERE city IS NOT NULL;
CREATE INDEX terminals_region_idx ON terminals (region) WHERE region IS NOT NULL;

-- Retries: {maxAttempts, backoffS, factor}; maxAttempts 1 = no retry (campaigns created before this).
ALTER TABLE campaigns ADD COLUMN retry jsonb NOT NULL DEFAULT '{"maxAttempts":1,"backoffS":3600,"factor":2}';
-- Commands created for the member so far; command_id is the latest one (earlier ones stay in the ledger).
ALTER TABLE campaign_members ADD COLUMN attempts integer NOT NULL DEFAULT 1 CHECK (attempts BETWEEN 1 AND 100);

-- Default heartbeat interval: one fleet row (model and provider null), one per model, one per provider
-- (applies to its subtree; the nearest provider on the terminal's path wins, then the model, then the fleet).
CREATE TABLE heartbeat_interval_defaults (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model       text CHECK (model IS NULL OR length(model) BETWEEN 1 AND 64),
  provider_id uuid REFERENCES providers (id) ON DELETE CASCADE,
  seconds     integer NOT NULL CHECK (seconds BETWEEN 30 AND 3600),
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL,
  CHECK (model IS NULL OR provider_id IS NULL)
);
CREATE UNIQUE INDEX heartbeat_interval_defaults_scope_idx ON heartbeat_interval_defaults (COALESCE(model, ''), COALESCE(provider_id::text, ''));

-- At most one unfinished interval command the backend queued itself per terminal (two workers
-- reconciling at once: the second insert does nothing).
CREATE UNIQUE INDEX commands_one_auto_interval_idx ON commands (sn)
  WHERE type = 'set_heartbeat_interval' AND created_by = 'system:heartbeat-defaults'
    AND state IN ('queued', 'sent', 'accepted', 'deferred', 'downloading', 'downloaded', 'verified', 'installing');
-- The interval commands of a terminal, newest first (known interval, pending, recent failure).
CREATE INDEX commands_interval_sn_idx ON commands (sn, created_at DESC) WHERE type = 'set_heartbeat_interval';
