import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API_ENTITIES, ApiModule, Role } from '#api';
import { APP_CONFIG, type AppConfig } from '#config';
import { COMMAND_CLOCK, CommandsRepository } from '#commands';
import { OtaInstallService } from '#ota';
import { apiCaller, ManualClock, scrapeMetric, startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { CampaignMetrics } from './campaign-metrics.js';
import { CampaignRunner } from './campaign-runner.service.js';
import { CampaignsWorkerModule } from './campaigns.module.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsService } from './campaigns.service.js';

type Json = Record<string, unknown>;

interface Progress {
  state: string;
  pauseReason: string | null;
  wave: number;
  remaining: number;
  totals: { assigned: number; succeeded: number; failed: number; inFlight: number; cancelled: number };
  waves: { wave: number; assigned: number; succeeded: number; states: Record<string, number> }[];
  failureReasons: Record<string, number>;
  health: {
    wave: number;
    verdict: string;
    updated: number;
    control: number;
    metrics: Record<string, { updatedRate: number; controlRate: number; bad: boolean }>;
  }[];
}

const SIZE = 1_000_000;
const ENV = {
  CAMPAIGN_TICK_MS: '0',
  ALERTS_ENABLED: 'false',
  OTA_PUBLIC_BASE_URL: 'https://ota.test',
  OTA_URL_SECRET: 'campaign-test-secret-0123456789abcdef',
};

for (const kind of testDbKinds()) {
  describe(`OTA campaigns on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let clock: ManualClock;
    let call: ReturnType<typeof apiCaller>;
    let opsA: string;
    let opsB: string;
    let runner: CampaignRunner;
    let rootId: string;

    /** Terminals of a model straight in SQL: registered, reporting `version`, heartbeat now, plan active. */
    const seed = async (prefix: string, model: string, n: number, opts: { version?: string; providerId?: string } = {}): Promise<string[]> => {
      const sns = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
      await gw.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT sn, $2, $3, '\\x00' FROM unnest($1::text[]) sn`, [
        sns,
        model,
        opts.providerId ?? rootId,
      ]);
      await gw.query(
        `INSERT INTO terminal_state (sn, last_heartbeat_at, model, firmware_version, app_version, carrier, plan_status, online)
         SELECT sn, $2, $3, $4, '1.0.0', CASE WHEN o % 5 < 3 THEN 'CMCC' ELSE 'CUCC' END, 'active', true
           FROM unnest($1::text[]) WITH ORDINALITY AS x(sn, o)`,
        [sns, clock.now(), model, opts.version ?? '1.0.0'],
      );
      return sns;
    };
    const release = async (model: string, version = '2.0.0'): Promise<string> => {
      const rows = await gw.query<{ id: string }>(
        `INSERT INTO releases (model, component, version, version_key, status, artifact_url, size_bytes, sha256, signature, key_id, created_by)
         VALUES ($1, 'firmware', $2, $2, 'active', 'https://cdn.example.com/fw.bin', $3, $4, 'c2lnbmF0dXJl', '0123456789abcdef', 'test') RETURNING id`,
        [model, version, SIZE, 'ab'.repeat(32)],
      );
      return rows[0].id;
    };
    /** Creates (ops A), approves (ops B) and starts a campaign. */
    const launch = async (body: Json): Promise<string> => {
      const created = await call<{ id: string }>('POST', '/v1/campaigns', opsA, { name: 'test', ...body });
      expect(created.status).toBe(201);
      expect((await call('POST', `/v1/campaigns/${created.body.id}/approve`, opsB)).status).toBe(200);
      expect((await call('POST', `/v1/campaigns/${created.body.id}/start`, opsA)).status).toBe(200);
      return created.body.id;
    };
    const progress = async (id: string): Promise<Progress> => (await call<Progress>('GET', `/v1/campaigns/${id}/progress`, opsA)).body;
    const commandsOf = (id: string, state?: string) =>
      gw.query<{ id: string; sn: string; state: string; payload: Json }>(
        `SELECT id, sn, state, payload FROM commands WHERE campaign_id = $1 AND ($2::text IS NULL OR state = $2) ORDER BY sn`,
        [id, state ?? null],
      );
    /** The fake fleet reports through the ledger; a success also moves the terminal onto the new version. */
    const report = async (cmds: { id: string; sn: string }[], state: 'succeeded' | 'failed' | 'installing', reason: string | null = null) => {
      const now = clock.now();
      await gw.running.app.get(CommandsRepository).applyReports(
        cmds.map((c) => ({ sn: c.sn, id: c.id, state, reason, detail: null, progress: null, reportedAt: now, receivedAt: now, payload: Buffer.from('{}') })),
        { resendAfterMs: 60_000, maxAttempts: 5, stepTimeoutMs: 600_000 },
      );
      if (state === 'succeeded') {
        await gw.query(`UPDATE terminal_state SET firmware_version = '2.0.0', last_heartbeat_at = $2 WHERE sn = ANY($1::text[])`, [cmds.map((c) => c.sn), now]);
      }
    };
    const heartbeatAll = (model: string) => gw.query(`UPDATE terminal_state SET last_heartbeat_at = $2 WHERE model = $1`, [model, clock.now()]);

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
      gw = await startTestGateway(db, ENV, {
        composition: { features: [ApiModule, CampaignsWorkerModule], entities: API_ENTITIES },
        override: (b) => b.overrideProvider(COMMAND_CLOCK).useValue(clock),
      });
      call = apiCaller(gw.httpUrl);
      opsA = await gw.issueKey('ops-a');
      opsB = await gw.issueKey('ops-b');
      runner = gw.running.app.get(CampaignRunner);
      rootId = (await gw.query<{ id: string }>(`SELECT id FROM providers WHERE parent_id IS NULL`))[0].id;
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('dry run: target count, wave sizes, data per carrier, and every exclusion with its reason', async () => {
      const rel = await release('DRY-1');
      await seed('DRYA', 'DRY-1', 10); // eligible: 6 CMCC, 4 CUCC
      await seed('DRYB', 'DRY-1', 2, { version: '2.0.0' });
      await seed('DRYC', 'DRY-1', 1, { version: '2.1' });
      await seed('DRYD', 'DRY-1', 1, { version: '0.5.0' });
      const [disabled, offline, planless] = await seed('DRYE', 'DRY-1', 3);
      await gw.query(`UPDATE terminals SET status = 'disabled' WHERE sn = $1`, [disabled]);
      await gw.query(`UPDATE terminal_state SET last_heartbeat_at = $2 WHERE sn = $1`, [offline, new Date(clock.now().getTime() - 30 * 86_400_000)]);
      await gw.query(`UPDATE terminal_state SET plan_status = 'suspended' WHERE sn = $1`, [planless]);
      await gw.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) VALUES ('DRYF0000', 'DRY-1', $1, '\\x00')`, [rootId]);
      await seed('DRYG', 'OTHER-1', 3);

      const res = await call<Json>('POST', '/v1/campaigns/dry-run', opsA, {
        releaseId: rel,
        target: { versionFrom: '0.9.0' },
        waves: { canary: { count: 2 }, growth: 2 },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        matched: 18,
        targetCount: 10,
        waveSizes: [2, 4, 4],
        artifactBytes: SIZE,
        bytesPerCarrier: { CMCC: { terminals: 6, bytes: 6 * SIZE }, CUCC: { terminals: 4, bytes: 4 * SIZE } },
        excluded: { up_to_date: 3, version_out_of_range: 1, disabled: 1, offline_too_long: 1, plan_not_active: 1, never_reported: 1 },
      });
      expect(res.body.excludedSample).toContainEqual({ sn: disabled, reason: 'disabled' });
      // Unknown fields are refused at the edge.
      expect((await call('POST', '/v1/campaigns/dry-run', opsA, { releaseId: rel, target: { model: 'x' } })).status).toBe(400);
    });

    it('four eyes: the creator cannot approve, nothing starts unapproved, a second ops-admin approves once', async () => {
      const rel = await release('EYES-1');
      const created = await call<{ id: string; state: string }>('POST', '/v1/campaigns', opsA, { name: 'eyes', releaseId: rel });
      expect(created.status).toBe(201);
      expect(created.body.state).toBe('draft');
      const id = created.body.id;
      expect((await call('POST', `/v1/campaigns/${id}/start`, opsA)).status).toBe(409);
      expect((await call('POST', `/v1/campaigns/${id}/approve`, opsA)).status).toBe(403);
      const viewer = await gw.issueKey('viewer', Role.OpsViewer);
      expect((await call('POST', `/v1/campaigns/${id}/approve`, viewer)).status).toBe(403);
      const approved = await call<{ state: string; approvedBy: string; createdBy: string }>('POST', `/v1/campaigns/${id}/approve`, opsB);
      expect(approved).toMatchObject({ status: 200, body: { state: 'approved', approvedBy: 'ops-b', createdBy: 'ops-a' } });
      expect((await call('POST', `/v1/campaigns/${id}/approve`, opsB)).status).toBe(409);
      expect((await call('POST', `/v1/campaigns/${id}/start`, opsA)).status).toBe(200);
      const audit = await gw.query<{ action: string; actor_name: string }>(
        `SELECT action, actor_name FROM audit_log WHERE target_type = 'campaign' AND target_id = $1 ORDER BY id`,
        [id],
      );
      expect(audit.map((a) => `${a.action}:${a.actor_name}`)).toEqual(['campaign.create:ops-a', 'campaign.approve:ops-b', 'campaign.start:ops-a']);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    it('runs canary, then growing waves, to completion; commands carry the campaign, a signed URL and the guards', async () => {
      const rel = await release('RUN-1');
      await seed('RUNA', 'RUN-1', 14);
      const id = await launch({
        releaseId: rel,
        waves: { canary: { count: 2 }, growth: 2 },
        ratePerMinute: 1000,
        soakSeconds: 60,
        successThreshold: 1,
        guards: { minBatteryPct: 40, orCharging: true, planHeadroomBytes: 0, window: { start: '22:00', end: '04:00', tz: 'Asia/Shanghai' } },
        healthGate: { minSample: 1, alertRules: ['signal_weak'] },
      });
      for (let i = 0; i < 40; i++) {
        await runner.tick();
        const queued = await commandsOf(id, 'queued');
        if (queued.length) await report(queued, 'succeeded');
        await heartbeatAll('RUN-1');
        clock.advance(61_000);
        if ((await progress(id)).state !== 'running') break;
      }
      const p = await progress(id);
      expect(p.state).toBe('completed');
      expect(p.waves.map((w) => [w.wave, w.assigned, w.succeeded])).toEqual([
        [0, 2, 2],
        [1, 4, 4],
        [2, 8, 8],
      ]);
      // After the last wave no control terminal is left: not judged (nothing to compare, no wave to hold back).
      expect(p.health.map((h) => [h.verdict, h.control])).toEqual([
        ['pass', 12],
        ['pass', 8],
        ['insufficient_sample', 0],
      ]);
      const [cmd] = await commandsOf(id);
      expect(cmd.payload).toMatchObject({
        releaseId: rel,
        version: '2.0.0',
        size: SIZE,
        guards: { minBatteryPct: 40, window: { start: '22:00', end: '04:00', tz: 'Asia/Shanghai' } },
      });
      expect(String(cmd.payload.url)).toMatch(new RegExp(`^https://ota\\.test/.*${rel}\\?.*cmd=${cmd.id}`));
    });

    it('a dynamic campaign picks up terminals that match after its last wave', async () => {
      const rel = await release('DYN-1');
      await seed('DYNA', 'DYN-1', 2);
      const id = await launch({ releaseId: rel, waves: { canary: { count: 2 } }, ratePerMinute: 100, soakSeconds: 0, target: { dynamic: true } });
      await runner.tick();
      await report(await commandsOf(id, 'queued'), 'succeeded');
      await runner.tick(); // wave 0 passes; nothing left: an empty wave 1 waits
      await runner.tick();
      expect(await progress(id)).toMatchObject({ state: 'running', wave: 1, remaining: 0 });
      await seed('DYNB', 'DYN-1', 3); // registered later, on old firmware
      await runner.tick();
      const later = await commandsOf(id, 'queued');
      expect(later.map((c) => c.sn)).toEqual(['DYNB0000', 'DYNB0001', 'DYNB0002']);
      expect((await progress(id)).health).toHaveLength(1);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    it('pauses by itself when a wave reaches the failure threshold', async () => {
      const rel = await release('FAIL-1');
      await seed('FAIL', 'FAIL-1', 10);
      const id = await launch({ releaseId: rel, waves: { canary: { count: 4 } }, ratePerMinute: 100, failureThreshold: 0.5 });
      await runner.tick();
      const cmds = await commandsOf(id);
      expect(cmds).toHaveLength(4);
      await report(cmds.slice(0, 1), 'failed', 'checksum');
      await runner.tick();
      expect((await progress(id)).state).toBe('running');
      await report(cmds.slice(1, 2), 'failed', 'checksum');
      await runner.tick();
      const p = await progress(id);
      expect(p.state).toBe('paused');
      expect(p.pauseReason).toMatch(/failure threshold: 2 of 4/);
      expect(p.failureReasons).toEqual({ 'failed:checksum': 2 });
      await runner.tick();
      expect(await commandsOf(id)).toHaveLength(4);
    });

    it('the health gate pauses a "bad release": installs succeed, then updated terminals go silent and lose signal', async () => {
      const rel = await release('BAD-1');
      await seed('BADA', 'BAD-1', 20);
      const id = await launch({
        releaseId: rel,
        waves: { canary: { count: 5 } },
        ratePerMinute: 100,
        soakSeconds: 600,
        successThreshold: 0.8,
        healthGate: { minSample: 5, offlineAfterS: 300, alertRules: ['signal_weak'] },
      });
      await runner.tick();
      const cmds = await commandsOf(id);
      expect(cmds).toHaveLength(5);
      await report(cmds, 'succeeded');
      await runner.tick(); // success threshold met: the soak starts
      clock.advance(300_000);
      const sick = cmds.slice(0, 4).map((c) => c.sn);
      await gw.query(
        `INSERT INTO alerts (sn, provider_id, rule, severity, state, first_seen_at, last_seen_at) SELECT sn, $2, 'signal_weak', 'warning', 'open', $3, $3 FROM unnest($1::text[]) sn`,
        [sick, rootId, clock.now()],
      );
      // Three updated terminals rebooted by themselves after the install (uptime fell between heartbeats).
      await gw.query(
        `INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, mcc_mnc, iccid, imei,
                                 sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s, tx_approved, tx_declined)
         SELECT $2::timestamptz + make_interval(secs => k), sn, $2, k, 'BAD-1', '2.0.0', '1.0.0', 80, false, 'LTE', '46000', '89860000000000000000',
                '860000000000000', 'physical', 'CMCC', 'active', '2027-12-01', true, 1, CASE k WHEN 1 THEN 1000 ELSE 10 END, 3, 2
           FROM unnest($1::text[]) sn, generate_series(1, 2) k`,
        [cmds.slice(0, 3).map((c) => c.sn), clock.now()],
      );
      clock.advance(301_000);
      // Control terminals keep heartbeating; updated ones fell silent right after the install.
      await gw.query(`UPDATE terminal_state SET last_heartbeat_at = $2 WHERE model = 'BAD-1' AND NOT (sn = ANY($1::text[]))`, [
        cmds.map((c) => c.sn),
        clock.now(),
      ]);
      await runner.tick();
      const p = await progress(id);
      expect(p.state).toBe('paused');
      expect(p.pauseReason).toMatch(/health gate after wave 0/);
      expect(p.health).toHaveLength(1);
      expect(p.health[0]).toMatchObject({ wave: 0, verdict: 'fail', updated: 5, control: 15 });
      expect(p.health[0].metrics.offline).toMatchObject({ updatedRate: 1, controlRate: 0, bad: true });
      expect(p.health[0].metrics['alert:signal_weak']).toMatchObject({ updatedRate: 0.8, controlRate: 0, bad: true });
      expect(p.health[0].metrics.reboots).toMatchObject({ updatedRate: 0.6, controlRate: 0, bad: true });
      expect(p.health[0].metrics.declines).toMatchObject({ updatedRate: 0.4, controlRate: 0, bad: true });
      expect(p.totals).toMatchObject({ assigned: 5, succeeded: 5 });
      expect(await scrapeMetric(gw.httpUrl, 'fleet_campaign_auto_pauses_total', 'cause="health_gate"')).toBe(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_campaign_health_gate_total', 'verdict="fail"')).toBe(1);
    });

    it('cancel withdraws pending commands through the ledger; an installing one runs on', async () => {
      const rel = await release('CAN-1');
      await seed('CANA', 'CAN-1', 6);
      const id = await launch({ releaseId: rel, waves: { canary: { count: 6 } }, ratePerMinute: 100 });
      await runner.tick();
      const cmds = await commandsOf(id);
      expect(cmds).toHaveLength(6);
      await report(cmds.slice(0, 1), 'installing');
      const res = await call<{ campaign: { state: string }; withdrawn: number }>('POST', `/v1/campaigns/${id}/cancel`, opsA);
      expect(res).toMatchObject({ status: 200, body: { campaign: { state: 'cancelled' }, withdrawn: 5 } });
      expect((await commandsOf(id, 'cancelled')).length).toBe(5);
      expect((await commandsOf(id, 'installing')).length).toBe(1);
      expect((await call('POST', `/v1/campaigns/${id}/resume`, opsA)).status).toBe(409);
      await runner.tick();
      expect(await commandsOf(id)).toHaveLength(6);
    });

    it('an operator pause stops new commands until resume; both audited', async () => {
      const rel = await release('PAUSE-1');
      await seed('PAUS', 'PAUSE-1', 10);
      const id = await launch({ releaseId: rel, waves: { canary: { count: 10 } }, ratePerMinute: 4 });
      await runner.tick();
      expect(await commandsOf(id)).toHaveLength(4);
      const paused = await call<{ state: string; pauseReason: string }>('POST', `/v1/campaigns/${id}/pause`, opsB);
      expect(paused).toMatchObject({ status: 200, body: { state: 'paused', pauseReason: 'paused by an operator (ops-b)' } });
      expect((await call('POST', `/v1/campaigns/${id}/pause`, opsB, { reason: 'again' })).status).toBe(409);
      clock.advance(120_000);
      await runner.tick();
      expect(await commandsOf(id)).toHaveLength(4);
      expect((await call('POST', `/v1/campaigns/${id}/resume`, opsA)).status).toBe(200);
      await runner.tick();
      expect(await commandsOf(id)).toHaveLength(8);
      const audit = await gw.query<{ action: string }>(`SELECT action FROM audit_log WHERE target_type = 'campaign' AND target_id = $1 ORDER BY id`, [id]);
      expect(audit.map((a) => a.action)).toEqual(['campaign.create', 'campaign.approve', 'campaign.start', 'campaign.pause', 'campaign.resume']);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    it('holds the rate limit on the controllable clock (one minute of credit at most)', async () => {
      const rel = await release('RATE-1');
      await seed('RATE', 'RATE-1', 40);
      const id = await launch({ releaseId: rel, waves: { canary: { count: 40 } }, ratePerMinute: 6 });
      const count = async () => (await commandsOf(id)).length;
      await runner.tick();
      expect(await count()).toBe(6);
      await runner.tick();
      expect(await count()).toBe(6);
      clock.advance(30_000);
      await runner.tick();
      expect(await count()).toBe(9);
      clock.advance(10 * 60_000);
      await runner.tick();
      expect(await count()).toBe(15);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    (kind === 'postgres' ? it : it.skip)(
      'several workers ticking at once: one runs each campaign, no terminal twice, the rate holds; a second approval races and loses',
      async () => {
        const app = gw.running.app;
        const workers = [
          runner,
          ...Array.from(
            { length: 3 },
            () =>
              new CampaignRunner(
                app.get<AppConfig>(APP_CONFIG),
                app.get(CampaignsRepository),
                app.get(CampaignsService),
                app.get(CommandsRepository),
                app.get(OtaInstallService),
                clock,
                app.get(CampaignMetrics),
              ),
          ),
        ];
        const rel = await release('RACE-1');
        await seed('RACE', 'RACE-1', 50);
        const id = await launch({ releaseId: rel, waves: { canary: { count: 50 } }, ratePerMinute: 20 });
        for (let round = 0; round < 3; round++) {
          await Promise.all(workers.flatMap((w) => [w.tick(), w.tick()]));
          clock.advance(30_000);
        }
        const cmds = await commandsOf(id);
        // 20 at the start, then 10 per 30 s: the rate, whoever ran the ticks.
        expect(cmds).toHaveLength(40);
        expect(new Set(cmds.map((c) => c.sn)).size).toBe(40);
        const members = await gw.query<{ n: string }>(`SELECT count(*) AS n FROM campaign_members WHERE campaign_id = $1`, [id]);
        expect(Number(members[0].n)).toBe(40);
        await call('POST', `/v1/campaigns/${id}/cancel`, opsA);

        const draft = await call<{ id: string }>('POST', '/v1/campaigns', opsA, { name: 'race', releaseId: rel });
        const opsC = await gw.issueKey('ops-c');
        const answers = await Promise.all([opsB, opsC].map((k) => call('POST', `/v1/campaigns/${draft.body.id}/approve`, k)));
        expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
      },
    );

    it('targets by city and region: the dry run counts terminals without one as place_unknown; the runner sends only inside', async () => {
      const rel = await release('GEO-1');
      const [sh1, sh2, hz, bj, unknown1, unknown2] = await seed('GEOA', 'GEO-1', 6);
      await gw.query(`UPDATE terminals SET city = 'Shanghai', region = 'Shanghai' WHERE sn = ANY($1::text[])`, [[sh1, sh2]]);
      await gw.query(`UPDATE terminals SET city = 'Hangzhou', region = 'Zhejiang' WHERE sn = $1`, [hz]);
      await gw.query(`UPDATE terminals SET city = 'Beijing', region = 'Beijing' WHERE sn = $1`, [bj]);
      await gw.query(`UPDATE terminals SET region = 'Zhejiang' WHERE sn = $1`, [unknown2]);
      const waves = { canary: { count: 10 }, growth: 2 };

      const byCity = await call<Json>('POST', '/v1/campaigns/dry-run', opsA, { releaseId: rel, target: { cities: ['Shanghai', 'Hangzhou'] }, waves });
      expect(byCity.status).toBe(200);
      // Beijing is outside the target; the two without a city cannot be placed.
      expect(byCity.body).toMatchObject({ matched: 5, targetCount: 3, excluded: { place_unknown: 2 } });
      expect(byCity.body.excludedSample).toEqual([
        { sn: unknown1, reason: 'place_unknown' },
        { sn: unknown2, reason: 'place_unknown' },
      ]);
      const byRegion = await call<Json>('POST', '/v1/campaigns/dry-run', opsA, { releaseId: rel, target: { regions: ['Zhejiang'] }, waves });
      expect(byRegion.body).toMatchObject({ matched: 3, targetCount: 2, excluded: { place_unknown: 1 } });
      const both = await call<Json>('POST', '/v1/campaigns/dry-run', opsA, {
        releaseId: rel,
        target: { cities: ['Hangzhou', 'Shanghai'], regions: ['Zhejiang'] },
        waves,
      });
      expect(both.body).toMatchObject({ targetCount: 1 });
      for (const bad of [{ cities: [] }, { cities: [' Shanghai'] }, { regions: ['x'.repeat(65)] }, { cities: 'Shanghai' }]) {
        expect((await call('POST', '/v1/campaigns/dry-run', opsA, { releaseId: rel, target: bad, waves })).status).toBe(400);
      }

      const id = await launch({ releaseId: rel, target: { cities: ['Shanghai'] }, waves, ratePerMinute: 100 });
      await runner.tick();
      expect((await commandsOf(id)).map((c) => c.sn)).toEqual([sh1, sh2]);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    it('retries terminals whose install failed retryably, after the backoff, up to maxAttempts; counts terminals, not commands', async () => {
      const rel = await release('RETRY-1');
      const [flaky, broken, ok1, ok2] = await seed('RTRY', 'RETRY-1', 4);
      const id = await launch({
        releaseId: rel,
        waves: { canary: { count: 4 } },
        ratePerMinute: 100,
        successThreshold: 1,
        failureThreshold: 1,
        soakSeconds: 0,
        retry: { maxAttempts: 2, backoffS: 60, factor: 2 },
      });
      expect((await call<{ retry: Json }>('GET', `/v1/campaigns/${id}`, opsA)).body.retry).toEqual({ maxAttempts: 2, backoffS: 60, factor: 2 });
      await runner.tick();
      const first = await commandsOf(id);
      const of = (cmds: typeof first, sn: string) => cmds.filter((c) => c.sn === sn);
      await report(of(first, flaky), 'failed', 'install_failed');
      await report(of(first, broken), 'failed', 'checksum_mismatch');
      await report([...of(first, ok1), ...of(first, ok2)], 'succeeded');

      // install_failed is retried, checksum_mismatch (the artifact itself) is not; nothing before the backoff.
      expect((await progress(id)).totals).toMatchObject({ assigned: 4, succeeded: 2, failed: 2, retrying: 1, inFlight: 0 });
      expect(await runner.tick()).toEqual(new Map([[id, { kind: 'waiting', why: 'retries pending' }]]));
      expect(await commandsOf(id)).toHaveLength(4);

      clock.advance(61_000);
      expect((await runner.tick()).get(id)).toEqual({ kind: 'dispatched', count: 1 });
      const second = await commandsOf(id, 'queued');
      expect(second.map((c) => c.sn)).toEqual([flaky]);
      expect((await progress(id)).totals).toMatchObject({ assigned: 4, succeeded: 2, failed: 1, retrying: 0, inFlight: 1 });

      // The second failure is the last attempt: no third command, ever; the wave is judged with 2 of 4.
      await report(second, 'failed', 'install_failed');
      clock.advance(3600_000);
      const outcome = (await runner.tick()).get(id);
      expect(outcome).toMatchObject({ kind: 'paused' });
      expect(await commandsOf(id)).toHaveLength(5);
      const p = await progress(id);
      expect(p.totals).toMatchObject({ assigned: 4, succeeded: 2, failed: 2, retrying: 0, inFlight: 0 });
      expect(p.failureReasons).toEqual({ 'failed:install_failed': 1, 'failed:checksum_mismatch': 1 });
      expect(p.pauseReason).toMatch(/success threshold: 2 of 4/);
      const attempts = await gw.query<{ sn: string; attempts: number }>(`SELECT sn, attempts FROM campaign_members WHERE campaign_id = $1 ORDER BY sn`, [id]);
      expect(attempts.map((a) => [a.sn, Number(a.attempts)])).toEqual([
        [flaky, 2],
        [broken, 1],
        [ok1, 1],
        [ok2, 1],
      ]);
    });

    it('retries an expired command; gives up a due retry whose terminal left the target (offline too long)', async () => {
      const rel = await release('RETRY-2');
      const [late, gone, fine] = await seed('RTRZ', 'RETRY-2', 3);
      const id = await launch({
        releaseId: rel,
        waves: { canary: { count: 3 } },
        ratePerMinute: 100,
        failureThreshold: 1,
        retry: { maxAttempts: 3, backoffS: 600, factor: 1 },
      });
      await runner.tick();
      await report(
        (await commandsOf(id)).filter((c) => c.sn === fine),
        'succeeded',
      );
      // Two commands expire unstarted (the ledger's expiry, as its sweep would set it).
      await gw.query(`UPDATE commands SET state = 'expired', reason = 'expired', updated_at = $2 WHERE campaign_id = $1 AND sn <> $3`, [id, clock.now(), fine]);
      await gw.query(`UPDATE terminal_state SET last_heartbeat_at = $2 WHERE sn = $1`, [gone, new Date(clock.now().getTime() - 30 * 86_400_000)]);
      expect((await progress(id)).totals).toMatchObject({ failed: 2, retrying: 2 });
      clock.advance(601_000);
      await heartbeatAll('RETRY-2');
      await gw.query(`UPDATE terminal_state SET last_heartbeat_at = $2 WHERE sn = $1`, [gone, new Date(clock.now().getTime() - 30 * 86_400_000)]);
      expect((await runner.tick()).get(id)).toEqual({ kind: 'dispatched', count: 1 });
      expect((await commandsOf(id, 'queued')).map((c) => c.sn)).toEqual([late]);
      expect((await progress(id)).totals).toMatchObject({ failed: 1, retrying: 0, inFlight: 1 });
      const attempts = await gw.query<{ sn: string; attempts: number }>(`SELECT sn, attempts FROM campaign_members WHERE campaign_id = $1 ORDER BY sn`, [id]);
      expect(attempts.map((a) => [a.sn, Number(a.attempts)])).toEqual([
        [late, 2],
        [gone, 3],
        [fine, 1],
      ]);
      await call('POST', `/v1/campaigns/${id}/cancel`, opsA);
    });

    it('provider roles see only campaigns inside their subtree, read-only', async () => {
      const p = await call<{ id: string }>('POST', '/v1/providers', opsA, { code: `camp-p-${kind}`, name: 'P' });
      const other = await call<{ id: string }>('POST', '/v1/providers', opsA, { code: `camp-q-${kind}`, name: 'Q' });
      const providerKey = await gw.issueKey('p-admin', Role.ProviderAdmin, p.body.id);
      const rel = await release('PROV-1');
      await seed('PROA', 'PROV-1', 2, { providerId: p.body.id });
      const mine = await call<{ id: string }>('POST', '/v1/campaigns', opsA, { name: 'p', releaseId: rel, target: { providerId: p.body.id } });
      const theirs = await call<{ id: string }>('POST', '/v1/campaigns', opsA, { name: 'q', releaseId: rel, target: { providerId: other.body.id } });
      const fleet = await call<{ id: string }>('POST', '/v1/campaigns', opsA, { name: 'all', releaseId: rel });
      const list = await call<{ items: { id: string }[] }>('GET', '/v1/campaigns?limit=200', providerKey);
      expect(list.status).toBe(200);
      expect(list.body.items.map((c) => c.id)).toEqual([mine.body.id]);
      expect((await call('GET', `/v1/campaigns/${mine.body.id}/progress`, providerKey)).status).toBe(200);
      expect((await call('GET', `/v1/campaigns/${theirs.body.id}`, providerKey)).status).toBe(404);
      expect((await call('GET', `/v1/campaigns/${fleet.body.id}`, providerKey)).status).toBe(404);
      expect((await call('POST', `/v1/campaigns/${mine.body.id}/approve`, providerKey)).status).toBe(403);
      expect((await call('POST', '/v1/campaigns', providerKey, { name: 'x', releaseId: rel })).status).toBe(403);
      expect((await call('GET', '/v1/campaigns?bogus=1', providerKey)).status).toBe(400);
    });
  });
}
