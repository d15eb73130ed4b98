-- TimescaleDB: the rollups of 0012_rollups.sql as continuous aggregates over the heartbeats
-- hypertable (materialized only: no real-time union, so both flavours show the same complete
-- buckets). Refresh: policies on a TimescaleDB server, the worker's RollupRefreshService on the
-- embedded database (no background workers); see TimeseriesRepository. Keep the SELECTs identical in
-- meaning to the plain flavour's (plainRollupSelect in
-- timeseries.repository.ts) and to 0012_rollups.plain.sql's columns.

CREATE MATERIALIZED VIEW heartbeats_5m
  WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '5 minutes', h.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
  h.sn,
  count(*) AS heartbeats,
  max(h.time) AS last_time,
  last(h.model, h.time) AS model,
  last(h.firmware_version, h.time) AS firmware_version,
  last(h.app_version, h.time) AS app_version,
  min(h.battery_pct) AS battery_min,
  avg(h.battery_pct) AS battery_avg,
  min(h.rsrp) AS rsrp_min,
  avg(h.rsrp) AS rsrp_avg,
  min(h.rssi) AS rssi_min,
  avg(h.rssi) AS rssi_avg,
  avg(h.sinr) AS sinr_avg,
  max(h.data_used_mb) AS data_used_mb_max,
  max(h.uptime_s) AS uptime_s_max,
  count(*) FILTER (WHERE h.seq = 0) AS boots
FROM heartbeats h
GROUP BY 1, h.sn
WITH NO DATA;

CREATE MATERIALIZED VIEW heartbeats_1h
  WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', h.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
  h.sn,
  count(*) AS heartbeats,
  max(h.time) AS last_time,
  last(h.model, h.time) AS model,
  last(h.firmware_version, h.time) AS firmware_version,
  last(h.app_version, h.time) AS app_version,
  min(h.battery_pct) AS battery_min,
  avg(h.battery_pct) AS battery_avg,
  min(h.rsrp) AS rsrp_min,
  avg(h.rsrp) AS rsrp_avg,
  min(h.rssi) AS rssi_min,
  avg(h.rssi) AS rssi_avg,
  avg(h.sinr) AS sinr_avg,
  max(h.data_used_mb) AS data_used_mb_max,
  max(h.uptime_s) AS uptime_s_max,
  count(*) FILTER (WHERE h.seq = 0) AS boots
FROM heartbeats h
GROUP BY 1, h.sn
WITH NO DATA;

CREATE MATERIALIZED VIEW fleet_heartbeats_5m
  WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '5 minutes', h.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
  t.provider_id,
  h.model,
  h.firmware_version,
  count(DISTINCT h.sn) AS terminals,
  count(*) AS heartbeats,
  count(*) FILTER (WHERE h.seq = 0) AS boots,
  avg(h.battery_pct) AS battery_avg,
  avg(h.rsrp) AS rsrp_avg,
  avg(h.rssi) AS rssi_avg,
  count(*) FILTER (WHERE h.battery_pct < 20) AS hb_battery_low,
  count(*) FILTER (WHERE h.battery_pct >= 20 AND h.battery_pct < 50) AS hb_battery_mid,
  count(*) FILTER (WHERE h.battery_pct >= 50) AS hb_battery_high,
  count(*) FILTER (WHERE h.rsrp >= -80) AS hb_rsrp_excellent,
  count(*) FILTER (WHERE h.rsrp >= -90 AND h.rsrp < -80) AS hb_rsrp_good,
  count(*) FILTER (WHERE h.rsrp >= -100 AND h.rsrp < -90) AS hb_rsrp_fair,
  count(*) FILTER (WHERE h.rsrp < -100) AS hb_rsrp_poor,
  count(*) FILTER (WHERE h.rsrp IS NULL) AS hb_rsrp_unknown,
  count(DISTINCT h.sn) FILTER (WHERE h.battery_pct < 20) AS terminals_battery_low,
  count(DISTINCT h.sn) FILTER (WHERE h.rsrp < -110) AS terminals_rsrp_below_110
FROM heartbeats h
JOIN terminals t ON t.sn = h.sn
GROUP BY 1, t.provider_id, h.model, h.firmware_version
WITH NO DATA;
CREATE INDEX fleet_heartbeats_5m_bucket_idx ON fleet_heartbeats_5m (bucket);

CREATE MATERIALIZED VIEW fleet_heartbeats_1h
  WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', h.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
  t.provider_id,
  h.model,
  h.firmware_version,
  count(DISTINCT h.sn) AS terminals,
  count(*) AS heartbeats,
  count(*) FILTER (WHERE h.seq = 0) AS boots,
  avg(h.battery_pct) AS battery_avg,
  avg(h.rsrp) AS rsrp_avg,
  avg(h.rssi) AS rssi_avg,
  count(*) FILTER (WHERE h.battery_pct < 20) AS hb_battery_low,
  count(*) FILTER (WHERE h.battery_pct >= 20 AND h.battery_pct < 50) AS hb_battery_mid,
  count(*) FILTER (WHERE h.battery_pct >= 50) AS hb_battery_high,
  count(*) FILTER (WHERE h.rsrp >= -80) AS hb_rsrp_excellent,
  count(*) FILTER (WHERE h.rsrp >= -90 AND h.rsrp < -80) AS hb_rsrp_good,
  count(*) FILTER (WHERE h.rsrp >= -100 AND h.rsrp < -90) AS hb_rsrp_fair,
  count(*) FILTER (WHERE h.rsrp < -100) AS hb_rsrp_poor,
  count(*) FILTER (WHERE h.rsrp IS NULL) AS hb_rsrp_unknown,
  count(DISTINCT h.sn) FILTER (WHERE h.battery_pct < 20) AS terminals_battery_low,
  count(DISTINCT h.sn) FILTER (WHERE h.rsrp < -110) AS terminals_rsrp_below_110
FROM heartbeats h
JOIN terminals t ON t.sn = h.sn
GROUP BY 1, t.provider_id, h.model, h.firmware_version
WITH NO DATA;
CREATE INDEX fleet_heartbeats_1h_bucket_idx ON fleet_heartbeats_1h (bucket);
