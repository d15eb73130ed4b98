import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createDataSource, DatabaseFlavor, migrate } from '#db';
import { startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { CAMPAIGN_ID, DETAIL_SN, seedFleet, type SeededFleet } from './fleet-seed.js';
import { buildDashboards, expandGrafanaSql, MULTI_VARIABLES, type GrafanaQueryContext, type PanelQuery } from './index.js';

// Three days: a 72-hour range is served by the hourly rollups, a 24-hour one by the 5-minute ones.
const DAYS = 3;
const TERMINALS = 120;
const EAST = '00000000-0000-4000-8000-00000000000e';

/** Runs one panel statement as Grafana would: expanded, as the read-only role. */
async function runAsReader(client: pg.Client, sql: string): Promise<{ columns: string[]; rows: Record<string, unknown>[] }> {
  await client.query('SET ROLE fleet_reader');
  try {
    const result = await client.query(sql);
    return { columns: result.fields.map((f) => f.name), rows: result.rows as Record<string, unknown>[] };
  } finally {
    await client.query('RESET ROLE');
  }
}

for (const kind of testDbKinds()) {
  describe(`dashboard panel queries on ${kind}`, () => {
    let db: TestDatabase;
    let client: pg.Client;
    let fleet: SeededFleet;
    let flavor: DatabaseFlavor;
    const now = new Date();
    const queries: PanelQuery[] = buildDashboards().flatMap((d) => d.queries);

    const context = (rangeHours: number, overrides: Partial<GrafanaQueryContext['variables']> = {}): GrafanaQueryContext => ({
      from: new Date(now.getTime() - rangeHours * 3_600_000),
      to: now,
      interval: rangeHours > 48 ? '1h' : '5m',
      timescaledb: flavor === DatabaseFlavor.Timescale,
      variables: { provider: fleet.rootProviderId, model: fleet.models, sn: DETAIL_SN, campaign: [CAMPAIGN_ID], ...overrides },
      multiVariables: MULTI_VARIABLES,
    });

    beforeAll(async () => {
      const t0 = Date.now();
      db = await startTestDatabase(kind);
      if (process.env.SEED_LOG) process.stderr.write(`${kind} started ${Date.now() - t0} ms\n`);
      const ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      flavor = (await migrate(ds, { timescale: 'auto' })).flavor;
      await ds.destroy();
      if (process.env.SEED_LOG) process.stderr.write(`${kind} migrated ${Date.now() - t0} ms\n`);
      client = new pg.Client({ connectionString: db.url });
      await client.connect();
      fleet = await seedFleet(client, {
        terminals: TERMINALS,
        days: DAYS,
        heartbeatIntervalS: 3600,
        detailIntervalS: 900,
        now,
        timescale: flavor === DatabaseFlavor.Timescale,
        log: process.env.SEED_LOG ? (msg) => process.stderr.write(`${kind} seed ${msg}\n`) : undefined,
      });
    });
    afterAll(async () => {
      await client?.end();
      await db?.stop();
    });

    it('seeds a fleet with heartbeats over several days', () => {
      expect(fleet.heartbeats).toBeGreaterThanOrEqual(TERMINALS * DAYS * 24);
    });

    // Every tier: a day reads raw heartbeats (one terminal) and the 5-minute fleet rollups, three days
    // the 5-minute terminal rollup and the hourly fleet one, eight days the hourly rollups.
    for (const rangeHours of [24, DAYS * 24, 192]) {
      it(`every panel and variable query runs as fleet_reader over ${rangeHours} h, with its columns and rows`, async () => {
        const failures: string[] = [];
        for (const q of queries) {
          const sql = expandGrafanaSql(q.sql, context(rangeHours));
          try {
            const { columns, rows } = await runAsReader(client, sql);
            if (JSON.stringify(columns) !== JSON.stringify(q.columns))
              failures.push(`${q.dashboard} / ${q.panel}: columns ${columns.join(',')} (expected ${q.columns.join(',')})`);
            else if (rows.length === 0) failures.push(`${q.dashboard} / ${q.panel}: no rows`);
          } catch (err) {
            failures.push(`${q.dashboard} / ${q.panel}: ${err instanceof Error ? err.message : String(err)}\n${sql}`);
          }
        }
        expect(failures).toStrictEqual([]);
      });
    }

    it('the provider variable narrows panels to the subtree', async () => {
      const terminalsNow = queries.find((q) => q.panel === 'Terminals now');
      expect(terminalsNow).toBeDefined();
      const count = async (provider: string) =>
        Number((await runAsReader(client, expandGrafanaSql(terminalsNow?.sql ?? '', context(24, { provider })))).rows[0].terminals);
      // Terminals are spread evenly over root, east, east's branch and west: east's subtree holds half.
      expect(await count(fleet.rootProviderId)).toBe(TERMINALS);
      expect(await count(EAST)).toBe(TERMINALS / 2);
    });

    it('fleet_reader cannot read secrets or write', async () => {
      await expect(runAsReader(client, 'SELECT key_hash FROM api_keys')).rejects.toThrow(/permission denied/);
      await expect(runAsReader(client, 'SELECT credential_hash FROM terminals')).rejects.toThrow(/permission denied/);
      await expect(runAsReader(client, 'SELECT secret FROM notification_channels')).rejects.toThrow(/permission denied/);
      await expect(runAsReader(client, `DELETE FROM alerts`)).rejects.toThrow(/permission denied/);
      await expect(runAsReader(client, 'SELECT sn, model FROM terminals LIMIT 1')).resolves.toMatchObject({ columns: ['sn', 'model'] });
    });

    it('every column fleet_reader can read whose name suggests a secret is one reviewed here (a new table is readable by default)', async () => {
      // 0013 grants SELECT on future tables too: a migration adding a secret must revoke it, and this catches one that forgot.
      const { rows } = await client.query<{ col: string }>(
        `SELECT c.table_name || '.' || c.column_name AS col
           FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = 'public'::regnamespace
          WHERE c.table_schema = 'public' AND k.relkind IN ('r', 'p', 'v', 'm')
            AND c.column_name ~* '(secret|hash|token|password|passwd|key|credential|payload|private|signature|pepper)'
            AND has_column_privilege('fleet_reader', k.oid, c.column_name, 'SELECT')
          ORDER BY 1`,
      );
      expect(rows.map((r) => r.col)).toStrictEqual([
        'alert_sweep_lease.thresholds_key', // a digest of public thresholds
        'audit_log.actor_key_id', // ids, not keys
        // What a terminal was told; an ota.install carries a firmware download URL signed for a few
        // hours (the firmware is not secret; a terminal's credentials never appear in a command).
        'commands.payload',
        'dead_letters.payload_size', // the size only: the payload itself is revoked
        'notification_deliveries.dedupe_key',
        'notification_deliveries.idempotency_key',
        'notification_deliveries.payload', // the alert event sent (no channel secret: webhooks are signed at send time)
        'releases.created_by_key',
        'releases.key_id',
        'releases.signature', // public: terminals verify it
        'releases.version_key',
        'terminal_provider_history.actor_key_id',
        'terminals.credential_rotated_at',
      ]);
    });
  });
}
