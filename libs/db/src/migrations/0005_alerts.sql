-- Alerts: rule settings, version policies, alerts with their lifecycle, the transition outbox that
-- notifications consume, per-rule memory and the evaluation queue ingest feeds.

-- Threshold overrides for a provider's subtree (a partial settings object). The root provider's row
-- holds the fleet-wide values; a terminal's effective settings merge code defaults, then the rows on
-- its provider's path from the root down.
CREATE TABLE alert_settings (
  provider_id  uuid PRIMARY KEY REFERENCES providers (id) ON DELETE CASCADE,
  settings     jsonb NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Minimum supported, latest and blocked versions per model, for firmware and the payment app.
CREATE TABLE version_policies (
  model          text NOT NULL CHECK (length(model) BETWEEN 1 AND 64),
  component      text NOT NULL CHECK (component IN ('firmware', 'app')),
  min_supported  text,
  latest         text,
  latest_since   timestamptz,
  blocked        text[] NOT NULL DEFAULT '{}',
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, component)
);

CREATE TABLE alerts (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sn               text NOT NULL REFERENCES terminals (sn) ON DELETE CASCADE,
  -- Owner when raised: notifications go to this provider's subscriptions (and its ancestors').
  -- No foreign key: the alert history outlives a provider deleted after its terminals moved away.
  provider_id      uuid NOT NULL,
  rule             text NOT NULL,
  severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  state            text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
  details          jsonb NOT NULL DEFAULT '{}',
  first_seen_at    timestamptz NOT NULL,
  last_seen_at     timestamptz NOT NULL,
  occurrences      integer NOT NULL DEFAULT 1,
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  resolved_at      timestamptz,
  -- 'system' when the condition cleared, else the API key's name.
  resolved_by      text,
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
-- At most one open (or acknowledged) alert per terminal and rule, whatever the number of workers.
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (sn, rule) WHERE state <> 'resolved';
CREATE INDEX alerts_sn_idx ON alerts (sn, first_seen_at DESC, id DESC);
CREATE INDEX alerts_first_seen_idx ON alerts (first_seen_at DESC, id DESC);
CREATE INDEX alerts_unresolved_idx ON alerts (rule, severity) WHERE state <> 'resolved';

-- Transactional outbox: one row per alert transition, written in the same transaction as the alert.
-- The notifier fans each event out to subscriptions, then sets dispatched_at.
CREATE TABLE alert_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  alert_id       bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
  kind           text NOT NULL CHECK (kind IN ('raised', 'escalated', 'resolved')),
  sn             text NOT NULL,
  provider_id    uuid NOT NULL,
  rule           text NOT NULL,
  severity       text NOT NULL,
  details        jsonb NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  dispatched_at  timestamptz
);
CREATE INDEX alert_events_pending_idx ON alert_events (id) WHERE dispatched_at IS NULL;
CREATE INDEX alert_events_created_idx ON alert_events (created_at);

-- What each rule remembers per terminal (streaks, last ICCID, hysteresis state).
CREATE TABLE alert_rule_memory (
  sn          text NOT NULL REFERENCES terminals (sn) ON DELETE CASCADE,
  rule        text NOT NULL,
  memory      jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sn, rule)
);

-- Terminals with heartbeats the evaluator has not seen yet. Ingest adds a row in the heartbeat
-- batch's own statement (so nothing committed is missed) unless the terminal already has a row no
-- evaluator holds; the evaluator claims rows with FOR UPDATE SKIP LOCKED and evaluates heartbeats
-- after the terminal's cursor. No unique key on sn: ingest never waits for a row an evaluator has
-- claimed (it adds another), so evaluation never slows ingest down.
CREATE TABLE alert_eval_queue (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sn           text NOT NULL,
  enqueued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_eval_queue_sn_idx ON alert_eval_queue (sn);
CREATE TABLE alert_eval_cursor (
  sn                 text PRIMARY KEY REFERENCES terminals (sn) ON DELETE CASCADE,
  -- Terminal time of the newest heartbeat evaluated.
  evaluated_through  timestamptz NOT NULL
);

-- Transaction health (heartbeat v1 optional `tx`): counts since the previous heartbeat.
ALTER TABLE heartbeats ADD COLUMN tx_approved integer;
ALTER TABLE heartbeats ADD COLUMN tx_declined integer;
-- Declines by host response code, e.g. {"92": 3, "97": 1}.
ALTER TABLE heartbeats ADD COLUMN tx_declines jsonb;
ALTER TABLE heartbeats ADD COLUMN tx_reversals_pending integer;
ALTER TABLE heartbeats ADD COLUMN tx_reversals_succeeded integer;
ALTER TABLE heartbeats ADD COLUMN tx_reversals_failed integer;
ALTER TABLE terminal_state ADD COLUMN tx_approved integer;
ALTER TABLE terminal_state ADD COLUMN tx_declined integer;
ALTER TABLE terminal_state ADD COLUMN tx_declines jsonb;
ALTER TABLE terminal_state ADD COLUMN tx_reversals_pending integer;
ALTER TABLE terminal_state ADD COLUMN tx_reversals_succeeded integer;
ALTER TABLE terminal_state ADD COLUMN tx_reversals_failed integer;

-- Unresolved alerts are updated on every evaluation that confirms them (last_seen_at, occurrences,
-- details: none indexed). Free space on each page lets those be HOT updates (no index writes).
ALTER TABLE alerts SET (fillfactor = 70);


-- The scheduled sweep's lease: one row, so that at most one worker sweeps at a time. A sweeper takes
-- it with a conditional UPDATE (free or expired), renews it with every page and records how far it
-- got, so a sweep interrupted by a crash is resumed by the next holder once the lease expires.
CREATE TABLE alert_sweep_lease (
  name         text PRIMARY KEY,
  holder       text,
  expires_at   timestamptz NOT NULL DEFAULT '-infinity',
  -- Keyset position of an unfinished sweep (last SN done); NULL when no sweep is under way.
  next_after   text,
  finished_at  timestamptz
);
INSERT INTO alert_sweep_lease (name) VALUES ('scheduled');

-- Incremental sweeps (alert-sweep.service.ts): engine-clock instants, so that a sweep evaluates only
-- the terminals whose scheduled rules can have changed since the previous one.
-- sweep_from/sweep_to: the window of the sweep under way (sweep_from NULL: a full sweep), kept so a
-- resumed sweep uses the same window; swept_through: sweep_to of the last finished sweep;
-- full_through and thresholds_key: the last finished full sweep and the settings it saw.
ALTER TABLE alert_sweep_lease ADD COLUMN sweep_from timestamptz;
ALTER TABLE alert_sweep_lease ADD COLUMN sweep_to timestamptz;
ALTER TABLE alert_sweep_lease ADD COLUMN swept_through timestamptz;
ALTER TABLE alert_sweep_lease ADD COLUMN full_through timestamptz;
ALTER TABLE alert_sweep_lease ADD COLUMN thresholds_key text;
