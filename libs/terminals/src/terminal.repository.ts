import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { TerminalStatus } from './terminal-status.js';

export interface AuthRecord {
  hash: Buffer;
  status: TerminalStatus;
}

export interface NewTerminalRow {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  providerId: string;
  registeredLat: number | null;
  registeredLon: number | null;
  city: string | null;
  region: string | null;
  credentialHash: Buffer;
}

/** Who changed a terminal's owner, recorded in terminal_provider_history. */
export interface ProviderChangeActor {
  actorKeyId: string | null;
  requestId: string | null;
}

/** What audit entries show of a terminal (the same view as the fleet API's): registry fields, never credentials. */
export interface TerminalAuditView {
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

/** SQL for the terminal registry and broker service accounts. */
@Injectable()
export class TerminalRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** One round trip for any number of CONNECTs (the broker batches lookups). */
  async findAuthRecords(sns: readonly string[]): Promise<Map<string, AuthRecord>> {
    const rows: { sn: string; credential_hash: Buffer; status: TerminalStatus }[] = await this.dataSource.query(
      'SELECT sn, credential_hash, status FROM terminals WHERE sn = ANY($1::text[])',
      [sns],
    );
    return new Map(rows.map((r) => [r.sn, { hash: r.credential_hash, status: r.status }]));
  }

  async findServiceAccount(name: string): Promise<AuthRecord | null> {
    const rows: { credential_hash: Buffer; status: TerminalStatus }[] = await this.dataSource.query(
      'SELECT credential_hash, status FROM service_accounts WHERE name = $1',
      [name],
    );
    return rows[0] ? { hash: rows[0].credential_hash, status: rows[0].status } : null;
  }

  async upsertServiceAccount(name: string, hash: Buffer): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO service_accounts (name, credential_hash) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET credential_hash = EXCLUDED.credential_hash, status = 'active'`,
      [name, hash],
    );
  }

  async existingSns(sns: readonly string[]): Promise<Set<string>> {
    const rows: { sn: string }[] = await this.dataSource.query('SELECT sn FROM terminals WHERE sn = ANY($1::text[])', [sns]);
    return new Set(rows.map((r) => r.sn));
  }

  async tidOwners(tids: readonly string[]): Promise<Map<string, string>> {
    if (tids.length === 0) return new Map();
    const rows: { tid: string; sn: string }[] = await this.dataSource.query('SELECT tid, sn FROM terminals WHERE tid = ANY($1::text[])', [tids]);
    return new Map(rows.map((r) => [r.tid, r.sn]));
  }

  async providerIdsByCode(codes: readonly string[]): Promise<Map<string, string>> {
    const rows: { id: string; code: string }[] = await this.dataSource.query('SELECT id, code FROM providers WHERE code = ANY($1::text[])', [codes]);
    return new Map(rows.map((r) => [r.code, r.id]));
  }

  /**
   * Inserts in one statement; rows whose SN or TID already exist are skipped and not returned.
   * With `history`, each inserted terminal's first owner is recorded in terminal_provider_history
   * (from_provider_id NULL) in the same statement.
   */
  async insertMany(rows: readonly NewTerminalRow[], history?: ProviderChangeActor): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const insert = `INSERT INTO terminals (sn, model, tid, mid, provider_id, registered_lat, registered_lon, credential_hash, city, region)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::float8[], $7::float8[], $8::bytea[], $9::text[], $10::text[])
       ON CONFLICT DO NOTHING`;
    const sql = history
      ? `WITH ins AS (${insert} RETURNING sn, provider_id),
              hist AS (INSERT INTO terminal_provider_history (sn, from_provider_id, to_provider_id, actor_key_id, request_id)
                       SELECT sn, NULL, provider_id, $11::uuid, $12::text FROM ins)
         SELECT sn FROM ins`
      : `${insert} RETURNING sn`;
    const inserted: { sn: string }[] = await this.dataSource.query(sql, [
      rows.map((r) => r.sn),
      rows.map((r) => r.model),
      rows.map((r) => r.tid),
      rows.map((r) => r.mid),
      rows.map((r) => r.providerId),
      rows.map((r) => r.registeredLat),
      rows.map((r) => r.registeredLon),
      rows.map((r) => r.credentialHash),
      rows.map((r) => r.city),
      rows.map((r) => r.region),
      ...(history ? [history.actorKeyId, history.requestId] : []),
    ]);
    return new Set(inserted.map((r) => r.sn));
  }

  /**
   * Moves a terminal to another provider if it still belongs to `fromProviderId`, and records the
   * move in terminal_provider_history, in one statement. Returns null when the terminal is gone or
   * its owner changed meanwhile.
   */
  async moveProvider(sn: string, fromProviderId: string, toProviderId: string, actor: ProviderChangeActor): Promise<{ movedAt: Date } | null> {
    const rows: { moved_at: Date }[] = await this.dataSource.query(
      `WITH moved AS (
         UPDATE terminals SET provider_id = $3, updated_at = now() WHERE sn = $1 AND provider_id = $2 RETURNING sn
       )
       INSERT INTO terminal_provider_history (sn, from_provider_id, to_provider_id, actor_key_id, request_id)
       SELECT sn, $2, $3, $4, $5 FROM moved
       RETURNING moved_at`,
      [sn, fromProviderId, toProviderId, actor.actorKeyId, actor.requestId],
    );
    return rows[0] ? { movedAt: rows[0].moved_at } : null;
  }

  /** Replaces credential hashes; returns the SNs that exist. */
  async updateCredentials(updates: readonly { sn: string; hash: Buffer }[]): Promise<Set<string>> {
    if (updates.length === 0) return new Set();
    // TypeORM returns [rows, affected] for UPDATE.
    const [rows]: [{ sn: string }[], number] = await this.dataSource.query(
      `UPDATE terminals t SET credential_hash = u.hash, credential_rotated_at = now(), updated_at = now()
         FROM unnest($1::text[], $2::bytea[]) AS u(sn, hash)
        WHERE t.sn = u.sn
       RETURNING t.sn`,
      [updates.map((u) => u.sn), updates.map((u) => u.hash)],
    );
    return new Set(rows.map((r) => r.sn));
  }

  /** Audit views of the terminals that exist among `sns`, by SN: one query. */
  async findAuditViews(sns: readonly string[]): Promise<Map<string, TerminalAuditView>> {
    if (sns.length === 0) return new Map();
    const rows: {
      sn: string;
      model: string;
      tid: string | null;
      mid: string | null;
      provider_id: string;
      registered_lat: number | null;
      registered_lon: number | null;
      city: string | null;
      region: string | null;
      status: string;
      credential_rotated_at: Date;
    }[] = await this.dataSource.query(
      `SELECT sn, model, tid, mid, provider_id::text AS provider_id, registered_lat, registered_lon, city, region, status, credential_rotated_at
         FROM terminals WHERE sn = ANY($1::text[])`,
      [sns],
    );
    return new Map(
      rows.map((r) => [
        r.sn,
        {
          sn: r.sn,
          model: r.model,
          tid: r.tid,
          mid: r.mid,
          providerId: r.provider_id,
          registeredLat: r.registered_lat === null ? null : Number(r.registered_lat),
          registeredLon: r.registered_lon === null ? null : Number(r.registered_lon),
          city: r.city,
          region: r.region,
          status: r.status,
          credentialRotatedAt: new Date(r.credential_rotated_at).toISOString(),
        },
      ]),
    );
  }

  /** Sets city and/or region (undefined: unchanged, null: cleared); the SN when it exists. */
  async updatePlace(sn: string, place: { city?: string | null; region?: string | null }): Promise<boolean> {
    const [rows]: [{ sn: string }[], number] = await this.dataSource.query(
      `UPDATE terminals SET city = CASE WHEN $2 THEN $3 ELSE city END, region = CASE WHEN $4 THEN $5 ELSE region END, updated_at = now()
        WHERE sn = $1 RETURNING sn`,
      [sn, place.city !== undefined, place.city ?? null, place.region !== undefined, place.region ?? null],
    );
    return rows.length > 0;
  }

  async setStatus(sns: readonly string[], status: TerminalStatus): Promise<Set<string>> {
    const [rows]: [{ sn: string }[], number] = await this.dataSource.query(
      `UPDATE terminals SET status = $2, updated_at = now() WHERE sn = ANY($1::text[]) RETURNING sn`,
      [sns, status],
    );
    return new Set(rows.map((r) => r.sn));
  }
}
