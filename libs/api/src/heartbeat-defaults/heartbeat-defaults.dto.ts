import { z } from 'zod';
import { HEARTBEAT_INTERVAL_MAX_S, HEARTBEAT_INTERVAL_MIN_S } from '#contracts';

export const heartbeatDefaultBody = z.strictObject({
  seconds: z
    .number()
    .int()
    .min(HEARTBEAT_INTERVAL_MIN_S)
    .max(HEARTBEAT_INTERVAL_MAX_S)
    .describe(
      `Heartbeat interval in seconds, ${HEARTBEAT_INTERVAL_MIN_S} \u2026 ${HEARTBEAT_INTERVAL_MAX_S} (docs/protocol.md \u00a76.4: data budget per interval)`,
    ),
});
export type HeartbeatDefaultBody = z.output<typeof heartbeatDefaultBody>;

export const modelParam = z.object({
  model: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^\s/][^/]*$/, 'a model name')
    .refine((s) => s === s.trim(), 'no leading or trailing spaces')
    .describe('Registered model, exact'),
});

const entry = {
  seconds: z.number().int(),
  updatedBy: z.string(),
  updatedAt: z.iso.datetime(),
};

export const heartbeatDefaultsView = z.object({
  fleet: z.object(entry).nullable().describe('Fleet-wide default; null: none (terminals without a model or provider default are left alone)'),
  models: z.array(z.object({ model: z.string(), ...entry })).describe('Per-model defaults (over the fleet default)'),
  providers: z
    .array(z.object({ providerId: z.uuid(), ...entry }))
    .describe('Per-provider-subtree defaults (over model and fleet); provider roles see those on their path and in their subtree'),
});
export type HeartbeatDefaultsView = z.output<typeof heartbeatDefaultsView>;

export const terminalIntervalView = z.object({
  sn: z.string(),
  effective: z.object({
    seconds: z.number().int().nullable().describe('The default that applies to this terminal; null: none'),
    source: z.enum(['provider', 'model', 'fleet']).nullable(),
    providerId: z.uuid().nullable().describe('With source provider: the provider whose default applies (the nearest on the path)'),
  }),
  known: z
    .object({ seconds: z.number().int(), acknowledgedAt: z.iso.datetime().nullable() })
    .nullable()
    .describe('Last interval the terminal acknowledged (succeeded set_heartbeat_interval); null: never set by a command'),
  pending: z.object({ commandId: z.uuid(), seconds: z.number().int().nullable() }).nullable().describe('An unfinished set_heartbeat_interval command'),
});
export type TerminalIntervalView = z.output<typeof terminalIntervalView>;
