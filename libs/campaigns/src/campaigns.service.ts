import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CANCELLABLE_STATES, COMMAND_CLOCK, CommandsRepository, type CommandClock } from '#commands';
import { compareVersions, DomainException } from '#contracts';
import { ReleaseCatalogService, type Release } from '#ota';
import {
  EXCLUSION_REASONS,
  planWaves,
  type CampaignRow,
  type CampaignState,
  type CampaignTarget,
  type CampaignWaves,
  type CreateCampaignInput,
  type DryRunResult,
  type ExclusionReason,
} from './campaign.types.js';
import { CampaignsRepository, type MemberStat, type TargetSpec } from './campaigns.repository.js';

/** Codes equal to the API's own (libs/api ApiErrorCode), so they reach clients with their status. */
export const CampaignErrorCode = {
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  Forbidden: 'FORBIDDEN',
  Invalid: 'VALIDATION_FAILED',
} as const;

export const SUCCESS_STATES = ['succeeded'] as const;
export const FAILURE_STATES = ['failed', 'rejected', 'rolled_back', 'expired'] as const;

export interface CampaignActor {
  name: string;
}

export interface WaveProgress {
  wave: number;
  assigned: number;
  succeeded: number;
  /** Terminals whose latest command failed, including those awaiting a retry (`retrying`). */
  failed: number;
  /** Failed terminals that will get another command (retryable failure, attempts left). */
  retrying: number;
  inFlight: number;
  cancelled: number;
  states: Record<string, number>;
}

export interface CampaignProgress {
  campaignId: string;
  state: CampaignState;
  pauseReason: string | null;
  wave: number;
  waveSize: number | null;
  soakUntil: string | null;
  remaining: number;
  totals: { assigned: number; succeeded: number; failed: number; retrying: number; inFlight: number; cancelled: number };
  waves: WaveProgress[];
  failureReasons: Record<string, number>;
  /** Commands created and installs succeeded per minute since the start. */
  throughput: { assignedPerMinute: number; succeededPerMinute: number };
  /** At the configured rate plus one soak per remaining wave (null when not running). */
  etaSeconds: number | null;
  health: NonNullable<CampaignRow['progress']['health']>;
}

function conflict(message: string): DomainException {
  return new DomainException(CampaignErrorCode.Conflict, message);
}

/** Wave totals of the grouped member stats. */
export function waveProgress(stats: readonly MemberStat[]): WaveProgress[] {
  const byWave = new Map<number, WaveProgress>();
  for (const s of stats) {
    const w = byWave.get(s.wave) ?? { wave: s.wave, assigned: 0, succeeded: 0, failed: 0, retrying: 0, inFlight: 0, cancelled: 0, states: {} };
    const state = s.state ?? 'missing';
    w.assigned += s.n;
    w.states[state] = (w.states[state] ?? 0) + s.n;
    if ((SUCCESS_STATES as readonly string[]).includes(state)) w.succeeded += s.n;
    else if ((FAILURE_STATES as readonly string[]).includes(state)) {
      w.failed += s.n;
      if (s.retrying) w.retrying += s.n;
    } else if (state === 'cancelled') w.cancelled += s.n;
    else w.inFlight += s.n;
    byWave.set(s.wave, w);
  }
  return [...byWave.values()].sort((a, b) => a.wave - b.wave);
}

/** Campaign lifecycle and planning: create, dry run, four-eyes approval, start/pause/resume/cancel, progress. */
@Injectable()
export class CampaignsService {
  constructor(
    @Inject(CampaignsRepository) private readonly repo: CampaignsRepository,
    @Inject(ReleaseCatalogService) private readonly catalog: ReleaseCatalogService,
    @Inject(CommandsRepository) private readonly commandsRepo: CommandsRepository,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
  ) {}

  async release(id: string): Promise<Release> {
    const release = await this.catalog.find(id);
    if (!release) throw new DomainException(CampaignErrorCode.NotFound, `release ${id} not found`);
    return release;
  }

  /**
   * The set-based form of a target: versions are few, so each distinct one is compared in JS with
   * the alerts' rule once, and the database matches strings.
   */
  async targetSpec(release: Release, target: CampaignTarget, providerPath: string | null, now: Date): Promise<TargetSpec> {
    const versions = await this.repo.distinctVersions(release.model, release.component, providerPath);
    const upToDate: string[] = [];
    const eligible: string[] = [];
    for (const v of versions) {
      const cmp = compareVersions(v, release.version);
      if (cmp === null) continue; // incomparable: out of range
      if (cmp >= 0) {
        upToDate.push(v);
        continue;
      }
      const from = target.versionFrom === null ? 0 : compareVersions(v, target.versionFrom);
      const to = target.versionTo === null ? 0 : compareVersions(v, target.versionTo);
      if (from !== null && from >= 0 && to !== null && to <= 0) eligible.push(v);
    }
    return {
      model: release.model,
      component: release.component,
      providerPath,
      sns: target.sns,
      cities: target.cities,
      regions: target.regions,
      upToDate,
      eligible,
      offlineBefore: new Date(now.getTime() - target.offlineDays * 86_400_000),
    };
  }

  async dryRun(input: { releaseId: string; target: CampaignTarget; waves: CampaignWaves }, providerPath: string | null): Promise<DryRunResult> {
    const started = performance.now();
    const release = await this.release(input.releaseId);
    const spec = await this.targetSpec(release, input.target, providerPath, this.clock.now());
    const { counts, sample } = await this.repo.classify(spec, 100);
    const size = release.sizeBytes ?? 0;
    const excluded = Object.fromEntries(EXCLUSION_REASONS.map((r) => [r, 0])) as Record<ExclusionReason, number>;
    const bytesPerCarrier: DryRunResult['bytesPerCarrier'] = {};
    let targetCount = 0;
    let matched = 0;
    for (const c of counts) {
      matched += c.n;
      if (c.reason !== null) {
        excluded[c.reason] += c.n;
        continue;
      }
      targetCount += c.n;
      const carrier = (bytesPerCarrier[c.carrier] ??= { terminals: 0, bytes: 0 });
      carrier.terminals += c.n;
      carrier.bytes += c.n * size;
    }
    return {
      releaseId: release.id,
      model: release.model,
      component: release.component,
      version: release.version,
      artifactBytes: size,
      matched,
      targetCount,
      waveSizes: planWaves(targetCount, input.waves),
      bytesPerCarrier,
      excluded,
      excludedSample: sample,
      elapsedMs: Math.round(performance.now() - started),
    };
  }

  async create(input: CreateCampaignInput, actor: CampaignActor, provider: { id: string; path: string } | null): Promise<CampaignRow> {
    const release = await this.release(input.releaseId);
    if (release.status !== 'active') throw new DomainException(CampaignErrorCode.Invalid, `release ${release.id} is ${release.status}, not active`);
    for (const [field, v] of [
      ['versionFrom', input.target.versionFrom],
      ['versionTo', input.target.versionTo],
    ] as const) {
      if (v !== null && compareVersions(v, release.version) === null) {
        throw new DomainException(CampaignErrorCode.Invalid, `target.${field} ${v} cannot be compared with release version ${release.version}`, [
          { field: `body.target.${field}`, message: 'not comparable with the release version' },
        ]);
      }
    }
    return this.repo.insert({
      ...input,
      id: randomUUID(),
      providerId: provider?.id ?? null,
      providerPath: provider?.path ?? null,
      createdBy: actor.name,
      now: this.clock.now(),
    });
  }

  async get(id: string, scopePath: string | null): Promise<CampaignRow> {
    const row = await this.repo.find(id, scopePath);
    if (!row) throw new DomainException(CampaignErrorCode.NotFound, `campaign ${id} not found`);
    return row;
  }

  list(scopePath: string | null, limit: number, state: CampaignState | null): Promise<CampaignRow[]> {
    return this.repo.list(scopePath, limit, state);
  }

  /** Four eyes: a second person, not the creator, approves a draft. */
  async approve(row: CampaignRow, actor: CampaignActor): Promise<CampaignRow> {
    if (row.createdBy === actor.name) throw new DomainException(CampaignErrorCode.Forbidden, 'four eyes: the creator cannot approve their own campaign');
    const done = await this.repo.transition(row.id, ['draft'], 'approved', this.clock.now(), 'approved_by = $4, approved_at = $3', [actor.name]);
    if (!done) throw conflict(`campaign ${row.id} is ${row.state}, only a draft can be approved`);
    return done;
  }

  async start(row: CampaignRow): Promise<CampaignRow> {
    if (row.state === 'draft') throw conflict(`campaign ${row.id} needs the approval of a second ops-admin before it starts`);
    const now = this.clock.now();
    // One minute of dispatch credit at the start: the first tick sends up to ratePerMinute.
    const done = await this.repo.transition(row.id, ['approved'], 'running', now, 'started_at = $3, wave = 0, wave_started_at = $3, dispatch_at = $4', [
      new Date(now.getTime() - 60_000),
    ]);
    if (!done) throw conflict(`campaign ${row.id} is ${row.state}, only an approved campaign can start`);
    return done;
  }

  async pause(row: CampaignRow, reason: string): Promise<CampaignRow> {
    const done = await this.repo.transition(row.id, ['running'], 'paused', this.clock.now(), 'pause_reason = $4', [reason]);
    if (!done) throw conflict(`campaign ${row.id} is ${row.state}, only a running campaign can be paused`);
    return done;
  }

  async resume(row: CampaignRow): Promise<CampaignRow> {
    const now = this.clock.now();
    // A resumed wave is judged afresh: its soak starts again, rate credit restarts at one minute.
    const done = await this.repo.transition(row.id, ['paused'], 'running', now, 'pause_reason = NULL, soak_until = NULL, dispatch_at = $4', [
      new Date(now.getTime() - 60_000),
    ]);
    if (!done) throw conflict(`campaign ${row.id} is ${row.state}, only a paused campaign can be resumed`);
    return done;
  }

  /** Cancels the campaign, then withdraws its commands not yet installing through the ledger's cancel. */
  async cancel(row: CampaignRow, actor: CampaignActor): Promise<{ campaign: CampaignRow; withdrawn: number }> {
    const done = await this.repo.transition(row.id, ['draft', 'approved', 'running', 'paused'], 'cancelled', this.clock.now(), 'finished_at = $3');
    if (!done) throw conflict(`campaign ${row.id} is ${row.state} and cannot be cancelled`);
    return { campaign: done, withdrawn: await this.withdraw(row.id, actor.name) };
  }

  /** Cancels the campaign's cancellable commands one by one through the ledger (each gets its event). */
  async withdraw(campaignId: string, actor: string): Promise<number> {
    let withdrawn = 0;
    for (const id of await this.repo.commandIds(campaignId, CANCELLABLE_STATES)) {
      if (await this.commandsRepo.cancel(id, this.clock.now(), actor, CANCELLABLE_STATES)) withdrawn++;
    }
    return withdrawn;
  }

  async progress(row: CampaignRow): Promise<CampaignProgress> {
    const now = this.clock.now();
    const stats = await this.repo.memberStats(row.id, row.retry.maxAttempts);
    const waves = waveProgress(stats);
    const failureReasons: Record<string, number> = {};
    for (const s of stats) {
      if (s.state !== null && (FAILURE_STATES as readonly string[]).includes(s.state)) {
        const key = `${s.state}:${s.reason ?? 'unknown'}`;
        failureReasons[key] = (failureReasons[key] ?? 0) + s.n;
      }
    }
    const totals = { assigned: 0, succeeded: 0, failed: 0, retrying: 0, inFlight: 0, cancelled: 0 };
    for (const w of waves) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += w[k];
    let remaining = 0;
    if (row.state === 'running' || row.state === 'paused' || row.state === 'approved' || row.state === 'draft') {
      const release = await this.release(row.releaseId);
      remaining = await this.repo.remaining(row.id, await this.targetSpec(release, row.target, row.providerPath, now));
    }
    const minutes = row.startedAt ? Math.max(1 / 60, ((row.finishedAt ?? now).getTime() - row.startedAt.getTime()) / 60_000) : null;
    let etaSeconds: number | null = null;
    if (row.state === 'running') {
      let wavesLeft = 0;
      let size = row.waveSize ?? 1;
      let left = remaining;
      while (left > 0 && wavesLeft < 1000) {
        size = Math.ceil(size * row.waves.growth);
        left -= size;
        wavesLeft++;
      }
      etaSeconds = Math.round((remaining / row.ratePerMinute) * 60 + (wavesLeft + 1) * row.soakS);
    }
    return {
      campaignId: row.id,
      state: row.state,
      pauseReason: row.pauseReason,
      wave: row.wave,
      waveSize: row.waveSize,
      soakUntil: row.soakUntil ? row.soakUntil.toISOString() : null,
      remaining,
      totals,
      waves,
      failureReasons,
      throughput: {
        assignedPerMinute: minutes ? Math.round((totals.assigned / minutes) * 100) / 100 : 0,
        succeededPerMinute: minutes ? Math.round((totals.succeeded / minutes) * 100) / 100 : 0,
      },
      etaSeconds,
      health: row.progress.health ?? [],
    };
  }
}
