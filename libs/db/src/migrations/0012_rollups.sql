-- Rollups (issue #10): heartbeat aggregates for dashboards and long-range API reads, and the fleet
-- summary snapshot behind GET /v1/fleet/summary. Same relation names, columns and types on both
-- flavours: TimescaleDB continuous aggregates (0012_rollups.timescale.sql) or plain tables refreshed
-- by the worker (0012_rollups.plain.sql). Relations may gain columns later; none is renamed.
--
-- Buckets are aligned to 2000-01-01T00:00:00Z (as timeseriesSql's bucket()); `bucket` is the start.
-- Only complete buckets are materialized: a bucket appears once it has ended and a refresh ran
-- (refresh lag: up to ROLLUP_REFRESH_INTERVAL_MS after the bucket ends, 30 s by default; on a
-- TimescaleDB server the continuous aggregate policies run at that interval too). Each refresh
-- re-materializes the buckets that ended within ROLLUP_LATE_WINDOW (default 30 minutes), so
-- heartbeats arriving later than that after their bucket ended are not folded in.
-- Averages skip NULLs; *_min/*_avg are NULL when no heartbeat of the group reported the field.
--
-- heartbeats_5m / heartbeats_1h: one row per (bucket, sn) with at least one heartbeat.
--   bucket timestamptz, sn text, heartbeats bigint, last_time timestamptz (latest heartbeat time),
--   model, firmware_version, app_version text (values of the latest heartbeat in the bucket),
--   battery_min real, battery_avg float8, rsrp_min real, rsrp_avg float8, rssi_min real,
--   rssi_avg float8, sinr_avg float8, data_used_mb_max real, uptime_s_max bigint,
--   boots bigint (heartbeats with seq 0: the first heartbeat after each boot, protocol §3).
--
-- fleet_heartbeats_5m / fleet_heartbeats_1h: one row per (bucket, provider_id, model,
--   firmware_version) of the terminals' heartbeats; provider_id is the terminal's provider when the
--   bucket was materialized (terminals moved later keep old buckets under the old provider), model
--   and firmware_version are the heartbeat's. Sum over rows for a subtree: join providers on
--   provider_id and match providers.path.
--   bucket, provider_id uuid, model text, firmware_version text,
--   terminals bigint (distinct terminals that reported; a terminal whose version changed within the
--     bucket counts under each version), heartbeats bigint, boots bigint,
--   battery_avg float8, rsrp_avg float8, rssi_avg float8,
--   heartbeat counts by band: hb_battery_low (< 20 %), hb_battery_mid (20–50 %), hb_battery_high
--     (>= 50 %), hb_rsrp_excellent (>= -80 dBm), hb_rsrp_good (-90..-80), hb_rsrp_fair (-100..-90),
--     hb_rsrp_poor (< -100), hb_rsrp_unknown (no RSRP), all bigint,
--   terminals_battery_low bigint (distinct terminals with a heartbeat below 20 %),
--   terminals_rsrp_below_110 bigint (distinct terminals with a heartbeat below -110 dBm).
--
-- fleet_summary: snapshot of registry and latest state per (provider_id, model, plan_status,
--   firmware_version), rebuilt by the worker every FLEET_SUMMARY_REFRESH_INTERVAL_MS (5 s by default).
--   model is the registered model; plan_status / firmware_version come from terminal_state (NULL:
--   not reported). Columns (bigint): terminals, reported (has a terminal_state row), online,
--   offline (connected or reported once, not connected now), plan_expiring_30d (expires between
--   the refresh's current_date and +30 days), auto_renew_off, auto_renew_failed, battery_below_20,
--   signal_below_minus_110. Its time is rollup_refresh.refreshed_at where name = 'fleet_summary'.
--   The API takes registered counts from fleet_registry_counts instead (always current).
--
-- fleet_registry_counts: registered terminals per (provider_id, model), kept exact by statement
--   triggers on terminals (same transaction as the change). Columns: provider_id uuid, model text,
--   terminals bigint (rows may be 0 after terminals left).
--
-- rollup_refresh: one row per refreshed relation: the lease (holder, expires_at) that lets one
--   worker refresh at a time, refreshed_at (when the last refresh committed, database clock) and
--   refreshed_through (end of the last window materialized; NULL for fleet_summary).

CREATE TABLE rollup_refresh (
  name               text PRIMARY KEY,
  holder             text,
  expires_at         timestamptz NOT NULL DEFAULT '-infinity',
  refreshed_at       timestamptz,
  refreshed_through  timestamptz
);
INSERT INTO rollup_refresh (name) VALUES ('fleet_summary'), ('heartbeats_5m'), ('heartbeats_1h'), ('fleet_heartbeats_5m'), ('fleet_heartbeats_1h');

CREATE TABLE fleet_summary (
  provider_id             uuid NOT NULL,
  model                   text NOT NULL,
  plan_status             text,
  firmware_version        text,
  terminals               bigint NOT NULL,
  reported                bigint NOT NULL,
  online                  bigint NOT NULL,
  offline                 bigint NOT NULL,
  plan_expiring_30d       bigint NOT NULL,
  auto_renew_off          bigint NOT NULL,
  auto_renew_failed       bigint NOT NULL,
  battery_below_20        bigint NOT NULL,
  signal_below_minus_110  bigint NOT NULL
);
CREATE INDEX fleet_summary_provider_idx ON fleet_summary (provider_id);

-- Registered terminals per (provider, model), maintained by statement-level triggers with
-- transition tables: one upsert of the net change per statement, in the writer's transaction, so
-- the counts are exact and race-free (row locks on the touched groups). Terminals are written only
-- by registration, import, move, credential and status changes (never by ingest).
CREATE TABLE fleet_registry_counts (
  provider_id  uuid NOT NULL,
  model        text NOT NULL,
  terminals    bigint NOT NULL,
  PRIMARY KEY (provider_id, model)
);
INSERT INTO fleet_registry_counts (provider_id, model, terminals)
SELECT provider_id, model, count(*) FROM terminals GROUP BY provider_id, model;

-- Every branch upserts its groups in (provider_id, model) order, so concurrent statements lock
-- the rows they share in the same order and cannot deadlock.
CREATE FUNCTION fleet_registry_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM fleet_registry_counts;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO fleet_registry_counts AS c (provider_id, model, terminals)
    SELECT provider_id, model, count(*) FROM new_rows GROUP BY provider_id, model ORDER BY provider_id, model
    ON CONFLICT (provider_id, model) DO UPDATE SET terminals = c.terminals + EXCLUDED.terminals;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO fleet_registry_counts AS c (provider_id, model, terminals)
    SELECT provider_id, model, -count(*) FROM old_rows GROUP BY provider_id, model ORDER BY provider_id, model
    ON CONFLICT (provider_id, model) DO UPDATE SET terminals = c.terminals + EXCLUDED.terminals;
  ELSE
    -- Net change only: updates that keep provider and model (credentials, status) touch no row.
    INSERT INTO fleet_registry_counts AS c (provider_id, model, terminals)
    SELECT provider_id, model, sum(n) FROM (
      SELECT provider_id, model, 1 AS n FROM new_rows
      UNION ALL
      SELECT provider_id, model, -1 FROM old_rows
    ) x GROUP BY provider_id, model HAVING sum(n) <> 0 ORDER BY provider_id, model
    ON CONFLICT (provider_id, model) DO UPDATE SET terminals = c.terminals + EXCLUDED.terminals;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER terminals_registry_count_insert AFTER INSERT ON terminals
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_registry_count();
CREATE TRIGGER terminals_registry_count_update AFTER UPDATE ON terminals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_registry_count();
CREATE TRIGGER terminals_registry_count_delete AFTER DELETE ON terminals
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION fleet_registry_count();
CREATE TRIGGER terminals_registry_count_truncate AFTER TRUNCATE ON terminals
  FOR EACH STATEMENT EXECUTE FUNCTION fleet_registry_count();
