import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  distanceMetres,
  isLuhnValid,
  isValidSnPrefix,
  luhnCheckDigit,
  makeIccid,
  makeImei,
  offsetByMetres,
  scrambledSerial,
  terminalSn,
} from './identifiers.js';
import { Prng } from './prng.js';

describe('identifiers', () => {
  it('computes Luhn check digits (known IMEI and card vectors)', () => {
    assert.equal(luhnCheckDigit('49015420323751'), '8'); // IMEI 490154203237518
    assert.equal(luhnCheckDigit('7992739871'), '3');
    assert.ok(isLuhnValid('490154203237518'));
    assert.ok(!isLuhnValid('490154203237517'));
    assert.ok(!isLuhnValid('49015420323751x'));
  });

  it('builds IMEIs and ICCIDs of the right length with valid check digits', () => {
    const rng = new Prng(1);
    for (let i = 0; i < 200; i++) {
      const imei = makeImei('86472105', scrambledSerial(i, 12_345));
      assert.match(imei, /^86472105\d{7}$/);
      assert.ok(isLuhnValid(imei));
      const iccid = makeIccid('898600', i % 2 === 0 ? 19 : 20, rng);
      assert.equal(iccid.length, i % 2 === 0 ? 19 : 20);
      assert.ok(isLuhnValid(iccid));
    }
  });

  it('scrambled serials are unique for a million indexes', () => {
    const seen = new Set<number>();
    for (let i = 1; i <= 1_000_000; i++) seen.add(scrambledSerial(i, 777));
    assert.equal(seen.size, 1_000_000);
  });

  it('formats SNs and validates prefixes against the contract pattern', () => {
    assert.equal(terminalSn('SIM', 42), 'SIM-000042');
    assert.equal(terminalSn('SIM', 1_234_567), 'SIM-1234567');
    assert.ok(isValidSnPrefix('A'));
    assert.ok(!isValidSnPrefix('-X'));
    assert.ok(!isValidSnPrefix('a/b'));
    assert.ok(!isValidSnPrefix('x'.repeat(30)));
  });

  it('moves points by metres and measures distances consistently', () => {
    const beijing = { lat: 39.9042, lon: 116.4074 };
    const moved = offsetByMetres(beijing.lat, beijing.lon, 300, -400);
    assert.ok(Math.abs(distanceMetres(beijing, moved) - 500) < 1);
    const guangzhou = { lat: 23.1291, lon: 113.2644 };
    assert.ok(Math.abs(distanceMetres(beijing, guangzhou) / 1000 - 1888) < 15);
  });
});
