export type MqttIdentity = { kind: 'terminal'; sn: string } | { kind: 'service'; name: string };

/** Why a CONNECT was refused; used as a metric label. */
export const AuthFailure = {
  MissingCredentials: 'missing_credentials',
  ClientIdMismatch: 'client_id_mismatch',
  UnknownTerminal: 'unknown_terminal',
  Disabled: 'disabled',
  BadSecret: 'bad_secret',
  Unavailable: 'auth_unavailable',
} as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

export const SERVICE_USERNAME_PREFIX = 'svc:';
