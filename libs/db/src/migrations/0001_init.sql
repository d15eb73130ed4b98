-- Terminal registry, telemetry, presence and dead letters. Portable PostgreSQL 15+;
-- TimescaleDB-specific steps live in 0001_init.timescale.sql, plain-PostgreSQL ones in 0001_init.plain.sql.

CREATE TABLE providers (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  parent_id   uuid REFERENCES providers (id),
  code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{1,63}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_parent_idx ON providers (parent_id);

-- The acquirer is the root of the provider tree; terminals registered without a provider belong to it.
INSERT INTO providers (code, name) VALUES ('root', 'Acquirer');

CREATE TABLE terminals (
  sn                     text PRIMARY KEY CHECK (sn ~ '^[A-Za-z0-9][A-Za-z0-9_-]{3,31}$'),
  model                  text NOT NULL,
  tid                    text UNIQUE CHECK (tid ~ '^[A-Za-z0-9]{8}$'),
  mid                    text,
  provider_id            uuid NOT NULL REFERENCES providers (id),
  registered_lat         double precision CHECK (registered_lat BETWEEN -90 AND 90),
  registered_lon         double precision CHECK (registered_lon BETWEEN -180 AND 180),
  credential_hash        bytea NOT NULL,
  credential_rotated_at  timestamptz NOT NULL DEFAULT now(),
  status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX terminals_provider_idx ON terminals (provider_id);

-- Backend clients of the broker (alerting, OTA dispatch, bridges).
CREATE TABLE service_accounts (
  name             text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{1,63}$'),
  credential_hash  bytea NOT NULL,
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per heartbeat. Unique on (sn, time): a retransmitted heartbeat lands once.
CREATE TABLE heartbeats (
  time               timestamptz NOT NULL,
  sn                 text NOT NULL,
  received_at        timestamptz NOT NULL,
  seq                integer NOT NULL,
  model              text NOT NULL,
  firmware_version   text NOT NULL,
  app_version        text NOT NULL,
  battery_pct        real NOT NULL,
  charging           boolean NOT NULL,
  battery_temp_c     real,
  rat                text NOT NULL,
  rsrp               real,
  rsrq               real,
  sinr               real,
  rssi               real,
  csq                smallint,
  mcc_mnc            text NOT NULL,
  cell_id            text,
  iccid              text NOT NULL,
  imei               text NOT NULL,
  sim_type           text NOT NULL,
  carrier            text NOT NULL,
  plan_status        text NOT NULL,
  plan_expires_on    date NOT NULL,
  plan_auto_renew    boolean NOT NULL,
  renewal_at         timestamptz,
  renewal_result     text,
  renewal_reason     text,
  data_used_mb       real NOT NULL,
  data_allowance_mb  real,
  lat                double precision,
  lon                double precision,
  location_accuracy_m real,
  location_source    text,
  uptime_s           bigint NOT NULL,
  -- Fields this backend version does not know, kept verbatim for newer firmware.
  extra              jsonb,
  PRIMARY KEY (sn, time)
);

-- Latest known state per terminal. Heartbeat columns only move forward in terminal time.
CREATE TABLE terminal_state (
  sn                   text PRIMARY KEY REFERENCES terminals (sn) ON DELETE CASCADE,
  last_heartbeat_at    timestamptz,
  last_received_at     timestamptz,
  seq                  integer,
  model                text,
  firmware_version     text,
  app_version          text,
  battery_pct          real,
  charging             boolean,
  battery_temp_c       real,
  rat                  text,
  rsrp                 real,
  rsrq                 real,
  sinr                 real,
  rssi                 real,
  csq                  smallint,
  mcc_mnc              text,
  cell_id              text,
  iccid                text,
  imei                 text,
  sim_type             text,
  carrier              text,
  plan_status          text,
  plan_expires_on      date,
  plan_auto_renew      boolean,
  renewal_at           timestamptz,
  renewal_result       text,
  renewal_reason       text,
  data_used_mb         real,
  data_allowance_mb    real,
  lat                  double precision,
  lon                  double precision,
  location_accuracy_m  real,
  location_source      text,
  uptime_s             bigint,
  extra                jsonb,
  online               boolean NOT NULL DEFAULT false,
  presence_changed_at  timestamptz,
  last_connected_at    timestamptz,
  last_disconnected_at timestamptz,
  last_disconnect_reason text
);
CREATE INDEX terminal_state_last_heartbeat_idx ON terminal_state (last_heartbeat_at);

CREATE TABLE presence_events (
  time       timestamptz NOT NULL,
  sn         text NOT NULL,
  online     boolean NOT NULL,
  reason     text NOT NULL,
  remote_ip  text
);
CREATE INDEX presence_events_sn_time_idx ON presence_events (sn, time DESC);

-- Rejected messages, kept for inspection; trimmed to DEAD_LETTER_MAX_ROWS by maintenance.
CREATE TABLE dead_letters (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now(),
  client_id    text,
  topic        text NOT NULL,
  reason       text NOT NULL,
  detail       text NOT NULL,
  payload_size integer NOT NULL,
  payload      bytea NOT NULL,
  truncated    boolean NOT NULL DEFAULT false
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
