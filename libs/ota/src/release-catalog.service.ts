import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainException, parseVersion } from '#contracts';
import { ArtifactStore } from './artifact-store.js';
import { OtaMetrics } from './ota-metrics.js';
import { OtaErrorCode } from './ota.errors.js';
import { ReleaseKeyring } from './release-keyring.js';
import { ReleaseRepository, sqlStateOf } from './release.repository.js';
import type { NewRelease, Release, ReleaseActor, ReleaseFilter } from './release.types.js';
import { versionKey, versionProblem } from './release-version.js';

/**
 * The release catalog's rules: versions parse and compare with the model's other releases, every
 * artifact's Ed25519 signature verifies against a configured release key before it is accepted,
 * uploads stream to disk within the size limit. Callers (the API) add roles and audit.
 */
/** How long a download's release lookup is reused (withdrawals reach other API replicas within it). */
export const DOWNLOAD_LOOKUP_TTL_MS = 5_000;
const DOWNLOAD_LOOKUP_MAX_ENTRIES = 1_000;

@Injectable()
export class ReleaseCatalogService {
  private readonly maxBytes: number;
  /** Release lookups for downloads by id: one query per release per TTL, shared by concurrent requests. */
  private readonly downloadLookups = new Map<string, { at: number; release: Promise<Release | null> }>();

  constructor(
    @Inject(ReleaseRepository) private readonly releases: ReleaseRepository,
    @Inject(ReleaseKeyring) private readonly keyring: ReleaseKeyring,
    @Inject(ArtifactStore) private readonly store: ArtifactStore,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(OtaMetrics) private readonly metrics: OtaMetrics,
  ) {
    this.maxBytes = config.ota.artifactMaxBytes;
  }

  get artifactMaxBytes(): number {
    return this.maxBytes;
  }

  /**
   * An external artifact (URL, size, digest, signature) is verified from its declared digest and is
   * active at once; without a URL the release is a draft awaiting its upload.
   */
  async create(input: NewRelease, actor: ReleaseActor): Promise<Release> {
    const parsed = parseVersion(input.version);
    const problem = versionProblem(input.version, null);
    if (!parsed || problem) throw new DomainException(OtaErrorCode.InvalidVersion, problem ?? 'invalid version');
    let keyId = input.keyId;
    if (input.artifactUrl !== null) {
      if (input.sizeBytes === null || input.sha256 === null) throw new Error('an external artifact needs its size and sha256');
      if (input.sizeBytes > this.maxBytes) {
        throw new DomainException(OtaErrorCode.ArtifactTooLarge, `artifact larger than ${this.maxBytes} bytes (OTA_ARTIFACT_MAX_BYTES)`);
      }
      keyId = this.keyring.verify(Buffer.from(input.sha256, 'hex'), input.signature, input.keyId);
    } else if (keyId !== null && !this.keyring.keyIds().includes(keyId)) {
      // Refused now rather than after a long upload.
      throw new DomainException(OtaErrorCode.UnknownKey, `release key ${keyId} is not configured`);
    }
    try {
      return await this.releases.insert(
        { ...input, keyId, versionKey: versionKey(parsed), status: input.artifactUrl !== null ? 'active' : 'draft' },
        actor,
        (existing) => {
          const incomparable = versionProblem(input.version, existing);
          if (incomparable) throw new DomainException(OtaErrorCode.InvalidVersion, incomparable);
        },
      );
    } catch (err) {
      if (sqlStateOf(err) === '23505') {
        throw new DomainException(
          OtaErrorCode.ReleaseExists,
          `${input.model} ${input.component} ${input.version} (or a version equal to it) is already in the catalog`,
        );
      }
      throw err;
    }
  }

  /**
   * Streams a draft's artifact to the store, then verifies digest (when declared) and signature; the
   * draft becomes active with the stored file. Every refusal removes the file.
   */
  async upload(id: string, body: Readable): Promise<Release> {
    const draft = await this.get(id);
    if (draft.status !== 'draft') throw new DomainException(OtaErrorCode.WrongState, `release ${id} is ${draft.status}; only a draft takes an upload`);
    let received;
    try {
      received = await this.store.receive(body, this.maxBytes);
    } catch (err) {
      this.metrics.uploads.inc({ result: err instanceof DomainException ? String((err as DomainException<string>).code).toLowerCase() : 'aborted' });
      throw err;
    }
    let stored: string | null = null;
    try {
      const sha256 = received.digest.toString('hex');
      if (draft.sha256 !== null && draft.sha256 !== sha256) {
        throw new DomainException(OtaErrorCode.DigestMismatch, `the uploaded bytes have SHA-256 ${sha256}, the release declared ${draft.sha256}`);
      }
      const keyId = this.keyring.verify(received.digest, draft.signature, draft.keyId);
      stored = await this.store.keep(received.tempPath, id);
      const activated = await this.releases.activateWithArtifact(id, { path: stored, sizeBytes: received.size, sha256, keyId });
      if (!activated) throw new DomainException(OtaErrorCode.WrongState, `release ${id} is no longer a draft (a concurrent upload or a withdrawal)`);
      this.downloadLookups.delete(id);
      this.metrics.uploads.inc({ result: 'accepted' });
      return activated;
    } catch (err) {
      await this.store.discard(stored ?? received.tempPath);
      this.metrics.uploads.inc({ result: err instanceof DomainException ? String((err as DomainException<string>).code).toLowerCase() : 'error' });
      throw err;
    }
  }

  async withdraw(id: string): Promise<{ before: Release; after: Release | null }> {
    const before = await this.get(id);
    const after = await this.releases.withdraw(id);
    this.downloadLookups.delete(id);
    return { before, after };
  }

  async get(id: string): Promise<Release> {
    const release = await this.releases.findById(id);
    if (!release) throw new DomainException(OtaErrorCode.ReleaseNotFound, 'release not found');
    return release;
  }

  find(id: string): Promise<Release | null> {
    return this.releases.findById(id);
  }

  /**
   * The release a download serves. A campaign wave starts many downloads of one release at once:
   * they share one lookup (in flight or up to DOWNLOAD_LOOKUP_TTL_MS old) instead of queueing one
   * query each for the pool. Changes made in this process apply at once.
   */
  findForDownload(id: string, now = Date.now()): Promise<Release | null> {
    const hit = this.downloadLookups.get(id);
    if (hit && now - hit.at < DOWNLOAD_LOOKUP_TTL_MS) return hit.release;
    if (this.downloadLookups.size >= DOWNLOAD_LOOKUP_MAX_ENTRIES) this.downloadLookups.clear();
    const entry = { at: now, release: this.releases.findById(id) };
    this.downloadLookups.set(id, entry);
    // A failed lookup is not reused.
    entry.release.catch(() => {
      if (this.downloadLookups.get(id) === entry) this.downloadLookups.delete(id);
    });
    return entry.release;
  }

  list(filter: ReleaseFilter): Promise<Release[]> {
    return this.releases.list(filter);
  }
}
