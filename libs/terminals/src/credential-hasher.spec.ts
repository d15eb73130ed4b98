import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { CredentialHasher } from './credential-hasher.js';

const PEPPER = 'pepper-for-unit-tests-0123456789ab';

describe('CredentialHasher', () => {
  it('generates 43-character base64url secrets (32 random bytes), different every time', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secrets = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = hasher.generateSecret();
      assert.match(s, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(s, 'base64url').length, 32);
      secrets.add(s);
    }
    assert.equal(secrets.size, 50);
  });

  it('hashes to 32 bytes of HMAC-SHA256 keyed by the pepper', () => {
    const hasher = new CredentialHasher(PEPPER);
    const hash = hasher.hash('some-secret');
    assert.ok(Buffer.isBuffer(hash));
    assert.equal(hash.length, 32);
    assert.deepEqual(hash, createHmac('sha256', PEPPER).update('some-secret').digest());
    assert.deepEqual(hasher.hash('some-secret'), hash, 'deterministic');
    assert.deepEqual(hasher.hash(Buffer.from('some-secret')), hash, 'string and Buffer secrets agree');
    assert.notDeepEqual(hasher.hash('some-secret2'), hash);
  });

  it('verifies the right secret and refuses others', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secret = hasher.generateSecret();
    const stored = hasher.hash(secret);
    assert.equal(hasher.verify(secret, stored), true);
    assert.equal(hasher.verify(Buffer.from(secret), stored), true);
    assert.equal(hasher.verify(hasher.generateSecret(), stored), false);
    assert.equal(hasher.verify(`${secret}x`, stored), false);
    assert.equal(hasher.verify('', stored), false);
  });

  it('returns false (does not throw) for a stored hash of the wrong length', () => {
    const hasher = new CredentialHasher(PEPPER);
    const secret = hasher.generateSecret();
    assert.equal(hasher.verify(secret, hasher.hash(secret).subarray(0, 16)), false);
    assert.equal(hasher.verify(secret, Buffer.alloc(0)), false);
  });

  it('gives different hashes for different peppers', () => {
    const a = new CredentialHasher(PEPPER);
    const b = new CredentialHasher(`${PEPPER}!`);
    const secret = a.generateSecret();
    assert.notDeepEqual(a.hash(secret), b.hash(secret));
    assert.equal(b.verify(secret, a.hash(secret)), false);
  });

  it('requires a pepper of at least 32 characters', () => {
    assert.throws(() => new CredentialHasher(''), /at least 32/);
    assert.throws(() => new CredentialHasher('x'.repeat(31)), /at least 32/);
    assert.doesNotThrow(() => new CredentialHasher('x'.repeat(32)));
  });
});
