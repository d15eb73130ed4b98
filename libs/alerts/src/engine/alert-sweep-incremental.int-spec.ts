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

const MINUTE = 60_000;
/** Filler terminals: healthy, plans far away; an incremental sweep must not evaluate them. */
const HEALTHY = 200;

for (const kind of testDbKinds()) {
  describe(`scheduled sweep on ${kind}: incremental sweeps between full ones`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    let sweep: AlertSweepService;
    // 23:40 in Asia/Shanghai (the default zone), 1 December.
    const clock = new ManualClock(Date.parse('2026-12-01T15:40:00Z'));

    const alerts = (sn: string, rule: string) =>
      ds.query<{ severity: string; state: string; occurrences: number }[]>(
        `SELECT severity, state, occurrences FROM alerts WHERE sn = $1 AND rule = $2 ORDER BY id`,
        [sn, rule],
      );
    /** Everyone but DARK and HUSH (driven by each test) keeps heartbeating while the clock moves. */
    const heartbeat = () => ds.query(`UPDATE terminal_state SET last_received_at = $1, last_heartbeat_at = $1 WHERE sn NOT IN ('DARK', 'HUSH')`, [clock.now()]);

    beforeAll(async () => {
      Logger.overrideLogger(false);
      db = await startTestDatabase(kind);
      ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      await migrate(ds, { timescale: 'auto' });
      const now = clock.now();
      await ds.query(
        `INSERT INTO terminals (sn, model, provider_id, credential_hash)
         SELECT sn, 'EP-T1', (SELECT id FROM providers WHERE parent_id IS NULL), '\\x00'
           FROM (SELECT unnest(ARRAY['PLAN', 'DARK', 'HUSH']) AS sn UNION ALL SELECT 'FILL' || lpad(g::text, 4, '0') FROM generate_series(1, ${HEALTHY}) g) x`,
      );
      // PLAN: connected, plan ends 3 December (two local days left: the 3-day warning step).
      // DARK: connected for now. HUSH: connected, heard from now. Filler: plans a year ahead.
      await ds.query(
        `INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat,
                                     mcc_mnc, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s,
                                     online, presence_changed_at)
         SELECT sn, $1, $1, 1, 'EP-T1', '3.2.10', '5.0.1', 80, false, 'LTE', '46000', '89860000000000000000', '860000000000000', 'esim', 'CM',
                'active', CASE WHEN sn = 'PLAN' THEN DATE '2026-12-03' ELSE DATE '2027-12-01' END, true, 1, 100, true, $1
           FROM terminals`,
        [now],
      );
      const config = loadConfig({}, { DATABASE_URL: db.url, ALERTS_SWEEP_PAGE_SIZE: '50' });
      sweep = new AlertSweepService(config, new AlertEngineRepository(ds), new AlertRules(), clock, new AlertMetrics(new MetricsService()));
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.stop();
    });

    it('starts with a full sweep, then evaluates only what can have changed', async () => {
      const first = await sweep.sweep();
      expect(first?.mode).toBe('full');
      expect((await alerts('PLAN', 'plan_expiring')).map((a) => a.severity)).toStrictEqual(['warning']);

      clock.advance(5 * MINUTE);
      await heartbeat();
      await ds.query(`UPDATE terminal_state SET last_received_at = $1 WHERE sn IN ('DARK', 'HUSH')`, [clock.now()]);
      const quiet = await sweep.sweep();
      expect(quiet?.mode).toBe('incremental');
      expect(quiet?.terminals).toBe(0);
      expect(quiet?.written).toStrictEqual([]);
    });

    it('raises the next plan_expiring step once a local midnight passes between two sweeps', async () => {
      // 00:05 local, 2 December: one day left, the critical step.
      clock.set(Date.parse('2026-12-01T16:05:00Z'));
      await heartbeat();
      await ds.query(`UPDATE terminal_state SET last_received_at = $1 WHERE sn IN ('DARK', 'HUSH')`, [clock.now()]);
      const r = await sweep.sweep();
      expect(r?.mode).toBe('incremental');
      expect(r?.written).toStrictEqual([{ kind: 'escalated', rule: 'plan_expiring', severity: 'critical', n: 1 }]);
      expect((await alerts('PLAN', 'plan_expiring')).map((a) => [a.severity, a.state])).toStrictEqual([['critical', 'open']]);
    });

    it('raises offline when the grace ends between two sweeps, and silent when the silence window does', async () => {
      const t0 = clock.now();
      await ds.query(`UPDATE terminal_state SET online = false, presence_changed_at = $1 WHERE sn = 'DARK'`, [t0]);
      clock.advance(10 * MINUTE);
      await heartbeat();
      await ds.query(`UPDATE terminal_state SET last_received_at = $1 WHERE sn = 'HUSH'`, [clock.now()]);
      const early = await sweep.sweep();
      expect(early?.mode).toBe('incremental');
      expect(early?.written).toStrictEqual([]);
      // Grace 15 minutes; the silence window is 3 minutes (HUSH last heard 6 minutes ago).
      clock.advance(6 * MINUTE);
      await heartbeat();
      const r = await sweep.sweep();
      expect(r?.mode).toBe('incremental');
      expect(r?.terminals).toBeLessThan(10);
      expect(await alerts('DARK', 'offline')).toMatchObject([{ state: 'open', severity: 'warning' }]);
      expect(await alerts('HUSH', 'silent')).toMatchObject([{ state: 'open', severity: 'warning' }]);
      // Still offline and silent a sweep later: kept, nothing written (occurrences stay at the raise).
      clock.advance(MINUTE);
      await heartbeat();
      expect((await sweep.sweep())?.written).toStrictEqual([]);
      expect(await alerts('DARK', 'offline')).toMatchObject([{ state: 'open', occurrences: 1 }]);
    });

    it('resolves offline when the terminal reconnects and silent when it is heard from, without a heartbeat evaluation', async () => {
      clock.advance(MINUTE);
      await heartbeat();
      // Reconnected (the broker's presence event), no heartbeat yet; HUSH sends one.
      await ds.query(`UPDATE terminal_state SET online = true, presence_changed_at = $1 WHERE sn = 'DARK'`, [clock.now()]);
      await ds.query(`UPDATE terminal_state SET last_received_at = $1 WHERE sn = 'HUSH'`, [clock.now()]);
      const r = await sweep.sweep();
      expect(r?.mode).toBe('incremental');
      expect(await alerts('DARK', 'offline')).toMatchObject([{ state: 'resolved' }]);
      expect(await alerts('HUSH', 'silent')).toMatchObject([{ state: 'resolved' }]);
      // A full sweep of every terminal right after finds nothing the incremental ones missed.
      expect((await sweep.sweep(0, { everyTerminal: true }))?.written).toStrictEqual([]);
    });

    it('sweeps in full again when the settings change or the clock goes backwards', async () => {
      clock.advance(MINUTE);
      expect((await sweep.sweep())?.mode).toBe('incremental');
      await ds.query(
        `INSERT INTO alert_settings (provider_id, settings) SELECT id, '{"offline": {"graceMinutes": 30}}' FROM providers WHERE parent_id IS NULL`,
      );
      clock.advance(MINUTE);
      expect((await sweep.sweep())?.mode).toBe('full');
      expect((await sweep.sweep())?.mode).toBe('incremental');
      clock.advance(-10 * MINUTE);
      expect((await sweep.sweep())?.mode).toBe('full');
    });
  });
}
