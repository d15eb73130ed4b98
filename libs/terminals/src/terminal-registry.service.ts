import { Inject, Injectable } from '@nestjs/common';
import { parse } from 'csv-parse/sync';
import {
  DomainException,
  isValidPlaceName,
  isValidSn,
  PLACE_NAME_MAX,
  TID_PATTERN,
  type RegisterTerminalsResponse,
  type RowError,
  type TerminalCredentials,
  type TerminalRegistration,
} from '#contracts';
import { CredentialHasher } from './credential-hasher.js';
import { TerminalStatus } from './terminal-status.js';
import { TerminalErrorCode } from './terminal.errors.js';
import { TerminalRepository, type NewTerminalRow, type ProviderChangeActor } from './terminal.repository.js';

export const ROOT_PROVIDER_CODE = 'root';
export const CSV_COLUMNS = ['sn', 'model', 'tid', 'mid', 'provider', 'lat', 'lon', 'city', 'region'] as const;

/** Optional behaviour of register/registerCsv; the defaults are the operator (whole-fleet) behaviour. */
export interface RegisterOptions {
  /** Provider code for rows that name none (default: the root). */
  defaultProviderCode?: string;
  /**
   * Resolves provider codes to ids. Codes it leaves out are reported exactly like unknown codes
   * (TERMINAL_UNKNOWN_PROVIDER), so a caller can restrict registration to its provider subtree
   * without revealing which other providers exist. Default: every provider.
   */
  resolveProviders?: (codes: readonly string[]) => Promise<Map<string, string>>;
  /** When given, each new terminal's first owner is recorded in terminal_provider_history with this actor. */
  history?: ProviderChangeActor;
  /** registerCsv refuses (TERMINAL_INVALID_CSV) a file with more data rows than this. */
  maxRows?: number;
}

export interface ProviderMove {
  from: string;
  to: string;
  movedAt: Date;
}

interface ParsedRow {
  row: number;
  registration: TerminalRegistration;
}

function rowError(row: number, sn: string | null, code: TerminalErrorCode, message: string): RowError {
  return { row, sn, code, message };
}

const REQUIRED_CSV_COLUMNS: readonly string[] = ['sn', 'model'];

/** The header's column names (trimmed, lower case); TERMINAL_INVALID_CSV naming every missing, unknown or repeated column. */
function checkCsvHeader(raw: readonly string[], line: number): string[] {
  const header = raw.map((c) => c.trim().toLowerCase());
  const known = new Set<string>(CSV_COLUMNS);
  const problems: { field: string; message: string }[] = [];
  for (const column of REQUIRED_CSV_COLUMNS) {
    if (!header.includes(column)) problems.push({ field: `header.${column}`, message: `required column "${column}" is missing` });
  }
  header.forEach((column, i) => {
    if (!known.has(column)) problems.push({ field: `header.${column}`, message: `unknown column "${column}"; known: ${CSV_COLUMNS.join(', ')}` });
    else if (header.indexOf(column) !== i) problems.push({ field: `header.${column}`, message: `column "${column}" appears twice` });
  });
  if (problems.length > 0) {
    const names = problems.map((p) => p.message).join('; ');
    throw new DomainException(TerminalErrorCode.InvalidCsv, `the CSV header (line ${line}) is not valid: ${names}`, problems);
  }
  return header;
}

/**
 * Registration, credential rotation and enable/disable: the single implementation used by the
 * CLI, the internal enrolment endpoint and (later) the fleet API. Valid rows are kept even when
 * others fail; each failure is reported with its row.
 */
@Injectable()
export class TerminalRegistryService {
  constructor(
    @Inject(TerminalRepository) private readonly terminals: TerminalRepository,
    @Inject(CredentialHasher) private readonly hasher: CredentialHasher,
  ) {}

  async register(registrations: readonly TerminalRegistration[], firstRow = 1, options: RegisterOptions = {}): Promise<RegisterTerminalsResponse> {
    const defaultCode = options.defaultProviderCode ?? ROOT_PROVIDER_CODE;
    const errors: RowError[] = [];
    const valid: ParsedRow[] = [];
    const seenSn = new Set<string>();
    const seenTid = new Set<string>();
    registrations.forEach((registration, index) => {
      const row = firstRow + index;
      const problem = this.validate(registration);
      if (problem) return errors.push(rowError(row, registration.sn ?? null, problem.code, problem.message));
      if (seenSn.has(registration.sn)) {
        return errors.push(rowError(row, registration.sn, TerminalErrorCode.DuplicateInRequest, `SN ${registration.sn} appears twice`));
      }
      if (registration.tid && seenTid.has(registration.tid)) {
        return errors.push(rowError(row, registration.sn, TerminalErrorCode.DuplicateInRequest, `TID ${registration.tid} appears twice`));
      }
      seenSn.add(registration.sn);
      if (registration.tid) seenTid.add(registration.tid);
      valid.push({ row, registration });
    });
    if (valid.length === 0) return { credentials: [], errors };

    const codes = [...new Set(valid.map((v) => v.registration.providerCode ?? defaultCode))];
    const [providers, existing, tidOwners] = await Promise.all([
      options.resolveProviders ? options.resolveProviders(codes) : this.terminals.providerIdsByCode(codes),
      this.terminals.existingSns(valid.map((v) => v.registration.sn)),
      this.terminals.tidOwners(valid.flatMap((v) => (v.registration.tid ? [v.registration.tid] : []))),
    ]);

    const rows: NewTerminalRow[] = [];
    const secrets = new Map<string, string>();
    const rowOf = new Map<string, number>();
    for (const { row, registration: r } of valid) {
      const code = r.providerCode ?? defaultCode;
      const providerId = providers.get(code);
      if (!providerId) {
        errors.push(rowError(row, r.sn, TerminalErrorCode.UnknownProvider, `provider "${code}" does not exist`));
        continue;
      }
      if (existing.has(r.sn)) {
        errors.push(rowError(row, r.sn, TerminalErrorCode.AlreadyExists, `terminal ${r.sn} is already registered`));
        continue;
      }
      if (r.tid && tidOwners.has(r.tid)) {
        errors.push(rowError(row, r.sn, TerminalErrorCode.TidInUse, `TID ${r.tid} belongs to terminal ${tidOwners.get(r.tid)}`));
        continue;
      }
      const secret = this.hasher.generateSecret();
      secrets.set(r.sn, secret);
      rowOf.set(r.sn, row);
      rows.push({
        sn: r.sn,
        model: r.model,
        tid: r.tid ?? null,
        mid: r.mid ?? null,
        providerId,
        registeredLat: r.registeredLat ?? null,
        registeredLon: r.registeredLon ?? null,
        city: r.city ?? null,
        region: r.region ?? null,
        credentialHash: this.hasher.hash(secret),
      });
    }
    const inserted = await this.terminals.insertMany(rows, options.history);
    const credentials: TerminalCredentials[] = [];
    for (const { sn } of rows) {
      const secret = secrets.get(sn);
      if (inserted.has(sn) && secret) credentials.push({ sn, username: sn, secret });
      // Lost a race with a concurrent registration of the same SN or TID.
      else errors.push(rowError(rowOf.get(sn) ?? 0, sn, TerminalErrorCode.AlreadyExists, `terminal ${sn} or its TID is already registered`));
    }
    errors.sort((a, b) => a.row - b.row);
    return { credentials, errors };
  }

  /** Issues new secrets; the old ones stop working at once (after the broker's auth cache TTL). */
  async rotateCredentials(sns: readonly string[]): Promise<RegisterTerminalsResponse> {
    const secrets = new Map(sns.map((sn) => [sn, this.hasher.generateSecret()]));
    const updated = await this.terminals.updateCredentials([...secrets].map(([sn, secret]) => ({ sn, hash: this.hasher.hash(secret) })));
    const credentials: TerminalCredentials[] = [];
    const errors: RowError[] = [];
    sns.forEach((sn, i) => {
      const secret = secrets.get(sn);
      if (updated.has(sn) && secret) credentials.push({ sn, username: sn, secret });
      else errors.push(rowError(i + 1, sn, TerminalErrorCode.NotFound, `terminal ${sn} is not registered`));
    });
    return { credentials, errors };
  }

  /** Sets city and/or region of one terminal (null clears); TERMINAL_NOT_FOUND when it is gone. */
  async updatePlace(sn: string, place: { city?: string | null; region?: string | null }): Promise<void> {
    for (const key of ['city', 'region'] as const) {
      const v = place[key];
      if (v !== undefined && v !== null && !isValidPlaceName(v)) {
        throw new DomainException(TerminalErrorCode.InvalidField, `${key} must be 1-${PLACE_NAME_MAX} characters without leading or trailing spaces`);
      }
    }
    if (!(await this.terminals.updatePlace(sn, place))) throw new DomainException(TerminalErrorCode.NotFound, `terminal ${sn} not found`);
  }

  async setEnabled(sns: readonly string[], enabled: boolean): Promise<{ updated: string[]; missing: string[] }> {
    const updated = await this.terminals.setStatus(sns, enabled ? TerminalStatus.Active : TerminalStatus.Disabled);
    return { updated: sns.filter((s) => updated.has(s)), missing: sns.filter((s) => !updated.has(s)) };
  }

  /**
   * Moves a terminal from `fromProviderId` to `toProviderId` and records the move (with the actor)
   * in terminal_provider_history. TERMINAL_NOT_FOUND when the terminal is gone or no longer
   * belongs to `fromProviderId` (a concurrent move).
   */
  async moveToProvider(sn: string, fromProviderId: string, toProviderId: string, actor: ProviderChangeActor): Promise<ProviderMove> {
    const moved = await this.terminals.moveProvider(sn, fromProviderId, toProviderId, actor);
    if (!moved) throw new DomainException(TerminalErrorCode.NotFound, `terminal ${sn} not found`);
    return { from: fromProviderId, to: toProviderId, movedAt: moved.movedAt };
  }

  async createServiceAccount(name: string): Promise<{ username: string; secret: string }> {
    const secret = this.hasher.generateSecret();
    await this.terminals.upsertServiceAccount(name, this.hasher.hash(secret));
    return { username: `svc:${name}`, secret };
  }

  /**
   * Parses CSV with a header row (sn, model, tid, mid, provider, lat, lon, city, region; only sn and model
   * required, any order, any case). A header that misses a required column, names an unknown one
   * or repeats one is refused as a whole (TERMINAL_INVALID_CSV naming each column): a misspelled
   * column would otherwise be dropped silently. A row with fewer or more fields than the header is
   * that row's error, on its line.
   */
  parseCsv(text: string): { registrations: TerminalRegistration[]; rows: number[]; errors: RowError[] } {
    let records: { record: string[]; info: { lines: number } }[];
    try {
      records = parse(text, {
        skip_empty_lines: true,
        trim: true,
        bom: true,
        // Field counts are checked per row below, so one bad row does not fail the whole file.
        relax_column_count: true,
        info: true,
        // The typings know no `info` without `columns`: each record is { record, info } here.
      }) as unknown as { record: string[]; info: { lines: number } }[];
    } catch (err) {
      return { registrations: [], rows: [], errors: [rowError(0, null, TerminalErrorCode.InvalidCsv, err instanceof Error ? err.message : String(err))] };
    }
    const [headerRecord, ...dataRecords] = records;
    const header = checkCsvHeader(headerRecord?.record ?? [], headerRecord?.info.lines ?? 1);
    const width = header.length;
    const registrations: TerminalRegistration[] = [];
    const rows: number[] = [];
    const errors: RowError[] = [];
    for (const { record: fields, info } of dataRecords) {
      // The line the record ended on (blank lines and the header counted).
      const row = info.lines;
      const rec: Record<string, string> = Object.fromEntries(header.map((column, i) => [column, fields[i] ?? '']));
      if (fields.length !== width) {
        const which = fields.length > width ? 'more' : 'fewer';
        errors.push(
          rowError(
            row,
            rec.sn || null,
            TerminalErrorCode.InvalidField,
            `line ${row} has ${which} fields than the header (${fields.length}, expected ${width})`,
          ),
        );
        continue;
      }
      const lat = rec.lat ? Number(rec.lat) : undefined;
      const lon = rec.lon ? Number(rec.lon) : undefined;
      if ((lat !== undefined && Number.isNaN(lat)) || (lon !== undefined && Number.isNaN(lon))) {
        errors.push(rowError(row, rec.sn ?? null, TerminalErrorCode.InvalidField, 'lat/lon must be numbers'));
        continue;
      }
      registrations.push({
        sn: rec.sn ?? '',
        model: rec.model ?? '',
        tid: rec.tid || undefined,
        mid: rec.mid || undefined,
        providerCode: rec.provider || undefined,
        registeredLat: lat,
        registeredLon: lon,
        city: rec.city || undefined,
        region: rec.region || undefined,
      });
      rows.push(row);
    }
    return { registrations, rows, errors };
  }

  /** CSV import: per-row errors carry the CSV line number. */
  async registerCsv(text: string, options: RegisterOptions = {}): Promise<RegisterTerminalsResponse> {
    const parsed = this.parseCsv(text);
    if (options.maxRows !== undefined && parsed.registrations.length + parsed.errors.length > options.maxRows) {
      throw new DomainException(TerminalErrorCode.InvalidCsv, `the CSV has more than ${options.maxRows} rows`);
    }
    const results: RegisterTerminalsResponse = { credentials: [], errors: [...parsed.errors] };
    // register() numbers rows 1..n in input order; map them back to CSV line numbers.
    const result = await this.register(parsed.registrations, 1, options);
    results.credentials.push(...result.credentials);
    for (const e of result.errors) results.errors.push({ ...e, row: parsed.rows[e.row - 1] ?? e.row });
    results.errors.sort((a, b) => a.row - b.row);
    return results;
  }

  private validate(r: TerminalRegistration): { code: TerminalErrorCode; message: string } | null {
    if (typeof r.sn !== 'string' || !isValidSn(r.sn)) {
      return { code: TerminalErrorCode.InvalidSn, message: `SN ${JSON.stringify(r.sn)} must be 4-32 letters, digits, "-" or "_"` };
    }
    if (typeof r.model !== 'string' || r.model.trim() === '' || r.model.length > 64) {
      return { code: TerminalErrorCode.InvalidField, message: 'model is required (1-64 characters)' };
    }
    if (r.tid !== undefined && (typeof r.tid !== 'string' || !TID_PATTERN.test(r.tid))) {
      return { code: TerminalErrorCode.InvalidTid, message: `TID ${JSON.stringify(r.tid)} must be 8 letters or digits` };
    }
    if (r.mid !== undefined && (typeof r.mid !== 'string' || r.mid.length === 0 || r.mid.length > 32)) {
      return { code: TerminalErrorCode.InvalidField, message: 'mid must be 1-32 characters' };
    }
    for (const key of ['city', 'region'] as const) {
      if (r[key] !== undefined && !isValidPlaceName(r[key])) {
        return { code: TerminalErrorCode.InvalidField, message: `${key} must be 1-${PLACE_NAME_MAX} characters without leading or trailing spaces` };
      }
    }
    const lat = r.registeredLat;
    const lon = r.registeredLon;
    if ((lat === undefined) !== (lon === undefined)) {
      return { code: TerminalErrorCode.InvalidField, message: 'registered location needs both lat and lon' };
    }
    if (lat !== undefined && (typeof lat !== 'number' || lat < -90 || lat > 90)) {
      return { code: TerminalErrorCode.InvalidField, message: 'lat must be between -90 and 90' };
    }
    if (lon !== undefined && (typeof lon !== 'number' || lon < -180 || lon > 180)) {
      return { code: TerminalErrorCode.InvalidField, message: 'lon must be between -180 and 180' };
    }
    return null;
  }
}
