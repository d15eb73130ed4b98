import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, ConfigError, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import { OtaErrorCode } from './ota.errors.js';
import { publicKeyFromBase64, publicKeyFromPem, releaseKeyId, verifyDigest } from './release-signing.js';

const RAW_ENTRY = /^(?:([0-9a-f]{16}):)?([A-Za-z0-9+/]{43}=)$/;

/**
 * The configured release public keys by key id, from OTA_RELEASE_PUBLIC_KEYS entries
 * (`KEYID:BASE64`, `BASE64`, or a PEM file path). A `KEYID:` that does not match the key is refused:
 * a mistyped or swapped pair must stop the start, not silently trust another key.
 */
export function loadReleaseKeys(entries: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const problems: string[] = [];
  for (const entry of entries) {
    try {
      const raw = RAW_ENTRY.exec(entry);
      const key = raw ? publicKeyFromBase64(raw[2]) : publicKeyFromPem(readFile(entry));
      const id = releaseKeyId(key);
      if (raw?.[1] !== undefined && raw[1] !== id) throw new Error(`key id ${raw[1]} does not match the key (its id is ${id})`);
      keys.set(id, key);
    } catch (err) {
      problems.push(
        `  OTA_RELEASE_PUBLIC_KEYS: ${entry.length > 60 ? `${entry.slice(0, 60)}...` : entry}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  return keys;
}

/** Verifies release signatures against the configured keys (loaded and checked once, at start). */
@Injectable()
export class ReleaseKeyring {
  private readonly keys: Map<string, KeyObject>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.keys = loadReleaseKeys(config.ota.releasePublicKeys);
  }

  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * The id of the key the signature verifies with: `keyId`'s key when given, else any configured key.
   * Throws OTA_NO_KEYS_CONFIGURED, OTA_UNKNOWN_KEY or OTA_SIGNATURE_INVALID.
   */
  verify(digest: Buffer, signature: string, keyId?: string | null): string {
    if (this.keys.size === 0) throw new DomainException(OtaErrorCode.NoKeysConfigured, 'no release public key is configured (OTA_RELEASE_PUBLIC_KEYS)');
    if (keyId) {
      const key = this.keys.get(keyId);
      if (!key) throw new DomainException(OtaErrorCode.UnknownKey, `release key ${keyId} is not configured`);
      if (verifyDigest(key, digest, signature)) return keyId;
    } else {
      for (const [id, key] of this.keys) if (verifyDigest(key, digest, signature)) return id;
    }
    throw new DomainException(
      OtaErrorCode.SignatureInvalid,
      `the signature does not verify over the artifact's SHA-256 ${digest.toString('hex')} with ${keyId ? `release key ${keyId}` : 'any configured release key'}`,
    );
  }
}
