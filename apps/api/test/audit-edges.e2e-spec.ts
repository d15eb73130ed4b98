import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  connectTerminal,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { apiClient } from './api-client.js';

interface Provider {
  id: string;
  code: string;
  name: string;
}
interface AuditItem {
  action: string;
  targetId: string | null;
  providerId: string | null;
  requestId: string | null;
  serverRequestId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}
interface HistoryItem {
  from: { id: string } | null;
  to: { id: string } | null;
}

/** Leaks at the edges: one redaction rule for audit and ownership history, both owners audited, no noise. */
for (const kind of testDbKinds()) {
  describe(`fleet API: audit and ownership edges on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;
    let adminA: string;
    let adminB: string;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;
    let secret: string;

    const audit = async (key: string, query = ''): Promise<AuditItem[]> => {
      const res = await call<{ items: AuditItem[] }>('GET', `/v1/audit?limit=500${query}`, key);
      expect(res.status).toBe(200);
      return res.body.items;
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey();
      const mk = async (code: string, parentId?: string) => (await call<Provider>('POST', '/v1/providers', ops, { code, name: code, parentId })).body;
      spA = await mk('ae-a');
      spA1 = await mk('ae-a1', spA.id);
      spB = await mk('ae-b');
      const key = async (providerId: string) =>
        (await call<{ token: string }>('POST', '/v1/api-keys', ops, { name: 'admin', role: 'provider-admin', providerId })).body.token;
      adminA = await key(spA.id);
      adminB = await key(spB.id);
      const created = await call<{ credentials: { secret: string } }>('POST', '/v1/terminals', adminA, { sn: 'AEDGE001', model: 'EP-T1' });
      expect(created.status).toBe(201);
      secret = created.body.credentials.secret;
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('a terminal move is audited under the old and the new owner; each sees the other as null, like the ownership history', async () => {
      // A heartbeat while A owns the terminal (for the telemetry rule below).
      const session = await connectTerminal(gw.mqttUrl, { clientId: 'AEDGE001', username: 'AEDGE001', password: secret });
      expect(session.ok).toBe(true);
      if (!session.ok) return;
      session.client.on('error', () => undefined);
      await publishHeartbeat(session.client, 'AEDGE001', makeHeartbeat({ seq: 1 }, new Date(Date.now() - 60_000)));
      await endClient(session.client);

      expect((await call('POST', '/v1/terminals/AEDGE001/move', ops, { providerId: spB.id })).status).toBe(200);
      const [inA] = (await audit(adminA, '&action=terminal.move')).filter((e) => e.targetId === 'AEDGE001');
      const [inB] = (await audit(adminB, '&action=terminal.move')).filter((e) => e.targetId === 'AEDGE001');
      expect(inA.before?.providerId).toBe(spA.id);
      expect(inA.after?.providerId).toBeNull();
      expect(inB.before?.providerId).toBeNull();
      expect(inB.after?.providerId).toBe(spB.id);
      // Ops see both entries, unredacted.
      const opsEntries = (await audit(ops, '&action=terminal.move')).filter((e) => e.targetId === 'AEDGE001');
      expect(opsEntries.map((e) => e.providerId).sort()).toStrictEqual([spA.id, spB.id].sort());
      for (const e of opsEntries) expect([e.before?.providerId, e.after?.providerId]).toStrictEqual([spA.id, spB.id]);
      // The ownership history follows the same rule for B.
      const history = await call<{ items: HistoryItem[] }>('GET', '/v1/terminals/AEDGE001/providers', adminB);
      expect(history.body.items[0].from).toBeNull();
      expect(history.body.items[0].to?.id).toBe(spB.id);
    });

    it('the new owner sees the telemetry from before the move (device health follows the device); the old owner no longer sees the terminal', async () => {
      const raw = await call<{ items: { seq: number }[] }>('GET', '/v1/terminals/AEDGE001/telemetry?raw=true', adminB);
      expect(raw.status).toBe(200);
      expect(raw.body.items.map((i) => i.seq)).toStrictEqual([1]);
      expect((await call('GET', '/v1/terminals/AEDGE001/telemetry?raw=true', adminA)).status).toBe(404);
    });

    it('provider ids outside the scope are redacted in provider entries (parentId) too', async () => {
      expect((await call('PATCH', `/v1/providers/${spA1.id}`, ops, { parentId: spB.id })).status).toBe(200);
      const [moved] = (await audit(adminB, '&action=provider.update')).filter((e) => e.targetId === spA1.id);
      expect(moved.before?.parentId).toBeNull();
      expect(moved.after?.parentId).toBe(spB.id);
      const [opsView] = (await audit(ops, '&action=provider.update')).filter((e) => e.targetId === spA1.id);
      expect(opsView.before?.parentId).toBe(spA.id);
    });

    it('no audit noise: a no-op rename or move and a repeated revoke write nothing', async () => {
      const count = async () => (await gw.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log`))[0].n;
      const n = await count();
      expect((await call('PATCH', `/v1/providers/${spA1.id}`, ops, { name: spA1.name })).status).toBe(200);
      expect((await call('PATCH', `/v1/providers/${spA1.id}`, ops, { parentId: spB.id, name: spA1.name })).status).toBe(200);
      expect((await call('POST', '/v1/terminals/AEDGE001/move', ops, { providerId: spB.id })).status).toBe(200);
      expect((await call('POST', '/v1/terminals/AEDGE001/enable', ops)).status).toBe(200);
      expect(await count()).toBe(n);
      const issued = await call<{ key: { id: string } }>('POST', '/v1/api-keys', ops, { name: 'tmp', role: 'ops-viewer' });
      expect((await call('DELETE', `/v1/api-keys/${issued.body.key.id}`, ops)).status).toBe(204);
      const afterFirst = await count();
      expect((await call('DELETE', `/v1/api-keys/${issued.body.key.id}`, ops)).status).toBe(204);
      expect(await count()).toBe(afterFirst);
    });

    it('the audit log records the server’s own request id beside a client-sent one', async () => {
      const sent = await call('POST', '/v1/providers', ops, { code: 'ae-rid', name: 'rid' }, { 'x-request-id': 'client-chosen-1' });
      expect(sent.status).toBe(201);
      expect(sent.headers.get('x-request-id')).toBe('client-chosen-1');
      const [withId] = (await audit(ops, '&action=provider.create')).filter((e) => e.requestId === 'client-chosen-1');
      expect(withId.serverRequestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(withId.serverRequestId).not.toBe('client-chosen-1');
      const minted = await call('POST', '/v1/providers', ops, { code: 'ae-rid2', name: 'rid2' });
      const [own] = (await audit(ops, '&action=provider.create')).filter((e) => e.requestId === minted.headers.get('x-request-id'));
      expect(own.serverRequestId).toBe(own.requestId);
    });
  });
}
