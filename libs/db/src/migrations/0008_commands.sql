-- The command ledger (issue #9): every command to a terminal is a row; what the terminal reports
-- about it is kept in command_events. State moves only forward (see libs/commands command-state.ts).

CREATE TABLE commands (
  id               uuid PRIMARY KEY,
  sn               text NOT NULL REFERENCES terminals (sn) ON DELETE CASCADE,
  type             text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
  payload          jsonb NOT NULL DEFAULT '{}',
  state            text NOT NULL DEFAULT 'queued' CHECK (state IN (
                     'queued', 'sent', 'accepted', 'rejected', 'deferred', 'downloading', 'downloaded', 'verified',
                     'installing', 'succeeded', 'failed', 'rolled_back', 'expired', 'cancelled')),
  -- Highest step reached (kept while deferred, so a late report cannot move the command back).
  max_rank         smallint NOT NULL DEFAULT 0,
  reason           text,
  detail           text,
  progress         real CHECK (progress BETWEEN 0 AND 100),
  -- Publishes so far (first send and resends).
  attempts         integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL,
  sent_at          timestamptz,
  acked_at         timestamptz,
  -- Terminal clock (ts) of the last applied report: compared with heartbeat times (same clock).
  reported_at      timestamptz,
  -- ota.install: a heartbeat after `succeeded` showed the new version.
  confirmed_at     timestamptz,
  updated_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  -- When the current step times out: resend (sent) or fail (accepted..installing).
  step_deadline_at timestamptz,
  -- Campaigns come later (no FK yet).
  campaign_id      uuid,
  created_by       text
);

-- "Pending commands of terminal X" (on connect, and the resend sweep for connected terminals).
CREATE INDEX commands_pending_sn_idx ON commands (sn, created_at) WHERE state IN ('queued', 'sent');
-- Every command of a terminal, newest first (the API list).
CREATE INDEX commands_sn_created_idx ON commands (sn, created_at DESC, id DESC);
-- Timeouts and expiry of unfinished commands.
CREATE INDEX commands_deadline_idx ON commands (step_deadline_at)
  WHERE state IN ('sent', 'accepted', 'downloading', 'downloaded', 'verified', 'installing');
CREATE INDEX commands_expiry_idx ON commands (expires_at) WHERE state IN ('queued', 'sent', 'accepted', 'deferred');
-- OTA successes awaiting the confirming heartbeat.
CREATE INDEX commands_unconfirmed_idx ON commands (sn) WHERE state = 'succeeded' AND type = 'ota.install' AND confirmed_at IS NULL;
CREATE INDEX commands_campaign_idx ON commands (campaign_id) WHERE campaign_id IS NOT NULL;

-- Each state reported by the terminal (applied or not) and each state the backend set.
CREATE TABLE command_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  command_id  uuid NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
  time        timestamptz NOT NULL,
  -- Terminal clock (ts of the ack); null for backend events.
  reported_at timestamptz,
  source      text NOT NULL CHECK (source IN ('terminal', 'backend')),
  state       text NOT NULL,
  reason      text,
  detail      text,
  progress    real,
  -- False when the report arrived too late to move the state (kept for history).
  applied     boolean NOT NULL
);
CREATE INDEX command_events_command_idx ON command_events (command_id, id);
