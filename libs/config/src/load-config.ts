import { envSchema, notificationsConfig, otaConfigFrom, type AppConfig } from './config.schema.js';

/** Thrown with one readable message naming every bad setting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<string, string>> = {}): AppConfig {
  const source: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = overrides[key] ?? env[key];
    // Empty strings count as unset so `FOO= npm start` behaves like no FOO.
    source[key] = value === '' ? undefined : value;
  }
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const embedded = e.DATABASE_URL === undefined;
  if (e.NODE_ENV === 'production' && !embedded && !e.CREDENTIAL_PEPPER) {
    throw new ConfigError('Invalid configuration:\n  CREDENTIAL_PEPPER: required in production with an external database');
  }
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    database: {
      url: e.DATABASE_URL ?? null,
      // PGlite serves one connection at a time.
      poolSize: embedded ? 1 : e.DATABASE_POOL_SIZE,
      timescale: e.DATABASE_TIMESCALE,
      dataDir: e.DATA_DIR,
      embeddedPort: e.EMBEDDED_DB_PORT,
      migrateOnStart: e.MIGRATE_ON_START ?? embedded,
    },
    mqtt: {
      host: e.MQTT_HOST,
      port: e.MQTT_PORT,
      maxConnections: e.MQTT_MAX_CONNECTIONS,
      presenceResetOnStart: e.PRESENCE_RESET_ON_START,
      maxPacketBytesBeforeAuth: e.MQTT_MAX_PACKET_BYTES_BEFORE_AUTH,
      maxPacketBytes: e.MQTT_MAX_PACKET_BYTES || 2 * e.HEARTBEAT_MAX_BYTES + 1024,
      maxPendingConnections: e.MQTT_MAX_PENDING_CONNECTIONS,
      maxPendingPerAddress: e.MQTT_MAX_PENDING_PER_ADDRESS,
      connectRatePerAddressPerMinute: e.MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE,
      connectTimeoutMs: e.MQTT_CONNECT_TIMEOUT_MS,
      maxKeepaliveS: e.MQTT_MAX_KEEPALIVE_S,
      maxInflightPerConnection: e.MQTT_MAX_INFLIGHT_PER_CONNECTION,
    },
    gateway: {
      id: e.GATEWAY_ID ?? null,
      leaseTtlMs: e.GATEWAY_LEASE_TTL_MS,
      leaseRenewMs: Math.min(e.GATEWAY_LEASE_RENEW_MS, Math.floor(e.GATEWAY_LEASE_TTL_MS / 3)),
    },
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    api: { rateLimitPerMinute: e.API_RATE_LIMIT_PER_MINUTE, unauthenticatedRateLimitPerMinute: e.HTTP_UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE },
    auth: {
      pepper: e.CREDENTIAL_PEPPER ?? null,
      adminToken: e.ADMIN_TOKEN ?? null,
      cacheTtlMs: e.AUTH_CACHE_TTL_MS,
      cacheMaxEntries: e.AUTH_CACHE_MAX_ENTRIES,
    },
    heartbeat: {
      maxBytes: e.HEARTBEAT_MAX_BYTES,
      maxFutureSkewS: e.HEARTBEAT_MAX_FUTURE_SKEW_S,
      maxAgeS: e.HEARTBEAT_MAX_AGE_S,
    },
    ingest: {
      batchMaxRows: e.INGEST_BATCH_MAX_ROWS,
      batchMaxWaitMs: e.INGEST_BATCH_MAX_WAIT_MS,
      bufferMaxRows: Math.max(e.INGEST_BUFFER_MAX_ROWS, e.INGEST_BATCH_MAX_ROWS),
      ackTimeoutMs: e.INGEST_ACK_TIMEOUT_MS,
      retryMaxBackoffMs: e.INGEST_RETRY_MAX_BACKOFF_MS,
      turnMaxUnits: e.INGEST_TURN_MAX_UNITS,
      turnBudgetMs: e.INGEST_TURN_BUDGET_MS,
    },
    deadLetter: { maxRows: e.DEAD_LETTER_MAX_ROWS, maxPayloadBytes: e.DEAD_LETTER_MAX_PAYLOAD_BYTES },
    telemetry: {
      chunkInterval: e.TELEMETRY_CHUNK_INTERVAL,
      compressAfter: e.TELEMETRY_COMPRESS_AFTER,
      retention: e.TELEMETRY_RETENTION,
      rollupRetention: { '5m': e.TELEMETRY_ROLLUP_5M_RETENTION, '1h': e.TELEMETRY_ROLLUP_1H_RETENTION },
      maintenanceIntervalMs: e.MAINTENANCE_INTERVAL_MS,
    },
    commands: {
      resendAfterMs: e.COMMAND_RESEND_AFTER_S * 1000,
      maxAttempts: e.COMMAND_MAX_ATTEMPTS,
      stepTimeoutMs: e.COMMAND_STEP_TIMEOUT_S * 1000,
      defaultTtlMs: e.COMMAND_DEFAULT_TTL_S * 1000,
      sweepIntervalMs: e.COMMAND_SWEEP_INTERVAL_MS,
      notify: e.COMMAND_NOTIFY,
    },
    rollups: {
      refreshIntervalMs: e.ROLLUP_REFRESH_INTERVAL_MS,
      lateWindow: e.ROLLUP_LATE_WINDOW,
      summaryRefreshIntervalMs: e.FLEET_SUMMARY_REFRESH_INTERVAL_MS,
      summaryMaxAgeMs: e.FLEET_SUMMARY_MAX_AGE_MS,
    },
    campaigns: { tickMs: e.CAMPAIGN_TICK_MS, leaseMs: e.CAMPAIGN_LEASE_MS },
    heartbeatDefaults: {
      reconcileMs: e.HEARTBEAT_DEFAULTS_RECONCILE_MS,
      batch: e.HEARTBEAT_DEFAULTS_BATCH,
      retryAfterMs: e.HEARTBEAT_DEFAULTS_RETRY_AFTER_S * 1000,
    },
    notifications: notificationsConfig(e),
    alerts: {
      enabled: e.ALERTS_ENABLED,
      evalIntervalMs: e.ALERTS_EVAL_INTERVAL_MS,
      evalBatchTerminals: e.ALERTS_EVAL_BATCH_TERMINALS,
      evalMaxHeartbeats: e.ALERTS_EVAL_MAX_HEARTBEATS,
      sweepIntervalMs: e.ALERTS_SWEEP_INTERVAL_MS,
      sweepPageSize: e.ALERTS_SWEEP_PAGE_SIZE,
      sweepFullEveryMs: e.ALERTS_SWEEP_FULL_EVERY_MS,
    },
    ota: otaConfigFrom(e),
  };
}
