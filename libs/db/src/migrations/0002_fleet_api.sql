-- Fleet API: provider tree paths, API keys, audit log, terminal ownership history, list indexes.

-- Materialized path ('/<id>/<id>/.../') so a provider's subtree is one indexed prefix match.
ALTER TABLE providers ADD COLUMN path text;
ALTER TABLE providers ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE providers SET path = '/' || id || '/' WHERE parent_id IS NULL;
ALTER TABLE providers ALTER COLUMN path SET NOT NULL;
CREATE UNIQUE INDEX providers_path_idx ON providers (path text_pattern_ops);

CREATE TABLE api_keys (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  -- Public part of the key, used to find the row; the secret part is only stored as an HMAC.
  prefix        text NOT NULL UNIQUE,
  key_hash      bytea NOT NULL,
  role          text NOT NULL CHECK (role IN ('ops-admin', 'ops-viewer', 'provider-admin', 'provider-viewer')),
  provider_id   uuid REFERENCES providers (id),
  created_by    uuid REFERENCES api_keys (id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  CHECK ((role LIKE 'provider-%') = (provider_id IS NOT NULL))
);
CREATE INDEX api_keys_provider_idx ON api_keys (provider_id);

CREATE TABLE audit_log (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT now(),
  request_id    text,
  actor_key_id  uuid,
  actor_name    text NOT NULL,
  actor_role    text NOT NULL,
  action        text NOT NULL,
  target_type   text NOT NULL,
  target_id     text,
  -- Owning provider of the target (after the change) and its tree path at that time: scoped reads
  -- match the path, so entries stay visible after the provider itself is deleted.
  provider_id   uuid,
  provider_path text,
  before        jsonb,
  after         jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_provider_path_idx ON audit_log (provider_path text_pattern_ops, id DESC);

CREATE TABLE terminal_provider_history (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sn                text NOT NULL REFERENCES terminals (sn) ON DELETE CASCADE,
  from_provider_id  uuid REFERENCES providers (id),
  to_provider_id    uuid NOT NULL REFERENCES providers (id),
  moved_at          timestamptz NOT NULL DEFAULT now(),
  actor_key_id      uuid,
  request_id        text
);
CREATE INDEX terminal_provider_history_sn_idx ON terminal_provider_history (sn, moved_at DESC);

-- Terminal list filters and sorts at fleet scale.
CREATE INDEX terminals_provider_sn_idx ON terminals (provider_id, sn);
CREATE INDEX terminal_state_plan_expires_on_idx ON terminal_state (plan_expires_on, sn);
CREATE INDEX terminal_state_battery_idx ON terminal_state (battery_pct, sn);
CREATE INDEX terminal_state_rsrp_idx ON terminal_state (rsrp, sn);
