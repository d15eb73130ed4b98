import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CredentialsStore } from './credentials-store.js';

describe('CredentialsStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-creds-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts empty when the file does not exist and round-trips through save', async () => {
    const path = join(dir, 'nested', 'credentials.json');
    const store = await CredentialsStore.load(path);
    assert.equal(store.size, 0);
    store.meta = { seed: 's1', snPrefix: 'SIM' };
    store.set({ sn: 'SIM-000002', username: 'SIM-000002', secret: 'b' });
    store.set({ sn: 'SIM-000001', username: 'SIM-000001', secret: 'a' });
    await store.save();
    const mode = (await stat(path)).mode & 0o777;
    assert.equal(mode, 0o600, 'secrets are private');
    const reloaded = await CredentialsStore.load(path);
    assert.equal(reloaded.size, 2);
    assert.equal(reloaded.get('SIM-000001')?.secret, 'a');
    assert.deepEqual(reloaded.meta, { seed: 's1', snPrefix: 'SIM' });
    const json = JSON.parse(await readFile(path, 'utf8')) as { version: number; credentials: Array<{ sn: string }> };
    assert.equal(json.version, 1);
    assert.deepEqual(json.credentials.map((c) => c.sn), ['SIM-000001', 'SIM-000002']);
  });

  it('accepts a hand-written bare array, defaulting username to the SN', async () => {
    const path = join(dir, 'bare.json');
    await writeFile(path, JSON.stringify([{ sn: 'ABCD-1', secret: 'x' }]));
    const store = await CredentialsStore.load(path);
    assert.deepEqual(store.get('ABCD-1'), { sn: 'ABCD-1', username: 'ABCD-1', secret: 'x' });
  });

  it('reports malformed files instead of silently starting over', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"version":1,"credentials":[{"sn":"A"}]}');
    await assert.rejects(CredentialsStore.load(bad), /credentials\.0\.secret/);
    await writeFile(bad, 'not json');
    await assert.rejects(CredentialsStore.load(bad), /not valid JSON/);
  });
});
