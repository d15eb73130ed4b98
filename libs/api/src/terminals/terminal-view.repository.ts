import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { pickFields, readFields, selectFields, TERMINAL_STATE_FIELDS, type FieldValues } from '#db';
import type { Scope } from '../auth/principal.js';
import { isRealDate, isSaneNumber, type Cursor } from '../common/pagination.js';
import { scopePath } from '../common/scope-sql.js';
import { SN_PATTERN, SUMMARY_STATE_KEYS, type SummaryStateKey, type TerminalSort } from './terminal.dto.js';

/** List filters; every one is optional and they combine with AND. */
export interface TerminalFilter {
  /** Only this provider path's subtree ('/<id>/.../'); the caller checked it is in scope. */
  providerPath?: string;
  model?: string;
  firmwareVersion?: string;
  firmwareMin?: string;
  firmwareMax?: string;
  online?: boolean;
  planStatus?: readonly string[];
  planExpiringWithinDays?: number;
  autoRenew?: 'off' | 'failed';
  batteryBelow?: number;
  signalBelow?: number;
  lastSeenBefore?: Date;
  status?: 'active' | 'disabled';
  snPrefix?: string;
  city?: string;
  region?: string;
}

export interface TerminalPageSpec {
  sort: TerminalSort;
  order: 'asc' | 'desc';
  limit: number;
  /** Keyset position: the sort value (as text, null in the "no value" tail) and SN of the last row returned. */
  after: Cursor | null;
}

export interface TerminalSummaryRow extends Pick<TerminalStateRow, SummaryStateKey> {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  city: string | null;
  region: string | null;
  providerId: string;
  status: 'active' | 'disabled';
  online: boolean;
  lastSeenAt: Date | null;
}

/** The registry row of a terminal in scope, with its provider: what mutations check first. */
export interface TerminalRecord {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  providerId: string;
  providerPath: string;
  registeredLat: number | null;
  registeredLon: number | null;
  city: string | null;
  region: string | null;
  status: 'active' | 'disabled';
  createdAt: Date;
  credentialRotatedAt: Date;
}

/** A terminal_state row, keyed and typed by the one field list (TERMINAL_STATE_FIELDS). */
export type TerminalStateRow = FieldValues<typeof TERMINAL_STATE_FIELDS>;

export interface TerminalDetailRow extends Omit<TerminalRecord, 'providerPath'> {
  providerCode: string;
  providerName: string;
  /** null when terminal_state has no row yet (never connected). */
  state: TerminalStateRow | null;
}

export interface PresenceEventRow {
  time: Date;
  online: boolean;
  reason: string;
  remoteIp: string | null;
}

export interface ProviderHistoryRow {
  id: string;
  movedAt: Date;
  from: { id: string; code: string; name: string } | null;
  to: { id: string; code: string; name: string } | null;
  actorKeyId: string | null;
  requestId: string | null;
}

/** Summary rows come back in view shape, plus the keyset sort value. */
interface DbSummary extends TerminalSummaryRow {
  sort_value: string | null;
}

interface DbRecord {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  provider_id: string;
  provider_path: string;
  registered_lat: number | null;
  registered_lon: number | null;
  city: string | null;
  region: string | null;
  status: 'active' | 'disabled';
  created_at: Date;
  credential_rotated_at: Date;
}

interface DbDetail extends DbRecord {
  provider_code: string;
  provider_name: string;
  has_state: boolean;
  /** State fields, selected as "s.<key>". */
  [state: `s.${string}`]: unknown;
}

/** List items straight in TerminalSummaryRow shape (t = terminals, s = terminal_state). */
const SUMMARY_COLUMNS = `t.sn, t.model, t.tid, t.mid, t.city, t.region, t.provider_id AS "providerId", t.status,
  COALESCE(s.online, false) AS online, s.last_heartbeat_at AS "lastSeenAt",
  ${selectFields(pickFields(TERMINAL_STATE_FIELDS, SUMMARY_STATE_KEYS), 's')}`;

const RECORD_COLUMNS = `t.sn, t.model, t.tid, t.mid, t.provider_id, p.path AS provider_path, t.registered_lat, t.registered_lon,
  t.city, t.region, t.status, t.created_at, t.credential_rotated_at`;

const STATE_COLUMNS = selectFields(TERMINAL_STATE_FIELDS, 's', 's.');

/**
 * Sortable state columns. `text` renders the sort value exactly (timestamps to the microsecond in
 * UTC, reals in shortest round-trip form) for the cursor; `cast` reads it back. `fenced` is the
 * same order as an expression no index matches (see page()).
 */
const SORT_COLUMNS: Record<Exclude<TerminalSort, 'sn'>, { column: string; fenced: string; cast: string; text: string; valid: (v: string) => boolean }> = {
  lastSeen: {
    column: 's.last_heartbeat_at',
    fenced: `(s.last_heartbeat_at + interval '0')`,
    cast: 'timestamptz',
    text: `to_char(s.last_heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    valid: (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(v) && isRealDate(v),
  },
  battery: {
    column: 's.battery_pct',
    fenced: '(s.battery_pct + 0::real)',
    cast: 'real',
    text: 's.battery_pct::text',
    valid: isSaneNumber,
  },
  signal: { column: 's.rsrp', fenced: '(s.rsrp + 0::real)', cast: 'real', text: 's.rsrp::text', valid: isSaneNumber },
  planExpiry: {
    column: 's.plan_expires_on',
    fenced: '(s.plan_expires_on + 0)',
    cast: 'date',
    text: `to_char(s.plan_expires_on, 'YYYY-MM-DD')`,
    valid: (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && isRealDate(v),
  },
};

/** Filters under which the sort column cannot be NULL (the "no value" tail is then empty). */
function excludesNullTail(sort: Exclude<TerminalSort, 'sn'>, f: TerminalFilter): boolean {
  if (sort === 'battery') return f.batteryBelow !== undefined;
  if (sort === 'signal') return f.signalBelow !== undefined;
  if (sort === 'planExpiry') return f.planExpiringWithinDays !== undefined;
  return false;
}

/** Positional parameters for dynamically assembled SQL: values are always bound, never interpolated. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Filters with their set-valued parts resolved to literal lists first: the provider ids of the
 * scope (null = whole fleet) and the firmware versions a version range or exact version allows
 * (null = any). Bound as arrays, they let the planner use per-value statistics (a small subtree
 * is read through the provider index instead of walking a fleet-wide sort index).
 */
interface ResolvedFilter {
  filter: TerminalFilter;
  providerIds: string[] | null;
  firmwareVersions: string[] | null;
}

/** SN order is byte order (SNs are ASCII), independent of the database collation. */
const SN_C = `t.sn COLLATE "C"`;

/** WHERE conditions for the resolved scope and filters (t = terminals, s = terminal_state). */
function conditions(r: ResolvedFilter, p: Params): string[] {
  const f = r.filter;
  const where: string[] = [];
  if (r.providerIds !== null) where.push(`t.provider_id = ANY(${p.add(r.providerIds)}::uuid[])`);
  if (f.model !== undefined) where.push(`t.model = ${p.add(f.model)}`);
  if (f.status !== undefined) where.push(`t.status = ${p.add(f.status)}`);
  if (f.city !== undefined) where.push(`t.city = ${p.add(f.city)}`);
  if (f.region !== undefined) where.push(`t.region = ${p.add(f.region)}`);
  if (f.snPrefix !== undefined) where.push(`${SN_C} LIKE ${p.add(likePrefix(f.snPrefix))}`);
  if (r.firmwareVersions !== null) where.push(`s.firmware_version = ANY(${p.add(r.firmwareVersions)}::text[])`);
  if (f.online === true) where.push(`s.online`);
  if (f.online === false) where.push(`s.online IS NOT TRUE`);
  if (f.planStatus !== undefined) where.push(`s.plan_status = ANY(${p.add(f.planStatus)}::text[])`);
  if (f.planExpiringWithinDays !== undefined) {
    where.push(`s.plan_expires_on >= current_date AND s.plan_expires_on <= current_date + ${p.add(f.planExpiringWithinDays)}::int`);
  }
  if (f.autoRenew === 'off') where.push(`s.plan_auto_renew = false`);
  if (f.autoRenew === 'failed') where.push(`s.renewal_result = 'failed'`);
  if (f.batteryBelow !== undefined) where.push(`s.battery_pct < ${p.add(f.batteryBelow)}`);
  if (f.signalBelow !== undefined) where.push(`s.rsrp < ${p.add(f.signalBelow)}`);
  if (f.lastSeenBefore !== undefined) where.push(`(s.last_heartbeat_at IS NULL OR s.last_heartbeat_at < ${p.add(f.lastSeenBefore)})`);
  return where;
}

const whereSql = (where: readonly string[]) => (where.length ? `WHERE ${where.join('\n    AND ')}` : '');

function toSummary({ sort_value: _sortValue, ...summary }: DbSummary): TerminalSummaryRow {
  return summary;
}

function toRecord(r: DbRecord): TerminalRecord {
  return {
    sn: r.sn,
    model: r.model,
    tid: r.tid,
    mid: r.mid,
    providerId: r.provider_id,
    providerPath: r.provider_path,
    registeredLat: r.registered_lat,
    registeredLon: r.registered_lon,
    city: r.city,
    region: r.region,
    status: r.status,
    createdAt: r.created_at,
    credentialRotatedAt: r.credential_rotated_at,
  };
}

function toState(r: DbDetail): TerminalStateRow | null {
  return r.has_state ? readFields(TERMINAL_STATE_FIELDS, r, 's.') : null;
}

/**
 * Terminal reads for the fleet API. Every query takes the caller's scope and restricts
 * terminals.provider_id to the scope's provider subtree in SQL: a terminal outside it is simply
 * not found. Mutations go through TerminalRegistryService (#terminals).
 */
@Injectable()
export class TerminalViewRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /**
   * One keyset page. Order: (sort value, sn) in the requested direction; terminals without a value
   * (no heartbeat yet, or the field never reported) come after all others in both directions,
   * ordered by SN (byte order) in the same direction. The two parts are separate index-friendly
   * queries: rows with a value via the (column, sn) index, then the value-less tail once those
   * run out. The cursor's v is null inside the tail, so every row is returned exactly once.
   */
  async page(scope: Scope, filter: TerminalFilter, spec: TerminalPageSpec): Promise<{ rows: TerminalSummaryRow[]; next: Cursor | null }> {
    const resolved = await this.resolve(scope, filter);
    if (resolved.providerIds?.length === 0 || resolved.firmwareVersions?.length === 0) return { rows: [], next: null };
    const want = spec.limit + 1;
    const dir = spec.order === 'desc' ? 'DESC' : 'ASC';
    const cmp = spec.order === 'desc' ? '<' : '>';
    let rows: DbSummary[];
    if (spec.sort === 'sn') {
      const p = new Params();
      const where = conditions(resolved, p);
      if (spec.after) where.push(`${SN_C} ${cmp} ${p.add(spec.after.k)}`);
      rows = await this.dataSource.query(
        `SELECT ${SUMMARY_COLUMNS}, NULL::text AS sort_value
           FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
          ${whereSql(where)}
          ORDER BY ${SN_C} ${dir}
          LIMIT ${p.add(want)}`,
        p.values,
      );
    } else {
      const sort = SORT_COLUMNS[spec.sort];
      rows = [];
      if (!spec.after || spec.after.v !== null) {
        // A small subtree is cheaper to read whole and sort than to find by walking the fleet-wide
        // (column, sn) index, probing terminals for every entry; near the crossover the planner's
        // estimates often pick the walk, so the order key is then fenced off from the index.
        const readWhole = resolved.providerIds !== null && (await this.isSmallSubtree(resolved.providerIds, want));
        const p = new Params();
        const where = [`${sort.column} IS NOT NULL`, ...conditions(resolved, p)];
        if (spec.after) where.push(`(${sort.column}, s.sn) ${cmp} (${p.add(spec.after.v)}::${sort.cast}, ${p.add(spec.after.k)})`);
        rows = await this.dataSource.query(
          `SELECT ${SUMMARY_COLUMNS}, ${sort.text} AS sort_value
             FROM terminal_state s JOIN terminals t ON t.sn = s.sn
            ${whereSql(where)}
            ORDER BY ${readWhole ? sort.fenced : sort.column} ${dir}, s.sn ${dir}
            LIMIT ${p.add(want)}`,
          p.values,
        );
      }
      if (rows.length < want && !excludesNullTail(spec.sort, filter)) {
        const p = new Params();
        const where = [`${sort.column} IS NULL`, ...conditions(resolved, p)];
        if (spec.after && spec.after.v === null) where.push(`${SN_C} ${cmp} ${p.add(spec.after.k)}`);
        const tail: DbSummary[] = await this.dataSource.query(
          `SELECT ${SUMMARY_COLUMNS}, NULL::text AS sort_value
             FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
            ${whereSql(where)}
            ORDER BY ${SN_C} ${dir}
            LIMIT ${p.add(want - rows.length)}`,
          p.values,
        );
        rows = [...rows, ...tail];
      }
    }
    const page = rows.slice(0, spec.limit);
    const last = page[page.length - 1];
    const next = rows.length > spec.limit && last ? { v: last.sort_value, k: last.sn } : null;
    return { rows: page.map(toSummary), next };
  }

  /** The scope's (and filter's) provider ids and the allowed firmware versions, as literal lists. */
  private async resolve(scope: Scope, filter: TerminalFilter): Promise<ResolvedFilter> {
    const paths = [scopePath(scope), filter.providerPath ?? null].filter((x): x is string => x !== null);
    const [providerIds, rangeVersions] = await Promise.all([
      paths.length > 0 ? this.providerIds(paths) : Promise.resolve(null),
      filter.firmwareMin !== undefined || filter.firmwareMax !== undefined
        ? this.firmwareVersionsInRange(filter.firmwareMin ?? null, filter.firmwareMax ?? null)
        : Promise.resolve(null),
    ]);
    let firmwareVersions = rangeVersions;
    if (filter.firmwareVersion !== undefined) {
      const exact = filter.firmwareVersion;
      firmwareVersions = rangeVersions === null || rangeVersions.includes(exact) ? [exact] : [];
    }
    return { filter, providerIds, firmwareVersions };
  }

  /**
   * Whether reading a subtree's terminals whole (about 2 random reads each) beats walking a
   * fleet-wide sort index until `rows` matches turn up (about 3 reads per entry, N/S entries per
   * match): S^2 < 1.5 * rows * N. Counted with an index-only scan stopped at that bound.
   */
  private async isSmallSubtree(providerIds: readonly string[], rows: number): Promise<boolean> {
    const [{ total }]: { total: number }[] = await this.dataSource.query(
      `SELECT GREATEST(reltuples, 0)::float8 AS total FROM pg_class WHERE oid = 'terminals'::regclass`,
    );
    const bound = Math.min(50_000, Math.max(1_000, Math.ceil(Math.sqrt(1.5 * rows * total))));
    const [{ n }]: { n: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM terminals WHERE provider_id = ANY($1::uuid[]) LIMIT $2) x`,
      [providerIds, bound],
    );
    return n < bound;
  }

  /** Ids of the providers under every given path prefix (the caller's scope, and a providerId filter). */
  private async providerIds(paths: readonly string[]): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM providers WHERE ${paths.map((_p, i) => `path LIKE $${i + 1}`).join(' AND ')}`,
      paths.map(likePrefix),
    );
    return rows.map((r) => r.id);
  }

  /**
   * Reported firmware versions within [min, max] by fleet_version_key (numeric per component).
   * Versions are few, so they are listed with a loose index scan over terminal_state's firmware
   * index (one probe per distinct version) and compared there, instead of per terminal.
   */
  private async firmwareVersionsInRange(min: string | null, max: string | null): Promise<string[]> {
    const rows: { v: string }[] = await this.dataSource.query(
      `WITH RECURSIVE versions(v) AS (
         (SELECT firmware_version FROM terminal_state WHERE firmware_version IS NOT NULL ORDER BY firmware_version LIMIT 1)
         UNION ALL
         SELECT (SELECT firmware_version FROM terminal_state WHERE firmware_version > versions.v ORDER BY firmware_version LIMIT 1)
           FROM versions WHERE versions.v IS NOT NULL
       )
       SELECT v FROM versions
        WHERE v IS NOT NULL
          AND ($1::text IS NULL OR fleet_version_key(v) >= fleet_version_key($1))
          AND ($2::text IS NULL OR fleet_version_key(v) <= fleet_version_key($2))`,
      [min, max],
    );
    return rows.map((r) => r.v);
  }

  /** Whether a cursor's sort value can be read back for this sort (cursors are opaque but not trusted). */
  cursorFits(sort: TerminalSort, cursor: Cursor): boolean {
    // The key is the SN of a row: anything else cannot come from this API.
    if (!SN_PATTERN.test(cursor.k)) return false;
    if (sort === 'sn' || cursor.v === null) return true;
    return typeof cursor.v === 'string' && SORT_COLUMNS[sort].valid(cursor.v);
  }

  /** The registry row of a terminal in scope, or null. */
  async findRecord(scope: Scope, sn: string): Promise<TerminalRecord | null> {
    const rows: DbRecord[] = await this.dataSource.query(
      `SELECT ${RECORD_COLUMNS}
         FROM terminals t JOIN providers p ON p.id = t.provider_id
        WHERE t.sn = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [sn, scopePath(scope)],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** Registry rows of the given terminals that are in scope (order not defined). */
  async findRecords(scope: Scope, sns: readonly string[]): Promise<TerminalRecord[]> {
    const rows: DbRecord[] = await this.dataSource.query(
      `SELECT ${RECORD_COLUMNS}
         FROM terminals t JOIN providers p ON p.id = t.provider_id
        WHERE t.sn = ANY($1::text[]) AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [sns, scopePath(scope)],
    );
    return rows.map(toRecord);
  }

  /** Registry fields, provider, latest state and presence of a terminal in scope: one query. */
  async findDetail(scope: Scope, sn: string): Promise<TerminalDetailRow | null> {
    const rows: DbDetail[] = await this.dataSource.query(
      `SELECT ${RECORD_COLUMNS}, p.code AS provider_code, p.name AS provider_name, s.sn IS NOT NULL AS has_state, ${STATE_COLUMNS}
         FROM terminals t JOIN providers p ON p.id = t.provider_id
         LEFT JOIN terminal_state s ON s.sn = t.sn
        WHERE t.sn = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [sn, scopePath(scope)],
    );
    const r = rows[0];
    if (!r) return null;
    const { providerPath: _path, ...record } = toRecord(r);
    return { ...record, providerCode: r.provider_code, providerName: r.provider_name, state: toState(r) };
  }

  /** Presence events of a terminal (the caller checked it is in scope), newest first. */
  async presence(sn: string, range: { from: Date | null; to: Date | null; limit: number }): Promise<PresenceEventRow[]> {
    // Plain bounds (no `$n IS NULL OR ...`) so the hypertable can skip chunks outside the range.
    const p = new Params();
    const where = [`sn = ${p.add(sn)}`];
    if (range.from) where.push(`time >= ${p.add(range.from)}`);
    if (range.to) where.push(`time < ${p.add(range.to)}`);
    const rows: { time: Date; online: boolean; reason: string; remote_ip: string | null }[] = await this.dataSource.query(
      `SELECT time, online, reason, remote_ip FROM presence_events
        WHERE ${where.join(' AND ')}
        ORDER BY time DESC
        LIMIT ${p.add(range.limit)}`,
      p.values,
    );
    return rows.map((r) => ({ time: r.time, online: r.online, reason: r.reason, remoteIp: r.remote_ip }));
  }

  /**
   * Ownership history of a terminal (the caller checked it is in scope), newest first. Providers
   * outside the caller's scope are returned as null, so the history does not reveal them.
   */
  async providerHistory(scope: Scope, sn: string): Promise<ProviderHistoryRow[]> {
    const rows: {
      id: string;
      moved_at: Date;
      from_id: string | null;
      from_code: string | null;
      from_name: string | null;
      to_id: string | null;
      to_code: string | null;
      to_name: string | null;
      actor_key_id: string | null;
      request_id: string | null;
    }[] = await this.dataSource.query(
      `SELECT h.id::text AS id, h.moved_at, h.actor_key_id, h.request_id,
              f.id AS from_id, f.code AS from_code, f.name AS from_name,
              o.id AS to_id, o.code AS to_code, o.name AS to_name
         FROM terminal_provider_history h
         LEFT JOIN providers f ON f.id = h.from_provider_id AND ($2::text IS NULL OR f.path LIKE $2 || '%')
         LEFT JOIN providers o ON o.id = h.to_provider_id AND ($2::text IS NULL OR o.path LIKE $2 || '%')
        WHERE h.sn = $1
        ORDER BY h.moved_at DESC, h.id DESC`,
      [sn, scopePath(scope)],
    );
    const ref = (id: string | null, code: string | null, name: string | null) => (id && code !== null && name !== null ? { id, code, name } : null);
    return rows.map((r) => ({
      id: r.id,
      movedAt: r.moved_at,
      from: ref(r.from_id, r.from_code, r.from_name),
      to: ref(r.to_id, r.to_code, r.to_name),
      actorKeyId: r.actor_key_id,
      requestId: r.request_id,
    }));
  }
}
