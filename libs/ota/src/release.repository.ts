import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { NewRelease, Release, ReleaseActor, ReleaseComponent, ReleaseFilter, ReleaseStatus } from './release.types.js';

interface Row {
  id: string;
  model: string;
  component: ReleaseComponent;
  version: string;
  status: ReleaseStatus;
  artifact_path: string | null;
  artifact_url: string | null;
  size_bytes: string | null;
  sha256: string | null;
  signature: string;
  key_id: string | null;
  release_notes: string;
  min_battery_pct: number | null;
  created_by: string;
  created_by_key: string | null;
  created_at: Date;
  updated_at: Date;
  withdrawn_at: Date | null;
}

const COLUMNS = `id, model, component, version, status, artifact_path, artifact_url, size_bytes::text AS size_bytes, sha256, signature, key_id,
  release_notes, min_battery_pct, created_by, created_by_key::text AS created_by_key, created_at, updated_at, withdrawn_at`;

function toRelease(r: Row): Release {
  return {
    id: r.id,
    model: r.model,
    component: r.component,
    version: r.version,
    status: r.status,
    artifactPath: r.artifact_path,
    artifactUrl: r.artifact_url,
    sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
    sha256: r.sha256,
    signature: r.signature,
    keyId: r.key_id,
    releaseNotes: r.release_notes,
    minBatteryPct: r.min_battery_pct,
    createdBy: r.created_by,
    createdByKey: r.created_by_key,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    withdrawnAt: r.withdrawn_at === null ? null : new Date(r.withdrawn_at),
  };
}

/** SQLSTATE of a failed query (TypeORM keeps the driver's error). */
export function sqlStateOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e.driverError?.code ?? e.code;
  return typeof code === 'string' ? code : undefined;
}

@Injectable()
export class ReleaseRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /**
   * Inserts a release after `check` has seen one existing version of the model and component (or
   * null), under a transaction-scoped advisory lock per (model, component): two first releases with
   * incomparable versions cannot both get in. Duplicates are left to the unique indexes (23505).
   */
  async insert(
    input: NewRelease & { versionKey: string; status: ReleaseStatus; keyId: string | null },
    actor: ReleaseActor,
    check: (existingVersion: string | null) => void,
  ): Promise<Release> {
    return this.dataSource.transaction(async (em: EntityManager) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('fleet:releases:' || $1 || ':' || $2))`, [input.model, input.component]);
      const existing: { version: string }[] = await em.query(`SELECT version FROM releases WHERE model = $1 AND component = $2 LIMIT 1`, [
        input.model,
        input.component,
      ]);
      check(existing[0]?.version ?? null);
      const rows: Row[] = await em.query(
        `INSERT INTO releases (model, component, version, version_key, status, artifact_url, size_bytes, sha256, signature, key_id,
                               release_notes, min_battery_pct, created_by, created_by_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING ${COLUMNS}`,
        [
          input.model,
          input.component,
          input.version,
          input.versionKey,
          input.status,
          input.artifactUrl,
          input.sizeBytes,
          input.sha256,
          input.signature,
          input.keyId,
          input.releaseNotes,
          input.minBatteryPct,
          actor.name,
          actor.keyId,
        ],
      );
      return toRelease(rows[0]);
    });
  }

  async findById(id: string): Promise<Release | null> {
    const rows: Row[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM releases WHERE id = $1`, [id]);
    return rows[0] ? toRelease(rows[0]) : null;
  }

  async list(filter: ReleaseFilter): Promise<Release[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM releases
        WHERE ($1::text IS NULL OR model = $1) AND ($2::text IS NULL OR component = $2) AND ($3::text IS NULL OR status = $3)
          AND (NOT $4::boolean OR status <> 'draft')
        ORDER BY created_at DESC, id DESC LIMIT $5`,
      [filter.model ?? null, filter.component ?? null, filter.status ?? null, filter.excludeDrafts ?? false, filter.limit],
    );
    return rows.map(toRelease);
  }

  /** Draft → active with its stored artifact; null when the release is no longer a draft (a concurrent upload won). */
  async activateWithArtifact(id: string, artifact: { path: string; sizeBytes: number; sha256: string; keyId: string }): Promise<Release | null> {
    // TypeORM returns [rows, affected] for UPDATE.
    const [rows]: [Row[], number] = await this.dataSource.query(
      `UPDATE releases SET status = 'active', artifact_path = $2, size_bytes = $3, sha256 = $4, key_id = $5, updated_at = now()
        WHERE id = $1 AND status = 'draft'
        RETURNING ${COLUMNS}`,
      [id, artifact.path, artifact.sizeBytes, artifact.sha256, artifact.keyId],
    );
    return rows[0] ? toRelease(rows[0]) : null;
  }

  /** Draft or active → withdrawn; null when it already was withdrawn (or does not exist). */
  async withdraw(id: string): Promise<Release | null> {
    const [rows]: [Row[], number] = await this.dataSource.query(
      `UPDATE releases SET status = 'withdrawn', withdrawn_at = now(), updated_at = now()
        WHERE id = $1 AND status <> 'withdrawn'
        RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] ? toRelease(rows[0]) : null;
  }
}
