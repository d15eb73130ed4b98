import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Heartbeat } from '#contracts';
import { APP_CONFIG, type AppConfig } from '#config';
import { HEARTBEAT_FIELDS, type HeartbeatExtra, type PgType } from '#db';

/** One heartbeat to store. */
export interface HeartbeatRow {
  time: Date;
  sn: string;
  receivedAt: Date;
  heartbeat: Heartbeat;
  extra: HeartbeatExtra;
}

/** heartbeats columns with their array element types, in parameter order: the key, then the fields. */
const COLUMNS = [['time', 'timestamptz'], ['sn', 'text'], ['received_at', 'timestamptz'], ...HEARTBEAT_FIELDS.map((f) => [f.column, f.type])];
const names = COLUMNS.map(([name]) => name);
/** terminal_state has every heartbeat field column too. */
const stateColumns = HEARTBEAT_FIELDS.map((f) => f.column);

/** The parameter after the column arrays: how far back (seconds of terminal time) the state may move. */
const SKEW_PARAM = `$${COLUMNS.length + 1}::int`;

/**
 * One statement per batch: unnest the column arrays, insert what is new (the (sn, time) key drops
 * retransmissions), then move each terminal's latest state.
 *
 * A new heartbeat replaces the stored state when its terminal time is newer, or, when its time is
 * older by less than the future-skew window (a clock set back, e.g. by NTP after a boot with the clock
 * ahead), when it is a later sample: a higher seq (same boot), or a new boot (its boot instant,
 * receive time minus uptime, is after the stored heartbeat was received). A heartbeat older than
 * that, or an earlier sample of the same boot arriving late, never overwrites fresher state.
 *
 * last_received_at always moves forward, for every heartbeat received, duplicates included: it says
 * the terminal is alive, whatever its clock says.
 *
 * With alerts enabled, the terminals with new rows are queued for alert evaluation in the same
 * statement: committed together with their heartbeats, so the evaluator can miss none, and no extra
 * round trip. A terminal already queued keeps its place (and its older enqueued_at).
 */
const insertBatchSql = (enqueueForAlerts: boolean) => `
WITH input AS (
  SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    AS u(${names.join(', ')})
), inserted AS (
  INSERT INTO heartbeats (${names.join(', ')})
  SELECT ${names.join(', ')} FROM input
  ON CONFLICT DO NOTHING
  RETURNING *
), latest AS (
  SELECT DISTINCT ON (sn) * FROM inserted ORDER BY sn, received_at DESC, time DESC
), received AS (
  SELECT sn, max(received_at) AS received_at FROM input GROUP BY sn
), state AS (
  INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, ${stateColumns.join(', ')})
  SELECT sn, time, received_at, ${stateColumns.join(', ')} FROM latest ORDER BY sn
  ON CONFLICT (sn) DO UPDATE SET
    last_heartbeat_at = EXCLUDED.last_heartbeat_at,
    last_received_at = GREATEST(terminal_state.last_received_at, EXCLUDED.last_received_at),
    ${stateColumns.map((c) => `${c} = EXCLUDED.${c}`).join(',\n    ')}
  WHERE terminal_state.last_heartbeat_at IS NULL
     OR EXCLUDED.last_heartbeat_at > terminal_state.last_heartbeat_at
     OR (EXCLUDED.last_heartbeat_at > terminal_state.last_heartbeat_at - ${SKEW_PARAM} * interval '1 second'
         AND (EXCLUDED.seq > terminal_state.seq
              OR EXCLUDED.last_received_at - EXCLUDED.uptime_s * interval '1 second' > terminal_state.last_received_at))
  RETURNING sn
), touched AS (
  -- Terminals whose state did not move (duplicates, old samples): only the receive time. The state
  -- test is on r, so it filters before the join: terminals whose state moved cost no index probe.
  UPDATE terminal_state t SET last_received_at = r.received_at
    FROM received r
   WHERE t.sn = r.sn
     AND r.sn NOT IN (SELECT sn FROM state)
     AND (t.last_received_at IS NULL OR t.last_received_at < r.received_at)
  RETURNING 1
)${
  enqueueForAlerts
    ? `, enqueued AS (
  -- A row an evaluator holds (claimed, being deleted) is skipped, not waited for: the terminal gets
  -- a new row, so the heartbeats the evaluator may not have read are evaluated next time.
  INSERT INTO alert_eval_queue (sn)
  SELECT DISTINCT i.sn FROM inserted i
   WHERE NOT EXISTS (SELECT 1 FROM alert_eval_queue q WHERE q.sn = i.sn FOR KEY SHARE SKIP LOCKED)
  RETURNING 1
)`
    : ''
}
SELECT (SELECT count(*) FROM inserted)::int AS inserted`;
const INSERT_BATCH_SQL = insertBatchSql(false);
const INSERT_BATCH_ENQUEUE_SQL = insertBatchSql(true);

const NEEDS_ESCAPE = /["\\\0]/;
const ESCAPES = /["\\]/g;
const NUL = /\0/g;

/**
 * A quoted array element: backslash and double quote escaped (the only specials inside quotes).
 * NUL separates a row's elements (see encodeHeartbeatRow) and text cannot hold it anyway: it is
 * replaced by an unescaped quote, so Postgres refuses the array as malformed (a data error: that
 * row is bisected out and dead-lettered, as the NUL itself would have been refused).
 */
const quoted = (text: string): string => `"${NEEDS_ESCAPE.test(text) ? text.replace(ESCAPES, '\\$&').replace(NUL, '"') : text}"`;

/** Date#toISOString costs about a microsecond; heartbeats received in the same millisecond share one. */
let lastIsoMs = Number.NaN;
let lastIso = '';
function iso(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastIsoMs) {
    lastIso = date.toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

const SUB_MILLISECOND = /\.\d{4}/;

/**
 * The terminal's own `ts` text when it is exactly the row's time (no digits beyond the millisecond
 * a Date keeps), which spares formatting the Date; otherwise the Date.
 */
function rowTime(row: HeartbeatRow): string | Date {
  const ts = row.heartbeat.ts;
  return !SUB_MILLISECOND.test(ts) && Date.parse(ts) === row.time.getTime() ? ts : row.time;
}

/** Columns built per turn of the event loop: a 2000-row batch in one go would hold it for many ms. */
const COLUMNS_PER_TURN = 8;
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One array element as Postgres' array input reads it for the column type. What pg's generic
 * prepareValue would send, without its per-element regex passes and Date formatting: this runs for
 * every column of every stored heartbeat.
 */
function element(type: PgType, value: string | number | boolean | Date | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type) {
    case 'int2':
    case 'int4':
    case 'int8':
    case 'float4':
    case 'float8':
      // Validated finite numbers: JS' shortest round-trip form is valid float/int input.
      return typeof value === 'number' ? String(value) : quoted(String(value));
    case 'bool':
      return value === true ? 't' : value === false ? 'f' : quoted(String(value));
    case 'timestamptz':
      return value instanceof Date ? `"${iso(value)}"` : quoted(value.toString());
    default:
      return quoted(typeof value === 'string' ? value : String(value));
  }
}

/** Separates a row's elements in an encoded row; no element contains it (see quoted()). */
const SEPARATOR = '\0';

/**
 * A heartbeat row as its array elements in parameter order (time, sn, received_at, then the
 * fields), NUL-separated: one flat string of a few hundred bytes. Ingest encodes a heartbeat as
 * soon as it is accepted and holds only this until the commit, instead of the parsed JSON tree, two
 * Dates and their strings: what every in-flight heartbeat holds is what each young-generation GC
 * copies, and at saturation a heartbeat is in flight for most of a second.
 */
export function encodeHeartbeatRow(row: HeartbeatRow): string {
  const elements = new Array<string>(COLUMNS.length);
  elements[0] = element('timestamptz', rowTime(row));
  elements[1] = quoted(row.sn);
  elements[2] = element('timestamptz', row.receivedAt);
  for (let i = 0; i < HEARTBEAT_FIELDS.length; i++) {
    const { type, read } = HEARTBEAT_FIELDS[i];
    elements[i + 3] = element(type, read(row.heartbeat, row.extra));
  }
  // One flat string: the elements and their cons strings die young.
  return elements.join(SEPARATOR);
}

@Injectable()
export class HeartbeatRepository {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Returns how many rows were new. */
  insertBatch(rows: readonly HeartbeatRow[]): Promise<number> {
    return this.insertEncoded(rows.map(encodeHeartbeatRow));
  }

  /** Rows from encodeHeartbeatRow; returns how many were new. */
  async insertEncoded(rows: readonly string[]): Promise<number> {
    if (rows.length === 0) return 0;
    // Each column as one array literal, built here rather than by pg element by element, a few
    // columns per turn of the event loop. Each row is read left to right, one element per column,
    // from where the previous column's element ended.
    const next = new Int32Array(rows.length);
    const params: unknown[] = [];
    const elements = new Array<string>(rows.length);
    for (let c = 0; c < COLUMNS.length; c++) {
      if (c > 0 && c % COLUMNS_PER_TURN === 0) await yieldToIo();
      const last = c === COLUMNS.length - 1;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const from = next[i];
        const to = last ? row.length : row.indexOf(SEPARATOR, from);
        if (to < 0 || (last && row.includes(SEPARATOR, from))) throw new Error(`encoded heartbeat row ${i} does not have ${COLUMNS.length} elements`);
        elements[i] = row.slice(from, to);
        next[i] = to + 1;
      }
      // The braces go into the first and last elements: join then makes the literal as one flat string.
      elements[0] = `{${elements[0]}`;
      elements[rows.length - 1] += '}';
      params.push(elements.join(','));
    }
    params.push(this.config.heartbeat.maxFutureSkewS);
    const sql = this.config.alerts.enabled ? INSERT_BATCH_ENQUEUE_SQL : INSERT_BATCH_SQL;
    const result: { inserted: number }[] = await this.dataSource.query(sql, params);
    return result[0]?.inserted ?? 0;
  }
}
