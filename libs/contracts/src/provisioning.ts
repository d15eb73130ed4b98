/**
 * Shapes shared by the registration command, the internal enrolment endpoint and devices-sim.
 */
export interface TerminalRegistration {
  sn: string;
  model: string;
  /** Acquirer terminal id, 8 characters. */
  tid?: string;
  /** Merchant id the terminal is bound to. */
  mid?: string;
  /** Code of the owning service provider; defaults to the root (acquirer). */
  providerCode?: string;
  registeredLat?: number;
  registeredLon?: number;
  /** Where the terminal stands (campaign targeting, views): see isValidPlaceName. */
  city?: string;
  region?: string;
}

/** City and region names: 1-64 characters, no leading or trailing space, no control characters. */
export const PLACE_NAME_MAX = 64;
export function isValidPlaceName(s: unknown): s is string {
  return typeof s === 'string' && s.length >= 1 && s.length <= PLACE_NAME_MAX && s === s.trim() && !/\p{Cc}/u.test(s);
}

/** Returned once at registration or rotation; the secret is never stored or shown again. */
export interface TerminalCredentials {
  sn: string;
  /** MQTT username, equal to the SN. */
  username: string;
  /** MQTT password: a high-entropy random token. */
  secret: string;
}

export const TID_PATTERN = /^[A-Za-z0-9]{8}$/;

/**
 * Internal enrolment endpoints on the gateway's HTTP port, guarded by `Authorization: Bearer <admin token>`.
 * With embedded defaults the token is generated at first start and written to `<DATA_DIR>/admin-token`.
 * The public, role-based API supersedes these; they exist so tools (devices-sim, bench) can enrol
 * terminals while the single-process app holds the embedded database.
 */
export const INTERNAL_HTTP_PATHS = {
  /** POST RegisterTerminalsRequest -> RegisterTerminalsResponse */
  registerTerminals: '/internal/v1/terminals',
  /** POST RotateCredentialsRequest -> RegisterTerminalsResponse */
  rotateCredentials: '/internal/v1/terminals/rotate-credentials',
  /** GET -> IngestSummary */
  ingestSummary: '/internal/v1/ingest/summary',
} as const;

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface RegisterTerminalsRequest {
  terminals: TerminalRegistration[];
}

export interface RotateCredentialsRequest {
  sns: string[];
}

export interface RowError {
  /** 1-based row (CSV) or array index + 1 (JSON). */
  row: number;
  sn: string | null;
  code: string;
  message: string;
}

export interface RegisterTerminalsResponse {
  credentials: TerminalCredentials[];
  errors: RowError[];
}

export interface IngestSummary {
  terminals: number;
  online: number;
  heartbeats: number;
  lastHeartbeatAt: string | null;
  deadLetters: number;
}
