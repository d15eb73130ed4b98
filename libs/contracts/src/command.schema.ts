import { z } from 'zod';

/**
 * Commands (backend -> terminal) and acknowledgements (terminal -> backend).
 * The envelope is fixed in v1; each command type has its own params schema (below). Unknown
 * types stay valid envelopes so a terminal can reject them by id.
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

// ---- command types ------------------------------------------------------------------------------

export const CommandType = {
  OtaInstall: 'ota.install',
  Reboot: 'reboot',
  SetHeartbeatInterval: 'set_heartbeat_interval',
} as const;
export type CommandType = (typeof CommandType)[keyof typeof CommandType];
export const COMMAND_TYPES = Object.values(CommandType);

export const HEARTBEAT_INTERVAL_MIN_S = 30;
export const HEARTBEAT_INTERVAL_MAX_S = 3600;

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const hex64 = /^[0-9a-f]{64}$/;

/** Conditions a terminal checks before it downloads and before it installs; unmet: `deferred`. */
export const installGuardsSchema = z.strictObject({
  /** Battery at least this percent, unless charging (when `orCharging`). */
  minBatteryPct: z.number().int().min(0).max(100).default(30),
  orCharging: z.boolean().default(true),
  /** Signal floor (RSRP, dBm). */
  minRsrpDbm: z.number().int().min(-140).max(-40).optional(),
  /** The data plan must be active with at least the artifact size plus this headroom left. */
  planHeadroomBytes: z.number().int().min(0).max(1_073_741_824).default(1_048_576),
  /** Maintenance window in the merchant's local time; start > end wraps past midnight. */
  window: z
    .strictObject({
      start: z.string().regex(HHMM, 'HH:MM'),
      end: z.string().regex(HHMM, 'HH:MM'),
      tz: z.string().min(1).max(64),
    })
    .default({ start: '23:00', end: '05:00', tz: 'Asia/Shanghai' }),
});
export type InstallGuards = z.infer<typeof installGuardsSchema>;

export const otaInstallParamsSchema = z.strictObject({
  releaseId: z.string().min(1).max(64),
  component: z.enum(['firmware', 'app']),
  version: z.string().min(1).max(64),
  /** Short-lived signed download URL (HTTP Range supported). */
  url: z.url({ protocol: /^https?$/ }).max(2048),
  size: z.number().int().positive().max(4_294_967_296),
  sha256: z.string().regex(hex64, '64 lowercase hex digits'),
  /** Ed25519 signature of the artifact, base64. */
  signature: z.string().min(1).max(256),
  guards: installGuardsSchema.default(installGuardsSchema.parse({})),
});
export type OtaInstallParams = z.infer<typeof otaInstallParamsSchema>;

export const rebootParamsSchema = z.strictObject({
  /** Wait until no transaction is in progress (default) or reboot at once. */
  force: z.boolean().default(false),
});
export type RebootParams = z.infer<typeof rebootParamsSchema>;

export const setHeartbeatIntervalParamsSchema = z.strictObject({
  seconds: z.number().int().min(HEARTBEAT_INTERVAL_MIN_S).max(HEARTBEAT_INTERVAL_MAX_S),
});
export type SetHeartbeatIntervalParams = z.infer<typeof setHeartbeatIntervalParamsSchema>;

export const commandParamsSchemas = {
  [CommandType.OtaInstall]: otaInstallParamsSchema,
  [CommandType.Reboot]: rebootParamsSchema,
  [CommandType.SetHeartbeatInterval]: setHeartbeatIntervalParamsSchema,
} as const satisfies Record<CommandType, z.ZodType>;

// ---- acknowledgements ---------------------------------------------------------------------------

/**
 * What a terminal reports about a command. `received` and `in_progress` are the v1 originals,
 * still accepted: the ledger reads them as `accepted` and `installing`.
 */
export const CommandAckStatus = z.enum([
  'accepted',
  'rejected',
  'deferred',
  'downloading',
  'downloaded',
  'verified',
  'installing',
  'succeeded',
  'failed',
  'rolled_back',
  'received',
  'in_progress',
]);
export type CommandAckStatus = z.infer<typeof CommandAckStatus>;

/** Why a terminal postponed a command; it retries by itself when the condition clears. */
export const DeferReason = z.enum(['battery', 'signal', 'plan', 'trading_hours', 'transaction_in_progress', 'window']);
export type DeferReason = z.infer<typeof DeferReason>;

/** Machine-readable reason codes (failure codes, rejection reasons): snake_case. */
const reasonCode = z.string().regex(/^[a-z0-9_]{1,64}$/, 'snake_case code, at most 64 characters');

export const commandAckSchema = z
  .looseObject({
    v: z.literal(1),
    id: z.string().min(1).max(64),
    status: CommandAckStatus,
    ts: z.iso.datetime({ offset: true }),
    /** Progress in percent for long-running commands (downloads). */
    progress: z.number().min(0).max(100).optional(),
    /** Required for rejected, deferred and failed: a DeferReason for deferred, a code otherwise. */
    reason: reasonCode.optional(),
    /** Human-readable detail (v1 original field). */
    error: z.string().max(500).optional(),
    /** With succeeded/rolled_back: the version now running. */
    version: z.string().min(1).max(64).optional(),
  })
  .superRefine((ack, ctx) => {
    if (ack.status === 'deferred' && !DeferReason.safeParse(ack.reason).success) {
      ctx.addIssue({ code: 'custom', path: ['reason'], message: `deferred needs a reason: ${DeferReason.options.join(', ')}` });
    }
    if ((ack.status === 'failed' || ack.status === 'rejected') && ack.reason === undefined && ack.error === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reason'], message: `${ack.status} needs a reason code` });
    }
  });
export type CommandAck = z.infer<typeof commandAckSchema>;
