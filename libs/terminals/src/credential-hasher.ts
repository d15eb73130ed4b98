import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes: 256 bits of entropy, so a fast keyed hash is as safe as a slow one. */
const SECRET_BYTES = 32;

/**
 * Terminal and service-account secrets are random tokens, not passwords, so they are stored as
 * HMAC-SHA256(pepper, secret): constant time to check, thousands of CONNECTs per second per core,
 * and a stolen table is useless without the pepper, which is kept outside the database.
 */
export class CredentialHasher {
  private readonly key: Buffer;

  constructor(pepper: string) {
    if (pepper.length < 32) throw new Error('credential pepper must be at least 32 characters');
    this.key = Buffer.from(pepper, 'utf8');
  }

  generateSecret(): string {
    return randomBytes(SECRET_BYTES).toString('base64url');
  }

  hash(secret: string | Buffer): Buffer {
    return createHmac('sha256', this.key).update(secret).digest();
  }

  verify(secret: string | Buffer, expected: Buffer): boolean {
    const actual = this.hash(secret);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}
