import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(0, 65535);

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
  /** Mark terminals left "online" by a previous run offline at start. Disable with several gateway replicas. */
  PRESENCE_RESET_ON_START: bool.default(true),
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
  /** How often the app runs maintenance (policy jobs on embedded TimescaleDB, retention on plain PostgreSQL). */
  MAINTENANCE_INTERVAL_MS: int(1_000, 86_400_000).default(15 * 60_000),

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
});
export type Env = z.infer<typeof envSchema>;

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
  };
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
  };
  deadLetter: { maxRows: number; maxPayloadBytes: number };
  telemetry: { chunkInterval: string; compressAfter: string; retention: string; maintenanceIntervalMs: number };
  alerts: {
    enabled: boolean;
    evalIntervalMs: number;
    evalBatchTerminals: number;
    evalMaxHeartbeats: number;
    sweepIntervalMs: number;
    sweepPageSize: number;
  };
}
