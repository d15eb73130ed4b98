import { z } from 'zod';

/**
 * Commands (backend -> terminal) and acknowledgements (terminal -> backend).
 * Reserved in v1: the envelope is fixed, command types are filled in by the OTA capability.
 */
export const commandSchema = z.looseObject({
  v: z.literal(1),
  /** Unique id chosen by the backend; the ack echoes it. */
  id: z.string().min(1).max(64),
  type: z.string().min(1).max(64),
  issuedAt: z.iso.datetime({ offset: true }),
  /** The terminal must not start the command after this time. */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type Command = z.infer<typeof commandSchema>;

export const CommandAckStatus = z.enum(['received', 'in_progress', 'succeeded', 'failed', 'rejected']);
export type CommandAckStatus = z.infer<typeof CommandAckStatus>;

export const commandAckSchema = z.looseObject({
  v: z.literal(1),
  id: z.string().min(1).max(64),
  status: CommandAckStatus,
  ts: z.iso.datetime({ offset: true }),
  /** Progress in percent for long-running commands (downloads). */
  progress: z.number().min(0).max(100).optional(),
  error: z.string().max(500).optional(),
});
export type CommandAck = z.infer<typeof commandAckSchema>;
