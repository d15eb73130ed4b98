-- Plain PostgreSQL: the rollups of 0012_rollups.sql as tables, rebuilt window by window by the
-- worker (TimeseriesRepository.refreshRollup: delete the window's buckets, insert them again from heartbeats) under
-- the rollup_refresh lease. Columns and types match the continuous aggregates of the TimescaleDB flavour.

CREATE TABLE heartbeats_5m (
  bucket            timestamptz NOT NULL,
  sn                text NOT NULL,
  heartbeats        bigint NOT NULL,
  last_time         timestamptz NOT NULL,
  model             text,
  firmware_version  text,
  app_version       text,
  battery_min       real,
  battery_avg       double precision,
  rsrp_min          real,
  rsrp_avg          double precision,
  rssi_min          real,
  rssi_avg          double precision,
  sinr_avg          double precision,
  data_used_mb_max  real,
  uptime_s_max      bigint,
  boots             bigint NOT NULL,
  PRIMARY KEY (sn, bucket)
);
CREATE INDEX heartbeats_5m_bucket_idx ON heartbeats_5m (bucket);

CREATE TABLE heartbeats_1h (
  bucket            timestamptz NOT NULL,
  sn                text NOT NULL,
  heartbeats        bigint NOT NULL,
  last_time         timestamptz NOT NULL,
  model             text,
  firmware_version  text,
  app_version       text,
  battery_min       real,
  battery_avg       double precision,
  rsrp_min          real,
  rsrp_avg          double precision,
  rssi_min          real,
  rssi_avg          double precision,
  sinr_avg          double precision,
  data_used_mb_max  real,
  uptime_s_max      bigint,
  boots             bigint NOT NULL,
  PRIMARY KEY (sn, bucket)
);
CREATE INDEX heartbeats_1h_bucket_idx ON heartbeats_1h (bucket);

CREATE TABLE fleet_heartbeats_5m (
  bucket                    timestamptz NOT NULL,
  provider_id               uuid NOT NULL,
  model                     text NOT NULL,
  firmware_version          text NOT NULL,
  terminals                 bigint NOT NULL,
  heartbeats                bigint NOT NULL,
  boots                     bigint NOT NULL,
  battery_avg               double precision,
  rsrp_avg                  double precision,
  rssi_avg                  double precision,
  hb_battery_low            bigint NOT NULL,
  hb_battery_mid            bigint NOT NULL,
  hb_battery_high           bigint NOT NULL,
  hb_rsrp_excellent         bigint NOT NULL,
  hb_rsrp_good              bigint NOT NULL,
  hb_rsrp_fair              bigint NOT NULL,
  hb_rsrp_poor              bigint NOT NULL,
  hb_rsrp_unknown           bigint NOT NULL,
  terminals_battery_low     bigint NOT NULL,
  terminals_rsrp_below_110  bigint NOT NULL,
  PRIMARY KEY (bucket, provider_id, model, firmware_version)
);

CREATE TABLE fleet_heartbeats_1h (
  bucket                    timestamptz NOT NULL,
  provider_id               uuid NOT NULL,
  model                     text NOT NULL,
  firmware_version          text NOT NULL,
  terminals                 bigint NOT NULL,
  heartbeats                bigint NOT NULL,
  boots                     bigint NOT NULL,
  battery_avg               double precision,
  rsrp_avg                  double precision,
  rssi_avg                  double precision,
  hb_battery_low            bigint NOT NULL,
  hb_battery_mid            bigint NOT NULL,
  hb_battery_high           bigint NOT NULL,
  hb_rsrp_excellent         bigint NOT NULL,
  hb_rsrp_good              bigint NOT NULL,
  hb_rsrp_fair              bigint NOT NULL,
  hb_rsrp_poor              bigint NOT NULL,
  hb_rsrp_unknown           bigint NOT NULL,
  terminals_battery_low     bigint NOT NULL,
  terminals_rsrp_below_110  bigint NOT NULL,
  PRIMARY KEY (bucket, provider_id, model, firmware_version)
);
