import { describe, expect, it } from '@jest/globals';
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
    expect(luhnCheckDigit('49015420323751')).toBe('8'); // IMEI 490154203237518
    expect(luhnCheckDigit('7992739871')).toBe('3');
    expect(isLuhnValid('490154203237518')).toBeTruthy();
    expect(!isLuhnValid('490154203237517')).toBeTruthy();
    expect(!isLuhnValid('49015420323751x')).toBeTruthy();
  });

  it('builds IMEIs and ICCIDs of the right length with valid check digits', () => {
    const rng = new Prng(1);
    for (let i = 0; i < 200; i++) {
      const imei = makeImei('86472105', scrambledSerial(i, 12_345));
      expect(imei).toMatch(/^86472105\d{7}$/);
      expect(isLuhnValid(imei)).toBeTruthy();
      const iccid = makeIccid('898600', i % 2 === 0 ? 19 : 20, rng);
      expect(iccid.length).toBe(i % 2 === 0 ? 19 : 20);
      expect(isLuhnValid(iccid)).toBeTruthy();
    }
  });

  it('scrambled serials are unique for a million indexes', () => {
    const seen = new Set<number>();
    for (let i = 1; i <= 1_000_000; i++) seen.add(scrambledSerial(i, 777));
    expect(seen.size).toBe(1_000_000);
  });

  it('formats SNs and validates prefixes against the contract pattern', () => {
    expect(terminalSn('SIM', 42)).toBe('SIM-000042');
    expect(terminalSn('SIM', 1_234_567)).toBe('SIM-1234567');
    expect(isValidSnPrefix('A')).toBeTruthy();
    expect(!isValidSnPrefix('-X')).toBeTruthy();
    expect(!isValidSnPrefix('a/b')).toBeTruthy();
    expect(!isValidSnPrefix('x'.repeat(30))).toBeTruthy();
  });

  it('moves points by metres and measures distances consistently', () => {
    const beijing = { lat: 39.9042, lon: 116.4074 };
    const moved = offsetByMetres(beijing.lat, beijing.lon, 300, -400);
    expect(Math.abs(distanceMetres(beijing, moved) - 500) < 1).toBeTruthy();
    const guangzhou = { lat: 23.1291, lon: 113.2644 };
    expect(Math.abs(distanceMetres(beijing, guangzhou) / 1000 - 1888) < 15).toBeTruthy();
  });
});
