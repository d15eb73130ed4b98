import { Inject, Injectable } from '@nestjs/common';
import { parse } from 'csv-parse/sync';
import {
  isValidSn,
  TID_PATTERN,
  type RegisterTerminalsResponse,
  type RowError,
  type TerminalCredentials,
  type TerminalRegistration,
} from '#contracts';
import { TerminalStatus } from '#db';
import { CredentialHasher } from './credential-hasher.js';
import { TerminalErrorCode } from './terminal.errors.js';
import { TerminalRepository, type NewTerminalRow } from './terminal.repository.js';

export const ROOT_PROVIDER_CODE = 'root';
export const CSV_COLUMNS = ['sn', 'model', 'tid', 'mid', 'provider', 'lat', 'lon'] as const;

interface ParsedRow {
  row: number;
  registration: TerminalRegistration;
}

function rowError(row: number, sn: string | null, code: TerminalErrorCode, message: string): RowError {
  return { row, sn, code, message };
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

  async register(registrations: readonly TerminalRegistration[], firstRow = 1): Promise<RegisterTerminalsResponse> {
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

    const codes = [...new Set(valid.map((v) => v.registration.providerCode ?? ROOT_PROVIDER_CODE))];
    const [providers, existing, tidOwners] = await Promise.all([
      this.terminals.providerIdsByCode(codes),
      this.terminals.existingSns(valid.map((v) => v.registration.sn)),
      this.terminals.tidOwners(valid.flatMap((v) => (v.registration.tid ? [v.registration.tid] : []))),
    ]);

    const rows: NewTerminalRow[] = [];
    const secrets = new Map<string, string>();
    const rowOf = new Map<string, number>();
    for (const { row, registration: r } of valid) {
      const code = r.providerCode ?? ROOT_PROVIDER_CODE;
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
        credentialHash: this.hasher.hash(secret),
      });
    }
    const inserted = await this.terminals.insertMany(rows);
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
    const updated = await this.terminals.updateCredentials(
      [...secrets].map(([sn, secret]) => ({ sn, hash: this.hasher.hash(secret) })),
    );
    const credentials: TerminalCredentials[] = [];
    const errors: RowError[] = [];
    sns.forEach((sn, i) => {
      const secret = secrets.get(sn);
      if (updated.has(sn) && secret) credentials.push({ sn, username: sn, secret });
      else errors.push(rowError(i + 1, sn, TerminalErrorCode.NotFound, `terminal ${sn} is not registered`));
    });
    return { credentials, errors };
  }

  async setEnabled(sns: readonly string[], enabled: boolean): Promise<{ updated: string[]; missing: string[] }> {
    const updated = await this.terminals.setStatus(sns, enabled ? TerminalStatus.Active : TerminalStatus.Disabled);
    return { updated: sns.filter((s) => updated.has(s)), missing: sns.filter((s) => !updated.has(s)) };
  }

  async createServiceAccount(name: string): Promise<{ username: string; secret: string }> {
    const secret = this.hasher.generateSecret();
    await this.terminals.upsertServiceAccount(name, this.hasher.hash(secret));
    return { username: `svc:${name}`, secret };
  }

  /** Parses CSV with a header row (sn, model, tid, mid, provider, lat, lon; only sn and model required). */
  parseCsv(text: string): { registrations: TerminalRegistration[]; rows: number[]; errors: RowError[] } {
    let records: Record<string, string>[];
    try {
      records = parse(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true });
    } catch (err) {
      return { registrations: [], rows: [], errors: [rowError(0, null, TerminalErrorCode.InvalidCsv, err instanceof Error ? err.message : String(err))] };
    }
    const registrations: TerminalRegistration[] = [];
    const rows: number[] = [];
    const errors: RowError[] = [];
    records.forEach((rec, i) => {
      const row = i + 2; // header is line 1
      const lat = rec.lat ? Number(rec.lat) : undefined;
      const lon = rec.lon ? Number(rec.lon) : undefined;
      if ((lat !== undefined && Number.isNaN(lat)) || (lon !== undefined && Number.isNaN(lon))) {
        errors.push(rowError(row, rec.sn ?? null, TerminalErrorCode.InvalidField, 'lat/lon must be numbers'));
        return;
      }
      registrations.push({
        sn: rec.sn ?? '',
        model: rec.model ?? '',
        tid: rec.tid || undefined,
        mid: rec.mid || undefined,
        providerCode: rec.provider || undefined,
        registeredLat: lat,
        registeredLon: lon,
      });
      rows.push(row);
    });
    return { registrations, rows, errors };
  }

  /** CSV import: per-row errors carry the CSV line number. */
  async registerCsv(text: string): Promise<RegisterTerminalsResponse> {
    const parsed = this.parseCsv(text);
    const results: RegisterTerminalsResponse = { credentials: [], errors: [...parsed.errors] };
    // Rows are contiguous except where a parse error removed one, so register row by row groups.
    const result = await this.register(parsed.registrations, 1);
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
