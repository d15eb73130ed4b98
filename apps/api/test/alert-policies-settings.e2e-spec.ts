import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API } from '#runtime';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

interface Provider {
  id: string;
  parentId: string | null;
}
interface Policy {
  model: string;
  component: string;
  minSupported: string | null;
  latest: string | null;
  latestSince: string | null;
  blocked: string[];
  updatedAt: string;
}
interface Settings {
  providerId: string;
  overrides: Record<string, unknown> | null;
  updatedAt: string | null;
  effective: { battery: { warningBelowPct: number; criticalBelowPct: number }; offline: { graceMinutes: number } } & Record<string, unknown>;
  issues: { path: string; message: string }[];
}
interface ErrorBody {
  error: { code: string; details?: { field: string }[] };
}

for (const kind of testDbKinds()) {
  describe(`version policies and alert settings on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;
    let opsViewer: string;
    let adminA: string;
    let viewerA: string;
    let root: Provider;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;

    const audits = async (action: string, targetId: string) =>
      (await gw.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = $1 AND target_id = $2`, [action, targetId]))[0].n;
    const expect400 = async (method: string, path: string, body: unknown, field: string, key = ops) => {
      const res = await call<ErrorBody>(method, path, key, body);
      expect([res.status, res.body.error?.code]).toStrictEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details?.map((d) => d.field)).toContain(field);
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '1000000' }, { composition: API });
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey('ops-key');
      const mk = async (code: string, parentId?: string) => (await call<Provider>('POST', '/v1/providers', ops, { code, name: code, parentId })).body;
      spA = await mk('vp-a');
      spA1 = await mk('vp-a1', spA.id);
      spB = await mk('vp-b');
      root = (await call<{ items: Provider[] }>('GET', '/v1/providers', ops)).body.items.find((p) => p.parentId === null) as Provider;
      opsViewer = await gw.issueKey('ops-viewer', 'ops-viewer');
      adminA = await gw.issueKey('admin-a', 'provider-admin', spA.id);
      viewerA = await gw.issueKey('viewer-a', 'provider-viewer', spA.id);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    describe('version policies', () => {
      it('ops-admin creates (201), replaces (200), deletes (204); latestSince moves only when latest changes; every role reads', async () => {
        const path = '/v1/version-policies/EP-T1/firmware';
        const created = await call<Policy>('PUT', path, ops, { minSupported: '3.1.0', latest: '3.2.10', blocked: ['3.0.5'] });
        expect(created.status).toBe(201);
        expect(created.body).toMatchObject({ model: 'EP-T1', component: 'firmware', minSupported: '3.1.0', latest: '3.2.10', blocked: ['3.0.5'] });
        expect(created.body.latestSince).not.toBeNull();
        expect(await audits('version_policy.create', 'EP-T1/firmware')).toBe(1);

        // The same values again: nothing changes, nothing is audited.
        const same = await call<Policy>('PUT', path, ops, { minSupported: '3.1.0', latest: '3.2.10', blocked: ['3.0.5'] });
        expect(same.status).toBe(200);
        expect(same.body).toStrictEqual(created.body);
        expect(await audits('version_policy.update', 'EP-T1/firmware')).toBe(0);

        const minOnly = await call<Policy>('PUT', path, ops, { minSupported: '3.2.0', latest: '3.2.10', blocked: [] });
        expect(minOnly.status).toBe(200);
        expect(minOnly.body.latestSince).toBe(created.body.latestSince);
        const newLatest = await call<Policy>('PUT', path, ops, { minSupported: '3.2.0', latest: '3.10.0' });
        expect(newLatest.body.latestSince).not.toBe(created.body.latestSince);
        expect(newLatest.body.blocked).toStrictEqual([]);
        expect(await audits('version_policy.update', 'EP-T1/firmware')).toBe(2);
        const cleared = await call<Policy>('PUT', path, ops, { minSupported: '3.2.0', latest: null });
        expect([cleared.body.latest, cleared.body.latestSince]).toStrictEqual([null, null]);

        for (const key of [opsViewer, adminA, viewerA]) {
          const list = await call<{ items: Policy[] }>('GET', '/v1/version-policies', key);
          expect(list.status).toBe(200);
          expect(list.body.items.map((p) => `${p.model}/${p.component}`)).toStrictEqual(['EP-T1/firmware']);
          expect((await call<Policy>('GET', path, key)).body.minSupported).toBe('3.2.0');
        }
        expect((await call('GET', '/v1/version-policies?component=app', ops)).body).toStrictEqual({ items: [] });
        expect((await call('GET', '/v1/version-policies/EP-T1/app', ops)).status).toBe(404);

        expect((await call('DELETE', path, ops)).status).toBe(204);
        expect(await audits('version_policy.delete', 'EP-T1/firmware')).toBe(1);
        expect((await call('DELETE', path, ops)).status).toBe(404);
        expect((await call('GET', path, ops)).status).toBe(404);
      });

      it('writes are ops-admin only (403 before the body is looked at); reads need a key', async () => {
        for (const key of [adminA, viewerA, opsViewer]) {
          expect((await call<ErrorBody>('PUT', '/v1/version-policies/EP-T1/app', key, { latest: '1.0' })).status).toBe(403);
          expect((await call<ErrorBody>('PUT', '/v1/version-policies/EP-T1/app', key, { bogus: true })).status).toBe(403);
          expect((await call<ErrorBody>('DELETE', '/v1/version-policies/EP-T1/app', key)).status).toBe(403);
        }
        expect((await call('GET', '/v1/version-policies', null)).status).toBe(401);
        expect((await gw.query(`SELECT 1 FROM version_policies WHERE component = 'app'`)).length).toBe(0);
      });

      it('validation: incomparable versions name their field, minSupported above latest, unknown fields and components', async () => {
        const path = '/v1/version-policies/EP-T2/app';
        await expect400('PUT', path, { minSupported: '2.0', latest: 'beta' }, 'body.latest');
        await expect400('PUT', path, { minSupported: 'none', latest: '2.0' }, 'body.minSupported');
        await expect400('PUT', path, { blocked: ['1.0', 'x'] }, 'body.blocked.1');
        await expect400('PUT', path, { minSupported: '2.10', latest: '2.9' }, 'body.minSupported');
        await expect400('PUT', path, { latest: '2.0', channel: 'beta' }, 'body');
        await expect400('PUT', path, { latest: 'a\u0000b' }, 'body.latest');
        await expect400('PUT', '/v1/version-policies/EP-T2/os', { latest: '2.0' }, 'params.component');
        await expect400('GET', '/v1/version-policies?model=EP-T2&extra=1', undefined, 'query.extra');
        await expect400('GET', '/v1/version-policies/EP-T2/app?x=1', undefined, 'query.x');
        await expect400('PUT', `${path}?dryRun=true`, { latest: '2.0' }, 'query.dryRun');
        // Vendor prefixes must match to compare.
        await expect400('PUT', path, { minSupported: 'E20_V3.2.1', latest: 'N5-3.2.1' }, 'body.minSupported');
        expect((await call<Policy>('PUT', '/v1/version-policies/E20/firmware', ops, { minSupported: 'E20_V3.2.1', latest: 'E20_V3.10.0' })).status).toBe(201);
        // 2.9 < 2.10 numerically: accepted.
        expect((await call<Policy>('PUT', path, ops, { minSupported: '2.9', latest: '2.10' })).status).toBe(201);
      });

      it('raced: identical creates give one 201 and one audit entry; the rest are no-ops', async () => {
        for (let round = 0; round < 5; round++) {
          const path = `/v1/version-policies/RACE-${round}/app`;
          const results = await Promise.all(Array.from({ length: 5 }, () => call<Policy>('PUT', path, ops, { minSupported: '1.0', latest: '1.2' })));
          expect(results.map((r) => r.status).sort()).toStrictEqual([200, 200, 200, 200, 201]);
          expect(new Set(results.map((r) => r.body.latestSince)).size).toBe(1);
          expect([await audits('version_policy.create', `RACE-${round}/app`), await audits('version_policy.update', `RACE-${round}/app`)]).toStrictEqual([
            1, 0,
          ]);
        }
      });
    });

    describe('alert settings', () => {
      it('defaults, overrides and the effective values merged root \u2192 provider', async () => {
        const defaults = await call<Settings['effective']>('GET', '/v1/alert-settings/defaults', viewerA);
        expect(defaults.status).toBe(200);
        const initial = await call<Settings>('GET', `/v1/providers/${spA1.id}/alert-settings`, viewerA);
        expect(initial.body).toStrictEqual({ providerId: spA1.id, overrides: null, updatedAt: null, effective: defaults.body, issues: [] });

        const fleet = await call<Settings>('PUT', `/v1/providers/${root.id}/alert-settings`, ops, { battery: { warningBelowPct: 25 } });
        expect(fleet.status).toBe(200);
        expect(fleet.body.overrides).toStrictEqual({ battery: { warningBelowPct: 25 } });
        const a = await call<Settings>('PUT', `/v1/providers/${spA.id}/alert-settings`, adminA, { offline: { graceMinutes: 60 } });
        expect(a.status).toBe(200);
        const a1 = await call<Settings>('GET', `/v1/providers/${spA1.id}/alert-settings`, viewerA);
        expect(a1.body.overrides).toBeNull();
        expect(a1.body.effective.battery).toStrictEqual({ ...defaults.body.battery, warningBelowPct: 25 });
        expect(a1.body.effective.offline).toStrictEqual({ ...defaults.body.offline, graceMinutes: 60 });
        // A sibling subtree gets the fleet-wide value but not A's.
        const b = await call<Settings>('GET', `/v1/providers/${spB.id}/alert-settings`, ops);
        expect(b.body.effective.offline).toStrictEqual(defaults.body.offline);
        expect(b.body.effective.battery.warningBelowPct).toBe(25);

        // A deeper override wins over the one above it.
        const own = await call<Settings>('PUT', `/v1/providers/${spA1.id}/alert-settings`, adminA, { offline: { graceMinutes: 15 } });
        expect(own.body.effective.offline.graceMinutes).toBe(15);
        expect(await audits('alert_settings.create', spA1.id)).toBe(1);
        const audit = await gw.query<{ before: unknown; after: unknown; provider_id: string }>(
          `SELECT before, after, provider_id FROM audit_log WHERE action = 'alert_settings.create' AND target_id = $1`,
          [spA1.id],
        );
        expect(audit).toStrictEqual([{ before: null, after: { offline: { graceMinutes: 15 } }, provider_id: spA1.id }]);
        // The same overrides again: no change, no audit; a change is audited with before and after.
        await call('PUT', `/v1/providers/${spA1.id}/alert-settings`, adminA, { offline: { graceMinutes: 15 } });
        expect(await audits('alert_settings.update', spA1.id)).toBe(0);
        await call('PUT', `/v1/providers/${spA1.id}/alert-settings`, adminA, { offline: { graceMinutes: 20 } });
        const update = await gw.query<{ before: unknown; after: unknown }>(
          `SELECT before, after FROM audit_log WHERE action = 'alert_settings.update' AND target_id = $1`,
          [spA1.id],
        );
        expect(update).toStrictEqual([{ before: { offline: { graceMinutes: 15 } }, after: { offline: { graceMinutes: 20 } } }]);

        expect((await call('DELETE', `/v1/providers/${spA1.id}/alert-settings`, adminA)).status).toBe(204);
        expect(await audits('alert_settings.delete', spA1.id)).toBe(1);
        expect((await call('DELETE', `/v1/providers/${spA1.id}/alert-settings`, adminA)).status).toBe(404);
        const after = await call<Settings>('GET', `/v1/providers/${spA1.id}/alert-settings`, viewerA);
        expect([after.body.overrides, after.body.effective.offline.graceMinutes]).toStrictEqual([null, 60]);
      });

      it('who may write: provider-admin in its subtree, the root (fleet-wide) ops-admin only, viewers never; outside the scope 404', async () => {
        expect((await call<ErrorBody>('PUT', `/v1/providers/${spA.id}/alert-settings`, viewerA, { offline: { graceMinutes: 5 } })).status).toBe(403);
        expect((await call<ErrorBody>('PUT', `/v1/providers/${spA.id}/alert-settings`, opsViewer, { offline: { graceMinutes: 5 } })).status).toBe(403);
        expect((await call<ErrorBody>('PUT', `/v1/providers/${spB.id}/alert-settings`, adminA, { offline: { graceMinutes: 5 } })).status).toBe(404);
        expect((await call<ErrorBody>('GET', `/v1/providers/${spB.id}/alert-settings`, viewerA)).status).toBe(404);
        expect((await call<ErrorBody>('PUT', `/v1/providers/${root.id}/alert-settings`, adminA, { offline: { graceMinutes: 5 } })).status).toBe(404);
        expect((await call<ErrorBody>('DELETE', `/v1/providers/${spB.id}/alert-settings`, adminA)).status).toBe(404);
        // A provider-admin key bound to the root still may not change the fleet-wide values.
        const rootAdmin = await gw.issueKey('root-admin', 'provider-admin', root.id);
        expect((await call<ErrorBody>('PUT', `/v1/providers/${root.id}/alert-settings`, rootAdmin, { offline: { graceMinutes: 5 } })).status).toBe(403);
        expect((await call<ErrorBody>('DELETE', `/v1/providers/${root.id}/alert-settings`, rootAdmin)).status).toBe(403);
        expect((await call<Settings>('PUT', `/v1/providers/${spB.id}/alert-settings`, rootAdmin, { offline: { graceMinutes: 5 } })).status).toBe(200);
        expect((await call<Settings>('GET', `/v1/providers/${root.id}/alert-settings`, ops)).body.overrides).toStrictEqual({
          battery: { warningBelowPct: 25 },
        });
      });

      it('a change that leaves this provider or one below it with invalid merged thresholds is refused', async () => {
        // A1 sets critical at 12; its parent A lowering warning to 10 would put critical above warning for A1.
        expect((await call('PUT', `/v1/providers/${spA1.id}/alert-settings`, ops, { battery: { criticalBelowPct: 12 } })).status).toBe(200);
        const own = await call<ErrorBody>('PUT', `/v1/providers/${spA1.id}/alert-settings`, ops, { battery: { criticalBelowPct: 30 } });
        expect([own.status, own.body.error.details?.map((d) => d.field)]).toStrictEqual([400, ['body.battery.criticalBelowPct']]);
        const parent = await call<ErrorBody>('PUT', `/v1/providers/${spA.id}/alert-settings`, ops, {
          offline: { graceMinutes: 60 },
          battery: { warningBelowPct: 10 },
        });
        expect(parent.status).toBe(400);
        expect(JSON.stringify(parent.body.error.details)).toContain(spA1.id);
        // Removing the fleet-wide warning level (25) would put A1's critical 22 above the default warning 20: 409.
        expect((await call('PUT', `/v1/providers/${spA1.id}/alert-settings`, ops, { battery: { criticalBelowPct: 22 } })).status).toBe(200);
        const removal = await call<ErrorBody>('DELETE', `/v1/providers/${root.id}/alert-settings`, ops);
        expect([removal.status, removal.body.error.code]).toStrictEqual([409, 'CONFLICT']);
        expect(JSON.stringify(removal.body.error.details)).toContain(spA1.id);
        expect((await call('DELETE', `/v1/providers/${spA1.id}/alert-settings`, ops)).status).toBe(204);
        expect((await call<Settings>('GET', `/v1/providers/${spA.id}/alert-settings`, ops)).body.overrides).toStrictEqual({ offline: { graceMinutes: 60 } });
      });

      it('validation: unknown fields, wrong types, NUL bytes, bad provider id', async () => {
        const path = `/v1/providers/${spA.id}/alert-settings`;
        await expect400('PUT', path, { nonsense: 1 }, 'body');
        await expect400('PUT', path, { offline: { graceMinutes: 'soon' } }, 'body.offline.graceMinutes');
        await expect400('PUT', path, { offline: { graceMinutes: 60, extra: true } }, 'body.offline');
        await expect400('PUT', path, { timeZone: 'Asia/\u0000Shanghai' }, 'body.timeZone');
        await expect400('GET', '/v1/providers/not-a-uuid/alert-settings', undefined, 'params.id');
        await expect400('PUT', `${path}?dryRun=true`, { offline: { graceMinutes: 1 } }, 'query.dryRun');
        await expect400('GET', '/v1/alert-settings/defaults?lang=en', undefined, 'query.lang');
        expect((await call<Settings>('GET', path, ops)).body.overrides).toStrictEqual({ offline: { graceMinutes: 60 } });
      });

      it('raced: a parent and a child change that are valid alone but not together never both land; identical creates audit once', async () => {
        for (let round = 0; round < 10; round++) {
          await gw.query(`DELETE FROM alert_settings WHERE provider_id = ANY($1::uuid[])`, [[spA.id, spA1.id]]);
          // Alone each is valid (root warning 25); together A1 would have critical 15 above warning 12.
          const [parent, child] = await Promise.all([
            call<ErrorBody>('PUT', `/v1/providers/${spA.id}/alert-settings`, ops, { battery: { warningBelowPct: 12 } }),
            call<ErrorBody>('PUT', `/v1/providers/${spA1.id}/alert-settings`, adminA, { battery: { criticalBelowPct: 15 } }),
          ]);
          expect([parent.status, child.status].sort()).toStrictEqual([200, 400]);
          const a1 = await call<Settings>('GET', `/v1/providers/${spA1.id}/alert-settings`, ops);
          expect(a1.body.issues).toStrictEqual([]);
          expect(a1.body.effective).not.toBeNull();
        }
        const spC = (await call<Provider>('POST', '/v1/providers', ops, { code: 'vp-c', name: 'vp-c' })).body;
        const puts = await Promise.all(
          Array.from({ length: 6 }, () => call('PUT', `/v1/providers/${spC.id}/alert-settings`, ops, { signal: { raiseAfter: 5 } })),
        );
        expect(puts.map((r) => r.status)).toStrictEqual([200, 200, 200, 200, 200, 200]);
        expect([await audits('alert_settings.create', spC.id), await audits('alert_settings.update', spC.id)]).toStrictEqual([1, 0]);
        await gw.query(`DELETE FROM alert_settings WHERE provider_id = ANY($1::uuid[])`, [[spA.id, spA1.id]]);
      });
    });
  });
}
