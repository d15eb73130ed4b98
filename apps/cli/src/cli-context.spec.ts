import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '#config';
import { openCliContextOrExplain } from './cli-context.js';

describe('CLI commands while the app holds the embedded database', () => {
  let dir: string;
  let holder: ReturnType<typeof spawn>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-cli-held-'));
    // A live process named in the lock, as the running app would be.
    holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    writeFileSync(join(dir, 'pg.lock'), String(holder.pid));
  });
  afterAll(() => {
    holder.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says in one line to use the HTTP path or stop the app, and exits 75 (no stack trace)', async () => {
    const config = loadConfig({}, { DATA_DIR: dir, CREDENTIAL_PEPPER: 'cli-test-pepper-0123456789abcdef', LOG_LEVEL: 'silent' });
    const written: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const exit = jest.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
      throw new Error(`exit ${String(code)}`);
    });
    try {
      await expect(openCliContextOrExplain('terminals', config, 'register through the app over HTTP')).rejects.toThrow('exit 75');
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(written).toHaveLength(1);
    expect(written[0]).toBe('terminals: the app is running and holds the embedded database; register through the app over HTTP, or stop the app first.\n');
  });
});
