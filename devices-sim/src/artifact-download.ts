/**
 * The terminal's side of docs/ota.md: a resumable HTTP download (Range + If-Range after a dropped link)
 * that hashes the bytes as they arrive instead of keeping them (a real terminal writes them to flash), and
 * Ed25519 verification of the release signature over the raw SHA-256 digest.
 */
import { createHash, createPublicKey, verify, type Hash, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface DownloadOptions {
  /** The URL, or a function asked before every connection (a resent command may bring a fresher one). */
  readonly url: string | (() => string);
  readonly size: number;
  /** Cut the first connection after this many bytes (simulated dropped link), then resume. */
  readonly dropAtBytes: number | null;
  /** Flip a bit of the first byte "on flash" (checksum-mismatch scenario). */
  readonly corrupt: boolean;
  /** Connections tried in all (the first one plus resumes). */
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  readonly signal: AbortSignal;
  /** Bytes on flash so far, after every chunk. */
  readonly onProgress: (bytes: number) => void;
}

export type DownloadResult =
  | { readonly ok: true; readonly digest: Buffer; readonly bytes: number; readonly connections: number; readonly resumedFrom: number[] }
  | { readonly ok: false; readonly reason: 'download_failed'; readonly detail: string; readonly connections: number };

class SimulatedDrop extends Error {}
class Permanent extends Error {}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Downloads `url`, resuming with `Range: bytes=N-` after a broken connection. */
export async function downloadArtifact(opts: DownloadOptions): Promise<DownloadResult> {
  let hash: Hash = createHash('sha256');
  let offset = 0;
  let etag: string | null = null;
  let dropAt = opts.dropAtBytes;
  let connections = 0;
  const resumedFrom: number[] = [];
  let lastError = '';
  while (connections < opts.maxAttempts) {
    if (opts.signal.aborted) return { ok: false, reason: 'download_failed', detail: 'terminal stopped', connections };
    connections++;
    const controller = new AbortController();
    const onStop = (): void => controller.abort();
    opts.signal.addEventListener('abort', onStop, { once: true });
    try {
      const headers: Record<string, string> = {};
      if (offset > 0) {
        headers.range = `bytes=${offset}-`;
        if (etag) headers['if-range'] = etag;
        resumedFrom.push(offset);
      }
      const res = await fetch(typeof opts.url === 'string' ? opts.url : opts.url(), { headers, signal: controller.signal });
      if (res.status === 416 && offset > 0) {
        // already complete on flash
        await res.body?.cancel();
        break;
      }
      if (res.status === 200) {
        // the whole file (first request, or the artifact changed under If-Range): start over
        hash = createHash('sha256');
        offset = 0;
      } else if (res.status === 206) {
        const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
        if (!start || Number(start[1]) !== offset) throw new Error(`206 with Content-Range ${res.headers.get('content-range')} for offset ${offset}`);
      } else {
        await res.body?.cancel();
        if (res.status >= 400 && res.status < 500) throw new Permanent(`HTTP ${res.status}`);
        throw new Error(`HTTP ${res.status}`);
      }
      etag = res.headers.get('etag') ?? etag;
      if (!res.body) throw new Error('no body');
      for await (const raw of res.body) {
        let chunk = Buffer.from(raw as Uint8Array);
        let drop = false;
        if (dropAt !== null && offset + chunk.length >= dropAt) {
          chunk = chunk.subarray(0, dropAt - offset);
          drop = true;
        }
        if (opts.corrupt && offset === 0 && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] ^= 0x01;
        }
        if (offset + chunk.length > opts.size) throw new Permanent(`more than the announced ${opts.size} bytes`);
        hash.update(chunk);
        offset += chunk.length;
        opts.onProgress(offset);
        if (drop) {
          dropAt = null;
          controller.abort();
          throw new SimulatedDrop(`link dropped at byte ${offset}`);
        }
      }
      if (offset >= opts.size) break;
      throw new Error(`connection closed at byte ${offset} of ${opts.size}`);
    } catch (err) {
      if (err instanceof Permanent) return { ok: false, reason: 'download_failed', detail: err.message, connections };
      lastError = err instanceof Error ? err.message : String(err);
      if (opts.signal.aborted) return { ok: false, reason: 'download_failed', detail: 'terminal stopped', connections };
      if (!(err instanceof SimulatedDrop)) await sleep(opts.retryDelayMs, opts.signal);
    } finally {
      opts.signal.removeEventListener('abort', onStop);
    }
  }
  if (offset < opts.size) return { ok: false, reason: 'download_failed', detail: `${lastError} (after ${connections} connections)`, connections };
  return { ok: true, digest: hash.digest(), bytes: offset, connections, resumedFrom };
}

/** Ed25519 over the 32 raw digest bytes (docs/ota.md "What is signed"). */
export function signatureValid(digest: Buffer, signatureBase64: string, key: KeyObject): boolean {
  try {
    return verify(null, digest, key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * A release public key as the backend's OTA_RELEASE_PUBLIC_KEYS takes one entry: `KEYID:BASE64`,
 * `BASE64` (raw 32 bytes) or the path of a `.pem` file.
 */
export function loadReleasePublicKey(raw: string): KeyObject {
  const value = raw.trim();
  if (value.endsWith('.pem')) {
    const key = createPublicKey(readFileSync(value));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${value} is not an Ed25519 public key`);
    return key;
  }
  const b64 = value.includes(':') ? value.slice(value.indexOf(':') + 1) : value;
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length !== 32) throw new Error('a raw Ed25519 public key is 32 bytes (base64), optionally prefixed by KEYID:');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bytes.toString('base64url') }, format: 'jwk' });
}
