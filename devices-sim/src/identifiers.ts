import { isValidSn } from '#contracts';
import type { Prng } from './prng.js';

/** Luhn (mod 10) check digit for a string of decimal digits. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  // Walk right to left; the rightmost payload digit is doubled (the check digit will follow it).
  for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function isLuhnValid(digits: string): boolean {
  return /^\d+$/.test(digits) && luhnCheckDigit(digits.slice(0, -1)) === digits.slice(-1);
}

/** 15-digit IMEI: 8-digit TAC + 6-digit serial + Luhn check digit. */
export function makeImei(tac: string, serial: number): string {
  const body = `${tac}${String(Math.floor(serial) % 1_000_000).padStart(6, '0')}`;
  return `${body}${luhnCheckDigit(body)}`;
}

/** ICCID: issuer prefix (89 86 xx) + account digits + Luhn check digit, 19 or 20 digits in total. */
export function makeIccid(issuerPrefix: string, length: 19 | 20, rng: Prng): string {
  const body = `${issuerPrefix}${rng.digits(length - 1 - issuerPrefix.length)}`;
  return `${body}${luhnCheckDigit(body)}`;
}

/** SN of the index-th simulated terminal (1-based), e.g. SIM-000042. */
export function terminalSn(prefix: string, index: number): string {
  const sn = `${prefix}-${String(index).padStart(6, '0')}`;
  if (!isValidSn(sn)) throw new Error(`SN "${sn}" does not match the contract's SN pattern; choose another --sn-prefix`);
  return sn;
}

/** Validates a prefix up front so the CLI can reject it before generating anything. */
export function isValidSnPrefix(prefix: string): boolean {
  return isValidSn(`${prefix}-000001`);
}

/** Serial number that is unique for index < 1 000 000 (multiplier coprime to 10^6), scrambled by a salt. */
export function scrambledSerial(index: number, salt: number): number {
  return (index * 683_747 + salt) % 1_000_000;
}

/** 8-character acquirer terminal id. */
export function makeTid(index: number, salt: number): string {
  return String(10_000_000 + ((index * 7919 + salt) % 89_999_999)).padStart(8, '0');
}

/** 15-digit merchant id: 898 + area code + merchant category code + 4 digits. */
export function makeMid(areaCode: string, mcc: string, rng: Prng): string {
  return `898${areaCode}${mcc}${rng.digits(4)}`;
}

const EARTH_RADIUS_M = 6_371_008.8;

/** Moves a point by (north, east) metres; good enough for offsets under a few hundred kilometres. */
export function offsetByMetres(lat: number, lon: number, northM: number, eastM: number): { lat: number; lon: number } {
  const dLat = (northM / EARTH_RADIUS_M) * (180 / Math.PI);
  const dLon = (eastM / (EARTH_RADIUS_M * Math.cos((lat * Math.PI) / 180))) * (180 / Math.PI);
  return { lat: lat + dLat, lon: lon + dLon };
}

/** Great-circle distance in metres. */
export function distanceMetres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const toRad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * toRad;
  const dLon = (b.lon - a.lon) * toRad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * toRad) * Math.cos(b.lat * toRad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Uniform random point within `radiusM` of a centre. */
export function randomPointWithin(lat: number, lon: number, radiusM: number, rng: Prng): { lat: number; lon: number } {
  const r = radiusM * Math.sqrt(rng.next());
  const theta = rng.float(0, 2 * Math.PI);
  return offsetByMetres(lat, lon, r * Math.cos(theta), r * Math.sin(theta));
}
