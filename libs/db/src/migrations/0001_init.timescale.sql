-- TimescaleDB: heartbeats and presence events become hypertables. Compression and retention
-- policies are (re)applied at start from configuration by TimescaleService.
SELECT create_hypertable('heartbeats', by_range('time', INTERVAL '1 day'));
ALTER TABLE heartbeats SET (
  timescaledb.compress,
  timescaledb.compress_segmentby = 'sn',
  timescaledb.compress_orderby = 'time DESC'
);
SELECT create_hypertable('presence_events', by_range('time', INTERVAL '7 days'));
