import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { VersionComponent } from './version-policy.dto.js';

export interface VersionPolicyRow {
  model: string;
  component: VersionComponent;
  minSupported: string | null;
  latest: string | null;
  latestSince: Date | null;
  blocked: string[];
  updatedAt: Date;
}

export interface VersionPolicyValues {
  minSupported: string | null;
  latest: string | null;
  blocked: readonly string[];
}

interface DbRow {
  model: string;
  component: VersionComponent;
  min_supported: string | null;
  latest: string | null;
  latest_since: Date | null;
  blocked: string[];
  updated_at: Date;
}

const COLUMNS = 'model, component, min_supported, latest, latest_since, blocked, updated_at';
const toRow = (r: DbRow): VersionPolicyRow => ({
  model: r.model,
  component: r.component,
  minSupported: r.min_supported,
  latest: r.latest,
  latestSince: r.latest_since,
  blocked: r.blocked,
  updatedAt: r.updated_at,
});

/** Firmware and payment-app policies per model (fleet-wide, no tenancy). */
@Injectable()
export class VersionPolicyRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async list(filter: { model?: string; component?: VersionComponent }): Promise<VersionPolicyRow[]> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM version_policies
        WHERE ($1::text IS NULL OR model = $1) AND ($2::text IS NULL OR component = $2)
        ORDER BY model, component`,
      [filter.model ?? null, filter.component ?? null],
    );
    return rows.map(toRow);
  }

  async find(model: string, component: VersionComponent): Promise<VersionPolicyRow | null> {
    return this.findIn(this.dataSource.manager, model, component, false);
  }

  /**
   * Writes the policy unless it already holds these values. One writer per (model, component) at a
   * time (a transaction-scoped advisory lock also covers the not-yet-existing row), so `before` is
   * exact. latest_since moves only when `latest` changes.
   */
  async put(model: string, component: VersionComponent, values: VersionPolicyValues): Promise<{ before: VersionPolicyRow | null; after: VersionPolicyRow }> {
    return this.dataSource.transaction(async (em) => {
      await this.lock(em, model, component);
      const before = await this.findIn(em, model, component, true);
      if (before && before.minSupported === values.minSupported && before.latest === values.latest && sameList(before.blocked, values.blocked)) {
        return { before, after: before };
      }
      const rows: DbRow[] = await em.query(
        `INSERT INTO version_policies AS v (model, component, min_supported, latest, latest_since, blocked, updated_at)
         VALUES ($1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END, $5::text[], now())
         ON CONFLICT (model, component) DO UPDATE
           SET min_supported = EXCLUDED.min_supported,
               latest = EXCLUDED.latest,
               latest_since = CASE WHEN v.latest IS NOT DISTINCT FROM EXCLUDED.latest THEN v.latest_since ELSE EXCLUDED.latest_since END,
               blocked = EXCLUDED.blocked,
               updated_at = now()
         RETURNING ${COLUMNS}`,
        [model, component, values.minSupported, values.latest, [...values.blocked]],
      );
      return { before, after: toRow(rows[0]) };
    });
  }

  /** Deletes the policy; returns it, or null when there was none. */
  async delete(model: string, component: VersionComponent): Promise<VersionPolicyRow | null> {
    // A SELECT over the CTE: the driver hands back rows (a bare DELETE returns [rows, count]).
    const rows: DbRow[] = await this.dataSource.query(
      `WITH d AS (DELETE FROM version_policies WHERE model = $1 AND component = $2 RETURNING ${COLUMNS}) SELECT * FROM d`,
      [model, component],
    );
    const deleted = rows[0];
    return deleted ? toRow(deleted) : null;
  }

  private async lock(em: EntityManager, model: string, component: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('version_policies'), hashtext($1 || '/' || $2))`, [model, component]);
  }

  private async findIn(em: EntityManager, model: string, component: VersionComponent, forUpdate: boolean): Promise<VersionPolicyRow | null> {
    const rows: DbRow[] = await em.query(`SELECT ${COLUMNS} FROM version_policies WHERE model = $1 AND component = $2 ${forUpdate ? 'FOR UPDATE' : ''}`, [
      model,
      component,
    ]);
    return rows[0] ? toRow(rows[0]) : null;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
