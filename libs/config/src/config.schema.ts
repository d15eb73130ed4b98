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
