import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API_ENTITIES, ApiModule, Role } from '#api';
import { apiCaller, ManualClock, startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { COMMAND_CLOCK } from './command-clock.js';
import { CommandsRepository } from './commands.repository.js';
import { HeartbeatDefaultsWorkerModule } from './heartbeat-defaults.module.js';
import { HEARTBEAT_DEFAULTS_ACTOR, HeartbeatDefaultsRepository } from './heartbeat-defaults.repository.js';
import { HeartbeatIntervalReconciler } from './heartbeat-interval-reconciler.service.js';

type Json = Record<string, unknown>;

const ENV = { HEARTBEAT_DEFAULTS_RECONCILE_MS: '0', CAMPAIGN_TICK_MS: '0', ALERTS_ENABLED: 'false' };

for (const kind of testDbKinds()) {
  describe(`default heartbeat intervals on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let clock: ManualClock;
    let call: ReturnType<typeof apiCaller>;
    let ops: string;
    let rootId: string;
    let reconciler: HeartbeatIntervalReconciler;

    /** Registered terminals that reported once (a terminal_state row). */
    const seed = async (prefix: string, model: string, n: number, providerId = rootId): Promise<string[]> => {
      const sns = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
      await gw.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT sn, $2, $3, '\\x00' FROM unnest($1::text[]) sn`, [
        sns,
        model,
        providerId,
      ]);
      await gw.query(`INSERT INTO terminal_state (sn, last_heartbeat_at, model, online) SELECT sn, $2, $3, true FROM unnest($1::text[]) sn`, [
        sns,
        clock.now(),
        model,
      ]);
      return sns;
    };
    const intervalCommands = (sns: string[]) =>
      gw.query<{ id: string; sn: string; state: string; seconds: number; created_by: string }>(
        `SELECT id, sn, state, (payload->>'seconds')::int AS seconds, created_by FROM commands
          WHERE type = 'set_heartbeat_interval' AND sn = ANY($1::text[]) ORDER BY sn, created_at`,
        [sns],
      );
    const ack = async (cmds: { id: string; sn: string }[], state: 'succeeded' | 'rejected') => {
      const now = clock.now();
      await gw.running.app.get(CommandsRepository).applyReports(
        cmds.map((c) => ({
          sn: c.sn,
          id: c.id,
          state,
          reason: state === 'rejected' ? 'invalid_params' : null,
          detail: null,
          progress: null,
          reportedAt: now,
          receivedAt: now,
          payload: Buffer.from('{}'),
        })),
        { resendAfterMs: 60_000, maxAttempts: 5, stepTimeoutMs: 600_000 },
      );
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
      gw = await startTestGateway(db, ENV, {
        composition: { features: [ApiModule, HeartbeatDefaultsWorkerModule], entities: API_ENTITIES },
        override: (b) => b.overrideProvider(COMMAND_CLOCK).useValue(clock),
      });
      call = apiCaller(gw.httpUrl);
      ops = await gw.issueKey('ops');
      reconciler = gw.running.app.get(HeartbeatIntervalReconciler);
      rootId = (await gw.query<{ id: string }>(`SELECT id FROM providers WHERE parent_id IS NULL`))[0].id;
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('API: ops set fleet and model defaults, provider admins their subtree only; bounds validated; changes audited', async () => {
      const a = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `hb-a-${kind}`, name: 'A' });
      const b = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `hb-b-${kind}`, name: 'B' });
      const providerAdmin = await gw.issueKey('pa', Role.ProviderAdmin, a.body.id);
      const viewer = await gw.issueKey('viewer', Role.OpsViewer);

      expect(await call('PUT', '/v1/heartbeat-defaults/fleet', ops, { seconds: 300 })).toMatchObject({
        status: 200,
        body: { fleet: { seconds: 300, updatedBy: 'ops' } },
      });
      expect((await call('PUT', '/v1/heartbeat-defaults/models/EP-T1', ops, { seconds: 600 })).status).toBe(200);
      for (const bad of [{ seconds: 29 }, { seconds: 3601 }, { seconds: 60.5 }, { seconds: '300' }, {}, { seconds: 300, extra: 1 }]) {
        expect((await call('PUT', '/v1/heartbeat-defaults/fleet', ops, bad)).status).toBe(400);
      }
      expect((await call('PUT', '/v1/heartbeat-defaults/fleet?x=1', ops, { seconds: 300 })).status).toBe(400);
      expect((await call('PUT', '/v1/heartbeat-defaults/fleet', viewer, { seconds: 300 })).status).toBe(403);
      expect((await call('PUT', '/v1/heartbeat-defaults/fleet', providerAdmin, { seconds: 300 })).status).toBe(403);
      expect((await call('PUT', '/v1/heartbeat-defaults/models/EP-T1', providerAdmin, { seconds: 300 })).status).toBe(403);
      expect((await call('PUT', `/v1/heartbeat-defaults/providers/${a.body.id}`, providerAdmin, { seconds: 900 })).status).toBe(200);
      expect((await call('PUT', `/v1/heartbeat-defaults/providers/${b.body.id}`, providerAdmin, { seconds: 900 })).status).toBe(404);
      expect((await call('PUT', `/v1/heartbeat-defaults/providers/${b.body.id}`, ops, { seconds: 1200 })).status).toBe(200);

      // A provider admin sees the fleet and model rows and its own subtree's, not a sibling's.
      const seen = await call<{ fleet: Json; models: Json[]; providers: { providerId: string; seconds: number }[] }>(
        'GET',
        '/v1/heartbeat-defaults',
        providerAdmin,
      );
      expect(seen.status).toBe(200);
      expect(seen.body.fleet).toMatchObject({ seconds: 300 });
      expect(seen.body.models).toEqual([expect.objectContaining({ model: 'EP-T1', seconds: 600 })]);
      expect(seen.body.providers).toEqual([expect.objectContaining({ providerId: a.body.id, seconds: 900 })]);

      expect((await call('DELETE', `/v1/heartbeat-defaults/providers/${b.body.id}`, ops)).status).toBe(204);
      expect((await call('DELETE', `/v1/heartbeat-defaults/providers/${b.body.id}`, ops)).status).toBe(404);
      expect((await call('DELETE', '/v1/heartbeat-defaults/models/EP-T1', ops)).status).toBe(204);
      expect((await call('DELETE', `/v1/heartbeat-defaults/providers/${a.body.id}`, providerAdmin)).status).toBe(204);
      expect((await call('DELETE', '/v1/heartbeat-defaults/fleet', ops)).status).toBe(204);
      // The backend's own actor name cannot be taken by an API key (its commands are told apart by it).
      expect((await call('POST', '/v1/api-keys', ops, { name: 'System:heartbeat-defaults', role: 'ops-admin' })).status).toBe(400);
      const audit = await gw.query<{ action: string; target_id: string }>(
        `SELECT action, target_id FROM audit_log WHERE target_type = 'heartbeat_default' ORDER BY id`,
      );
      expect(audit.map((r) => `${r.action} ${r.target_id}`)).toEqual([
        'heartbeat_default.create fleet',
        'heartbeat_default.create model:EP-T1',
        `heartbeat_default.create provider:${a.body.id}`,
        `heartbeat_default.create provider:${b.body.id}`,
        `heartbeat_default.delete provider:${b.body.id}`,
        'heartbeat_default.delete model:EP-T1',
        `heartbeat_default.delete provider:${a.body.id}`,
        'heartbeat_default.delete fleet',
      ]);
    });

    it('resolution (nearest provider > model > fleet) and enforcement through the ledger: once per terminal, again only when the default changes', async () => {
      const a = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `res-a-${kind}`, name: 'A' });
      const a1 = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `res-a1-${kind}`, name: 'A1', parentId: a.body.id });
      const [t1] = await seed('RESM', 'RES-M1', 1);
      const [t2] = await seed('RESO', 'RES-M2', 1);
      const [t3] = await seed('RESD', 'RES-M1', 1, a1.body.id);
      const [t4] = await seed('RESP', 'RES-M1', 1, a.body.id);
      await gw.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) VALUES ('RESN0000', 'RES-M1', $1, '\\x00')`, [rootId]);
      const [off] = await seed('RESX', 'RES-M1', 1);
      await gw.query(`UPDATE terminals SET status = 'disabled' WHERE sn = $1`, [off]);
      const all = [t1, t2, t3, t4, 'RESN0000', off];

      await call('PUT', '/v1/heartbeat-defaults/fleet', ops, { seconds: 300 });
      await call('PUT', '/v1/heartbeat-defaults/models/RES-M1', ops, { seconds: 600 });
      await call('PUT', `/v1/heartbeat-defaults/providers/${a.body.id}`, ops, { seconds: 900 });
      await call('PUT', `/v1/heartbeat-defaults/providers/${a1.body.id}`, ops, { seconds: 1200 });

      const view = await call<Json>('GET', `/v1/terminals/${t3}/heartbeat-interval`, ops);
      expect(view).toMatchObject({
        status: 200,
        body: { sn: t3, effective: { seconds: 1200, source: 'provider', providerId: a1.body.id }, known: null, pending: null },
      });
      expect((await call<Json>('GET', `/v1/terminals/${t1}/heartbeat-interval`, ops)).body).toMatchObject({ effective: { seconds: 600, source: 'model' } });
      expect((await call<Json>('GET', `/v1/terminals/${t2}/heartbeat-interval`, ops)).body).toMatchObject({ effective: { seconds: 300, source: 'fleet' } });

      await reconciler.reconcile();
      const first = await intervalCommands(all);
      // Never-reported and disabled terminals are left alone.
      expect(first.map((c) => [c.sn, c.seconds, c.state, c.created_by])).toEqual([
        [t3, 1200, 'queued', HEARTBEAT_DEFAULTS_ACTOR],
        [t1, 600, 'queued', HEARTBEAT_DEFAULTS_ACTOR],
        [t2, 300, 'queued', HEARTBEAT_DEFAULTS_ACTOR],
        [t4, 900, 'queued', HEARTBEAT_DEFAULTS_ACTOR],
      ]);
      expect((await call<Json>('GET', `/v1/terminals/${t3}/heartbeat-interval`, ops)).body).toMatchObject({
        pending: { commandId: first[0].id, seconds: 1200 },
      });

      // Pending: nothing more; acknowledged: known, nothing more.
      await reconciler.reconcile();
      expect(await intervalCommands(all)).toHaveLength(4);
      await ack(
        first.filter((c) => c.sn !== t2),
        'succeeded',
      );
      await ack(
        first.filter((c) => c.sn === t2),
        'rejected',
      );
      await reconciler.reconcile();
      expect(await intervalCommands(all)).toHaveLength(4);
      expect((await call<Json>('GET', `/v1/terminals/${t1}/heartbeat-interval`, ops)).body).toMatchObject({ known: { seconds: 600 }, pending: null });

      // A changed model default reaches the terminals it applies to (t1 only: t3 and t4 follow their providers).
      await call('PUT', '/v1/heartbeat-defaults/models/RES-M1', ops, { seconds: 700 });
      await reconciler.reconcile();
      const second = (await intervalCommands(all)).filter((c) => c.state === 'queued');
      expect(second.map((c) => [c.sn, c.seconds])).toEqual([[t1, 700]]);

      // The rejected value is tried again only after HEARTBEAT_DEFAULTS_RETRY_AFTER_S (default one day).
      clock.advance(86_400_000 + 1000);
      await reconciler.reconcile();
      const third = (await intervalCommands([t2])).map((c) => c.state);
      expect(third).toEqual(['rejected', 'queued']);
    });

    it('two workers reconciling at once never queue two interval commands for one terminal', async () => {
      const sns = await seed('RACE', 'RACE-M', 150);
      await call('PUT', '/v1/heartbeat-defaults/models/RACE-M', ops, { seconds: 450 });
      const repo = gw.running.app.get(HeartbeatDefaultsRepository);
      const now = clock.now();
      const expires = new Date(now.getTime() + 86_400_000);
      // Separate pool connections on postgres: the statements really overlap.
      const results = await Promise.all(Array.from({ length: 4 }, () => repo.reconcilePage('RACD', 1000, now, expires, new Date(now.getTime() - 1000))));
      const cmds = await intervalCommands(sns);
      expect(cmds).toHaveLength(150);
      expect(new Set(cmds.map((c) => c.sn)).size).toBe(150);
      expect(results.reduce((n, r) => n + r.queued.length, 0)).toBe(150);
    });
  });
}
