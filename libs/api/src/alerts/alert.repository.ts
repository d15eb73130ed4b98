import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AlertDetails, AlertRule, Severity } from '#alerts';
import type { Scope } from '../auth/principal.js';
import { isRealDate, type Cursor } from '../common/pagination.js';
import { scopePath } from '../common/scope-sql.js';
import { ALERT_ID_PATTERN, type AlertSort, type AlertState } from './alert.dto.js';

/** List filters; every one is optional and they combine with AND. */
export interface AlertFilter {
  /** Only terminals in this provider path's subtree; the caller checked it is in scope. */
  providerPath?: string;
  rules?: readonly string[];
  severities?: readonly string[];
  states?: readonly string[];
  sn?: string;
  /** ISO times, bound as text so microseconds survive (a Date keeps milliseconds only). */
  from?: string;
  to?: string;
}

export interface AlertPageSpec {
  sort: AlertSort;
  order: 'asc' | 'desc';
  limit: number;
  /** Keyset position: the sort value (timestamp text, microseconds) and id of the last row returned. */
  after: Cursor | null;
}

export interface AlertRow {
  id: string;
  sn: string;
  /** The terminal's current provider (the scope follows the device, like its telemetry). */
  providerId: string;
  /** The provider that owned the terminal when the alert was raised (notification routing). */
  raisedProviderId: string;
  rule: AlertRule;
  severity: Severity;
  state: AlertState;
  details: AlertDetails;
  firstSeenAt: Date;
  lastSeenAt: Date;
  occurrences: number;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
}

interface DbAlert {
  id: string;
  sn: string;
  terminal_provider_id: string;
  provider_id: string;
  rule: AlertRule;
  severity: Severity;
  state: AlertState;
  details: AlertDetails;
  first_seen_at: Date;
  last_seen_at: Date;
  occurrences: number;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  sort_value?: string;
}

/** A transition's outcome: the alert before and after, or why nothing changed. */
export type TransitionResult =
  { outcome: 'changed'; before: AlertRow; after: AlertRow } | { outcome: 'unchanged'; alert: AlertRow } | { outcome: 'already-resolved'; alert: AlertRow };

export interface OpenAlertCount {
  rule: string;
  severity: string;
  open: number;
  acknowledged: number;
}

const COLUMNS = `a.id::text AS id, a.sn, t.provider_id AS terminal_provider_id, a.provider_id, a.rule, a.severity, a.state, a.details,
       a.first_seen_at, a.last_seen_at, a.occurrences, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by`;

/** Sort columns and their keyset text (microseconds: a Date would lose them and skip or repeat rows). */
const SORT_COLUMNS: Record<AlertSort, string> = { firstSeen: 'a.first_seen_at', lastSeen: 'a.last_seen_at' };
const usText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Positional parameters for dynamically assembled SQL: values are always bound, never interpolated. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function toRow(r: DbAlert): AlertRow {
  return {
    id: r.id,
    sn: r.sn,
    providerId: r.terminal_provider_id,
    raisedProviderId: r.provider_id,
    rule: r.rule,
    severity: r.severity,
    state: r.state,
    details: r.details,
    firstSeenAt: r.first_seen_at,
    lastSeenAt: r.last_seen_at,
    occurrences: r.occurrences,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
  };
}

/**
 * Alerts for the fleet API. Every read and write takes the caller's scope and restricts the
 * alert's terminal to the scope's provider subtree in SQL: an alert outside it is simply not found.
 */
@Injectable()
export class AlertRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** One keyset page, ordered by (sort column, id) in the requested direction. */
  async page(scope: Scope, filter: AlertFilter, spec: AlertPageSpec): Promise<{ rows: AlertRow[]; next: Cursor | null }> {
    const paths = [scopePath(scope), filter.providerPath ?? null].filter((x): x is string => x !== null);
    const providerIds = paths.length > 0 ? await this.providerIds(paths) : null;
    if (providerIds?.length === 0) return { rows: [], next: null };
    const p = new Params();
    const where: string[] = [];
    if (providerIds !== null) where.push(`t.provider_id = ANY(${p.add(providerIds)}::uuid[])`);
    if (filter.rules) where.push(`a.rule = ANY(${p.add(filter.rules)}::text[])`);
    if (filter.severities) where.push(`a.severity = ANY(${p.add(filter.severities)}::text[])`);
    if (filter.states) where.push(`a.state = ANY(${p.add(filter.states)}::text[])`);
    if (filter.sn !== undefined) where.push(`a.sn = ${p.add(filter.sn)}`);
    if (filter.from) where.push(`a.first_seen_at >= ${p.add(filter.from)}::timestamptz`);
    if (filter.to) where.push(`a.first_seen_at < ${p.add(filter.to)}::timestamptz`);
    const column = SORT_COLUMNS[spec.sort];
    const dir = spec.order === 'desc' ? 'DESC' : 'ASC';
    if (spec.after) where.push(`(${column}, a.id) ${spec.order === 'desc' ? '<' : '>'} (${p.add(spec.after.v)}::timestamptz, ${p.add(spec.after.k)}::bigint)`);
    const rows: DbAlert[] = await this.dataSource.query(
      `SELECT ${COLUMNS}, ${usText(column)} AS sort_value
         FROM alerts a JOIN terminals t ON t.sn = a.sn
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${column} ${dir}, a.id ${dir}
        LIMIT ${p.add(spec.limit + 1)}`,
      p.values,
    );
    const page = rows.slice(0, spec.limit);
    const last = page[page.length - 1];
    const next = rows.length > spec.limit && last ? { v: last.sort_value ?? null, k: last.id } : null;
    return { rows: page.map(toRow), next };
  }

  /** Whether a cursor can be bound to the page query (cursors are opaque but not trusted). */
  cursorFits(cursor: Cursor): boolean {
    return ALERT_ID_PATTERN.test(cursor.k) && typeof cursor.v === 'string' && /Z$/.test(cursor.v) && isRealDate(cursor.v);
  }

  async findById(scope: Scope, id: string): Promise<AlertRow | null> {
    const rows = await this.locate(this.dataSource.manager, scope, id, false);
    return rows ? toRow(rows) : null;
  }

  /**
   * open -> acknowledged, under a row lock: concurrent acknowledges and resolves (and the engine)
   * take turns, and each decides on the state it finds.
   */
  async acknowledge(scope: Scope, id: string, by: string): Promise<TransitionResult | null> {
    return this.dataSource.transaction(async (em) => {
      const current = await this.locate(em, scope, id, true);
      if (!current) return null;
      const before = toRow(current);
      if (current.state === 'resolved') return { outcome: 'already-resolved', alert: before };
      if (current.state === 'acknowledged') return { outcome: 'unchanged', alert: before };
      await em.query(`UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1`, [id, by]);
      const after = await this.locate(em, scope, id, false);
      return { outcome: 'changed', before, after: toRow(after ?? current) };
    });
  }

  /**
   * open|acknowledged -> resolved under a row lock, with the 'resolved' outbox event in the same
   * transaction (the notifier tells subscribers who resolved it: details.resolvedBy).
   */
  async resolve(scope: Scope, id: string, by: string): Promise<TransitionResult | null> {
    return this.dataSource.transaction(async (em) => {
      const current = await this.locate(em, scope, id, true);
      if (!current) return null;
      const before = toRow(current);
      if (current.state === 'resolved') return { outcome: 'unchanged', alert: before };
      await em.query(`UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = $2 WHERE id = $1`, [id, by]);
      await em.query(
        `INSERT INTO alert_events (alert_id, kind, sn, provider_id, rule, severity, details)
         SELECT id, 'resolved', sn, provider_id, rule, severity, details || jsonb_build_object('resolvedBy', $2::text, 'manual', true)
           FROM alerts WHERE id = $1`,
        [id, by],
      );
      const after = await this.locate(em, scope, id, false);
      return { outcome: 'changed', before, after: toRow(after ?? current) };
    });
  }

  /** Unresolved alerts in scope grouped by rule and severity (served by the partial index alerts_unresolved_idx). */
  async openCounts(scope: Scope, providerPath: string | null): Promise<OpenAlertCount[]> {
    const paths = [scopePath(scope), providerPath].filter((x): x is string => x !== null);
    const ids = paths.length > 0 ? await this.providerIds(paths) : null;
    if (ids?.length === 0) return [];
    return this.dataSource.query<OpenAlertCount[]>(
      `SELECT a.rule, a.severity, count(*)::int AS open, count(*) FILTER (WHERE a.state = 'acknowledged')::int AS acknowledged
         FROM alerts a
        WHERE a.state <> 'resolved'
          ${ids ? 'AND a.sn IN (SELECT t.sn FROM terminals t WHERE t.provider_id = ANY($1::uuid[]))' : ''}
        GROUP BY a.rule, a.severity`,
      ids ? [ids] : [],
    );
  }

  private async locate(em: EntityManager, scope: Scope, id: string, lock: boolean): Promise<DbAlert | null> {
    const rows: DbAlert[] = await em.query(
      `SELECT ${COLUMNS}
         FROM alerts a JOIN terminals t ON t.sn = a.sn JOIN providers p ON p.id = t.provider_id
        WHERE a.id = $1::bigint AND ($2::text IS NULL OR p.path LIKE $2 || '%')
        ${lock ? 'FOR UPDATE OF a' : ''}`,
      [id, scopePath(scope)],
    );
    return rows[0] ?? null;
  }

  /** Ids of the providers under every given path prefix (the caller's scope, and a providerId filter). */
  private async providerIds(paths: readonly string[]): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM providers WHERE ${paths.map((_p, i) => `path LIKE $${i + 1}`).join(' AND ')}`,
      paths.map(likePrefix),
    );
    return rows.map((r) => r.id);
  }
}
