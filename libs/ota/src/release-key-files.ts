import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateReleaseKeyPair, signArtifactFile, type SignedArtifact } from './release-signing.js';

export interface WrittenKeyPair {
  keyId: string;
  publicKeyBase64: string;
  privateKeyPath: string;
  publicKeyPath: string;
  /** The OTA_RELEASE_PUBLIC_KEYS entry for this key. */
  configEntry: string;
}

/**
 * Writes a new release key pair into `dir`: `release-<keyId>.key` (PKCS#8 PEM, mode 0600) and
 * `release-<keyId>.pub.pem` (SPKI PEM). Never overwrites a file.
 */
export function writeReleaseKeyPair(dir: string): WrittenKeyPair {
  const pair = generateReleaseKeyPair();
  const out = resolve(dir);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const privateKeyPath = join(out, `release-${pair.keyId}.key`);
  const publicKeyPath = join(out, `release-${pair.keyId}.pub.pem`);
  writeFileSync(privateKeyPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(publicKeyPath, pair.publicKeyPem, { mode: 0o644, flag: 'wx' });
  return { keyId: pair.keyId, publicKeyBase64: pair.publicKeyBase64, privateKeyPath, publicKeyPath, configEntry: `${pair.keyId}:${pair.publicKeyBase64}` };
}

/** Signs an artifact file with the private key in `keyPath` (see release-signing.ts for what is signed). */
export function signArtifactWithKeyFile(keyPath: string, artifactPath: string): Promise<SignedArtifact> {
  return signArtifactFile(readFileSync(keyPath, 'utf8'), artifactPath);
}
