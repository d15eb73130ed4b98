import { Inject, Injectable, Optional } from '@nestjs/common';
import type { z } from 'zod';
import { DomainException, type RowError } from '#contracts';
import { LIVE_SESSIONS, TerminalErrorCode, TerminalRegistryService, type LiveSessionsPort, type ProviderChangeActor, type RegisterOptions } from '#terminals';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { isForeignKeyViolation } from '../common/db-errors.js';
import { decodeCursor, encodeCursor, type Cursor, type Page } from '../common/pagination.js';
import type { ProviderEntity } from '../providers/provider.entity.js';
import { ProviderRepository } from '../providers/provider.repository.js';
import { ProviderService } from '../providers/provider.service.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { csvHeader, csvRows } from './terminal-csv.js';
import {
  IMPORT_MAX_ROWS,
  TELEMETRY_BUCKETS,
  TELEMETRY_MAX_BUCKETS,
  TELEMETRY_MAX_SPAN_DAYS,
  type createTerminalBody,
  type updateTerminalBody,
  type presenceQuery,
  type TelemetryBucket,
  type telemetryQuery,
  type terminalDetailView,
  type TerminalFilterQuery,
  type terminalListQuery,
  type terminalSummaryView,
  type telemetryView,
  type presenceEventsView,
  type providerHistoryView,
} from './terminal.dto.js';
import {
  TerminalViewRepository,
  type TerminalDetailRow,
  type TerminalFilter,
  type TerminalRecord,
  type TerminalSummaryRow,
} from './terminal-view.repository.js';

export type TerminalSummaryView = z.output<typeof terminalSummaryView>;
export type TerminalDetailView = z.output<typeof terminalDetailView>;
export type TelemetryView = z.output<typeof telemetryView>;
export type PresenceEventsView = z.output<typeof presenceEventsView>;
export type ProviderHistoryView = z.output<typeof providerHistoryView>;
export interface CredentialsView {
  username: string;
  secret: string;
}
export interface ImportResult {
  credentials: (CredentialsView & { sn: string })[];
  errors: RowError[];
}

/** What audit entries show of a terminal: registry fields, never credentials. */
interface TerminalAuditView {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  providerId: string;
  registeredLat: number | null;
  registeredLon: number | null;
  city: string | null;
  region: string | null;
  status: string;
  credentialRotatedAt: string;
}

const EXPORT_PAGE_ROWS = 5000;
/** Attempts of a terminal move that keeps losing to concurrent moves before a 409. */
const TERMINAL_MOVE_ATTEMPTS = 3;
const DAY_MS = 86_400_000;
const TELEMETRY_DEFAULT_SPAN_MS = DAY_MS;
const TELEMETRY_AUTO_MAX_BUCKETS = 300;
const BUCKET_MS: Record<TelemetryBucket, number> = {
  '1 minute': 60_000,
  '5 minutes': 300_000,
  '15 minutes': 900_000,
  '30 minutes': 1_800_000,
  '1 hour': 3_600_000,
  '3 hours': 10_800_000,
  '6 hours': 21_600_000,
  '12 hours': 43_200_000,
  '1 day': DAY_MS,
  '7 days': 7 * DAY_MS,
};

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A row with its Date values as ISO strings, as the API shows them (row types come from the field list). */
type IsoTimes<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
function isoTimes<T extends object>(row: T): IsoTimes<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = value instanceof Date ? value.toISOString() : value;
  return out as IsoTimes<T>;
}

export function toSummaryView(r: TerminalSummaryRow): TerminalSummaryView {
  return { ...r, lastSeenAt: iso(r.lastSeenAt) };
}

export function toDetailView(d: TerminalDetailRow): TerminalDetailView {
  return {
    sn: d.sn,
    model: d.model,
    tid: d.tid,
    mid: d.mid,
    provider: { id: d.providerId, code: d.providerCode, name: d.providerName },
    registeredLocation: d.registeredLat !== null && d.registeredLon !== null ? { lat: d.registeredLat, lon: d.registeredLon } : null,
    city: d.city,
    region: d.region,
    status: d.status,
    createdAt: d.createdAt.toISOString(),
    credentialRotatedAt: d.credentialRotatedAt.toISOString(),
    state: d.state ? isoTimes(d.state) : null,
    presence: {
      online: d.state?.online ?? false,
      lastConnectedAt: iso(d.state?.lastConnectedAt ?? null),
      lastDisconnectedAt: iso(d.state?.lastDisconnectedAt ?? null),
      lastDisconnectReason: d.state?.lastDisconnectReason ?? null,
    },
  };
}

function toAuditView(r: Omit<TerminalRecord, 'providerPath'>): TerminalAuditView {
  return {
    sn: r.sn,
    model: r.model,
    tid: r.tid,
    mid: r.mid,
    providerId: r.providerId,
    registeredLat: r.registeredLat,
    registeredLon: r.registeredLon,
    city: r.city,
    region: r.region,
    status: r.status,
    credentialRotatedAt: r.credentialRotatedAt.toISOString(),
  };
}

const fieldError = (field: string, message: string) => new DomainException(ApiErrorCode.ValidationFailed, message, [{ field, message }]);

/**
 * A registry row error of a single-terminal request as the error of the request: its field, and
 * no other terminal's SN (it may be outside the caller's scope). The status comes from the code.
 */
function registrationError(e: RowError): DomainException {
  switch (e.code) {
    case TerminalErrorCode.AlreadyExists:
      return new DomainException(TerminalErrorCode.AlreadyExists, `terminal ${e.sn ?? ''} is already registered`);
    case TerminalErrorCode.TidInUse:
      return new DomainException(TerminalErrorCode.TidInUse, 'the TID is already assigned to another terminal');
    case TerminalErrorCode.UnknownProvider:
      return new DomainException(TerminalErrorCode.UnknownProvider, 'provider not found');
    case TerminalErrorCode.InvalidSn:
      return fieldError('body.sn', e.message);
    case TerminalErrorCode.InvalidTid:
      return fieldError('body.tid', e.message);
    default:
      return fieldError('body', e.message);
  }
}

/**
 * The terminals resource: scoped reads through TerminalViewRepository, every mutation through the
 * one registry implementation (TerminalRegistryService) after a scope check, each one audited.
 */
@Injectable()
export class TerminalService {
  constructor(
    @Inject(TerminalViewRepository) private readonly terminals: TerminalViewRepository,
    @Inject(TerminalRegistryService) private readonly registry: TerminalRegistryService,
    @Inject(ProviderService) private readonly providerService: ProviderService,
    @Inject(ProviderRepository) private readonly providers: ProviderRepository,
    @Inject(TelemetryRepository) private readonly heartbeats: TelemetryRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    /** Present when the broker runs in this process: changes then reach live sessions at once. */
    @Optional() @Inject(LIVE_SESSIONS) private readonly sessions?: LiveSessionsPort,
  ) {}

  // ---- reads ----

  /** Query filters as repository filters; a providerId outside the scope is 404 like an unknown one. */
  async resolveFilter(scope: Scope, q: TerminalFilterQuery): Promise<TerminalFilter> {
    const provider = q.providerId ? await this.providerService.get(scope, q.providerId) : null;
    return {
      providerPath: provider?.path,
      model: q.model,
      firmwareVersion: q.firmwareVersion,
      firmwareMin: q.firmwareMin,
      firmwareMax: q.firmwareMax,
      online: q.online,
      planStatus: q.planStatus,
      planExpiringWithinDays: q.planExpiringWithinDays,
      autoRenew: q.autoRenew,
      batteryBelow: q.batteryBelow,
      signalBelow: q.signalBelow,
      lastSeenBefore: q.lastSeenBefore ? new Date(q.lastSeenBefore) : undefined,
      status: q.status,
      snPrefix: q.q,
      city: q.city,
      region: q.region,
    };
  }

  async list(ctx: RequestContext, q: z.output<typeof terminalListQuery>): Promise<Page<TerminalSummaryView>> {
    // A cursor belongs to the sort and order it was issued under.
    const sortKey = `${q.sort}:${q.order}`;
    const after: Cursor | null = q.cursor === undefined ? null : decodeCursor(q.cursor, sortKey, (c) => this.terminals.cursorFits(q.sort, c));
    const filter = await this.resolveFilter(ctx.scope, q);
    const page = await this.terminals.page(ctx.scope, filter, { sort: q.sort, order: q.order, limit: q.limit, after });
    return { items: page.rows.map(toSummaryView), nextCursor: page.next ? encodeCursor(page.next, sortKey) : null };
  }

  /**
   * CSV chunks (header, then one chunk per keyset page of EXPORT_PAGE_ROWS) through the same page
   * query as the list, so the content equals paging the list. Validation and the scope check of
   * providerId happen before the first chunk; the generator only runs as fast as the client reads.
   */
  async exportCsv(ctx: RequestContext, q: TerminalFilterQuery): Promise<AsyncGenerator<string>> {
    const filter = await this.resolveFilter(ctx.scope, q);
    const terminals = this.terminals;
    const scope = ctx.scope;
    return (async function* () {
      yield csvHeader();
      let after: Cursor | null = null;
      do {
        const page: { rows: TerminalSummaryRow[]; next: Cursor | null } = await terminals.page(scope, filter, {
          sort: q.sort,
          order: q.order,
          limit: EXPORT_PAGE_ROWS,
          after,
        });
        if (page.rows.length > 0) yield csvRows(page.rows.map(toSummaryView));
        after = page.next;
      } while (after);
    })();
  }

  async detail(ctx: RequestContext, sn: string): Promise<TerminalDetailView> {
    const detail = await this.terminals.findDetail(ctx.scope, sn);
    if (!detail) throw notFound(`terminal ${sn}`);
    return toDetailView(detail);
  }

  /** In-scope terminal or 404 (outside the scope looks exactly like unknown). */
  async getRecord(scope: Scope, sn: string): Promise<TerminalRecord> {
    const record = await this.terminals.findRecord(scope, sn);
    if (!record) throw notFound(`terminal ${sn}`);
    return record;
  }

  async telemetry(ctx: RequestContext, sn: string, q: z.output<typeof telemetryQuery>): Promise<TelemetryView> {
    const to = q.to ? new Date(q.to) : new Date();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - TELEMETRY_DEFAULT_SPAN_MS);
    const span = to.getTime() - from.getTime();
    if (span <= 0) throw fieldError('query.from', 'from must be before to');
    if (span > TELEMETRY_MAX_SPAN_DAYS * DAY_MS) throw fieldError('query.from', `the range may span at most ${TELEMETRY_MAX_SPAN_DAYS} days`);
    await this.getRecord(ctx.scope, sn);
    if (q.raw) {
      const rows = await this.heartbeats.raw(sn, from, to, q.limit + 1);
      return {
        mode: 'raw',
        sn,
        from: from.toISOString(),
        to: to.toISOString(),
        items: rows.slice(0, q.limit).map(isoTimes),
        truncated: rows.length > q.limit,
      };
    }
    const bucket = q.bucket ?? TELEMETRY_BUCKETS.find((b) => span / BUCKET_MS[b] <= TELEMETRY_AUTO_MAX_BUCKETS) ?? '7 days';
    if (span / BUCKET_MS[bucket] > TELEMETRY_MAX_BUCKETS) {
      throw fieldError('query.bucket', `at most ${TELEMETRY_MAX_BUCKETS} buckets: choose a wider bucket or a shorter range`);
    }
    const rows = await this.heartbeats.buckets(sn, from, to, bucket);
    return {
      mode: 'buckets',
      sn,
      from: from.toISOString(),
      to: to.toISOString(),
      bucket,
      items: rows.map(({ bucket: time, ...r }) => ({ time: time.toISOString(), ...r })),
    };
  }

  async presence(ctx: RequestContext, sn: string, q: z.output<typeof presenceQuery>): Promise<PresenceEventsView> {
    const from = q.from ? new Date(q.from) : null;
    const to = q.to ? new Date(q.to) : null;
    if (from && to && from >= to) throw fieldError('query.from', 'from must be before to');
    await this.getRecord(ctx.scope, sn);
    const rows = await this.terminals.presence(sn, { from, to, limit: q.limit });
    return { items: rows.map((r) => ({ ...r, time: r.time.toISOString() })) };
  }

  async providerHistory(ctx: RequestContext, sn: string): Promise<ProviderHistoryView> {
    await this.getRecord(ctx.scope, sn);
    const rows = await this.terminals.providerHistory(ctx.scope, sn);
    return { items: rows.map((r) => ({ ...r, movedAt: r.movedAt.toISOString() })) };
  }

  // ---- mutations ----

  private actor(ctx: RequestContext): ProviderChangeActor {
    return { actorKeyId: ctx.principal.keyId, requestId: ctx.requestId };
  }

  /** Registry options that confine registration to the caller's subtree. */
  private async registerOptions(ctx: RequestContext): Promise<RegisterOptions> {
    const scope = ctx.scope;
    // Provider keys register into their own provider unless a row names another one in scope.
    const home = scope.kind === 'subtree' ? await this.providerService.get(scope, scope.providerId) : null;
    return {
      defaultProviderCode: home?.code,
      resolveProviders: async (codes) => new Map([...(await this.providers.findByCodes(scope, codes))].map(([code, p]) => [code, p.id])),
      history: this.actor(ctx),
    };
  }

  async create(ctx: RequestContext, input: z.output<typeof createTerminalBody>): Promise<{ terminal: TerminalDetailView; credentials: CredentialsView }> {
    let provider: ProviderEntity;
    if (input.providerId) provider = await this.providerService.get(ctx.scope, input.providerId);
    else if (ctx.scope.kind === 'subtree') provider = await this.providerService.get(ctx.scope, ctx.scope.providerId);
    else provider = await this.providers.root();
    const result = await this.registry.register(
      [
        {
          sn: input.sn,
          model: input.model,
          tid: input.tid,
          mid: input.mid,
          providerCode: provider.code,
          registeredLat: input.registeredLat,
          registeredLon: input.registeredLon,
          city: input.city,
          region: input.region,
        },
      ],
      1,
      await this.registerOptions(ctx),
    );
    const credentials = result.credentials[0];
    if (!credentials) throw registrationError(result.errors[0] ?? { row: 1, sn: input.sn, code: TerminalErrorCode.AlreadyExists, message: '' });
    const detail = await this.terminals.findDetail(ctx.scope, input.sn);
    if (!detail) throw notFound(`terminal ${input.sn}`);
    await this.audit.record(ctx, {
      action: 'terminal.create',
      targetType: 'terminal',
      targetId: input.sn,
      providerId: detail.providerId,
      after: toAuditView(detail),
    });
    return { terminal: toDetailView(detail), credentials: { username: credentials.username, secret: credentials.secret } };
  }

  /**
   * CSV import through the registry: valid rows are registered, every other row is reported with
   * its CSV line. Providers outside the caller's scope are reported exactly like unknown ones.
   */
  async importCsv(ctx: RequestContext, csv: string): Promise<ImportResult> {
    // Postgres refuses NUL in text: name the line instead of failing the whole import later.
    const nul = csv.indexOf('\0');
    if (nul >= 0) throw fieldError('body', `CSV line ${csv.slice(0, nul).split('\n').length} contains a NUL character`);
    const result = await this.registry.registerCsv(csv, { ...(await this.registerOptions(ctx)), maxRows: IMPORT_MAX_ROWS });
    if (result.credentials.length > 0) {
      const records = await this.terminals.findRecords(
        ctx.scope,
        result.credentials.map((c) => c.sn),
      );
      await this.audit.record(
        ctx,
        records.map((r) => ({ action: 'terminal.import', targetType: 'terminal', targetId: r.sn, providerId: r.providerId, after: toAuditView(r) })),
      );
    }
    return {
      credentials: result.credentials.map((c) => ({ sn: c.sn, username: c.username, secret: c.secret })),
      errors: result.errors,
    };
  }

  async rotateCredentials(ctx: RequestContext, sn: string): Promise<CredentialsView> {
    const before = await this.getRecord(ctx.scope, sn);
    const result = await this.registry.rotateCredentials([sn]);
    const credentials = result.credentials[0];
    if (!credentials) throw notFound(`terminal ${sn}`);
    this.sessions?.invalidate(sn);
    const after = await this.terminals.findRecord(ctx.scope, sn);
    await this.audit.record(ctx, {
      action: 'terminal.rotate_credentials',
      targetType: 'terminal',
      targetId: sn,
      providerId: before.providerId,
      before: { credentialRotatedAt: before.credentialRotatedAt.toISOString() },
      after: { credentialRotatedAt: (after ?? before).credentialRotatedAt.toISOString() },
    });
    return { username: credentials.username, secret: credentials.secret };
  }

  /** Sets the terminal's city and/or region (null clears one); audited when something changed. */
  async update(ctx: RequestContext, sn: string, input: z.output<typeof updateTerminalBody>): Promise<TerminalDetailView> {
    const before = await this.getRecord(ctx.scope, sn);
    const after = { ...before, city: input.city === undefined ? before.city : input.city, region: input.region === undefined ? before.region : input.region };
    if (after.city !== before.city || after.region !== before.region) {
      try {
        await this.registry.updatePlace(sn, { city: input.city, region: input.region });
      } catch (err) {
        if (err instanceof DomainException && err.code === TerminalErrorCode.NotFound) throw notFound(`terminal ${sn}`);
        throw err;
      }
      await this.audit.record(ctx, {
        action: 'terminal.update',
        targetType: 'terminal',
        targetId: sn,
        providerId: before.providerId,
        before: toAuditView(before),
        after: toAuditView(after),
      });
    }
    return this.detail(ctx, sn);
  }

  /** Idempotent; disabling also closes a live MQTT session when the broker runs in this process. */
  async setEnabled(ctx: RequestContext, sn: string, enabled: boolean): Promise<TerminalDetailView> {
    const before = await this.getRecord(ctx.scope, sn);
    const wanted = enabled ? 'active' : 'disabled';
    if (before.status !== wanted) {
      const { missing } = await this.registry.setEnabled([sn], enabled);
      if (missing.length > 0) throw notFound(`terminal ${sn}`);
      await this.audit.record(ctx, {
        action: enabled ? 'terminal.enable' : 'terminal.disable',
        targetType: 'terminal',
        targetId: sn,
        providerId: before.providerId,
        before: toAuditView(before),
        after: { ...toAuditView(before), status: wanted },
      });
    }
    if (enabled) this.sessions?.invalidate(sn);
    else this.sessions?.disconnect(sn);
    return this.detail(ctx, sn);
  }

  /**
   * Moves a terminal between two providers of the caller's scope (both must be in it). The registry
   * moves only from the owner read here (compare-and-set); when a concurrent move won, the terminal
   * is read again (it may have left the scope: 404) and the move retried, a few times before a 409.
   */
  async move(ctx: RequestContext, sn: string, providerId: string): Promise<TerminalDetailView> {
    const target = await this.providerService.get(ctx.scope, providerId);
    for (let attempt = 1; ; attempt++) {
      const before = await this.getRecord(ctx.scope, sn);
      if (target.id === before.providerId) break;
      try {
        await this.registry.moveToProvider(sn, before.providerId, target.id, this.actor(ctx));
      } catch (err) {
        // The target provider was deleted after it was read: as if it had never been there.
        if (isForeignKeyViolation(err)) throw notFound(`provider ${providerId}`);
        if (!(err instanceof DomainException) || err.code !== TerminalErrorCode.NotFound) throw err;
        if (attempt >= TERMINAL_MOVE_ATTEMPTS) throw new DomainException(ApiErrorCode.Conflict, `terminal ${sn} was moved concurrently; retry`);
        continue;
      }
      // Filed under both owners: each one's audit log shows the terminal arriving or leaving.
      const move = {
        action: 'terminal.move',
        targetType: 'terminal',
        targetId: sn,
        before: toAuditView(before),
        after: { ...toAuditView(before), providerId: target.id },
      };
      await this.audit.record(ctx, [
        { ...move, providerId: before.providerId },
        { ...move, providerId: target.id },
      ]);
      break;
    }
    return this.detail(ctx, sn);
  }
}
