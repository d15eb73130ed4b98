import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export interface AlertSettingsRow {
  providerId: string;
  settings: Record<string, unknown>;
  updatedAt: Date;
}

interface DbRow {
  provider_id: string;
  settings: Record<string, unknown>;
  updated_at: Date;
}

const toRow = (r: DbRow): AlertSettingsRow => ({ providerId: r.provider_id, settings: r.settings, updatedAt: r.updated_at });

/** The rows of the given providers (a provider's path, root first), in the given order; absent ones skipped. */
async function findMany(em: EntityManager, providerIds: readonly string[]): Promise<AlertSettingsRow[]> {
  const rows: DbRow[] = await em.query(`SELECT provider_id, settings, updated_at FROM alert_settings WHERE provider_id = ANY($1::uuid[])`, [[...providerIds]]);
  const byId = new Map(rows.map((r) => [r.provider_id, toRow(r)]));
  return providerIds.flatMap((id) => byId.get(id) ?? []);
}

/** Reads and writes inside one settings transaction (see AlertSettingsRepository.locked). */
export class AlertSettingsTx {
  constructor(private readonly em: EntityManager) {}

  findMany(providerIds: readonly string[]): Promise<AlertSettingsRow[]> {
    return findMany(this.em, providerIds);
  }

  /** Rows of providers in the subtree at `path` (the provider itself included), with their paths. */
  async findInSubtree(path: string): Promise<(AlertSettingsRow & { path: string })[]> {
    const rows: (DbRow & { path: string })[] = await this.em.query(
      `SELECT s.provider_id, s.settings, s.updated_at, p.path
         FROM alert_settings s JOIN providers p ON p.id = s.provider_id
        WHERE p.path LIKE $1 || '%'`,
      [path],
    );
    return rows.map((r) => ({ ...toRow(r), path: r.path }));
  }

  /** Replaces a provider's overrides unless they already equal these (jsonb equality: key order does not matter). */
  async put(providerId: string, settings: Record<string, unknown>): Promise<{ before: AlertSettingsRow | null; after: AlertSettingsRow; changed: boolean }> {
    const current: (DbRow & { same: boolean })[] = await this.em.query(
      `SELECT provider_id, settings, updated_at, settings = $2::jsonb AS same FROM alert_settings WHERE provider_id = $1`,
      [providerId, JSON.stringify(settings)],
    );
    const before = current[0] ? toRow(current[0]) : null;
    if (current[0]?.same && before) return { before, after: before, changed: false };
    const rows: DbRow[] = await this.em.query(
      `INSERT INTO alert_settings (provider_id, settings, updated_at) VALUES ($1, $2::jsonb, now())
       ON CONFLICT (provider_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()
       RETURNING provider_id, settings, updated_at`,
      [providerId, JSON.stringify(settings)],
    );
    return { before, after: toRow(rows[0]), changed: true };
  }

  async delete(providerId: string): Promise<AlertSettingsRow | null> {
    const rows: DbRow[] = await this.em.query(
      `WITH d AS (DELETE FROM alert_settings WHERE provider_id = $1 RETURNING provider_id, settings, updated_at) SELECT * FROM d`,
      [providerId],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }
}

/** Threshold overrides per provider (alert_settings). The caller checked the provider is in scope. */
@Injectable()
export class AlertSettingsRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  findMany(providerIds: readonly string[]): Promise<AlertSettingsRow[]> {
    return findMany(this.dataSource.manager, providerIds);
  }

  /**
   * Runs `work` in a transaction holding the one settings write lock. A write is checked against
   * the rows above and below the provider (the merged thresholds must stay valid), so two writes
   * on one path (a parent and its child) must not both check the old rows: settings writes are
   * rare, so they simply take turns.
   */
  locked<T>(work: (tx: AlertSettingsTx) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('alert_settings'))`);
      return work(new AlertSettingsTx(em));
    });
  }
}
