-- OTA campaigns (issue #9): a release rolled out to a target in waves, with rate limit, thresholds,
-- a health gate and four-eyes approval. Members are the terminals a wave assigned (one command each).

CREATE TABLE campaigns (
  id                 uuid PRIMARY KEY,
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  release_id         uuid NOT NULL REFERENCES releases (id),
  -- {providerId, versionFrom, versionTo, sns, offlineDays, dynamic}; the model is the release's.
  target             jsonb NOT NULL,
  -- Subtree path of the targeted provider (null: whole fleet): provider roles see campaigns below theirs.
  provider_id        uuid,
  provider_path      text,
  -- {canary: {count}|{percent}, growth}
  waves              jsonb NOT NULL,
  rate_per_minute    integer NOT NULL CHECK (rate_per_minute BETWEEN 1 AND 100000),
  success_threshold  real NOT NULL CHECK (success_threshold BETWEEN 0 AND 1),
  failure_threshold  real NOT NULL CHECK (failure_threshold BETWEEN 0 AND 1),
  soak_s             integer NOT NULL CHECK (soak_s >= 0),
  guards             jsonb NOT NULL,
  health             jsonb NOT NULL,
  state              text NOT NULL CHECK (state IN ('draft', 'approved', 'running', 'paused', 'completed', 'cancelled')),
  pause_reason       text,
  created_by         text NOT NULL,
  approved_by        text,
  created_at         timestamptz NOT NULL,
  approved_at        timestamptz,
  started_at         timestamptz,
  finished_at        timestamptz,
  updated_at         timestamptz NOT NULL,
  -- Runner state: current wave (0 = canary), its planned size, when it started, when its soak ends.
  wave               integer NOT NULL DEFAULT 0,
  wave_size          integer,
  wave_started_at    timestamptz,
  soak_until         timestamptz,
  -- Rate limiter: dispatch credit accrues from this instant (rate_per_minute per minute, one minute at most).
  dispatch_at        timestamptz,
  -- Several workers: the one holding an unexpired lease runs the campaign.
  lease_owner        text,
  lease_until        timestamptz,
  -- Last health-gate comparisons and other runner figures.
  progress           jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX campaigns_running_idx ON campaigns (lease_until) WHERE state = 'running';
CREATE INDEX campaigns_created_idx ON campaigns (created_at DESC, id DESC);

CREATE TABLE campaign_members (
  campaign_id  uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  sn           text NOT NULL REFERENCES terminals (sn) ON DELETE CASCADE,
  wave         integer NOT NULL,
  command_id   uuid NOT NULL,
  assigned_at  timestamptz NOT NULL,
  PRIMARY KEY (campaign_id, sn)
);
CREATE INDEX campaign_members_wave_idx ON campaign_members (campaign_id, wave);
