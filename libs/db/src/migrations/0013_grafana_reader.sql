-- Read-only role for Grafana's PostgreSQL datasource (dashboards/provisioning/datasources).
-- Created NOLOGIN and without a password: the deployment gives it one and allows login
-- (ALTER ROLE fleet_reader WITH LOGIN PASSWORD '...'; docker/compose.yml does it from
-- FLEET_READER_PASSWORD), so no secret lives in a migration. Roles are cluster-wide: an existing role
-- (another database of the same server, or one made by the DBA) is reused. Where the migrating user
-- may not create roles, the migration still succeeds and says so; the DBA then creates the role and
-- reruns these grants (dashboards/README.md).
--
-- SELECT on every table and view except secrets: API key hashes, terminal and service-account
-- credential hashes, notification channel URLs and secrets (robot URLs carry access tokens), and
-- dead-letter payloads. Tables created later by the migrating user are readable by default
-- (ALTER DEFAULT PRIVILEGES): a later migration adding a secret column must REVOKE it from fleet_reader.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleet_reader') THEN
    BEGIN
      CREATE ROLE fleet_reader NOLOGIN;
    EXCEPTION
      -- Another database of the same server created it at the same moment.
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE NOTICE 'fleet_reader not created (the migrating user may not create roles): create it and rerun 0013''s grants';
        RETURN;
    END;
  END IF;
  -- CONNECT on the database: PostgreSQL grants it to PUBLIC by default (where a DBA revoked that,
  -- grant it to fleet_reader too; doing it here fails on the embedded database).
  GRANT USAGE ON SCHEMA public TO fleet_reader;
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO fleet_reader;
  REVOKE SELECT ON api_keys, service_accounts, notification_channels, terminals, dead_letters FROM fleet_reader;
  GRANT SELECT (sn, model, tid, mid, provider_id, registered_lat, registered_lon, credential_rotated_at, status, created_at, updated_at)
    ON terminals TO fleet_reader;
  GRANT SELECT (id, provider_id, type, name, email_to, enabled, created_at, updated_at) ON notification_channels TO fleet_reader;
  GRANT SELECT (id, received_at, client_id, topic, reason, detail, payload_size, truncated) ON dead_letters TO fleet_reader;
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO fleet_reader;
END
$$;
