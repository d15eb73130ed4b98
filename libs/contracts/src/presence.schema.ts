import { z } from 'zod';

export const PresenceState = z.enum(['online', 'offline']);
export type PresenceState = z.infer<typeof PresenceState>;

/**
 * Retained message on pos/v1/{sn}/presence. The terminal publishes `online` after CONNACK and
 * registers `offline` as its Last Will, so subscribers always see the current state.
 */
export const presenceSchema = z.looseObject({
  v: z.literal(1),
  state: PresenceState,
  ts: z.iso.datetime({ offset: true }).optional(),
});
export type PresenceMessage = z.infer<typeof presenceSchema>;

/** Why the broker recorded a presence change. */
export const PresenceReason = {
  Connected: 'connected',
  CleanDisconnect: 'clean_disconnect',
  /** Connection lost without DISCONNECT: the Last Will was published. */
  ConnectionLost: 'connection_lost',
  /** Another connection with the same client id took over the session. */
  TakenOver: 'taken_over',
  ServerShutdown: 'server_shutdown',
  /** The backend closed the connection itself, e.g. because the terminal was disabled. */
  ClosedByServer: 'closed_by_server',
  /** Found still marked online when the gateway started (it stopped without recording the disconnect). */
  ServerRestart: 'server_restart',
  /** The gateway holding the connection stopped renewing its lease (crashed, hung or cut off); marked by a peer. */
  GatewayLost: 'gateway_lost',
} as const;
export type PresenceReason = (typeof PresenceReason)[keyof typeof PresenceReason];
