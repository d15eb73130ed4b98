import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DownloadUrlService,
  generateReleaseKeyPair,
  privateKeyFromPem,
  signArtifactWithKeyFile,
  signDigest,
  writeReleaseKeyPair,
  type WrittenKeyPair,
} from '#ota';
import { API } from '#runtime';
import { scrapeMetric, startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { Role } from '../auth/roles.js';

const kind = testDbKinds()[0] ?? 'pglite';
const MAX_BYTES = 64 * 1024 * 1024;

interface Res {
  status: number;
  headers: Headers;
  body: Buffer;
  json: () => Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Res> {
  const res = await fetch(url, { redirect: 'manual', ...init });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

describe(`OTA releases and artifact downloads over HTTP on ${kind}`, () => {
  let db: TestDatabase;
  let gw: TestGateway;
  let work: string;
  let artifactDir: string;
  let keys: WrittenKeyPair;
  let ops: string;
  let provider: string;
  let urls: DownloadUrlService;
  const auth = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra });
  const json = (key: string) => auth(key, { 'content-type': 'application/json' });

  /** Creates a draft for `file` signed with the CLI functions, then uploads it. */
  async function release(version: string, data: Buffer, model = 'EP-T1'): Promise<{ id: string; upload: Res }> {
    const file = join(work, `${model}-${version}.bin`);
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const created = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({
        model,
        component: 'firmware',
        version,
        releaseNotes: 'fixes',
        minBatteryPct: 30,
        signature: signed.signature,
        keyId: signed.keyId,
      }),
    });
    expect(created.status).toBe(201);
    const id = created.json().id as string;
    const upload = await call(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
      method: 'PUT',
      headers: auth(ops, { 'content-type': 'application/octet-stream' }),
      body: data,
    });
    return { id, upload };
  }

  const filesIn = () => (existsSync(artifactDir) ? readdirSync(artifactDir).sort() : []);
  const downloadUrl = (id: string, now = new Date(), sn = 'P3000001', commandId = 'cmd-1') => {
    const { url } = urls.issueDownloadUrl({ releaseId: id, sn, commandId, now });
    const u = new URL(url);
    return `${gw.httpUrl}${u.pathname}${u.search}`;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ota-e2e-'));
    artifactDir = join(work, 'artifacts');
    keys = writeReleaseKeyPair(join(work, 'keys'));
    db = await startTestDatabase(kind);
    gw = await startTestGateway(
      db,
      {
        OTA_RELEASE_PUBLIC_KEYS: keys.configEntry,
        OTA_ARTIFACT_DIR: artifactDir,
        OTA_ARTIFACT_MAX_BYTES: String(MAX_BYTES),
        API_RATE_LIMIT_PER_MINUTE: '100000',
      },
      { composition: API },
    );
    urls = gw.running.app.get(DownloadUrlService);
    ops = await gw.issueKey('ops');
    const p = await call(`${gw.httpUrl}/v1/providers`, { method: 'POST', headers: json(ops), body: JSON.stringify({ code: 'sp-ota', name: 'OTA provider' }) });
    provider = await gw.issueKey('prov', Role.ProviderAdmin, p.json().id as string);
  });
  afterAll(async () => {
    await gw?.close();
    await db?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('an artifact signed with the CLI functions uploads (201 draft, then active), is stored once and audited', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const { id, upload } = await release('E20_V3.2.1', data);
    expect(upload.status).toBe(200);
    expect(upload.json()).toMatchObject({ id, status: 'active', sizeBytes: data.length, sha256: sha256(data).toString('hex'), keyId: keys.keyId });
    const stored = (upload.json().artifact as { path: string }).path;
    expect(filesIn()).toStrictEqual([stored]);
    const audit = await gw.query<{ action: string }>(`SELECT action FROM audit_log WHERE target_id = $1 ORDER BY id`, [id]);
    expect(audit.map((a) => a.action)).toStrictEqual(['release.create', 'release.upload']);
    // A second upload to an active release: 409.
    const again = await call(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
      method: 'PUT',
      headers: auth(ops, { 'content-type': 'application/octet-stream' }),
      body: data,
    });
    expect(again.status).toBe(409);
    expect(filesIn()).toStrictEqual([stored]);
  });

  it('a signature that does not verify: 400 OTA_SIGNATURE_INVALID, no file left, still a draft', async () => {
    const before = filesIn();
    const data = randomBytes(200_000);
    const other = generateReleaseKeyPair();
    const created = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      // Signed by a key the backend does not trust.
      body: JSON.stringify({
        model: 'EP-T1',
        component: 'firmware',
        version: 'E20_V3.2.2',
        signature: signDigest(privateKeyFromPem(other.privateKeyPem), sha256(data)),
      }),
    });
    expect(created.status).toBe(201);
    const id = created.json().id as string;
    const res = await call(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
      method: 'PUT',
      headers: auth(ops, { 'content-type': 'application/octet-stream' }),
      body: data,
    });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ field: 'signature', reason: 'OTA_SIGNATURE_INVALID' }] } });
    expect(filesIn()).toStrictEqual(before);
    expect((await call(`${gw.httpUrl}/v1/releases/${id}`, { headers: auth(ops) })).json().status).toBe('draft');
    expect(await scrapeMetric(gw.httpUrl, 'fleet_ota_uploads_total', 'result="ota_signature_invalid"')).toBe(1);

    // Right key, other bytes (one flipped): refused the same way.
    const file = join(work, 'good.bin');
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const draft = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({ model: 'EP-T1', component: 'firmware', version: 'E20_V3.2.3', signature: signed.signature }),
    });
    const tampered = Buffer.from(data);
    tampered[1000] ^= 0xff;
    const bad = await call(`${gw.httpUrl}/v1/releases/${draft.json().id as string}/artifact`, {
      method: 'PUT',
      headers: auth(ops, { 'content-type': 'application/octet-stream' }),
      body: tampered,
    });
    expect(bad.status).toBe(400);
    expect(filesIn()).toStrictEqual(before);
  });

  it('oversize: a declared length over the limit is 413 before reading; a chunked body is cut at the limit, 413, no file left', async () => {
    const before = filesIn();
    const data = randomBytes(1000);
    const { id } = await (async () => {
      const created = await call(`${gw.httpUrl}/v1/releases`, {
        method: 'POST',
        headers: json(ops),
        body: JSON.stringify({
          model: 'EP-T2',
          component: 'app',
          version: '5.0.0',
          signature: signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(data)),
        }),
      });
      return { id: created.json().id as string };
    })();
    // Declared over the limit: answered before the body is sent (the client waits for it).
    const declared = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
        method: 'PUT',
        headers: auth(ops, { 'content-type': 'application/octet-stream', 'content-length': String(MAX_BYTES + 1) }),
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    expect(declared).toBe(413);

    // Chunked: no Content-Length, so the limit is enforced while streaming.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
        method: 'PUT',
        headers: auth(ops, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }),
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent <= MAX_BYTES + chunk.length) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(filesIn()).toStrictEqual(before);
  });

  it('an upload cut off by the client leaves no temp file and the release a draft', async () => {
    const before = filesIn();
    const created = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({
        model: 'EP-CUT',
        component: 'firmware',
        version: '1.0',
        signature: signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(Buffer.from('x'))),
      }),
    });
    const id = created.json().id as string;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
        method: 'PUT',
        headers: auth(ops, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }),
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1024 * 1024, 3), () => {
        // Give the server time to open its temp file and write, then drop the link.
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 300);
      });
    });
    for (let i = 0; i < 50 && filesIn().length !== before.length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(filesIn()).toStrictEqual(before);
    expect((await call(`${gw.httpUrl}/v1/releases/${id}`, { headers: auth(ops) })).json().status).toBe('draft');
  });

  it('roles: provider keys cannot create, upload or withdraw (403) and read the catalog without storage details or drafts', async () => {
    const data = randomBytes(1000);
    const create = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(provider),
      body: JSON.stringify({
        model: 'EP-T1',
        component: 'firmware',
        version: 'E20_V9.0.0',
        signature: signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(data)),
      }),
    });
    expect(create.status).toBe(403);
    // 403 before 400: an invalid body from a provider key is refused for the role, not validated.
    expect((await call(`${gw.httpUrl}/v1/releases`, { method: 'POST', headers: json(provider), body: '{"model":1}' })).status).toBe(403);
    const { id } = await release('E20_V3.3.0', data);
    const draft = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({
        model: 'EP-T1',
        component: 'firmware',
        version: 'E20_V3.3.1',
        signature: signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(data)),
      }),
    });
    expect(draft.status).toBe(201);
    expect((await call(`${gw.httpUrl}/v1/releases/${draft.json().id as string}`, { headers: auth(provider) })).status).toBe(404);
    const upload = await call(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
      method: 'PUT',
      headers: auth(provider, { 'content-type': 'application/octet-stream' }),
      body: data,
    });
    expect(upload.status).toBe(403);
    expect((await call(`${gw.httpUrl}/v1/releases/${id}/withdraw`, { method: 'POST', headers: auth(provider) })).status).toBe(403);

    const list = await call(`${gw.httpUrl}/v1/releases?model=EP-T1`, { headers: auth(provider) });
    expect(list.status).toBe(200);
    const items = list.json().items as Record<string, unknown>[];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      expect(item.status).not.toBe('draft');
      expect(Object.keys(item).sort()).toStrictEqual(
        ['component', 'createdAt', 'id', 'minBatteryPct', 'model', 'releaseNotes', 'sha256', 'sizeBytes', 'status', 'version', 'withdrawnAt'].sort(),
      );
    }
    // The raw-body type is for the upload only.
    const elsewhere = await call(`${gw.httpUrl}/v1/providers`, {
      method: 'POST',
      headers: auth(ops, { 'content-type': 'application/octet-stream' }),
      body: data,
    });
    expect(elsewhere.status).toBe(415);
    expect(elsewhere.json()).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const opsItems = (await call(`${gw.httpUrl}/v1/releases?model=EP-T1`, { headers: auth(ops) })).json().items as Record<string, unknown>[];
    expect(opsItems.some((i) => i.status === 'draft')).toBe(true);
  });

  it('versions: duplicates and equal-comparing versions are 409, unparsable or incomparable ones 400', async () => {
    const sig = signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(Buffer.from('x')));
    const post = (version: string, model = 'EP-V1') =>
      call(`${gw.httpUrl}/v1/releases`, {
        method: 'POST',
        headers: json(ops),
        body: JSON.stringify({ model, component: 'firmware', version, signature: sig }),
      });
    expect((await post('N5-1.2')).status).toBe(201);
    const dup = await post('N5-1.2.0');
    expect(dup.status).toBe(409);
    expect((await post('N5-1.2')).status).toBe(409);
    const incomparable = await post('E20_V1.3');
    expect(incomparable.status).toBe(400);
    expect(incomparable.json()).toMatchObject({ error: { details: [{ field: 'body.version', reason: 'OTA_INVALID_VERSION' }] } });
    expect((await post('nightly')).status).toBe(400);
    expect((await post('N5-1.3-rc1')).status).toBe(201);
    // Another component of the model has its own scheme.
    expect(
      (
        await call(`${gw.httpUrl}/v1/releases`, {
          method: 'POST',
          headers: json(ops),
          body: JSON.stringify({ model: 'EP-V1', component: 'app', version: '7.1', signature: sig }),
        })
      ).status,
    ).toBe(201);
  });

  it('external (CDN) artifacts: verified from the declared digest, active at once; the download URL redirects', async () => {
    const data = randomBytes(5000);
    const file = join(work, 'cdn.bin');
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const body = {
      model: 'EP-C1',
      component: 'app',
      version: '2.0.0',
      artifactUrl: 'https://cdn.example.com/ep-c1/2.0.0.bin',
      sizeBytes: data.length,
      sha256: signed.sha256,
    };
    const bad = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({ ...body, signature: signDigest(privateKeyFromPem(generateReleaseKeyPair().privateKeyPem), sha256(data)) }),
    });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { details: [{ reason: 'OTA_SIGNATURE_INVALID' }] } });
    const http = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({ ...body, artifactUrl: 'http://cdn.example.com/x', signature: signed.signature }),
    });
    expect(http.status).toBe(400);
    const ok = await call(`${gw.httpUrl}/v1/releases`, { method: 'POST', headers: json(ops), body: JSON.stringify({ ...body, signature: signed.signature }) });
    expect(ok.status).toBe(201);
    expect(ok.json()).toMatchObject({ status: 'active', keyId: keys.keyId, artifact: { kind: 'external', url: body.artifactUrl } });
    const redirect = await call(downloadUrl(ok.json().id as string));
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe(body.artifactUrl);
  });

  it('download: whole file with ETag; a cut download resumes with Range + If-Range and reproduces the exact bytes', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 333);
    const { id, upload } = await release('E20_V3.4.0', data);
    expect(upload.status).toBe(200);
    const url = downloadUrl(id);
    const etag = `"${sha256(data).toString('hex')}"`;

    const full = await call(url);
    expect(full.status).toBe(200);
    expect(full.headers.get('etag')).toBe(etag);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.headers.get('content-length')).toBe(String(data.length));
    expect(full.body.equals(data)).toBe(true);

    // The link drops part-way: read some chunks, then abort.
    const controller = new AbortController();
    const partial = await fetch(url, { signal: controller.signal });
    const got: Buffer[] = [];
    let have = 0;
    for await (const chunk of partial.body as unknown as AsyncIterable<Uint8Array>) {
      got.push(Buffer.from(chunk));
      have += chunk.length;
      if (have >= 300_000) break;
    }
    controller.abort();
    expect(have).toBeLessThan(data.length);

    const resumed = await call(url, { headers: { range: `bytes=${have}-`, 'if-range': etag } });
    expect(resumed.status).toBe(206);
    expect(resumed.headers.get('content-range')).toBe(`bytes ${have}-${data.length - 1}/${data.length}`);
    expect(Buffer.concat([...got, resumed.body]).equals(data)).toBe(true);

    const middle = await call(url, { headers: { range: 'bytes=1000-1999' } });
    expect(middle.status).toBe(206);
    expect(middle.body.equals(data.subarray(1000, 2000))).toBe(true);

    // If-Range with another ETag: the representation changed, so the whole file.
    const stale = await call(url, { headers: { range: `bytes=${have}-`, 'if-range': '"0000"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(data)).toBe(true);
    expect((await call(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await call(url, { method: 'HEAD', headers: { range: 'bytes=10-' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-length')).toBe(String(data.length - 10));
    expect(head.body.length).toBe(0);

    const beyond = await call(url, { headers: { range: `bytes=${data.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${data.length}`);
  });

  it('download: an expired, tampered or other-release URL is 403 with no artifact bytes; a withdrawn release is 404', async () => {
    const data = randomBytes(100_000);
    const { id } = await release('E20_V3.5.0', data);
    const expired = downloadUrl(id, new Date(Date.now() - 2 * 3600_000));
    const good = new URL(downloadUrl(id));
    const tamperedSn = new URL(good);
    tamperedSn.searchParams.set('sn', 'P3000002');
    const tamperedSig = new URL(good);
    const sig = tamperedSig.searchParams.get('sig')!;
    tamperedSig.searchParams.set('sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    const noSig = new URL(good);
    noSig.searchParams.delete('sig');
    const otherRelease = good.href.replace(id, '00000000-0000-4000-8000-000000000000');
    for (const url of [expired, tamperedSn.href, tamperedSig.href, noSig.href, otherRelease]) {
      const res = await call(url, { headers: { range: 'bytes=0-' } });
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(res.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
      expect(res.body.includes(data.subarray(0, 16))).toBe(false);
    }
    expect(await scrapeMetric(gw.httpUrl, 'fleet_ota_downloads_total', 'result="refused"')).toBeGreaterThanOrEqual(5);
    expect((await call(`${good.href}&extra=1`)).status).toBe(400);

    const withdrawn = await call(`${gw.httpUrl}/v1/releases/${id}/withdraw`, { method: 'POST', headers: auth(ops) });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.json().status).toBe('withdrawn');
    expect((await call(`${gw.httpUrl}/v1/releases/${id}/withdraw`, { method: 'POST', headers: auth(ops) })).status).toBe(200);
    const audit = await gw.query<{ action: string }>(`SELECT action FROM audit_log WHERE target_id = $1 AND action = 'release.withdraw'`, [id]);
    expect(audit).toHaveLength(1);
    expect((await call(good.href)).status).toBe(404);
  });

  it('races: concurrent uploads of one draft keep one file; concurrent first releases with incomparable versions admit one scheme', async () => {
    const data = randomBytes(400_000);
    const file = join(work, 'race.bin');
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const created = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({ model: 'EP-RACE', component: 'firmware', version: '1.0.0', signature: signed.signature }),
    });
    const id = created.json().id as string;
    const before = filesIn().length;
    const uploads = await Promise.all(
      [1, 2, 3, 4].map(() =>
        call(`${gw.httpUrl}/v1/releases/${id}/artifact`, { method: 'PUT', headers: auth(ops, { 'content-type': 'application/octet-stream' }), body: data }),
      ),
    );
    expect(uploads.map((u) => u.status).sort()).toStrictEqual([200, 409, 409, 409]);
    expect(filesIn().length).toBe(before + 1);
    expect(filesIn().filter((f) => f.startsWith('.upload-'))).toStrictEqual([]);

    // A new model: 'N5-2.0' and 'E20_V2.0' cannot both start its catalog.
    const sig = signed.signature;
    const results = await Promise.all(
      ['N5-2.0', 'E20_V2.0', 'N5-2.1', 'E20_V2.1'].map((version) =>
        call(`${gw.httpUrl}/v1/releases`, {
          method: 'POST',
          headers: json(ops),
          body: JSON.stringify({ model: 'EP-RACE2', component: 'app', version, signature: sig }),
        }),
      ),
    );
    const versions = (await gw.query<{ version: string }>(`SELECT version FROM releases WHERE model = 'EP-RACE2'`)).map((r) => r.version);
    expect(versions.length).toBe(results.filter((r) => r.status === 201).length);
    expect(new Set(versions.map((v) => v.split(/\d/)[0].toLowerCase())).size).toBe(1);
    expect(results.filter((r) => r.status === 400)).toHaveLength(4 - versions.length);
  });

  it('memory stays flat while a file larger than the growth allowed is uploaded, then served to several clients at once (loose)', async () => {
    const size = 48 * 1024 * 1024;
    const big = join(work, 'big.bin');
    const out = createWriteStream(big);
    const block = randomBytes(1024 * 1024);
    for (let i = 0; i < size / block.length; i++) if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
    out.end();
    await finished(out);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, big);
    const created = await call(`${gw.httpUrl}/v1/releases`, {
      method: 'POST',
      headers: json(ops),
      body: JSON.stringify({ model: 'EP-BIG', component: 'firmware', version: '1.0', signature: signed.signature, sha256: signed.sha256 }),
    });
    const id = created.json().id as string;
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    let uploadPeak: number;
    try {
      // Uploaded as a stream (fetch with a stream body sends it chunked).
      const upload = await fetch(`${gw.httpUrl}/v1/releases/${id}/artifact`, {
        method: 'PUT',
        headers: auth(ops, { 'content-type': 'application/octet-stream' }),
        body: Readable.toWeb(createReadStream(big)) as ReadableStream<Uint8Array>,
        duplex: 'half',
      });
      expect(upload.status).toBe(200);
      uploadPeak = peak;
      const counts = await Promise.all(
        [1, 2, 3, 4].map(async (i) => {
          const res = await fetch(downloadUrl(id, new Date(), 'P3000001', `mem-${i}`));
          let n = 0;
          const hash = createHash('sha256');
          for await (const chunk of res.body!) {
            n += (chunk as Uint8Array).length;
            hash.update(chunk as Uint8Array);
          }
          expect(hash.digest('hex')).toBe(signed.sha256);
          return n;
        }),
      );
      expect(counts).toStrictEqual([size, size, size, size]);
    } finally {
      clearInterval(sampler);
    }
    // Loose (client and server share this process, and garbage is collected lazily): buffering would hold a
    // copy for the upload and one per download, 240 MiB; streaming stays well under two copies. Figures: bench:ota.
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    if (process.env.OTA_MEM_REPORT) process.stdout.write(`rss growth: upload ${mib(uploadPeak - baseline)}, with downloads ${mib(peak - baseline)}\n`);
    expect(peak - baseline).toBeLessThan(2 * size);
  });
});
