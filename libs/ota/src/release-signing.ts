import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * Release signatures: Ed25519 over the 32 raw bytes of the artifact's SHA-256 digest (not the hex
 * text, not the whole file). Signing the digest lets the backend verify an upload it hashed while
 * streaming and an external (CDN) artifact from its declared digest, and lets a terminal verify
 * after hashing its download, none of them holding the file in memory. docs/ota.md is the contract.
 */

export interface ReleaseKeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
  /** Raw 32-byte public key, base64 (the form OTA_RELEASE_PUBLIC_KEYS takes). */
  publicKeyBase64: string;
  keyId: string;
}

/** The raw 32-byte Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

/** Key id: the first 16 hex characters of SHA-256 over the raw public key. */
export function releaseKeyId(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

/** An Ed25519 public key from its raw 32 bytes in base64. */
export function publicKeyFromBase64(base64: string): KeyObject {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== base64) throw new Error('not a base64 32-byte Ed25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** An Ed25519 public key from PEM (SPKI); anything else is refused. */
export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown type'})`);
  return key;
}

export function generateReleaseKeyPair(): ReleaseKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyBase64: rawPublicKey(publicKey).toString('base64'),
    keyId: releaseKeyId(publicKey),
  };
}

/** A private key from PEM; refuses anything but Ed25519. */
export function privateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error('not a PEM private key (expected the .key file keygen wrote)');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`not an Ed25519 private key (${key.asymmetricKeyType ?? 'unknown type'})`);
  return key;
}

/** Base64 Ed25519 signature over a 32-byte SHA-256 digest. */
export function signDigest(privateKey: KeyObject, digest: Buffer): string {
  if (digest.length !== 32) throw new Error('a SHA-256 digest has 32 bytes');
  return sign(null, digest, privateKey).toString('base64');
}

/** Whether `signatureBase64` is a valid Ed25519 signature over `digest` by `publicKey`. */
export function verifyDigest(publicKey: KeyObject, digest: Buffer, signatureBase64: string): boolean {
  const signature = Buffer.from(signatureBase64, 'base64');
  // Strict base64 of exactly 64 bytes: no lenient decoding of a mangled value.
  if (digest.length !== 32 || signature.length !== 64 || signature.toString('base64') !== signatureBase64) return false;
  return verify(null, digest, publicKey, signature);
}

/** SHA-256 and size of a file, streamed (constant memory). */
export async function sha256File(path: string): Promise<{ digest: Buffer; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    const buf = chunk as Buffer;
    size += buf.length;
    hash.update(buf);
  }
  return { digest: hash.digest(), size };
}

export interface SignedArtifact {
  sha256: string;
  size: number;
  signature: string;
  keyId: string;
}

/** What `npm run releases -- sign` prints: the file's digest, size and signature, and the signing key's id. */
export async function signArtifactFile(privateKeyPem: string, path: string): Promise<SignedArtifact> {
  const privateKey = privateKeyFromPem(privateKeyPem);
  const { digest, size } = await sha256File(path);
  return { sha256: digest.toString('hex'), size, signature: signDigest(privateKey, digest), keyId: releaseKeyId(createPublicKey(privateKey)) };
}
