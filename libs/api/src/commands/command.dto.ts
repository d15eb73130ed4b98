import { z } from 'zod';
import {
  CommandType,
  HEARTBEAT_INTERVAL_MAX_S,
  HEARTBEAT_INTERVAL_MIN_S,
  otaInstallParamsSchema,
  rebootParamsSchema,
  setHeartbeatIntervalParamsSchema,
} from '#contracts';
import { COMMAND_STATES } from '#commands';

export const COMMAND_LIST_MAX_LIMIT = 200;

export const commandIdParam = z.object({ id: z.uuid().describe('Command id') });

export const commandListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(COMMAND_LIST_MAX_LIMIT).default(50),
  cursor: z.string().max(1000).optional().describe('nextCursor of the previous page'),
});

const ttl = z
  .number()
  .int()
  .min(60)
  .max(90 * 86_400)
  .optional()
  .describe('Seconds until the command expires if not started; default COMMAND_DEFAULT_TTL_S');

export const createCommandBody = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal(CommandType.Reboot), params: rebootParamsSchema.default({ force: false }), ttlSeconds: ttl }),
  z.strictObject({
    type: z.literal(CommandType.SetHeartbeatInterval),
    params: setHeartbeatIntervalParamsSchema.describe(`seconds: ${HEARTBEAT_INTERVAL_MIN_S}..${HEARTBEAT_INTERVAL_MAX_S}`),
    ttlSeconds: ttl,
  }),
  z.strictObject({
    type: z.literal(CommandType.OtaInstall),
    params: otaInstallParamsSchema.describe('ops-admin only; rollouts go through campaigns'),
    ttlSeconds: ttl,
  }),
]);
export type CreateCommandBody = z.output<typeof createCommandBody>;

export const commandEventView = z.object({
  time: z.string(),
  reportedAt: z.string().nullable().describe('Terminal clock of the report'),
  source: z.enum(['terminal', 'backend']),
  state: z.string(),
  reason: z.string().nullable(),
  detail: z.string().nullable(),
  progress: z.number().nullable(),
  applied: z.boolean().describe('False: arrived too late to move the state (history only)'),
});

export const commandView = z.object({
  id: z.string(),
  sn: z.string(),
  type: z.string(),
  params: z.record(z.string(), z.unknown()),
  state: z.enum(COMMAND_STATES),
  reason: z.string().nullable(),
  detail: z.string().nullable(),
  progress: z.number().nullable(),
  attempts: z.number().int(),
  createdAt: z.string(),
  sentAt: z.string().nullable(),
  ackedAt: z.string().nullable(),
  confirmedAt: z.string().nullable().describe('ota.install: when a heartbeat after `succeeded` showed the new version'),
  updatedAt: z.string(),
  expiresAt: z.string(),
  stepDeadlineAt: z.string().nullable(),
  campaignId: z.string().nullable(),
  createdBy: z.string().nullable(),
  history: z.array(commandEventView),
});
export type CommandView = z.output<typeof commandView>;

export const commandPage = z.object({ items: z.array(commandView), nextCursor: z.string().nullable() });
