import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { CredentialHasher } from './credential-hasher.js';

const PEPPER = 'pepper-for-unit-tests-0123456789ab';

describe('CredentialHasher', () => {
  it('generates 43-character base64url secrets (32 random bytes), different every time', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secrets = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = hasher.generateSecret();
      expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(s, 'base64url').length).toBe(32);
      secrets.add(s);
    }
    expect(secrets.size).toBe(50);
  });

  it('hashes to 32 bytes of HMAC-SHA256 keyed by the pepper', () => {
    const hasher = new CredentialHasher(PEPPER);
    const hash = hasher.hash('some-secret');
    expect(Buffer.isBuffer(hash)).toBeTruthy();
    expect(hash.length).toBe(32);
    expect(hash).toStrictEqual(createHmac('sha256', PEPPER).update('some-secret').digest());
    expect(hasher.hash('some-secret')).toStrictEqual(hash);
    expect(hasher.hash(Buffer.from('some-secret'))).toStrictEqual(hash);
    expect(hasher.hash('some-secret2')).not.toStrictEqual(hash);
  });

  it('verifies the right secret and refuses others', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secret = hasher.generateSecret();
    const stored = hasher.hash(secret);
    expect(hasher.verify(secret, stored)).toBe(true);
    expect(hasher.verify(Buffer.from(secret), stored)).toBe(true);
    expect(hasher.verify(hasher.generateSecret(), stored)).toBe(false);
    expect(hasher.verify(`${secret}x`, stored)).toBe(false);
    expect(hasher.verify('', stored)).toBe(false);
  });

  it('returns false (does not throw) for a stored hash of the wrong length', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secret = hasher.generateSecret();
    expect(hasher.verify(secret, hasher.hash(secret).subarray(0, 16))).toBe(false);
    expect(hasher.verify(secret, Buffer.alloc(0))).toBe(false);
  });

  it('gives different hashes for different peppers', () => {
    const a = new CredentialHasher(PEPPER);
    const b = new CredentialHasher(`${PEPPER}!`);
    const secret = a.generateSecret();
    expect(a.hash(secret)).not.toStrictEqual(b.hash(secret));
    expect(b.verify(secret, a.hash(secret))).toBe(false);
  });

  it('requires a pepper of at least 32 characters', () => {
    expect(() => new CredentialHasher('')).toThrow(/at least 32/);
    expect(() => new CredentialHasher('x'.repeat(31))).toThrow(/at least 32/);
    expect(() => new CredentialHasher('x'.repeat(32))).not.toThrow();
  });
});
