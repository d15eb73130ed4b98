/**
 * The resumable download against a real local HTTP server, and release key loading and verification.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { downloadArtifact, loadReleasePublicKey, signatureValid, type DownloadOptions } from './artifact-download.js';

const artifact = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
const digest = createHash('sha256').update(artifact).digest();
const etag = `"${digest.toString('hex')}"`;

let server: Server;
let base = '';
const seen: { path: string; range?: string; ifRange?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const range = req.headers.range;
    seen.push({ path: req.url ?? '', range, ifRange: req.headers['if-range'] as string | undefined });
    if (req.url?.startsWith('/forbidden')) return void res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":{}}');
    // /changed: If-Range never matches (the artifact changed): the whole file again
    const m = range && !req.url?.startsWith('/changed') ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      const start = Number(m[1]);
      res.writeHead(206, { 'content-range': `bytes ${start}-${artifact.length - 1}/${artifact.length}`, etag, 'content-length': artifact.length - start });
      return void res.end(artifact.subarray(start));
    }
    res.writeHead(200, { etag, 'content-length': artifact.length });
    res.end(artifact);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const options = (path: string, over: Partial<DownloadOptions> = {}): DownloadOptions => ({
  url: `${base}${path}`,
  size: artifact.length,
  dropAtBytes: null,
  corrupt: false,
  maxAttempts: 3,
  retryDelayMs: 10,
  signal: new AbortController().signal,
  onProgress: () => {},
  ...over,
});

describe('downloadArtifact', () => {
  it('drops the first connection at the given byte and resumes from exactly there with Range and If-Range', async () => {
    seen.length = 0;
    const progress: number[] = [];
    const result = await downloadArtifact(options('/a', { dropAtBytes: 40_000, onProgress: (b) => progress.push(b) }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.digest.equals(digest)).toBe(true);
    expect(result.resumedFrom).toStrictEqual([40_000]);
    expect(seen.map((s) => s.range)).toStrictEqual([undefined, 'bytes=40000-']);
    expect(seen[1].ifRange).toBe(etag);
    expect(progress).toContain(40_000);
    expect(progress.at(-1)).toBe(artifact.length);
  });

  it('starts over when the resume gets the whole file (If-Range mismatch)', async () => {
    seen.length = 0;
    const result = await downloadArtifact(options('/changed', { dropAtBytes: 30_000 }));
    expect(result.ok && result.digest.equals(digest)).toBe(true);
    expect(seen.length).toBe(2);
  });

  it('a corrupted byte on flash changes the digest', async () => {
    const result = await downloadArtifact(options('/a', { corrupt: true }));
    expect(result.ok && !result.digest.equals(digest)).toBe(true);
  });

  it('a 403 fails at once (no retries)', async () => {
    seen.length = 0;
    const result = await downloadArtifact(options('/forbidden'));
    expect(result).toMatchObject({ ok: false, reason: 'download_failed', detail: 'HTTP 403', connections: 1 });
    expect(seen.length).toBe(1);
  });

  it('gives up after maxAttempts when the server is unreachable', async () => {
    const result = await downloadArtifact(options('/a', { url: 'http://127.0.0.1:1/x', maxAttempts: 2 }));
    expect(result).toMatchObject({ ok: false, reason: 'download_failed', connections: 2 });
  });

  it('refuses more bytes than announced', async () => {
    const result = await downloadArtifact(options('/a', { size: 1000 }));
    expect(result).toMatchObject({ ok: false, reason: 'download_failed' });
  });
});

describe('release key', () => {
  const keys = generateKeyPairSync('ed25519');
  const raw = Buffer.from(keys.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const signature = sign(null, digest, keys.privateKey).toString('base64');

  it('loads KEYID:BASE64, BASE64 and a .pem file, and verifies the signature over the digest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-key-'));
    try {
      const pem = join(dir, 'release.pub.pem');
      writeFileSync(pem, keys.publicKey.export({ format: 'pem', type: 'spki' }));
      for (const spec of [`0123456789abcdef:${raw.toString('base64')}`, raw.toString('base64'), pem]) {
        const key = loadReleasePublicKey(spec);
        expect(signatureValid(digest, signature, key)).toBe(true);
        expect(signatureValid(createHash('sha256').update('other').digest(), signature, key)).toBe(false);
        expect(signatureValid(digest, 'not base64 at all', key)).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a key of the wrong length', () => {
    expect(() => loadReleasePublicKey('abc:AAAA')).toThrow(/32 bytes/);
  });
});
