import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#config';
import { createDataSource, migrate } from '#db';
import { MetricsService } from '#observability';
import { startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { AlertEngineRepository } from './alert-engine.repository.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { AlertSweepService } from './alert-sweep.service.js';
import { ManualClock } from './clock.js';

const TERMINALS = 3000;

for (const kind of testDbKinds()) {
  describe(`scheduled sweep on ${kind}: candidate pages`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    let sweep: AlertSweepService;
    const clock = new ManualClock(Date.parse('2026-12-01T04:00:00Z'));

    beforeAll(async () => {
      // Services built without an app log through Nest's default console logger: keep the run quiet.
      Logger.overrideLogger(false);
      db = await startTestDatabase(kind);
      ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      await migrate(ds, { timescale: 'auto' });
      const now = clock.now();
      await ds.query(
        `WITH child AS (SELECT gen_random_uuid() AS id)
         INSERT INTO providers (id, parent_id, code, name, path)
         SELECT child.id, p.id, 'sp-1', 'SP 1', p.path || child.id || '/' FROM providers p, child WHERE p.parent_id IS NULL`,
      );
      // A subtree that watches plans 60 days ahead and calls a terminal silent after 2 minutes.
      await ds.query(
        `INSERT INTO alert_settings (provider_id, settings) SELECT id, '{"planExpiring": {"ladder": [{"days": 60, "severity": "info"}]}, "silent": {"factor": 2}}' FROM providers WHERE code = 'sp-1'`,
      );
      await ds.query(
        `INSERT INTO terminals (sn, model, provider_id, credential_hash)
         SELECT 'S' || lpad(g::text, 6, '0'), 'EP-T1', (SELECT id FROM providers WHERE code = CASE WHEN g % 2 = 0 THEN 'sp-1' ELSE 'root' END), '\\x00'
           FROM generate_series(1, ${TERMINALS}) g`,
      );
      // Heartbeats 0-9 minutes old, 1 in 7 disconnected for 0-59 minutes, plans ending from 10 days ago to 390 ahead, 1 in 5 without auto-renew.
      await ds.query(
        `INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat,
                                     mcc_mnc, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s,
                                     online, presence_changed_at)
         SELECT 'S' || lpad(g::text, 6, '0'), $1::timestamptz - make_interval(secs => (g * 7) % 600), $1::timestamptz - make_interval(secs => (g * 7) % 600),
                1, 'EP-T1', '3.2.10', '5.0.1', 80, false, 'LTE', '46000', '89860000000000000000', '860000000000000', 'esim', 'CM', 'active',
                ($1::timestamptz)::date + ((g * 13) % 400 - 10), g % 5 <> 0, 1, 100, g % 7 <> 0, $1::timestamptz - make_interval(mins => g % 60)
           FROM generate_series(1, ${TERMINALS}) g`,
        [now],
      );
      const config = loadConfig({}, { DATABASE_URL: db.url, ALERTS_SWEEP_PAGE_SIZE: '250' });
      const repo = new AlertEngineRepository(ds);
      sweep = new AlertSweepService(config, repo, new AlertRules(), clock, new AlertMetrics(new MetricsService()));
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.stop();
    });

    it('evaluates only candidates, and a sweep of every terminal right after finds nothing they missed', async () => {
      const first = await sweep.sweep();
      expect(first?.finished).toBe(true);
      expect(first?.terminals).toBeGreaterThan(0);
      expect(first?.terminals).toBeLessThan(TERMINALS);
      const raised = new Set(first?.written.filter((w) => w.kind === 'raised').map((w) => w.rule));
      expect([...raised].sort()).toStrictEqual(['auto_renew_off', 'offline', 'plan_expiring', 'silent']);

      const full = await sweep.sweep(0, { everyTerminal: true });
      expect(full?.terminals).toBe(TERMINALS);
      expect(full?.written).toStrictEqual([]);

      // Later: more terminals silent, offline past the grace, plans closer; again nothing missed.
      clock.advance(40 * 60_000);
      await sweep.sweep();
      expect((await sweep.sweep(0, { everyTerminal: true }))?.written).toStrictEqual([]);
      // Back to normal: every open alert of these rules is a candidate, so they resolve. Plan facts
      // change with heartbeats (whose evaluation runs the plan rules); changed behind the engine's
      // back as here, a full sweep resolves them.
      await ds.query(`UPDATE terminal_state SET online = true, last_received_at = $1, presence_changed_at = $1, plan_expires_on = '2030-01-01'`, [clock.now()]);
      const cleared = await sweep.sweep(0, { full: true });
      expect(cleared?.written.every((w) => w.kind === 'resolved')).toBe(true);
      const open = await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM alerts WHERE state <> 'resolved'`);
      expect(open[0].n).toBe(0);
    });
  });
}
