import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import { OtaErrorCode } from './ota.errors.js';

/** Stored artifact names: `<release id>.<random>.bin` (the release table's CHECK matches it). */
const STORED_NAME = /^[0-9a-f-]{36}\.[0-9a-f]{16}\.bin$/;
const TEMP_PREFIX = '.upload-';
/** Temp files of uploads a crash interrupted are removed at start once this old (another replica may be writing a fresh one). */
const STALE_TEMP_MS = 24 * 3600_000;

export interface ReceivedArtifact {
  tempPath: string;
  size: number;
  digest: Buffer;
}

/**
 * The artifact directory (OTA_ARTIFACT_DIR). Uploads stream into a temp file while their SHA-256
 * and size are computed, so no artifact is ever held in memory; a verified upload is renamed to
 * its stored name (same directory, so the rename is atomic), anything else is deleted.
 */
@Injectable()
export class ArtifactStore implements OnModuleInit {
  readonly dir: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.dir = resolve(config.ota.artifactDir);
  }

  /** Removes stale temp files; the directory itself is made by the first upload (processes that never store one leave no trace). */
  async onModuleInit(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const now = Date.now();
    for (const name of names) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const path = join(this.dir, name);
      const info = await stat(path).catch(() => null);
      if (info && now - info.mtimeMs > STALE_TEMP_MS) await unlink(path).catch(() => undefined);
    }
  }

  /**
   * Streams `source` to a temp file, hashing and counting. More than `maxBytes` stops reading and
   * throws OTA_ARTIFACT_TOO_LARGE; on any failure (including the client going away) the temp file is removed.
   */
  async receive(source: Readable, maxBytes: number): Promise<ReceivedArtifact> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    const tempPath = join(this.dir, `${TEMP_PREFIX}${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > maxBytes) {
          callback(new DomainException(OtaErrorCode.ArtifactTooLarge, `artifact larger than ${maxBytes} bytes (OTA_ARTIFACT_MAX_BYTES)`));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tempPath, { flags: 'wx', mode: 0o640 }));
    } catch (err) {
      await this.discard(tempPath);
      throw err;
    }
    return { tempPath, size, digest: hash.digest() };
  }

  /** Moves a received temp file to a stored name of its own for the release; returns that name. */
  async keep(tempPath: string, releaseId: string): Promise<string> {
    const name = `${releaseId}.${randomBytes(8).toString('hex')}.bin`;
    await rename(tempPath, join(this.dir, name));
    return name;
  }

  /** Removes a temp or stored file; a missing file is fine. */
  async discard(pathOrName: string): Promise<void> {
    const path = pathOrName.startsWith(this.dir) ? pathOrName : this.pathOf(pathOrName);
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  pathOf(name: string): string {
    // Names come from the database, but a path never leaves the directory whatever the row says.
    if (!STORED_NAME.test(name)) throw new Error(`not a stored artifact name: ${name}`);
    return join(this.dir, name);
  }

  /**
   * A read stream of bytes start..end (inclusive) of a stored artifact. 16 KiB reads: every
   * concurrent download holds about one read ahead of its socket, so memory grows with connections,
   * not with file size (bench:ota: 1,000 concurrent downloads about +55 MiB RSS with 16 KiB, +166
   * MiB with 64 KiB, same throughput).
   */
  open(name: string, start?: number, end?: number): ReadStream {
    return createReadStream(this.pathOf(name), { start, end, highWaterMark: 16 * 1024 });
  }
}
