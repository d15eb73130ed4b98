import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(0, 65535);
/** One OTA_RELEASE_PUBLIC_KEYS entry: [key id:]base64 of a raw 32-byte Ed25519 key, or a PEM file path. */
const OTA_KEY_ENTRY = /^(?:(?:[0-9a-f]{16}:)?[A-Za-z0-9+/]{43}=|.+\.pem)$/;

/** Environment variables, validated once at start. Every default is an embedded-friendly value. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  /** Postgres/TimescaleDB URL. Unset: embedded PGlite+TimescaleDB under DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  /** auto: use TimescaleDB when the extension is available, plain PostgreSQL otherwise. */
  DATABASE_TIMESCALE: z.enum(['auto', 'require', 'off']).default('auto'),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Port of the embedded database's Postgres wire-protocol socket (0 = ephemeral). */
  EMBEDDED_DB_PORT: port.default(0),
  MIGRATE_ON_START: bool.optional(),

  MQTT_HOST: z.string().min(1).default('0.0.0.0'),
  MQTT_PORT: port.default(1883),
  MQTT_MAX_CONNECTIONS: int(1, 10_000_000).default(200_000),
  /** Largest MQTT packet before the CONNECT is authenticated (CONNECT with credentials and Last Will). */
  MQTT_MAX_PACKET_BYTES_BEFORE_AUTH: int(256, 1_048_576).default(4096),
  /** Largest MQTT packet after authentication; 0: twice HEARTBEAT_MAX_BYTES plus 1 KiB for headers and topic. */
  MQTT_MAX_PACKET_BYTES: int(0, 16_777_216).default(0),
  /** Connections that have not (yet) authenticated, in total and per source address. */
  MQTT_MAX_PENDING_CONNECTIONS: int(1, 1_000_000).default(10_000),
  MQTT_MAX_PENDING_PER_ADDRESS: int(1, 1_000_000).default(200),
  /** New connections per source address per minute (terminals behind carrier NAT share an address). */
  MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE: int(1, 10_000_000).default(1200),
  /** Time allowed between TCP accept and the CONNECT packet. */
  MQTT_CONNECT_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Largest keep-alive honoured; 0 (none) and larger values are replaced by it, so a silent connection is closed. */
  MQTT_MAX_KEEPALIVE_S: int(1, 65_535).default(300),
  /**
   * Publishes of one connection being handled (not yet acknowledged) at once; a connection with more is
   * closed. Bounds what one socket read can make the gateway hold (protocol §4: 1 in flight is enough).
   */
  MQTT_MAX_INFLIGHT_PER_CONNECTION: int(1, 65_535).default(16),
  /**
   * At start, mark offline the terminals left "online" by gateway sessions that are gone (this gateway's
   * previous runs, stopped or expired peers, rows from before sessions existed). Safe with several gateways.
   */
  PRESENCE_RESET_ON_START: bool.default(true),
  /** This gateway's identity, unique per process (e.g. the pod name); default: generated at each start. */
  GATEWAY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,100}$/, 'GATEWAY_ID: 1-100 of A-Z a-z 0-9 . _ : -')
    .optional(),
  /** A gateway whose lease is not renewed for this long is presumed dead: its terminals are marked offline. */
  GATEWAY_LEASE_TTL_MS: int(1_000, 3_600_000).default(30_000),
  /** How often a gateway renews its lease and looks for expired peers (at most a third of the TTL). */
  GATEWAY_LEASE_RENEW_MS: int(100, 600_000).default(10_000),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: port.default(8080),

  API_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(1200),
  /** Requests per client address per minute without a valid key or token (or to no route); 429 beyond. */
  HTTP_UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(60),
  /** Key for HMAC-SHA256 of terminal secrets. Unset with the embedded database: generated under DATA_DIR. */
  CREDENTIAL_PEPPER: z.string().min(32, 'CREDENTIAL_PEPPER must be at least 32 characters').optional(),
  /** Bearer token for /internal endpoints. Unset with the embedded database: generated under DATA_DIR. */
  ADMIN_TOKEN: z.string().min(24, 'ADMIN_TOKEN must be at least 24 characters').optional(),
  AUTH_CACHE_TTL_MS: int(0, 3_600_000).default(30_000),
  AUTH_CACHE_MAX_ENTRIES: int(0, 10_000_000).default(500_000),

  HEARTBEAT_MAX_BYTES: int(256, 262_144).default(8192),
  HEARTBEAT_MAX_FUTURE_SKEW_S: int(0, 86_400).default(600),
  HEARTBEAT_MAX_AGE_S: int(60, 365 * 86_400).default(7 * 86_400),

  INGEST_BATCH_MAX_ROWS: int(1, 50_000).default(2000),
  INGEST_BATCH_MAX_WAIT_MS: int(1, 10_000).default(100),
  /** Rows held in memory awaiting commit; beyond it publishers wait (their sockets stop being read). */
  INGEST_BUFFER_MAX_ROWS: int(1, 1_000_000).default(20_000),
  /** A held PUBACK waiting longer than this for a place in the buffer disconnects the terminal, which retries. */
  INGEST_ACK_TIMEOUT_MS: int(100, 600_000).default(30_000),
  INGEST_RETRY_MAX_BACKOFF_MS: int(10, 60_000).default(5_000),
  /**
   * One turn of the event loop validates heartbeats and releases committed PUBACKs together, up to
   * this many in all and for at most INGEST_TURN_BUDGET_MS, then lets I/O and timers run.
   */
  INGEST_TURN_MAX_UNITS: int(1, 100_000).default(256),
  INGEST_TURN_BUDGET_MS: int(1, 1000).default(5),

  DEAD_LETTER_MAX_ROWS: int(100, 100_000_000).default(100_000),
  DEAD_LETTER_MAX_PAYLOAD_BYTES: int(64, 1_048_576).default(16_384),

  TELEMETRY_CHUNK_INTERVAL: z
    .string()
    .regex(/^\d+ (hours?|days?)$/)
    .default('1 day'),
  TELEMETRY_COMPRESS_AFTER: z
    .string()
    .regex(/^\d+ (hours?|days?)$/)
    .default('1 day'),
  TELEMETRY_RETENTION: z
    .string()
    .regex(/^\d+ days?$/)
    .default('90 days'),
  /** How long the 5-minute heartbeat rollups (heartbeats_5m, fleet_heartbeats_5m) are kept. */
  TELEMETRY_ROLLUP_5M_RETENTION: z
    .string()
    .regex(/^\d+ days?$/)
    .default('30 days'),
  /** How long the hourly heartbeat rollups (heartbeats_1h, fleet_heartbeats_1h) are kept; longer than raw heartbeats is the point. */
  TELEMETRY_ROLLUP_1H_RETENTION: z
    .string()
    .regex(/^\d+ days?$/)
    .default('400 days'),
  /** How often the app runs maintenance (policy jobs on embedded TimescaleDB, retention on plain PostgreSQL). */
  MAINTENANCE_INTERVAL_MS: int(1_000, 86_400_000).default(15 * 60_000),
  /** How often the worker checks the heartbeat rollups (0012) for completed buckets; also the continuous aggregate policies' schedule on a TimescaleDB server. */
  ROLLUP_REFRESH_INTERVAL_MS: int(1_000, 3_600_000).default(30_000),
  /** Each rollup refresh re-materializes buckets that ended within this window, folding in late heartbeats. */
  ROLLUP_LATE_WINDOW: z
    .string()
    .regex(/^\d+ (minutes?|hours?)$/)
    .default('30 minutes'),
  /** How often the worker rebuilds fleet_summary (GET /v1/fleet/summary reads it; its asOf is at most about this old). */
  FLEET_SUMMARY_REFRESH_INTERVAL_MS: int(500, 3_600_000).default(5_000),
  /** GET /v1/fleet/summary answers from the snapshot only while it is at most this old; otherwise (no worker running) it counts live. 0: always live. */
  FLEET_SUMMARY_MAX_AGE_MS: int(0, 86_400_000).default(60_000),

  /** A command published but not acknowledged is published again after this long. */
  COMMAND_RESEND_AFTER_S: int(1, 86_400).default(120),
  /** Publishes per command; after the last one times out unacknowledged it fails (no_ack). */
  COMMAND_MAX_ATTEMPTS: int(1, 1000).default(5),
  /** A step (accepted .. installing) without a further report fails after this long (step_timeout). */
  COMMAND_STEP_TIMEOUT_S: int(10, 7 * 86_400).default(6 * 3600),
  /** Default lifetime of a command not yet started. */
  COMMAND_DEFAULT_TTL_S: int(60, 90 * 86_400).default(7 * 86_400),
  /** How often a gateway ends timed-out commands and resends what is due to its terminals. */
  COMMAND_SWEEP_INTERVAL_MS: int(100, 3_600_000).default(30_000),
  /** LISTEN/NOTIFY between gateways: auto = on with an external PostgreSQL, off on PGlite (one session). */
  COMMAND_NOTIFY: z.enum(['auto', 'on', 'off']).default('auto'),
  /** How often a worker advances running OTA campaigns (0: never; tests drive the runner themselves). */
  CAMPAIGN_TICK_MS: int(0, 3_600_000).default(5_000),
  /** A worker's lease on a campaign it runs; another worker takes over after it lapses. */
  CAMPAIGN_LEASE_MS: int(1_000, 3_600_000).default(60_000),
  /**
   * Default heartbeat intervals (worker): how often terminals are compared with their effective
   * default and set_heartbeat_interval queued where they differ (0: never), terminals per statement,
   * and how long after a failed or expired interval command the same value is tried again.
   */
  HEARTBEAT_DEFAULTS_RECONCILE_MS: int(0, 86_400_000).default(60_000),
  HEARTBEAT_DEFAULTS_BATCH: int(1, 100_000).default(2_000),
  HEARTBEAT_DEFAULTS_RETRY_AFTER_S: int(60, 30 * 86_400).default(86_400),

  /** Notifications (worker): how often the outbox and due deliveries are polled, and batch sizes. */
  NOTIFY_POLL_INTERVAL_MS: int(50, 3_600_000).default(1_000),
  NOTIFY_BATCH_SIZE: int(1, 1_000).default(100),
  /** Messages sent at the same time by one worker. */
  NOTIFY_CONCURRENCY: int(1, 64).default(4),
  /** A receiver that has not answered within this is cut off (the attempt fails and is retried). */
  NOTIFY_HTTP_TIMEOUT_MS: int(100, 120_000).default(5_000),
  /** Response bodies are read up to this many bytes (kept for the log), the rest is discarded. */
  NOTIFY_RESPONSE_MAX_BYTES: int(0, 1_048_576).default(65_536),
  /** Attempts per delivery before it is marked failed; retries back off exponentially with jitter. */
  NOTIFY_MAX_ATTEMPTS: int(1, 100).default(8),
  NOTIFY_RETRY_BASE_MS: int(10, 3_600_000).default(5_000),
  NOTIFY_RETRY_MAX_MS: int(10, 86_400_000).default(3_600_000),
  /** A claimed delivery not recorded within this (worker crashed) is claimed again. Must exceed the send timeout. */
  NOTIFY_LEASE_MS: int(1_000, 3_600_000).default(60_000),
  /**
   * Webhook and robot URLs resolving to loopback, private, link-local or unique-local addresses.
   * Unset: refused in production, allowed otherwise (local receivers in development and tests).
   */
  NOTIFY_ALLOW_PRIVATE_TARGETS: bool.optional(),
  /** Storm control: more than this share of a group's terminals raising one rule within the window -> one roll-up. */
  NOTIFY_STORM_PERCENT: int(1, 100).default(20),
  /** ...and at least this many terminals. */
  NOTIFY_STORM_MIN_COUNT: int(1, 1_000_000).default(10),
  NOTIFY_STORM_WINDOW_S: int(10, 86_400).default(600),
  /** A roll-up waits this long for more alerts of its storm before it is sent. */
  NOTIFY_STORM_HOLD_S: int(0, 3_600).default(60),
  /** Local time of day (HH:MM, in NOTIFY_DIGEST_TIME_ZONE) when the daily renewal digest is sent. */
  NOTIFY_DIGEST_LOCAL_TIME: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/)
    .default('08:00'),
  NOTIFY_DIGEST_TIME_ZONE: z
    .string()
    .refine((tz) => isTimeZone(tz), 'an IANA time zone, e.g. Asia/Shanghai')
    .default('Asia/Shanghai'),
  /** Terminals whose plan expires within this many days are listed in the renewal digest. */
  NOTIFY_DIGEST_DAYS: int(1, 365).default(30),
  /** Finished deliveries (delivered, failed, bundled) and their attempts are deleted after this many days. */
  NOTIFY_RETENTION_DAYS: int(1, 3650).default(30),
  /** smtp:// or smtps:// URL of the mail relay for email channels; unset: email deliveries fail. */
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  SMTP_FROM: z.string().min(3).max(200).default('POS Fleet <fleet-alerts@localhost>'),
  /**
   * Alert evaluation. true: ingest enqueues every terminal with new heartbeats (in the heartbeat
   * batch's own statement) and the worker evaluates the alert rules and runs the scheduled sweep.
   * false: nothing is enqueued, no rule runs, no alert is raised or resolved.
   */
  ALERTS_ENABLED: bool.default(true),
  /** How often the worker looks for terminals with heartbeats not yet evaluated (it drains a backlog without waiting). */
  ALERTS_EVAL_INTERVAL_MS: int(10, 60_000).default(250),
  /** Terminals claimed from the evaluation queue per transaction. */
  ALERTS_EVAL_BATCH_TERMINALS: int(1, 10_000).default(500),
  /** Heartbeats evaluated per terminal per batch; a terminal with more is queued again. */
  ALERTS_EVAL_MAX_HEARTBEATS: int(1, 10_000).default(200),
  /** How often the scheduled rules (offline, silent, plan expiry ...) sweep every terminal. */
  ALERTS_SWEEP_INTERVAL_MS: int(1_000, 86_400_000).default(60_000),
  /** Terminals per sweep page; each page is one short transaction. */
  ALERTS_SWEEP_PAGE_SIZE: int(1, 50_000).default(2000),
  /**
   * Between full sweeps, a sweep evaluates only the terminals whose scheduled rules can have changed
   * since the previous sweep (a threshold crossed, a local midnight passed, an open alert that may
   * clear). A full sweep of every candidate runs at the first sweep after start, after a settings
   * change and at least this often (a safety net). 0: every sweep is full.
   */
  ALERTS_SWEEP_FULL_EVERY_MS: int(0, 7 * 86_400_000).default(6 * 3_600_000),

  /**
   * Release public keys (Ed25519) that artifact signatures must verify against: a comma-separated
   * list of `KEYID:BASE64` (as `npm run releases -- keygen` prints), bare `BASE64` (32-byte raw key),
   * or paths of PEM files (ending `.pem`). Checked at start.
   */
  OTA_RELEASE_PUBLIC_KEYS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
    .pipe(z.array(z.string().regex(OTA_KEY_ENTRY, 'each entry is KEYID:BASE64, BASE64 (32-byte Ed25519 key) or a path ending .pem')).max(64)),
  /** Where uploaded artifacts are stored. Default: `${DATA_DIR}/artifacts`. */
  OTA_ARTIFACT_DIR: z.string().min(1).optional(),
  /** Largest artifact accepted by upload (413 beyond). */
  OTA_ARTIFACT_MAX_BYTES: int(1, 64 * 1024 ** 3).default(512 * 1024 ** 2),
  /** Base of the download URLs handed to terminals. Default: http://localhost:HTTP_PORT. */
  OTA_PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Lifetime of a signed download URL. */
  OTA_DOWNLOAD_URL_TTL_S: int(60, 7 * 86_400).default(3600),
  /** HMAC key for download URLs. Unset: derived from CREDENTIAL_PEPPER (HKDF), so replicas agree without a new secret. */
  OTA_URL_SECRET: z.string().min(32, 'OTA_URL_SECRET must be at least 32 characters').optional(),
});
export type Env = z.infer<typeof envSchema>;

/** True when Intl knows the IANA zone. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export interface NotificationsConfig {
  pollIntervalMs: number;
  batchSize: number;
  concurrency: number;
  httpTimeoutMs: number;
  responseMaxBytes: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaseMs: number;
  allowPrivateTargets: boolean;
  storm: { percent: number; minCount: number; windowS: number; holdS: number };
  digest: { localTime: string; timeZone: string; days: number };
  retentionDays: number;
  smtp: { url: string | null; from: string };
}

/** The notifications settings from validated environment variables. */
export function notificationsConfig(e: Env): NotificationsConfig {
  return {
    pollIntervalMs: e.NOTIFY_POLL_INTERVAL_MS,
    batchSize: e.NOTIFY_BATCH_SIZE,
    concurrency: e.NOTIFY_CONCURRENCY,
    httpTimeoutMs: e.NOTIFY_HTTP_TIMEOUT_MS,
    responseMaxBytes: e.NOTIFY_RESPONSE_MAX_BYTES,
    maxAttempts: e.NOTIFY_MAX_ATTEMPTS,
    retryBaseMs: e.NOTIFY_RETRY_BASE_MS,
    retryMaxMs: Math.max(e.NOTIFY_RETRY_MAX_MS, e.NOTIFY_RETRY_BASE_MS),
    // The lease must outlive a send, or a slow receiver would get the message twice.
    leaseMs: Math.max(e.NOTIFY_LEASE_MS, 2 * e.NOTIFY_HTTP_TIMEOUT_MS + 1_000),
    allowPrivateTargets: e.NOTIFY_ALLOW_PRIVATE_TARGETS ?? e.NODE_ENV !== 'production',
    storm: { percent: e.NOTIFY_STORM_PERCENT, minCount: e.NOTIFY_STORM_MIN_COUNT, windowS: e.NOTIFY_STORM_WINDOW_S, holdS: e.NOTIFY_STORM_HOLD_S },
    digest: { localTime: e.NOTIFY_DIGEST_LOCAL_TIME, timeZone: e.NOTIFY_DIGEST_TIME_ZONE, days: e.NOTIFY_DIGEST_DAYS },
    retentionDays: e.NOTIFY_RETENTION_DAYS,
    smtp: { url: e.SMTP_URL ?? null, from: e.SMTP_FROM },
  };
}

export interface DatabaseConfig {
  /** null: embedded PGlite with TimescaleDB. */
  url: string | null;
  poolSize: number;
  timescale: 'auto' | 'require' | 'off';
  dataDir: string;
  embeddedPort: number;
  migrateOnStart: boolean;
}

export interface AppConfig {
  env: Env['NODE_ENV'];
  logLevel: Env['LOG_LEVEL'];
  database: DatabaseConfig;
  mqtt: {
    host: string;
    port: number;
    maxConnections: number;
    presenceResetOnStart: boolean;
    maxPacketBytesBeforeAuth: number;
    maxPacketBytes: number;
    maxPendingConnections: number;
    maxPendingPerAddress: number;
    connectRatePerAddressPerMinute: number;
    connectTimeoutMs: number;
    maxKeepaliveS: number;
    maxInflightPerConnection: number;
  };
  /** Presence ownership with several gateways (GATEWAY_*). */
  gateway: { id: string | null; leaseTtlMs: number; leaseRenewMs: number };
  http: { host: string; port: number };
  api: { rateLimitPerMinute: number; unauthenticatedRateLimitPerMinute: number };
  auth: { pepper: string | null; adminToken: string | null; cacheTtlMs: number; cacheMaxEntries: number };
  heartbeat: { maxBytes: number; maxFutureSkewS: number; maxAgeS: number };
  ingest: {
    batchMaxRows: number;
    batchMaxWaitMs: number;
    bufferMaxRows: number;
    ackTimeoutMs: number;
    retryMaxBackoffMs: number;
    turnMaxUnits: number;
    turnBudgetMs: number;
  };
  deadLetter: { maxRows: number; maxPayloadBytes: number };
  telemetry: {
    chunkInterval: string;
    compressAfter: string;
    retention: string;
    rollupRetention: { '5m': string; '1h': string };
    maintenanceIntervalMs: number;
  };
  rollups: { refreshIntervalMs: number; lateWindow: string; summaryRefreshIntervalMs: number; summaryMaxAgeMs: number };
  commands: { resendAfterMs: number; maxAttempts: number; stepTimeoutMs: number; defaultTtlMs: number; sweepIntervalMs: number; notify: 'auto' | 'on' | 'off' };
  campaigns: { tickMs: number; leaseMs: number };
  heartbeatDefaults: { reconcileMs: number; batch: number; retryAfterMs: number };
  notifications: NotificationsConfig;
  alerts: {
    enabled: boolean;
    evalIntervalMs: number;
    evalBatchTerminals: number;
    evalMaxHeartbeats: number;
    sweepIntervalMs: number;
    sweepPageSize: number;
    sweepFullEveryMs: number;
  };

  ota: OtaConfig;
}

export interface OtaConfig {
  /** Raw OTA_RELEASE_PUBLIC_KEYS entries (format checked); libs/ota loads and checks the keys at start. */
  releasePublicKeys: readonly string[];
  artifactDir: string;
  artifactMaxBytes: number;
  publicBaseUrl: string;
  downloadUrlTtlS: number;
  /** null: derive from the credential pepper. */
  urlSecret: string | null;
}

/** The OTA section of AppConfig from the validated environment. */
export function otaConfigFrom(e: Env): OtaConfig {
  return {
    releasePublicKeys: e.OTA_RELEASE_PUBLIC_KEYS,
    artifactDir: e.OTA_ARTIFACT_DIR ?? `${e.DATA_DIR.replace(/\/+$/, '')}/artifacts`,
    artifactMaxBytes: e.OTA_ARTIFACT_MAX_BYTES,
    publicBaseUrl: (e.OTA_PUBLIC_BASE_URL ?? `http://localhost:${e.HTTP_PORT}`).replace(/\/+$/, ''),
    downloadUrlTtlS: e.OTA_DOWNLOAD_URL_TTL_S,
    urlSecret: e.OTA_URL_SECRET ?? null,
  };
}
