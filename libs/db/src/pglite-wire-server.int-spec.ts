import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { EmbeddedDatabase } from './embedded-database.js';

describe('embedded PGlite over the wire protocol', () => {
  let dir: string;
  let db: EmbeddedDatabase;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wire-'));
    db = await EmbeddedDatabase.start({ dataDir: dir });
  });
  afterAll(async () => {
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('handles queries far larger than one socket read (bulk inserts)', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const big = 'x'.repeat(3_000_000);
      const echo = await client.query<{ n: number }>('SELECT length($1::text)::int AS n', [big]);
      expect(echo.rows[0].n).toBe(big.length);
      await client.query('CREATE TABLE bulk (id int PRIMARY KEY, note text)');
      for (let round = 0; round < 5; round++) {
        const ids = Array.from({ length: 20_000 }, (_, i) => round * 20_000 + i);
        await client.query('INSERT INTO bulk SELECT * FROM unnest($1::int[], $2::text[])', [ids, ids.map((i) => `row ${i} ${'y'.repeat(20)}`)]);
      }
      const count = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bulk');
      expect(count.rows[0].n).toBe(100_000);
    } finally {
      await client.end();
    }
  });

  it('serves one connection at a time: the next waits, and an abandoned transaction is rolled back', async () => {
    const first = new pg.Client({ connectionString: db.url });
    await first.connect();
    await first.query('BEGIN');
    await first.query('INSERT INTO bulk VALUES (-1, $1)', ['uncommitted']);
    const second = new pg.Client({ connectionString: db.url });
    let secondReady = false;
    const connecting = second.connect().then(() => {
      secondReady = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(secondReady).toBe(false);
    // The first client dies without COMMIT.
    first.on('error', () => undefined);
    (first as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await connecting;
    const rows = await second.query<{ n: number }>('SELECT count(*)::int AS n FROM bulk WHERE id = -1');
    expect(rows.rows[0].n).toBe(0);
    await second.end();
  });
});
