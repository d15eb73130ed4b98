import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createDataSource } from './data-source.js';
import { DatabaseFlavor } from './database-mode.js';
import { EmbeddedDatabase } from './embedded-database.js';
import { migrate } from './migrator.js';
import { TimeseriesRepository } from './timeseries.repository.js';

describe('embedded database across restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
      expect(jobs.some((j) => j.procName === 'policy_retention' && String(j.config.drop_after) === '60 days')).toBeTruthy();
      const report = await repo.runMaintenance(settings);
      expect(report.jobsRun >= 3).toBeTruthy();
    });
  });

  it('refuses a second process on the same data directory', async () => {
    const first = await EmbeddedDatabase.start({ dataDir: dir });
    try {
      // Same process id would be allowed (restart after crash); fake another live owner.
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(dir, 'pg.lock'), String(process.ppid));
      await expect((() => EmbeddedDatabase.start({ dataDir: dir }))()).rejects.toThrow(/in use by process/);
    } finally {
      await first.stop();
    }
  });

  describe('a lock file left by a crash', () => {
    const lockDir = mkdtempSync(join(tmpdir(), 'embedded-lock-'));
    afterAll(() => rmSync(lockDir, { recursive: true, force: true }));
    const lockPath = join(lockDir, 'pg.lock');
    const startTime = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    };
    /** A pid no process has: spawn a short-lived child and wait for it to exit. */
    const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;

    it.each([
      ['a dead process (bare pid, as earlier versions wrote)', () => String(deadPid())],
      ['a dead process', () => JSON.stringify({ pid: deadPid(), startTime: '1' })],
      ['a pid reused by another live process (its start time differs)', () => JSON.stringify({ pid: process.ppid, startTime: '1' })],
    ])('is taken over when it names %s', async (_what, content) => {
      writeFileSync(lockPath, content());
      const db = await EmbeddedDatabase.start({ dataDir: lockDir });
      try {
        expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid });
      } finally {
        await db.stop();
      }
    });

    it('is respected when its owner is alive (same pid, same start time)', async () => {
      writeFileSync(lockPath, JSON.stringify({ pid: process.ppid, startTime: startTime(process.ppid) }));
      await expect(EmbeddedDatabase.start({ dataDir: lockDir })).rejects.toThrow(`in use by process ${process.ppid}`);
      rmSync(lockPath, { force: true });
    });
  });
});
