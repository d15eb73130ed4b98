-- Presence with several gateway processes. Each gateway run is a session with a lease it renews; a
-- terminal's presence row names the session and the connection (epoch) that last claimed it, so a
-- gateway only marks offline what it still owns, and a crashed gateway's terminals are marked offline
-- by whichever gateway finds its lease expired.
CREATE TABLE gateway_sessions (
  session_id text PRIMARY KEY,
  -- GATEWAY_ID: stable across restarts when configured; a restart clears its own previous sessions.
  gateway_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  renewed_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX gateway_sessions_gateway_idx ON gateway_sessions (gateway_id);

ALTER TABLE terminal_state ADD COLUMN presence_session text;
ALTER TABLE terminal_state ADD COLUMN presence_epoch bigint;
-- The reaper looks up the online terminals of a dead session.
CREATE INDEX terminal_state_presence_session_idx ON terminal_state (presence_session) WHERE online;
