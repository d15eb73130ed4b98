/**
 * A simulated terminal (devices-sim) against the real single-process app: a release signed with the CLI
 * functions is uploaded through the API, an ota.install command goes through the ledger, the terminal
 * downloads from the real artifact route (first connection cut, resumed with Range), verifies SHA-256 and
 * the Ed25519 signature, installs, reboots, and the ledger ends `succeeded`, confirmed by its heartbeat.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OtaInstallService, signArtifactWithKeyFile, writeReleaseKeyPair, type WrittenKeyPair } from '#ota';
import { scrapeMetric, startTestDatabase, startTestGateway, testDbKinds, waitFor, type TestDatabase, type TestGateway } from '#testing';
import { loadReleasePublicKey } from '../../../devices-sim/src/artifact-download.js';
import { generateTerminalProfile, type TerminalProfile } from '../../../devices-sim/src/fleet-generator.js';
import { SimStats } from '../../../devices-sim/src/sim-stats.js';
import { DEFAULT_COMMAND_RUNTIME, DEFAULT_RUNTIME, SimulatedTerminal } from '../../../devices-sim/src/terminal-client.js';

const kind = testDbKinds()[0] ?? 'pglite';

interface CommandBody {
  id: string;
  state: string;
  confirmedAt: string | null;
  history: { state: string }[];
}

function healthyProfile(): TerminalProfile {
  for (let i = 1; i < 200; i++) {
    const p = generateTerminalProfile(i, { seed: 'sim-ota-e2e', snPrefix: 'SOTA' });
    // a model name the release catalog takes (the simulator's catalog has display names)
    if (p.sim.plan.scenario === 'healthy' && p.rebootsPerDay < 5) return { ...p, model: 'SIM-T1' };
  }
  throw new Error('no healthy profile');
}

describe(`simulated terminal runs an OTA install against the app on ${kind}`, () => {
  let db: TestDatabase;
  let gw: TestGateway;
  let work: string;
  let keys: WrittenKeyPair;
  let ops: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'sim-ota-e2e-'));
    keys = writeReleaseKeyPair(join(work, 'keys'));
    db = await startTestDatabase(kind);
    gw = await startTestGateway(db, {
      OTA_RELEASE_PUBLIC_KEYS: keys.configEntry,
      OTA_ARTIFACT_DIR: join(work, 'artifacts'),
      API_RATE_LIMIT_PER_MINUTE: '100000',
    });
    ops = await gw.issueKey('ops');
  });
  afterAll(async () => {
    await gw?.close();
    await db?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('accepted → downloading (resumed) → downloaded → verified → installing → succeeded, confirmed by the next heartbeat', async () => {
    const profile = healthyProfile();
    const secret = (await gw.register([profile.sn], profile.model)).get(profile.sn) ?? '';
    const headers = { authorization: `Bearer ${ops}`, 'content-type': 'application/json' };

    // a release signed with the CLI functions, uploaded through the API
    const data = randomBytes(600_000);
    const file = join(work, 'fw.bin');
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const created = await fetch(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: profile.model,
        component: 'firmware',
        version: 'SIM_V9.9.9',
        signature: signed.signature,
        keyId: signed.keyId,
        minBatteryPct: 0,
      }),
    });
    const createdBody = (await created.json()) as { id: string };
    expect(created.status).toBe(201);
    const releaseId = createdBody.id;
    const upload = await fetch(`${gw.httpUrl}/v1/releases/${releaseId}/artifact`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ops}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(upload.status).toBe(200);

    const terminal = new SimulatedTerminal(
      profile,
      { sn: profile.sn, username: profile.sn, secret },
      {
        ...DEFAULT_RUNTIME,
        brokerUrl: gw.mqttUrl,
        intervalMs: 300,
        backoff: { baseMs: 20, capMs: 200 },
        commands: {
          ...DEFAULT_COMMAND_RUNTIME,
          releasePublicKey: loadReleasePublicKey(keys.configEntry),
          ignoreWindow: true,
          dropAtPercent: 40,
          installDelayMs: 100,
          rebootDelayMs: 200,
          deferRetryMs: 200,
          downloadRetryMs: 100,
        },
      },
      new SimStats(),
      { info: () => {}, limited: () => {} },
    );
    try {
      terminal.start(0);
      await waitFor(
        () => Promise.resolve(terminal.receivesCommands),
        (ready) => ready,
      );
      // the release part as the ledger will fill it in (OtaInstallService), on this app's address
      const { params } = await gw.running.app.get(OtaInstallService).installParams({ releaseId, sn: profile.sn, commandId: 'sim-e2e', now: new Date() });
      const url = new URL(params.url);
      const send = await fetch(`${gw.httpUrl}/v1/terminals/${profile.sn}/commands`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ type: 'ota.install', params: { ...params, url: `${gw.httpUrl}${url.pathname}${url.search}`, guards: { minBatteryPct: 0 } } }),
      });
      expect(send.status).toBe(201);
      const commandId = ((await send.json()) as { id: string }).id;

      const row = await waitFor(
        async () => (await (await fetch(`${gw.httpUrl}/v1/commands/${commandId}`, { headers })).json()) as CommandBody,
        (c) => c.state === 'succeeded' && c.confirmedAt !== null,
        30_000,
      );
      const states = row.history.map((h) => h.state).filter((s, i, all) => !(s === 'downloading' && all[i - 1] === 'downloading'));
      expect(states).toStrictEqual(['queued', 'accepted', 'downloading', 'downloaded', 'verified', 'installing', 'succeeded']);
      expect(terminal.firmware?.version).toBe('SIM_V9.9.9');
      // the first GET was cut at 40 %; the resume was answered 206 by the artifact route
      expect(await scrapeMetric(gw.httpUrl, 'fleet_ota_downloads_total', 'result="full"')).toBe(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_ota_downloads_total', 'result="partial"')).toBe(1);
    } finally {
      await terminal.disconnect();
    }
  }, 90_000);
});
