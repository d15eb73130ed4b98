import { mkdtempSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CredentialsStore } from './credentials-store.js';

describe('CredentialsStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-creds-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts empty when the file does not exist and round-trips through save', async () => {
    const path = join(dir, 'nested', 'credentials.json');
    const store = await CredentialsStore.load(path);
    expect(store.size).toBe(0);
    store.meta = { seed: 's1', snPrefix: 'SIM' };
    store.set({ sn: 'SIM-000002', username: 'SIM-000002', secret: 'b' });
    store.set({ sn: 'SIM-000001', username: 'SIM-000001', secret: 'a' });
    await store.save();
    const mode = (await stat(path)).mode & 0o777;
    expect(mode).toBe(0o600);
    const reloaded = await CredentialsStore.load(path);
    expect(reloaded.size).toBe(2);
    expect(reloaded.get('SIM-000001')?.secret).toBe('a');
    expect(reloaded.meta).toStrictEqual({ seed: 's1', snPrefix: 'SIM' });
    const json = JSON.parse(await readFile(path, 'utf8')) as { version: number; credentials: Array<{ sn: string }> };
    expect(json.version).toBe(1);
    expect(json.credentials.map((c) => c.sn)).toStrictEqual(['SIM-000001', 'SIM-000002']);
  });

  it('accepts a hand-written bare array, defaulting username to the SN', async () => {
    const path = join(dir, 'bare.json');
    await writeFile(path, JSON.stringify([{ sn: 'ABCD-1', secret: 'x' }]));
    const store = await CredentialsStore.load(path);
    expect(store.get('ABCD-1')).toStrictEqual({ sn: 'ABCD-1', username: 'ABCD-1', secret: 'x' });
  });

  it('reports malformed files instead of silently starting over', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"version":1,"credentials":[{"sn":"A"}]}');
    await expect(CredentialsStore.load(bad)).rejects.toThrow(/credentials\.0\.secret/);
    await writeFile(bad, 'not json');
    await expect(CredentialsStore.load(bad)).rejects.toThrow(/not valid JSON/);
  });
});
