/**
 * `npm run bench:storage`: disk per stored heartbeat, raw and after TimescaleDB compression, for
 * sizing (docs/scaling.md). Simulated terminals (the devices-sim model: drifting signal, battery,
 * plan, transactions, location) send one heartbeat a minute for `--hours`; every row goes through the
 * production validation (parsePayload) and the production batch statement (HeartbeatRepository),
 * into one day-aligned chunk, so each terminal's compressed segment holds a realistic number of rows
 * (1,440 a day in production). Then it reports the heartbeats table's heap, TOAST and index bytes per
 * row and, on TimescaleDB, the same after compressing the chunk.
 *
 *   npm run bench:storage -- --db pglite   --terminals 200 --hours 24
 *   npm run bench:storage -- --db postgres --terminals 200 --hours 24
 */
import { HEARTBEAT_SCHEMA_VERSION, heartbeatSchema, parsePayload } from '#contracts';
import { loadConfig } from '#config';
import { createDataSource, migrate } from '#db';
import { HeartbeatRepository, type HeartbeatRow } from '#ingest';
import { startTestDatabase, type TestDbKind } from '#testing';
import type { DataSource } from 'typeorm';
import { generateFleet } from '../../../devices-sim/src/fleet-generator.js';
import { initialTerminalState, nextHeartbeat, type TerminalState } from '../../../devices-sim/src/terminal-model.js';
import { readOptions, UsageError } from './bench-options.js';
import { cleanup, handleInterrupts, log, onCleanup } from './run-lifecycle.js';

const SPEC = {
  db: { type: 'choice', choices: ['pglite', 'postgres'], default: 'pglite' },
  terminals: { type: 'number', min: 1, max: 100_000, default: 200, integer: true },
  hours: { type: 'number', min: 1, max: 24, default: 24, integer: true },
  intervalS: { type: 'number', min: 1, max: 3600, default: 60, integer: true },
  batch: { type: 'number', min: 1, max: 50_000, default: 2000, integer: true },
  seed: { type: 'string', default: 'storage' },
  markdown: { type: 'flag' },
} as const;

const USAGE = `Usage: npm run bench:storage -- [--db pglite|postgres] [--terminals 200] [--hours 24] [--interval-s 60] [--batch 2000] [--seed S] [--markdown]`;

interface Sizes {
  heapBytes: number;
  toastBytes: number;
  indexBytes: number;
  totalBytes: number;
}

const num = (v: unknown): number => Number(v ?? 0);

async function tableSizes(ds: DataSource, timescale: boolean): Promise<Sizes> {
  if (timescale) {
    // Sums the hypertable's chunks (and their compressed companions once compressed).
    const [r] = await ds.query<Record<string, unknown>[]>(
      `SELECT table_bytes, index_bytes, toast_bytes, total_bytes FROM hypertable_detailed_size('heartbeats')`,
    );
    return { heapBytes: num(r.table_bytes), toastBytes: num(r.toast_bytes), indexBytes: num(r.index_bytes), totalBytes: num(r.total_bytes) };
  }
  const [r] = await ds.query<Record<string, unknown>[]>(
    `SELECT pg_relation_size('heartbeats') AS heap, pg_total_relation_size('heartbeats') - pg_relation_size('heartbeats') - pg_indexes_size('heartbeats') AS toast,
            pg_indexes_size('heartbeats') AS idx, pg_total_relation_size('heartbeats') AS total`,
  );
  return { heapBytes: num(r.heap), toastBytes: num(r.toast), indexBytes: num(r.idx), totalBytes: num(r.total) };
}

const perRow = (s: Sizes, rows: number) => ({
  heap: Math.round(s.heapBytes / rows),
  toast: Math.round(s.toastBytes / rows),
  index: Math.round(s.indexBytes / rows),
  total: Math.round(s.totalBytes / rows),
});

async function run(kind: TestDbKind, o: { terminals: number; hours: number; intervalS: number; batch: number; seed: string; markdown: boolean }) {
  log(`starting ${kind} ...`);
  const db = await startTestDatabase(kind);
  onCleanup('database', () => db.stop());
  const ds = createDataSource({ url: db.url, poolSize: 1, applicationName: 'bench-storage' });
  await ds.initialize();
  onCleanup('data source', () => ds.destroy());
  const migrated = await migrate(ds, { timescale: 'auto', log: () => undefined });
  const timescale = migrated.flavor === 'timescale';
  const [{ version }] = await ds.query<{ version: string }[]>(`SELECT version()`);
  const tsVersion = timescale
    ? (await ds.query<{ extversion: string }[]>(`SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`))[0]?.extversion
    : null;
  log(`${version.split(' on ')[0]}${tsVersion ? `, TimescaleDB ${tsVersion}` : ', no TimescaleDB'}`);

  const fleet = generateFleet(o.terminals, { seed: o.seed, snPrefix: 'STO' });
  await ds.query(
    `INSERT INTO terminals (sn, model, provider_id, credential_hash)
     SELECT sn, model, (SELECT id FROM providers WHERE code = 'root'), '\\x00'::bytea FROM unnest($1::text[], $2::text[]) AS u(sn, model)`,
    [fleet.map((p) => p.sn), fleet.map((p) => p.model)],
  );

  // One whole UTC day two days ago: exactly one chunk (1-day chunks are aligned to UTC midnight),
  // inside the accepted clock window, and old enough to compress.
  const dayMs = 86_400_000;
  const startMs = Math.floor(Date.now() / dayMs) * dayMs - 2 * dayMs;
  const endMs = startMs + o.hours * 3_600_000;
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url, CREDENTIAL_PEPPER: 'x'.repeat(32), ALERTS_ENABLED: 'false' });
  const repo = new HeartbeatRepository(ds, config);

  const states: TerminalState[] = fleet.map((p) => initialTerminalState(p, startMs));
  // WAL written by the inserts (heartbeats, their indexes and the terminal_state updates): the write
  // volume a server's disk and replicas must take, before compression.
  const walLsn = async (): Promise<string> => (await ds.query<{ lsn: string }[]>(`SELECT pg_current_wal_lsn()::text AS lsn`))[0].lsn;
  const walStart = await walLsn();
  let pending: HeartbeatRow[] = [];
  let rows = 0;
  let payloadBytes = 0;
  let rejected = 0;
  const began = performance.now();
  // Terminal-time order across the fleet, as a live gateway sees it.
  for (let t = startMs; t < endMs; t += o.intervalS * 1000) {
    for (let i = 0; i < fleet.length; i++) {
      const next = nextHeartbeat(fleet[i], states[i], t, { includeLocation: true });
      states[i] = next.state;
      if (next.heartbeat === null) continue;
      const payload = Buffer.from(JSON.stringify(next.heartbeat));
      const parsed = parsePayload(payload, heartbeatSchema, { maxBytes: config.heartbeat.maxBytes, supportedVersions: [HEARTBEAT_SCHEMA_VERSION] });
      if (!parsed.ok) {
        rejected++;
        continue;
      }
      payloadBytes += payload.byteLength;
      pending.push({
        time: new Date(Date.parse(parsed.value.ts)),
        sn: fleet[i].sn,
        receivedAt: new Date(t + 150),
        heartbeat: parsed.value,
        extra: parsed.extra,
      });
      if (pending.length >= o.batch) {
        rows += await repo.insertBatch(pending);
        pending = [];
      }
    }
  }
  if (pending.length > 0) rows += await repo.insertBatch(pending);
  const insertS = (performance.now() - began) / 1000;
  const [{ wal }] = await ds.query<{ wal: string }[]>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS wal`, [walStart]);
  const [{ state }] = await ds.query<{ state: string }[]>(`SELECT pg_total_relation_size('terminal_state')::text AS state`);
  // Without the dead versions of its 1,440 updates a day per row: the steady size a vacuumed table keeps.
  await ds.query(`VACUUM FULL terminal_state`);
  const [{ live }] = await ds.query<{ live: string }[]>(`SELECT pg_total_relation_size('terminal_state')::text AS live`);
  log(`${rows} rows in ${insertS.toFixed(1)} s (${Math.round(rows / insertS)}/s incl. generation), ${rejected} rejected`);

  await ds.query(`VACUUM ANALYZE heartbeats`);
  const raw = await tableSizes(ds, timescale);
  let compressed: Sizes | null = null;
  let compressionError: string | null = null;
  let compressS: number | null = null;
  if (timescale) {
    try {
      const t0 = performance.now();
      await ds.query(`SELECT compress_chunk(c) FROM show_chunks('heartbeats') AS c`);
      compressS = (performance.now() - t0) / 1000;
      await ds.query(`VACUUM ANALYZE heartbeats`);
      compressed = await tableSizes(ds, true);
    } catch (err) {
      compressionError = err instanceof Error ? err.message : String(err);
      log(`compression failed: ${compressionError}`);
    }
  }
  const [{ chunks }] = await ds.query<{ chunks: number }[]>(timescale ? `SELECT count(*)::int AS chunks FROM show_chunks('heartbeats')` : `SELECT 1 AS chunks`);

  const result = {
    db: kind,
    server: version.split(' on ')[0],
    timescaledb: tsVersion,
    terminals: o.terminals,
    hours: o.hours,
    intervalS: o.intervalS,
    rows,
    chunks,
    avgPayloadBytes: Math.round(payloadBytes / Math.max(rows, 1)),
    walBytesPerRow: Math.round(Number(wal) / Math.max(rows, 1)),
    terminalStateBytesPerTerminal: Math.round(Number(state) / o.terminals),
    terminalStateLiveBytesPerTerminal: Math.round(Number(live) / o.terminals),
    raw: { ...raw, perRow: perRow(raw, rows) },
    compressed: compressed ? { ...compressed, perRow: perRow(compressed, rows), ratio: Number((raw.totalBytes / compressed.totalBytes).toFixed(1)) } : null,
    compressSeconds: compressS === null ? null : Number(compressS.toFixed(1)),
    compressionError,
  };
  const r = result.raw.perRow;
  const c = result.compressed?.perRow;
  process.stdout.write(
    `\n${kind} (${result.server}${tsVersion ? `, TimescaleDB ${tsVersion}` : ''}): ${rows} heartbeats, ${o.terminals} terminals × ${o.hours} h at ${o.intervalS} s, payload ${result.avgPayloadBytes} B\n` +
      `  raw:        ${r.total} B/row (heap ${r.heap}, toast ${r.toast}, indexes ${r.index})\n` +
      `  WAL:        ${result.walBytesPerRow} B/row written (heartbeats, indexes, terminal_state); terminal_state ${result.terminalStateBytesPerTerminal} B/terminal before vacuum, ${result.terminalStateLiveBytesPerTerminal} after VACUUM FULL\n` +
      (c
        ? `  compressed: ${c.total} B/row (heap ${c.heap}, toast ${c.toast}, indexes ${c.index}); ${result.compressed?.ratio}× smaller; compress_chunk ${result.compressSeconds} s\n`
        : '') +
      (compressionError ? `  compression: failed (${compressionError})\n` : ''),
  );
  if (o.markdown) {
    process.stdout.write(
      `| ${new Date().toISOString().slice(0, 10)} | ${kind} | ${o.terminals} × ${o.hours} h @ ${o.intervalS} s | ${rows} | ${result.avgPayloadBytes} | ${r.heap} / ${r.toast} / ${r.index} / **${r.total}** | ${result.walBytesPerRow} | ${c ? `${c.heap} / ${c.toast} / ${c.index} / **${c.total}**` : '–'} | ${result.compressed ? `${result.compressed.ratio}×` : '–'} |\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

handleInterrupts();
let code = 0;
try {
  const { help, values } = readOptions(SPEC, process.argv.slice(2));
  if (help) process.stdout.write(`${USAGE}\n`);
  else await run(values.db, values);
} catch (err) {
  code = err instanceof UsageError ? 64 : 1;
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n${err instanceof UsageError ? `${USAGE}\n` : ''}`);
} finally {
  await cleanup();
}
process.exit(code);
