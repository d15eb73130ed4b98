import { z } from 'zod';
import { installGuardsSchema, isValidPlaceName, PLACE_NAME_MAX } from '#contracts';

export const CAMPAIGN_STATES = ['draft', 'approved', 'running', 'paused', 'completed', 'cancelled'] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

const SN = /^[A-Za-z0-9][A-Za-z0-9_-]{3,31}$/;
const placeName = z
  .string()
  .min(1)
  .max(PLACE_NAME_MAX)
  .refine((s) => isValidPlaceName(s), 'no leading or trailing spaces, no control characters');

/** Which terminals a campaign updates; the model is the release's. Re-evaluated on every runner tick. */
export const campaignTargetSchema = z.strictObject({
  /** Provider subtree (null / absent: whole fleet; provider roles: their own subtree at most). */
  providerId: z.uuid().nullable().default(null),
  /** Current version range, inclusive, compared with the alerts' rule (compareVersions). */
  versionFrom: z.string().min(1).max(64).nullable().default(null),
  versionTo: z.string().min(1).max(64).nullable().default(null),
  /** Explicit list; null: every terminal that matches the rest. */
  sns: z.array(z.string().regex(SN)).min(1).max(100_000).nullable().default(null),
  /**
   * Registered city / region (exact, any of the list). Terminals of the rest of the target without a
   * city (or region) are left out and counted as `place_unknown` in the dry run.
   */
  cities: z.array(placeName).min(1).max(1000).nullable().default(null),
  regions: z.array(placeName).min(1).max(1000).nullable().default(null),
  /** Terminals silent for longer are excluded (they catch up through a later campaign). */
  offlineDays: z.number().int().min(1).max(365).default(14),
  /** Keep running after the last wave and pick up terminals that match later. */
  dynamic: z.boolean().default(false),
});
export type CampaignTarget = z.output<typeof campaignTargetSchema>;

export const campaignWavesSchema = z
  .strictObject({
    canary: z.union([z.strictObject({ count: z.number().int().min(1).max(100_000) }), z.strictObject({ percent: z.number().gt(0).max(100) })]),
    /** Each next wave is this many times the previous one (2: ×2, 5: ×5). */
    growth: z.number().min(1).max(100).default(2),
  })
  .default({ canary: { count: 10 }, growth: 2 });
export type CampaignWaves = z.output<typeof campaignWavesSchema>;

/** Health gate: updated terminals against not-yet-updated ones of the same model, after each wave's soak. */
export const healthGateSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Fewer updated terminals than this: the gate does not judge (too little evidence). */
    minSample: z.number().int().min(1).max(100_000).default(5),
    /** Bad when updated rate > max(factor × control rate, control rate + points). */
    factor: z.number().min(1).max(100).default(2),
    points: z.number().min(0).max(1).default(0.1),
    /** A terminal without a heartbeat for this long counts as offline. */
    offlineAfterS: z.number().int().min(60).max(86_400).default(900),
    alertRules: z.array(z.string().min(1).max(64)).max(20).default(['signal_weak', 'battery_low', 'battery_hot', 'offline']),
  })
  .default({ enabled: true, minSample: 5, factor: 2, points: 0.1, offlineAfterS: 900, alertRules: ['signal_weak', 'battery_low', 'battery_hot', 'offline'] });
export type HealthGateConfig = z.output<typeof healthGateSchema>;

/**
 * Retries of failed terminals: a member whose command ended with a retryable failure (see
 * RETRYABLE_FAILURES) gets a new command after backoffS × factor^(attempts − 1), up to maxAttempts
 * commands in all. 1 = no retry.
 */
export const campaignRetrySchema = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(10).default(1),
    backoffS: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(3600),
    factor: z.number().min(1).max(10).default(2),
  })
  .default({ maxAttempts: 1, backoffS: 3600, factor: 2 });
export type CampaignRetry = z.output<typeof campaignRetrySchema>;

/**
 * Failures worth another command: the terminal never got or never finished it (offline, deferred
 * past expiry, no ack, a step timed out, busy), or its download or install failed on its side. Never
 * retried: other rejections (invalid params, unknown type: the command itself is wrong), checksum
 * or signature failures of the artifact, a success that heartbeats the old version
 * (version_mismatch) and rolled_back: those point at the release, not at a passing condition.
 */
export const RETRYABLE_FAILURES: readonly { state: string; reasons: readonly string[] | null }[] = [
  { state: 'expired', reasons: null },
  { state: 'failed', reasons: ['no_ack', 'step_timeout', 'download_failed', 'install_failed'] },
  // The terminal was busy with another install, or received the command after it expired (was offline).
  { state: 'rejected', reasons: ['busy', 'expired'] },
];

export const createCampaignSchema = z.strictObject({
  name: z.string().min(1).max(200),
  releaseId: z.uuid(),
  target: campaignTargetSchema.default(campaignTargetSchema.parse({})),
  waves: campaignWavesSchema,
  ratePerMinute: z.number().int().min(1).max(100_000).default(60),
  /** Share of a wave that must succeed before the next wave starts (after the soak). */
  successThreshold: z.number().min(0).max(1).default(0.95),
  /** Share of a wave that failed (failed, rejected, rolled back, expired) at which the campaign pauses. */
  failureThreshold: z.number().min(0).max(1).default(0.1),
  soakSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(3600),
  guards: installGuardsSchema.default(installGuardsSchema.parse({})),
  healthGate: healthGateSchema,
  retry: campaignRetrySchema,
});
export type CreateCampaignInput = z.output<typeof createCampaignSchema>;

export interface CampaignRow {
  id: string;
  name: string;
  releaseId: string;
  target: CampaignTarget;
  providerId: string | null;
  providerPath: string | null;
  waves: CampaignWaves;
  ratePerMinute: number;
  successThreshold: number;
  failureThreshold: number;
  soakS: number;
  guards: z.output<typeof installGuardsSchema>;
  health: HealthGateConfig;
  retry: CampaignRetry;
  state: CampaignState;
  pauseReason: string | null;
  createdBy: string;
  approvedBy: string | null;
  createdAt: Date;
  approvedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  wave: number;
  waveSize: number | null;
  waveStartedAt: Date | null;
  soakUntil: Date | null;
  dispatchAt: Date | null;
  progress: CampaignRunnerProgress;
}

/** One metric of the health gate: share of terminals with the condition in each group. */
export interface HealthMetric {
  updatedRate: number;
  controlRate: number;
  limit: number;
  bad: boolean;
}

export interface HealthComparison {
  wave: number;
  at: string;
  updated: number;
  control: number;
  judged: boolean;
  metrics: Record<string, HealthMetric>;
  verdict: 'pass' | 'fail' | 'insufficient_sample';
}

export interface CampaignRunnerProgress {
  health?: HealthComparison[];
}

/** Why the dry run (and the runner) leaves a terminal out. */
export const EXCLUSION_REASONS = [
  'disabled',
  'place_unknown',
  'never_reported',
  'up_to_date',
  'version_out_of_range',
  'offline_too_long',
  'plan_not_active',
] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

export interface DryRunResult {
  releaseId: string;
  model: string;
  component: string;
  version: string;
  artifactBytes: number;
  matched: number;
  targetCount: number;
  waveSizes: number[];
  bytesPerCarrier: Record<string, { terminals: number; bytes: number }>;
  excluded: Record<ExclusionReason, number>;
  excludedSample: { sn: string; reason: ExclusionReason }[];
  elapsedMs: number;
}

/**
 * Wave sizes for `total` eligible terminals: the canary (count, or a percent rounded up), then each
 * wave `growth` times the previous one, the last one taking what is left.
 */
export function planWaves(total: number, waves: CampaignWaves): number[] {
  if (total <= 0) return [];
  const canary = 'count' in waves.canary ? waves.canary.count : Math.ceil((total * waves.canary.percent) / 100);
  const sizes: number[] = [];
  let left = total;
  let next = Math.max(1, canary);
  while (left > 0) {
    const size = Math.min(left, next);
    sizes.push(size);
    left -= size;
    next = Math.max(next + 1, Math.ceil(next * waves.growth));
  }
  return sizes;
}

/** Health-gate rule: bad when the updated rate exceeds max(factor × control, control + points). */
export function healthMetric(updatedRate: number, controlRate: number, gate: Pick<HealthGateConfig, 'factor' | 'points'>): HealthMetric {
  const limit = Math.max(gate.factor * controlRate, controlRate + gate.points);
  return { updatedRate: round(updatedRate), controlRate: round(controlRate), limit: round(limit), bad: updatedRate > limit };
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
