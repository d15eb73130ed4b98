import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { DATABASE_INFO, type DatabaseInfo } from '#db';
import type { AlertRule, HeartbeatSample, RuleMemory, Severity, TerminalFacts, VersionPolicy } from '../rules/rule.types.js';
import type { AlertEventKind, AlertSegment, StoredAlert } from './alert-ledger.js';
import type { IncrementalWindow, SweepCandidates } from './sweep-candidates.js';

/** A terminal as the engine loads it: the rules' facts plus what the engine needs around them. */
export interface TerminalRow {
  facts: TerminalFacts;
  /** Provider tree path '/<root id>/.../<id>/': whose alert settings apply, root first. */
  providerPath: string;
  /** Terminal time of the newest heartbeat evaluated, null before the first evaluation. */
  evaluatedThrough: Date | null;
}

/** Transitions written, for metrics. */
export interface WrittenEvent {
  kind: AlertEventKind;
  rule: AlertRule;
  severity: Severity;
  n: number;
}

/** HeartbeatSample fields and the SQL that reads each from heartbeats (or terminal_state) alias `x`. */
const SAMPLE_SQL: readonly [keyof HeartbeatSample | `tx_${string}`, string][] = [
  ['model', 'x.model'],
  ['firmwareVersion', 'x.firmware_version'],
  ['appVersion', 'x.app_version'],
  ['batteryPct', 'x.battery_pct'],
  ['charging', 'x.charging'],
  ['rat', 'x.rat'],
  ['rsrp', 'x.rsrp'],
  ['csq', 'x.csq'],
  ['sinr', 'x.sinr'],
  ['cellId', 'x.cell_id'],
  ['iccid', 'x.iccid'],
  ['planStatus', 'x.plan_status'],
  ['planExpiresOn', `to_char(x.plan_expires_on, 'YYYY-MM-DD')`],
  ['planAutoRenew', 'x.plan_auto_renew'],
  ['renewalAt', 'x.renewal_at'],
  ['renewalResult', 'x.renewal_result'],
  ['renewalReason', 'x.renewal_reason'],
  ['dataUsedMb', 'x.data_used_mb'],
  ['dataAllowanceMb', 'x.data_allowance_mb'],
  ['lat', 'x.lat'],
  ['lon', 'x.lon'],
  ['uptimeS', 'x.uptime_s::float8'],
  ['tx_approved', 'x.tx_approved'],
  ['tx_declined', 'x.tx_declined'],
  ['tx_declines', 'x.tx_declines'],
  ['tx_pending', 'x.tx_reversals_pending'],
  ['tx_succeeded', 'x.tx_reversals_succeeded'],
  ['tx_failed', 'x.tx_reversals_failed'],
];

/** SELECT list of a sample from `alias`, its time columns given, each aliased `${prefix}${field}`. */
function sampleColumns(alias: string, time: string, receivedAt: string, prefix: string): string {
  const cols = [`${alias}.${time} AS "${prefix}time"`, `${alias}.${receivedAt} AS "${prefix}receivedAt"`];
  for (const [name, expr] of SAMPLE_SQL) cols.push(`${expr.replaceAll('x.', `${alias}.`)} AS "${prefix}${name}"`);
  return cols.join(', ');
}

type Row = Record<string, unknown>;

/**
 * The rows of `sql` as one json value each (same field names; timestamps as ISO text, which the
 * readers accept). On the embedded database every column of every row is encoded, sent and parsed
 * again on both sides of the wire: for the ~30-column terminal and heartbeat rows of the evaluator,
 * one json value per row costs about half as much (embedded-cost-bench evaluate). On PostgreSQL the
 * server's json encoding costs more than it saves, so plain columns stay there.
 */
const jsonRows = (sql: string): string => `SELECT row_to_json(r) AS j FROM (${sql}) r`;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string));

function readSample(row: Row, p: string): HeartbeatSample {
  const approved = row[`${p}tx_approved`];
  return {
    time: dateOrNull(row[`${p}time`]) ?? new Date(0),
    receivedAt: dateOrNull(row[`${p}receivedAt`]) ?? new Date(0),
    model: String(row[`${p}model`]),
    firmwareVersion: String(row[`${p}firmwareVersion`]),
    appVersion: String(row[`${p}appVersion`]),
    batteryPct: num(row[`${p}batteryPct`]),
    charging: row[`${p}charging`] === true,
    rat: String(row[`${p}rat`]),
    rsrp: numOrNull(row[`${p}rsrp`]),
    csq: numOrNull(row[`${p}csq`]),
    sinr: numOrNull(row[`${p}sinr`]),
    cellId: strOrNull(row[`${p}cellId`]),
    iccid: String(row[`${p}iccid`]),
    planStatus: row[`${p}planStatus`] as HeartbeatSample['planStatus'],
    planExpiresOn: String(row[`${p}planExpiresOn`]),
    planAutoRenew: row[`${p}planAutoRenew`] === true,
    renewalAt: dateOrNull(row[`${p}renewalAt`]),
    renewalResult: (row[`${p}renewalResult`] ?? null) as HeartbeatSample['renewalResult'],
    renewalReason: strOrNull(row[`${p}renewalReason`]),
    dataUsedMb: num(row[`${p}dataUsedMb`]),
    dataAllowanceMb: numOrNull(row[`${p}dataAllowanceMb`]),
    lat: numOrNull(row[`${p}lat`]),
    lon: numOrNull(row[`${p}lon`]),
    uptimeS: num(row[`${p}uptimeS`]),
    tx:
      approved === null || approved === undefined
        ? null
        : {
            approved: num(approved),
            declined: numOrNull(row[`${p}tx_declined`]) ?? 0,
            declinesByCode: (row[`${p}tx_declines`] ?? {}) as Record<string, number>,
            reversalsPending: numOrNull(row[`${p}tx_pending`]) ?? 0,
            reversalsSucceeded: numOrNull(row[`${p}tx_succeeded`]) ?? 0,
            reversalsFailed: numOrNull(row[`${p}tx_failed`]) ?? 0,
          },
  };
}

const TERMINAL_SELECT = `
SELECT t.sn, t.model AS "terminalModel", t.tid, t.mid, t.provider_id AS "providerId", p.path AS "providerPath",
       t.registered_lat AS "registeredLat", t.registered_lon AS "registeredLon",
       coalesce(s.online, false) AS online, s.presence_changed_at AS "presenceChangedAt", s.last_received_at AS "lastReceivedAt",
       ${sampleColumns('s', 'last_heartbeat_at', 'last_received_at', 's_')}`;

function readTerminal(row: Row): TerminalRow {
  return {
    facts: {
      sn: String(row.sn),
      model: String(row.terminalModel),
      tid: strOrNull(row.tid),
      mid: strOrNull(row.mid),
      providerId: String(row.providerId),
      registeredLat: numOrNull(row.registeredLat),
      registeredLon: numOrNull(row.registeredLon),
      online: row.online === true,
      presenceChangedAt: dateOrNull(row.presenceChangedAt),
      lastReceivedAt: dateOrNull(row.lastReceivedAt),
      latest: row.s_time === null || row.s_time === undefined || row.s_model === null ? null : readSample(row, 's_'),
    },
    providerPath: String(row.providerPath),
    evaluatedThrough: dateOrNull(row.evaluatedThrough),
  };
}

/** Terminals by SN, with their evaluation cursor. */
const TERMINALS_BY_SN_SQL = `${TERMINAL_SELECT}, c.evaluated_through AS "evaluatedThrough"
  FROM terminals t
  JOIN providers p ON p.id = t.provider_id
  LEFT JOIN terminal_state s ON s.sn = t.sn
  LEFT JOIN alert_eval_cursor c ON c.sn = t.sn
 WHERE t.sn = ANY($1::text[])`;

/**
 * One keyset page of terminal_state for the sweep: every terminal, or only candidates (see
 * SweepCandidates): the first $2 SNs after $1 of two index walks, terminals whose state matches and
 * terminals with an unresolved alert of a scheduled rule. The page's SNs are chosen first and joined
 * after, so each page costs its own size, not a scan from the start of the fleet.
 */
const terminalPageSql = (candidatesOnly: boolean) => `
WITH page AS (${
  candidatesOnly
    ? `
  SELECT sn FROM (
    (SELECT s.sn FROM terminal_state s
      WHERE s.sn > $1
        AND (NOT s.online
             OR greatest(s.last_received_at, s.presence_changed_at) < $3::timestamptz
             OR s.plan_expires_on <= $4::date)
      ORDER BY s.sn LIMIT $2)
    UNION
    (SELECT DISTINCT a.sn FROM alerts a
      WHERE a.sn > $1 AND a.state <> 'resolved' AND a.rule = ANY($5::text[])
      ORDER BY a.sn LIMIT $2)
  ) c ORDER BY sn LIMIT $2`
    : `
  SELECT sn FROM terminal_state WHERE sn > $1 ORDER BY sn LIMIT $2`
}
)
${TERMINAL_SELECT}, NULL AS "evaluatedThrough"
  FROM page
  JOIN terminal_state s ON s.sn = page.sn
  JOIN terminals t ON t.sn = s.sn
  JOIN providers p ON p.id = t.provider_id
 ORDER BY s.sn`;
const TERMINAL_PAGE_SQL = terminalPageSql(false);
const CANDIDATE_PAGE_SQL = terminalPageSql(true);

/**
 * The candidates of an incremental sweep (see IncrementalWindow), SNs after $1 in order: terminals
 * whose offline or silent threshold crossing falls in the window, the plan candidates when a local
 * midnight passed, and terminals with an open offline/silent alert that may clear (the unresolved
 * alerts index by rule, joined to their state).
 */
const INCREMENTAL_CANDIDATES_SQL = `
SELECT s.sn FROM terminal_state s
 WHERE s.sn > $1
   AND ((NOT s.online AND coalesce(s.presence_changed_at, s.last_received_at) BETWEEN $2::timestamptz AND $3::timestamptz)
        OR (s.online AND greatest(s.last_received_at, s.presence_changed_at) BETWEEN $4::timestamptz AND $5::timestamptz)
        OR ($6::boolean AND s.plan_expires_on <= $7::date))
UNION
SELECT a.sn FROM alerts a JOIN terminal_state s ON s.sn = a.sn
 WHERE a.sn > $1 AND a.state <> 'resolved' AND a.rule IN ('offline', 'silent')
   AND CASE WHEN a.rule = 'offline' THEN s.online OR coalesce(s.presence_changed_at, s.last_received_at) >= $8::timestamptz
            ELSE NOT s.online OR greatest(s.last_received_at, s.presence_changed_at) >= $9::timestamptz END
 ORDER BY sn`;

/** Terminals with state by SN, for a sweep page of listed candidates. */
const SWEEP_BY_SN_SQL = `${TERMINAL_SELECT}, NULL AS "evaluatedThrough"
  FROM terminal_state s
  JOIN terminals t ON t.sn = s.sn
  JOIN providers p ON p.id = t.provider_id
 WHERE s.sn = ANY($1::text[])
 ORDER BY s.sn`;

/**
 * The heartbeats after each terminal's cursor, oldest first, at most $3 + 1 (one more says more
 * remain), plus, where $4 says so, the one at the cursor itself (the rules' `previous`; timestamps
 * have microsecond precision, so + 1 µs excludes exactly that one). A terminal never evaluated
 * starts with its newest $3 heartbeats, not its whole history.
 */
const HEARTBEATS_SQL = `
SELECT h.*
  FROM unnest($1::text[], $2::timestamptz[], $4::boolean[]) AS c(sn, after, previous)
 CROSS JOIN LATERAL (
   SELECT * FROM (
     SELECT ${sampleColumns('x', 'time', 'received_at', '')}, x.sn FROM heartbeats x
      WHERE x.sn = c.sn AND c.after IS NOT NULL
        AND x.time >= CASE WHEN c.previous THEN c.after ELSE c.after + interval '1 microsecond' END
      ORDER BY x.time LIMIT $3::int + 2
   ) after_cursor
   UNION ALL
   SELECT * FROM (
     SELECT ${sampleColumns('x', 'time', 'received_at', '')}, x.sn FROM heartbeats x
      WHERE x.sn = c.sn AND c.after IS NULL
      ORDER BY x.time DESC LIMIT $3::int
   ) newest
 ) h`;

const MEMORY_SQL = `SELECT sn, rule, memory FROM alert_rule_memory WHERE sn = ANY($1::text[])`;
const MEMORY_RANGE_SQL = `SELECT sn, rule, memory FROM alert_rule_memory WHERE sn > $1 AND sn <= $2`;
const OPEN_COLUMNS = `id::text AS id, sn, rule, severity, state, provider_id AS "providerId"`;
const OPEN_SQL = `SELECT ${OPEN_COLUMNS} FROM alerts WHERE sn = ANY($1::text[]) AND state <> 'resolved'`;
const OPEN_RANGE_SQL = `SELECT ${OPEN_COLUMNS} FROM alerts WHERE sn > $1 AND sn <= $2 AND state <> 'resolved'`;

/**
 * Claims the oldest queue rows; other workers skip them, and ingest adds a fresh row for a terminal
 * instead of waiting for this commit. One evaluator per terminal at a time: a transaction-scoped
 * advisory lock per SN; a terminal another worker is evaluating keeps its rows for the next poll,
 * when that worker's cursor is visible.
 */
const CLAIM_SQL = `
WITH c AS (
  SELECT id, sn FROM alert_eval_queue ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), mine AS (
  SELECT sn FROM (SELECT DISTINCT sn FROM c) d WHERE pg_try_advisory_xact_lock(hashtextextended('alert-eval:' || sn, 0))
), gone AS (
  DELETE FROM alert_eval_queue q USING c
   WHERE q.id = c.id AND c.sn IN (SELECT sn FROM mine)
  RETURNING q.sn, q.enqueued_at
)
SELECT sn, min(enqueued_at) AS "enqueuedAt" FROM gone GROUP BY sn ORDER BY sn`;

/**
 * Changes to alerts that existed before the batch. Applied only while the alert is unresolved and
 * still has the severity this batch loaded: a concurrent writer's change wins and this one is dropped
 * (with its events), so no transition is recorded twice.
 */
const UPDATE_ALERTS_SQL = `
WITH u AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::int[], $8::timestamptz[])
    AS u(id, loaded_severity, severity, state, details, last_seen_at, occurrences, resolved_at)
), upd AS (
  UPDATE alerts a
     SET severity = u.severity,
         state = CASE WHEN u.state = 'resolved' THEN 'resolved' ELSE a.state END,
         details = coalesce(u.details::jsonb, a.details),
         last_seen_at = coalesce(u.last_seen_at, a.last_seen_at),
         occurrences = a.occurrences + u.occurrences,
         resolved_at = u.resolved_at,
         resolved_by = CASE WHEN u.state = 'resolved' THEN 'system' END
    FROM u
   WHERE a.id = u.id AND a.state <> 'resolved' AND a.severity = u.loaded_severity
  RETURNING a.id, a.sn, a.provider_id, a.rule
), ev AS (
  INSERT INTO alert_events (alert_id, kind, sn, provider_id, rule, severity, details, created_at)
  SELECT upd.id, e.kind, upd.sn, upd.provider_id, upd.rule, e.severity, e.details::jsonb, e.at
    FROM unnest($9::bigint[], $10::text[], $11::text[], $12::text[], $13::timestamptz[]) WITH ORDINALITY AS e(alert_id, kind, severity, details, at, ord)
    JOIN upd ON upd.id = e.alert_id
   ORDER BY e.ord
  RETURNING kind, rule, severity
)
SELECT kind, rule, severity, count(*)::int AS n FROM ev GROUP BY kind, rule, severity`;

/**
 * Alerts raised in the batch, with their events. Ids are drawn first so events can refer to them;
 * an alert that another worker raised meanwhile (alerts_one_open_idx) is skipped with its events.
 */
const INSERT_ALERTS_SQL = `
WITH src AS (
  SELECT u.*, nextval(pg_get_serial_sequence('alerts', 'id')) AS id
    FROM unnest($1::int[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[], $10::int[], $11::timestamptz[])
      AS u(seg, sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, occurrences, resolved_at)
), ins AS (
  INSERT INTO alerts (id, sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, occurrences, resolved_at, resolved_by)
  OVERRIDING SYSTEM VALUE
  SELECT id, sn, provider_id, rule, severity, state, details::jsonb, first_seen_at, last_seen_at, occurrences, resolved_at,
         CASE WHEN state = 'resolved' THEN 'system' END
    FROM src ORDER BY seg
  ON CONFLICT (sn, rule) WHERE state <> 'resolved' DO NOTHING
  RETURNING id
), ev AS (
  INSERT INTO alert_events (alert_id, kind, sn, provider_id, rule, severity, details, created_at)
  SELECT src.id, e.kind, src.sn, src.provider_id, src.rule, e.severity, e.details::jsonb, e.at
    FROM unnest($12::int[], $13::text[], $14::text[], $15::text[], $16::timestamptz[]) WITH ORDINALITY AS e(seg, kind, severity, details, at, ord)
    JOIN src ON src.seg = e.seg
    JOIN ins ON ins.id = src.id
   ORDER BY e.ord
  RETURNING kind, rule, severity
)
SELECT kind, rule, severity, count(*)::int AS n FROM ev GROUP BY kind, rule, severity`;

/** Rule memory (null deletes), evaluation cursors (only forward) and terminals queued again, in one statement. */
const BOOKKEEPING_SQL = `
WITH m AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS m(sn, rule, memory)
), del AS (
  DELETE FROM alert_rule_memory x USING m WHERE m.memory IS NULL AND x.sn = m.sn AND x.rule = m.rule
  RETURNING 1
), up AS (
  INSERT INTO alert_rule_memory (sn, rule, memory, updated_at)
  SELECT sn, rule, memory::jsonb, $4::timestamptz FROM m WHERE memory IS NOT NULL ORDER BY sn, rule
  ON CONFLICT (sn, rule) DO UPDATE SET memory = EXCLUDED.memory, updated_at = EXCLUDED.updated_at
  RETURNING 1
), cur AS (
  INSERT INTO alert_eval_cursor (sn, evaluated_through)
  SELECT * FROM unnest($5::text[], $6::timestamptz[]) AS c(sn, at) ORDER BY sn
  ON CONFLICT (sn) DO UPDATE SET evaluated_through = greatest(alert_eval_cursor.evaluated_through, EXCLUDED.evaluated_through)
  RETURNING 1
), req AS (
  INSERT INTO alert_eval_queue (sn, enqueued_at)
  SELECT * FROM unnest($7::text[], $8::timestamptz[]) AS r(sn, at) ORDER BY sn
  RETURNING 1
)
SELECT 1`;

const LEASE_NAME = 'scheduled';

/** Reads and writes of the alert engine. Every method runs on the transaction's EntityManager it is given. */
@Injectable()
export class AlertEngineRepository {
  /** With the embedded database (PGlite), the evaluator's wide reads come back as json rows (see jsonRows); otherwise plain columns. */
  private readonly json: boolean;

  constructor(
    @Inject(DataSource) readonly dataSource: DataSource,
    @Optional() @Inject(DATABASE_INFO) info?: DatabaseInfo | null,
  ) {
    this.json = info?.embedded ?? false;
  }

  /** The rows of a wide read, as json rows unwrapped or as plain columns. */
  private async wideQuery(em: EntityManager, sql: string, params: unknown[]): Promise<Row[]> {
    if (!this.json) return em.query(sql, params);
    const rows: { j: Row }[] = await em.query(jsonRows(sql), params);
    return rows.map((r) => r.j);
  }

  async claim(em: EntityManager, limit: number): Promise<{ sn: string; enqueuedAt: Date }[]> {
    const rows: { sn: string; enqueuedAt: Date }[] = await em.query(CLAIM_SQL, [limit]);
    return rows;
  }

  async terminalsBySn(em: EntityManager, sns: readonly string[]): Promise<TerminalRow[]> {
    const rows = await this.wideQuery(em, TERMINALS_BY_SN_SQL, [sns]);
    return rows.map(readTerminal);
  }

  /** The next page of terminals with state after `after`; with `candidates`, only those (see SweepCandidates). */
  async terminalPage(em: EntityManager, after: string, limit: number, candidates: SweepCandidates | null = null): Promise<TerminalRow[]> {
    const rows: Row[] = candidates
      ? await em.query(CANDIDATE_PAGE_SQL, [after, limit, candidates.silentBefore, candidates.planEndsBy, candidates.rules])
      : await em.query(TERMINAL_PAGE_SQL, [after, limit]);
    return rows.map(readTerminal);
  }

  /** SNs an incremental sweep evaluates (see INCREMENTAL_CANDIDATES_SQL), after `after`, sorted. */
  async incrementalCandidates(after: string, window: IncrementalWindow, candidates: SweepCandidates | null): Promise<string[]> {
    const rows: { sn: string }[] = await this.dataSource.query(INCREMENTAL_CANDIDATES_SQL, [
      after,
      window.offlineSince[0],
      window.offlineSince[1],
      window.silentSince[0],
      window.silentSince[1],
      window.planDay || candidates === null,
      candidates?.planEndsBy ?? '9999-12-31',
      window.offlineClearSince,
      window.silentClearSince,
    ]);
    // SQL text order, not the database collation: the pages' keyset comparisons are made in JS.
    return rows.map((r) => r.sn).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async sweepTerminalsBySn(em: EntityManager, sns: readonly string[]): Promise<TerminalRow[]> {
    const rows: Row[] = await em.query(SWEEP_BY_SN_SQL, [sns]);
    return rows.map(readTerminal);
  }

  /** Every stored threshold override (a small table: one row per provider with overrides). */
  async allSettings(): Promise<unknown[]> {
    const rows: { settings: unknown }[] = await this.dataSource.query(`SELECT settings FROM alert_settings`);
    return rows.map((r) => r.settings);
  }

  /**
   * Heartbeats to evaluate per terminal (see HEARTBEATS_SQL), oldest first, by SN; with the one at
   * the cursor unless `previous` is false.
   */
  async heartbeats(
    em: EntityManager,
    cursors: readonly { sn: string; after: Date | null; previous?: boolean }[],
    perTerminal: number,
  ): Promise<Map<string, HeartbeatSample[]>> {
    const rows = await this.wideQuery(em, HEARTBEATS_SQL, [
      cursors.map((c) => c.sn),
      cursors.map((c) => c.after),
      perTerminal,
      cursors.map((c) => c.previous ?? true),
    ]);
    const bySn = new Map<string, HeartbeatSample[]>();
    for (const row of rows) {
      const sn = String(row.sn);
      let list = bySn.get(sn);
      if (!list) bySn.set(sn, (list = []));
      list.push(readSample(row, ''));
    }
    for (const list of bySn.values()) list.sort((a, b) => a.time.getTime() - b.time.getTime());
    return bySn;
  }

  async memory(em: EntityManager, scope: SnScope): Promise<{ sn: string; rule: AlertRule; memory: RuleMemory }[]> {
    return 'sns' in scope ? em.query(MEMORY_SQL, [scope.sns]) : em.query(MEMORY_RANGE_SQL, [scope.after, scope.upTo]);
  }

  async openAlerts(em: EntityManager, scope: SnScope): Promise<(StoredAlert & { providerId: string })[]> {
    return 'sns' in scope ? em.query(OPEN_SQL, [scope.sns]) : em.query(OPEN_RANGE_SQL, [scope.after, scope.upTo]);
  }

  /** Stored threshold overrides of these providers. */
  async settings(em: EntityManager, providerIds: readonly string[]): Promise<Map<string, unknown>> {
    if (providerIds.length === 0) return new Map();
    const rows: { providerId: string; settings: unknown }[] = await em.query(
      `SELECT provider_id AS "providerId", settings FROM alert_settings WHERE provider_id = ANY($1::uuid[])`,
      [providerIds],
    );
    return new Map(rows.map((r) => [r.providerId, r.settings]));
  }

  async policies(em: EntityManager, models: readonly string[]): Promise<Map<string, VersionPolicy[]>> {
    const byModel = new Map<string, VersionPolicy[]>();
    if (models.length === 0) return byModel;
    const rows: Row[] = await em.query(
      `SELECT model, component, min_supported AS "minSupported", latest, latest_since AS "latestSince", blocked
         FROM version_policies WHERE model = ANY($1::text[])`,
      [models],
    );
    for (const r of rows) {
      const policy: VersionPolicy = {
        model: String(r.model),
        component: r.component as VersionPolicy['component'],
        minSupported: strOrNull(r.minSupported),
        latest: strOrNull(r.latest),
        latestSince: dateOrNull(r.latestSince),
        blocked: Array.isArray(r.blocked) ? r.blocked.map(String) : [],
      };
      let list = byModel.get(policy.model);
      if (!list) byModel.set(policy.model, (list = []));
      list.push(policy);
    }
    return byModel;
  }

  /** Writes the batch's alert changes; returns the transitions recorded (after concurrency guards). */
  async writeAlerts(em: EntityManager, changes: { existing: AlertSegment[]; raised: AlertSegment[] }): Promise<WrittenEvent[]> {
    const written: WrittenEvent[] = [];
    // One lock order for every writer (by id, by terminal and rule), so two workers touching the same
    // alerts wait for each other instead of deadlocking.
    const existing = [...changes.existing].sort((a, b) => Number(a.id) - Number(b.id));
    const raised = [...changes.raised].sort((a, b) => (a.sn < b.sn ? -1 : a.sn > b.sn ? 1 : a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0));
    if (existing.length > 0) {
      const events = existing.flatMap((s) => s.events.map((e) => ({ id: s.id, ...e })));
      const rows: WrittenEvent[] = await em.query(UPDATE_ALERTS_SQL, [
        existing.map((s) => s.id),
        existing.map((s) => s.loadedSeverity),
        existing.map((s) => s.severity),
        existing.map((s) => s.state),
        existing.map((s) => (s.details === null ? null : JSON.stringify(s.details))),
        existing.map((s) => s.lastSeenAt),
        existing.map((s) => s.occurrences),
        existing.map((s) => s.resolvedAt),
        events.map((e) => e.id),
        events.map((e) => e.kind),
        events.map((e) => e.severity),
        events.map((e) => JSON.stringify(e.details)),
        events.map((e) => e.at),
      ]);
      written.push(...rows);
    }
    if (raised.length > 0) {
      const events = raised.flatMap((s, seg) => s.events.map((e) => ({ seg, ...e })));
      const rows: WrittenEvent[] = await em.query(INSERT_ALERTS_SQL, [
        raised.map((_s, i) => i),
        raised.map((s) => s.sn),
        raised.map((s) => s.providerId),
        raised.map((s) => s.rule),
        raised.map((s) => s.severity),
        raised.map((s) => s.state),
        raised.map((s) => JSON.stringify(s.details ?? {})),
        raised.map((s) => s.firstSeenAt),
        raised.map((s) => s.lastSeenAt ?? s.firstSeenAt),
        raised.map((s) => s.occurrences),
        raised.map((s) => s.resolvedAt),
        events.map((e) => e.seg),
        events.map((e) => e.kind),
        events.map((e) => e.severity),
        events.map((e) => JSON.stringify(e.details)),
        events.map((e) => e.at),
      ]);
      written.push(...rows);
    }
    return written;
  }

  async bookkeeping(
    em: EntityManager,
    at: Date,
    memory: readonly { sn: string; rule: AlertRule; memory: RuleMemory | null }[],
    cursors: readonly { sn: string; at: Date }[],
    requeue: readonly { sn: string; at: Date }[],
  ): Promise<void> {
    if (memory.length === 0 && cursors.length === 0 && requeue.length === 0) return;
    const sortedMemory = [...memory].sort((a, b) => (a.sn < b.sn ? -1 : a.sn > b.sn ? 1 : a.rule < b.rule ? -1 : 1));
    await em.query(BOOKKEEPING_SQL, [
      sortedMemory.map((m) => m.sn),
      sortedMemory.map((m) => m.rule),
      sortedMemory.map((m) => (m.memory === null ? null : JSON.stringify(m.memory))),
      at,
      cursors.map((c) => c.sn),
      cursors.map((c) => c.at),
      requeue.map((r) => r.sn),
      requeue.map((r) => r.at),
    ]);
  }

  async queueDepth(): Promise<number> {
    const rows: { n: number }[] = await this.dataSource.query(`SELECT count(DISTINCT sn)::int AS n FROM alert_eval_queue`);
    return rows[0]?.n ?? 0;
  }

  // --- the sweep lease (see 0005: alert_sweep_lease) -------------------------------------------

  /**
   * Takes the sweep lease when it is free or expired and a sweep is due (one is unfinished, or the
   * last finished at least `minGapMs` ago). Lease times are the database's clock, shared by all
   * workers; rule decisions use the engine's clock. Returns where to start, or null when not taken.
   */
  async acquireLease(holder: string, ttlMs: number, minGapMs: number): Promise<SweepLease | null> {
    const [rows]: [SweepLease[], number] = await this.dataSource.query(
      `UPDATE alert_sweep_lease
          SET holder = $2, expires_at = now() + $3::int * interval '1 millisecond'
        WHERE name = $1 AND expires_at < now()
          AND (next_after IS NOT NULL OR finished_at IS NULL OR finished_at <= now() - $4::int * interval '1 millisecond')
       RETURNING coalesce(next_after, '') AS after, sweep_from AS "sweepFrom", sweep_to AS "sweepTo", swept_through AS "sweptThrough",
                 full_through AS "fullThrough", thresholds_key AS "thresholdsKey"`,
      [LEASE_NAME, holder, ttlMs, minGapMs],
    );
    return rows[0] ?? null;
  }

  /** A new sweep under the lease: its window (from null: full), kept for whoever resumes it. */
  async startSweep(holder: string, from: Date | null, to: Date): Promise<void> {
    await this.dataSource.query(`UPDATE alert_sweep_lease SET sweep_from = $3, sweep_to = $4 WHERE name = $1 AND holder = $2`, [LEASE_NAME, holder, from, to]);
  }

  /** Inside a page's transaction: renews the lease and records the page as done; false when the lease was lost. */
  async advanceLease(
    em: EntityManager,
    holder: string,
    ttlMs: number,
    lastSn: string,
    finished: boolean,
    thresholdsKey: string | null = null,
  ): Promise<boolean> {
    // Finishing records the window's end as swept through; a full sweep also as the last full one, with the settings it saw.
    const [rows]: [unknown[], number] = await em.query(
      `UPDATE alert_sweep_lease
          SET expires_at = CASE WHEN $5::boolean THEN '-infinity' ELSE now() + $3::int * interval '1 millisecond' END,
              holder = CASE WHEN $5::boolean THEN NULL ELSE holder END,
              next_after = CASE WHEN $5::boolean THEN NULL ELSE $4::text END,
              finished_at = CASE WHEN $5::boolean THEN now() ELSE finished_at END,
              swept_through = CASE WHEN $5::boolean THEN sweep_to ELSE swept_through END,
              full_through = CASE WHEN $5::boolean AND sweep_from IS NULL THEN sweep_to ELSE full_through END,
              thresholds_key = CASE WHEN $5::boolean AND sweep_from IS NULL THEN $6::text ELSE thresholds_key END
        WHERE name = $1 AND holder = $2 AND expires_at >= now()
       RETURNING 1`,
      [LEASE_NAME, holder, ttlMs, lastSn, finished, thresholdsKey],
    );
    return rows.length === 1;
  }

  /** Gives the lease up without finishing (error, shutdown): the next holder resumes where this one stopped. */
  async releaseLease(holder: string): Promise<void> {
    await this.dataSource.query(`UPDATE alert_sweep_lease SET holder = NULL, expires_at = '-infinity' WHERE name = $1 AND holder = $2`, [LEASE_NAME, holder]);
  }
}

/** The sweep lease as taken: where to resume, the window of the sweep under way, and what the last ones covered (engine clock). */
export interface SweepLease {
  /** Last SN done of an unfinished sweep; '' to start one. */
  after: string;
  sweepFrom: Date | null;
  sweepTo: Date | null;
  sweptThrough: Date | null;
  fullThrough: Date | null;
  thresholdsKey: string | null;
}

/** Which terminals a load covers: a list (queue batch) or a keyset range (sweep page). */
export type SnScope = { sns: readonly string[] } | { after: string; upTo: string };
