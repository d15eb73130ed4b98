import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
import { DomainException } from '#contracts';
import { ReleaseKeyring, loadReleaseKeys } from './release-keyring.js';
import { signArtifactWithKeyFile, writeReleaseKeyPair } from './release-key-files.js';
import { generateReleaseKeyPair, privateKeyFromPem, publicKeyFromBase64, publicKeyFromPem, releaseKeyId, signDigest, verifyDigest } from './release-signing.js';

const dir = mkdtempSync(join(tmpdir(), 'ota-sign-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const digestOf = (data: Buffer) => createHash('sha256').update(data).digest();

describe('release signing', () => {
  it('keygen writes a 0600 private key and a public key whose id and raw form agree', () => {
    const written = writeReleaseKeyPair(join(dir, 'keys'));
    expect(statSync(written.privateKeyPath).mode & 0o777).toBe(0o600);
    expect(written.keyId).toMatch(/^[0-9a-f]{16}$/);
    const fromPem = publicKeyFromPem(readFileSync(written.publicKeyPath, 'utf8'));
    expect(releaseKeyId(fromPem)).toBe(written.keyId);
    expect(releaseKeyId(publicKeyFromBase64(written.publicKeyBase64))).toBe(written.keyId);
    expect(written.configEntry).toBe(`${written.keyId}:${written.publicKeyBase64}`);
    // The id is the first 16 hex of SHA-256 over the raw 32-byte key.
    expect(createHash('sha256').update(Buffer.from(written.publicKeyBase64, 'base64')).digest('hex').slice(0, 16)).toBe(written.keyId);
  });

  it('sign (CLI function) and verify round trip over the file digest; a changed byte or signature fails', async () => {
    const keys = writeReleaseKeyPair(join(dir, 'rt'));
    const artifact = Buffer.alloc(300_000, 7);
    artifact[12345] = 1;
    const file = join(dir, 'fw.bin');
    writeFileSync(file, artifact);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    expect(signed).toMatchObject({ sha256: digestOf(artifact).toString('hex'), size: artifact.length, keyId: keys.keyId });
    const pub = publicKeyFromBase64(keys.publicKeyBase64);
    expect(verifyDigest(pub, digestOf(artifact), signed.signature)).toBe(true);

    const tamperedFile = Buffer.from(artifact);
    tamperedFile[0] ^= 1;
    expect(verifyDigest(pub, digestOf(tamperedFile), signed.signature)).toBe(false);
    const sig = Buffer.from(signed.signature, 'base64');
    sig[10] ^= 0x40;
    expect(verifyDigest(pub, digestOf(artifact), sig.toString('base64'))).toBe(false);
    // Another key's signature over the same digest does not verify.
    const other = generateReleaseKeyPair();
    expect(verifyDigest(pub, digestOf(artifact), signDigest(privateKeyFromPem(other.privateKeyPem), digestOf(artifact)))).toBe(false);
    // Not strict base64 / wrong length: refused without throwing.
    expect(verifyDigest(pub, digestOf(artifact), `${signed.signature}A`)).toBe(false);
    expect(verifyDigest(pub, digestOf(artifact), '')).toBe(false);
  });

  it('the keyring verifies with the named key or any configured key, and names the refusal', () => {
    const a = generateReleaseKeyPair();
    const b = generateReleaseKeyPair();
    const base = loadConfig({}, {});
    const keyring = new ReleaseKeyring({ ...base, ota: { ...base.ota, releasePublicKeys: [`${a.keyId}:${a.publicKeyBase64}`, b.publicKeyBase64] } });
    const digest = digestOf(Buffer.from('firmware'));
    const sigB = signDigest(privateKeyFromPem(b.privateKeyPem), digest);
    expect(keyring.verify(digest, sigB)).toBe(b.keyId);
    expect(keyring.verify(digest, sigB, b.keyId)).toBe(b.keyId);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return err instanceof DomainException ? String((err as DomainException<string>).code) : 'other';
      }
      return 'none';
    };
    expect(code(() => keyring.verify(digest, sigB, a.keyId))).toBe('OTA_SIGNATURE_INVALID');
    expect(code(() => keyring.verify(digestOf(Buffer.from('firmwarE')), sigB))).toBe('OTA_SIGNATURE_INVALID');
    expect(code(() => keyring.verify(digest, sigB, '0000000000000000'))).toBe('OTA_UNKNOWN_KEY');
    const empty = new ReleaseKeyring(base);
    expect(code(() => empty.verify(digest, sigB))).toBe('OTA_NO_KEYS_CONFIGURED');
  });

  it('configured keys: PEM files load; a key id that does not match its key, or a bad file, stops the start', () => {
    const written = writeReleaseKeyPair(join(dir, 'cfg'));
    expect([...loadReleaseKeys([written.publicKeyPath]).keys()]).toStrictEqual([written.keyId]);
    expect(() => loadReleaseKeys([`0123456789abcdef:${written.publicKeyBase64}`])).toThrow(/does not match the key/);
    expect(() => loadReleaseKeys([join(dir, 'missing.pem')])).toThrow(/OTA_RELEASE_PUBLIC_KEYS/);
    // A private key file is not a public key.
    expect(() => loadReleaseKeys([written.privateKeyPath.replace(/\.key$/, '.pem')])).toThrow(/OTA_RELEASE_PUBLIC_KEYS/);
  });

  it('the config refuses malformed key entries and a short URL secret', () => {
    expect(() => loadConfig({}, { OTA_RELEASE_PUBLIC_KEYS: 'not-a-key' })).toThrow(/OTA_RELEASE_PUBLIC_KEYS/);
    expect(() => loadConfig({}, { OTA_URL_SECRET: 'short' })).toThrow(/OTA_URL_SECRET/);
    const { publicKeyBase64, keyId } = generateReleaseKeyPair();
    const config = loadConfig({}, { OTA_RELEASE_PUBLIC_KEYS: ` ${keyId}:${publicKeyBase64} , /etc/fleet/release.pem`, DATA_DIR: '/var/lib/fleet/' });
    expect(config.ota.releasePublicKeys).toStrictEqual([`${keyId}:${publicKeyBase64}`, '/etc/fleet/release.pem']);
    expect(config.ota.artifactDir).toBe('/var/lib/fleet/artifacts');
    expect(config.ota.publicBaseUrl).toBe('http://localhost:8080');
  });
});
