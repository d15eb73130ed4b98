import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createDataSource } from './data-source.js';
import { DatabaseFlavor } from './database-mode.js';
import { EmbeddedDatabase, EmbeddedDatabaseCrashed } from './embedded-database.js';
import { PgliteWireServer } from './pglite-wire-server.mjs';
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

describe('embedded database in its worker thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-worker-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function withClient<T>(db: EmbeddedDatabase, fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  it("runs queries off the caller's event loop: timers keep firing during a long query", async () => {
    const db = await EmbeddedDatabase.start({ dataDir: dir });
    try {
      await withClient(db, async (client) => {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 10);
        const started = performance.now();
        await client.query('SELECT count(*) FROM generate_series(1, 3000000) AS g WHERE g % 7 = 0');
        const ms = performance.now() - started;
        clearInterval(timer);
        // In-process PGlite ran the whole query as one synchronous WASM call: no tick at all.
        if (ms > 200) expect(ticks).toBeGreaterThan(3);
      });
    } finally {
      await db.stop();
    }
  });

  it('stop() closes the database cleanly: committed rows are there after a reopen, and the lock is freed', async () => {
    const first = await EmbeddedDatabase.start({ dataDir: dir });
    await withClient(first, async (client) => {
      await client.query('CREATE TABLE durable (n int)');
      await client.query('INSERT INTO durable SELECT generate_series(1, 1000)');
    });
    await first.stop();
    expect(() => readFileSync(join(dir, 'pg.lock'))).toThrow();
    const second = await EmbeddedDatabase.start({ dataDir: dir });
    try {
      const rows = await withClient(second, (client) => client.query<{ n: number }>('SELECT count(*)::int AS n FROM durable'));
      expect(rows.rows[0].n).toBe(1000);
    } finally {
      await second.stop();
    }
  });

  it('reports its memory, and keeps no reply once it is sent', async () => {
    const db = await EmbeddedDatabase.start({ dataDir: dir });
    try {
      const stats = await db.stats();
      expect(stats.heapUsed).toBeGreaterThan(0);
      expect(stats.wasmMemory === null || stats.wasmMemory > 1_000_000).toBe(true);
      // 200 replies of 1 MB: PGlite's execProtocolRaw kept every parsed reply message (200 MiB here).
      await withClient(db, async (client) => {
        for (let i = 0; i < 200; i++) await client.query(`SELECT repeat('x', 1000000) || $1::int AS v`, [i]);
      });
      expect((await db.stats()).heapUsed).toBeLessThan(100 * 1024 * 1024);
    } finally {
      await db.stop();
    }
  });

  it('a startup failure rejects start() with the cause and frees the lock', async () => {
    const holder = new PgliteWireServer(null as never);
    const port = await holder.listen(0);
    try {
      await expect(EmbeddedDatabase.start({ dataDir: dir, port })).rejects.toThrow(/EADDRINUSE/);
      expect(() => readFileSync(join(dir, 'pg.lock'))).toThrow();
    } finally {
      await holder.close();
    }
  });

  it('a worker that dies unasked is reported once, and calls fail instead of hanging', async () => {
    const crashes: EmbeddedDatabaseCrashed[] = [];
    const db = await EmbeddedDatabase.start({ dataDir: dir, onCrash: (err) => crashes.push(err) });
    // What a WASM trap or an out-of-memory abort does to the thread, from the outside.
    await (db as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(crashes).toHaveLength(1);
    expect(crashes[0].message).toMatch(/worker thread died/);
    await expect(db.stats()).rejects.toBeInstanceOf(EmbeddedDatabaseCrashed);
    await db.stop();
    expect(() => readFileSync(join(dir, 'pg.lock'))).toThrow();
  });

  it('a worker blocked in one long synchronous call is ended as a crash; one that answers is left alone', async () => {
    const crashes: EmbeddedDatabaseCrashed[] = [];
    const db = await EmbeddedDatabase.start({ dataDir: dir, onCrash: (err) => crashes.push(err), liveness: { everyMs: 100, deadlineMs: 1_500 } });
    await withClient(db, async (client) => {
      // Busy but answering: half a second of short queries, then idle beyond the deadline.
      for (const until = Date.now() + 500; Date.now() < until;) await client.query('SELECT count(*) FROM generate_series(1, 20000)');
      await new Promise((r) => setTimeout(r, 2_000));
      expect(crashes).toHaveLength(0);
      client.on('error', () => undefined);
      // pg_sleep runs inside the one WASM call and blocks the thread's event loop (no reply, no watchdog).
      const blocked = client.query('SELECT pg_sleep(10)').catch((err: Error) => err);
      const started = Date.now();
      while (crashes.length === 0 && Date.now() - started < 8_000) await new Promise((r) => setTimeout(r, 50));
      expect(crashes).toHaveLength(1);
      expect(crashes[0].message).toMatch(/has not answered for \d+ s/);
      // Ended, not left running: the client's connection goes with the thread.
      expect(await blocked).toBeInstanceOf(Error);
    });
    await expect(db.stats()).rejects.toBeInstanceOf(EmbeddedDatabaseCrashed);
    await db.stop();
  });
});
