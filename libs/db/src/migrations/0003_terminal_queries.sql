-- Fleet API terminal list, export and summary: firmware version ordering and list indexes.

-- Numeric key of a firmware version for range filters: the first dotted number group compared
-- component by component ('E20_V3.2.10' -> {3,2,10}, 'N5-1.18.0' -> {1,18,0}, '1.2.3-rc1' -> {1,2,3}),
-- else the first number ('build 42' -> {42}); NULL when the string has no digit. numeric, not int,
-- so long build numbers cannot overflow.
CREATE FUNCTION fleet_version_key(v text) RETURNS numeric[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT
  AS $$ SELECT string_to_array(COALESCE(substring(v FROM '[0-9]+(?:\.[0-9]+)+'), substring(v FROM '[0-9]+')), '.')::numeric[] $$;

-- The list orders SNs by byte order (COLLATE "C"; SNs are ASCII) whatever the database collation,
-- so one index serves sort=sn, its keyset and q (SN prefix: LIKE 'P30%' becomes an index range).
CREATE INDEX terminals_sn_c_idx ON terminals (sn COLLATE "C");
-- Registry filters, in SN order (the terminals table changes rarely, so these cost ingest nothing).
CREATE INDEX terminals_model_sn_idx ON terminals (model, sn COLLATE "C");
CREATE INDEX terminals_disabled_sn_idx ON terminals (sn COLLATE "C") WHERE status = 'disabled';

-- Keyset order of sort=lastSeen is (last_heartbeat_at, sn); this index also serves every query the
-- single-column one did.
DROP INDEX terminal_state_last_heartbeat_idx;
CREATE INDEX terminal_state_last_heartbeat_sn_idx ON terminal_state (last_heartbeat_at, sn);

-- Selective state filters in SN order. terminal_state is rewritten by every heartbeat, so these are
-- narrow, and partial where the interesting rows are a minority.
CREATE INDEX terminal_state_firmware_sn_idx ON terminal_state (firmware_version, sn COLLATE "C");
CREATE INDEX terminal_state_offline_sn_idx ON terminal_state (sn COLLATE "C") WHERE NOT online;
CREATE INDEX terminal_state_plan_attention_sn_idx ON terminal_state (plan_status, sn COLLATE "C") WHERE plan_status <> 'active';
CREATE INDEX terminal_state_renewal_failed_sn_idx ON terminal_state (sn COLLATE "C") WHERE renewal_result = 'failed';
CREATE INDEX terminal_state_auto_renew_off_sn_idx ON terminal_state (sn COLLATE "C") WHERE NOT plan_auto_renew;
