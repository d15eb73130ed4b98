import { z } from 'zod';
import { CAMPAIGN_STATES, campaignTargetSchema, campaignWavesSchema, createCampaignSchema, EXCLUSION_REASONS } from '#campaigns';

export const campaignIdParam = z.object({ id: z.uuid().describe('Campaign id') });

export const campaignListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  state: z.enum(CAMPAIGN_STATES).optional(),
});

export const createCampaignBody = createCampaignSchema;

export const dryRunBody = z.strictObject({
  releaseId: z.uuid(),
  target: campaignTargetSchema.default(campaignTargetSchema.parse({})),
  waves: campaignWavesSchema,
});

export const pauseBody = z.strictObject({ reason: z.string().min(1).max(500).default('paused by an operator') }).default({ reason: 'paused by an operator' });

export const campaignView = z.object({
  id: z.string(),
  name: z.string(),
  releaseId: z.string(),
  target: z.record(z.string(), z.unknown()),
  waves: z.record(z.string(), z.unknown()),
  ratePerMinute: z.number(),
  successThreshold: z.number(),
  failureThreshold: z.number(),
  soakSeconds: z.number(),
  guards: z.record(z.string(), z.unknown()),
  healthGate: z.record(z.string(), z.unknown()),
  retry: z.object({ maxAttempts: z.number(), backoffS: z.number(), factor: z.number() }).describe('Retries of failed terminals'),
  state: z.enum(CAMPAIGN_STATES),
  pauseReason: z.string().nullable(),
  createdBy: z.string(),
  approvedBy: z.string().nullable(),
  createdAt: z.string(),
  approvedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  wave: z.number(),
  waveSize: z.number().nullable(),
});
export type CampaignView = z.infer<typeof campaignView>;

export const campaignList = z.object({ items: z.array(campaignView) });

export const dryRunView = z.object({
  releaseId: z.string(),
  model: z.string(),
  component: z.string(),
  version: z.string(),
  artifactBytes: z.number(),
  matched: z.number().describe('Terminals of the model in the target before exclusions'),
  targetCount: z.number(),
  waveSizes: z.array(z.number()),
  bytesPerCarrier: z.record(z.string(), z.object({ terminals: z.number(), bytes: z.number() })),
  excluded: z.record(z.enum(EXCLUSION_REASONS), z.number()),
  excludedSample: z.array(z.object({ sn: z.string(), reason: z.enum(EXCLUSION_REASONS) })),
  elapsedMs: z.number(),
});

const waveProgressView = z.object({
  wave: z.number(),
  assigned: z.number(),
  succeeded: z.number(),
  failed: z.number().describe('Terminals whose latest command failed (retries pending included)'),
  retrying: z.number().describe('Failed terminals that will get another command'),
  inFlight: z.number(),
  cancelled: z.number(),
  states: z.record(z.string(), z.number()),
});

export const progressView = z.object({
  campaignId: z.string(),
  state: z.enum(CAMPAIGN_STATES),
  pauseReason: z.string().nullable(),
  wave: z.number(),
  waveSize: z.number().nullable(),
  soakUntil: z.string().nullable(),
  remaining: z.number(),
  totals: z.object({
    assigned: z.number(),
    succeeded: z.number(),
    failed: z.number(),
    retrying: z.number(),
    inFlight: z.number(),
    cancelled: z.number(),
  }),
  waves: z.array(waveProgressView),
  failureReasons: z.record(z.string(), z.number()),
  throughput: z.object({ assignedPerMinute: z.number(), succeededPerMinute: z.number() }),
  etaSeconds: z.number().nullable(),
  health: z.array(z.record(z.string(), z.unknown())).describe('Health-gate comparisons, one per judged wave'),
});

export const cancelView = z.object({ campaign: campaignView, withdrawn: z.number().describe('Commands withdrawn through the ledger') });
