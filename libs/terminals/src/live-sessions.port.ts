/**
 * The live MQTT sessions of terminals, for code that changes a terminal's credentials or status.
 * Provided (LIVE_SESSIONS) by the broker module where the broker runs in the same process; elsewhere
 * absent, so inject it with @Optional() and let changes reach the gateways within AUTH_CACHE_TTL_MS.
 */
export interface LiveSessionsPort {
  /** Forget cached MQTT credentials of a terminal (rotation, enable, disable). */
  invalidate(sn: string): void;
  /** Forget its cached credentials and close its live connection; true when one was closed. */
  disconnect(sn: string): boolean;
}

export const LIVE_SESSIONS = Symbol('LiveSessionsPort');
