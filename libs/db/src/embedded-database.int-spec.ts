import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createDataSource } from './data-source.js';
import { DatabaseFlavor } from './database-mode.js';
import { EmbeddedDatabase } from './embedded-database.js';
import { migrate } from './migrator.js';
import { TimeseriesRepository } from './timeseries.repository.js';

describe('embedded database across restarts', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function session<T>(fn: (repo: TimeseriesRepository, query: (sql: string) => Promise<unknown[]>) => Promise<T>): Promise<T> {
    const db = await EmbeddedDatabase.start({ dataDir: dir });
    const ds = createDataSource({ url: db.url, poolSize: 1 });
    await ds.initialize();
    try {
      await migrate(ds, { timescale: 'auto' });
      return await fn(new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: true }), (sql) => ds.query(sql));
    } finally {
      await ds.destroy();
      await db.stop();
    }
  }

  it('keeps TimescaleDB policies working after the data directory is reopened', async () => {
    const settings = { chunkInterval: '1 day', compressAfter: '1 day', retention: '90 days' };
    await session((repo) => repo.applyPolicies(settings));
    // Reopened: changing config replaces policies and the jobs run (needs the TSL module loaded).
    await session(async (repo) => {
      await repo.applyPolicies({ ...settings, retention: '60 days' });
      const jobs = await repo.listJobs();
      assert.ok(jobs.some((j) => j.procName === 'policy_retention' && String(j.config.drop_after) === '60 days'));
      const report = await repo.runMaintenance(settings);
      assert.ok(report.jobsRun >= 3);
    });
  });

  it('refuses a second process on the same data directory', async () => {
    const first = await EmbeddedDatabase.start({ dataDir: dir });
    try {
      // Same process id would be allowed (restart after crash); fake another live owner.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dir, 'pg.lock'), String(process.ppid));
      await assert.rejects(() => EmbeddedDatabase.start({ dataDir: dir }), /in use by process/);
    } finally {
      await first.stop();
    }
  });
});
