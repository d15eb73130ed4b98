import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { compareVersions, parseVersion } from './firmware-version.js';

describe('parseVersion', () => {
  it('splits the vendor formats of the fleet catalog into prefix, numeric tail and tag', () => {
    expect(parseVersion('E20_V3.2.1')).toEqual({ prefix: 'E20_V', numbers: ['3', '2', '1'], preRelease: null });
    expect(parseVersion('E20P_V2.4.7')).toEqual({ prefix: 'E20P_V', numbers: ['2', '4', '7'], preRelease: null });
    expect(parseVersion('N5-1.08.1')).toEqual({ prefix: 'N5-', numbers: ['1', '8', '1'], preRelease: null });
    expect(parseVersion('S8.4.0.2')).toEqual({ prefix: 'S', numbers: ['8', '4', '0', '2'], preRelease: null });
    expect(parseVersion('K2L_2.0.6')).toEqual({ prefix: 'K2L_', numbers: ['2', '0', '6'], preRelease: null });
    expect(parseVersion('5.12.3')).toEqual({ prefix: '', numbers: ['5', '12', '3'], preRelease: null });
    expect(parseVersion('N5-1.18.0-rc1')).toEqual({ prefix: 'N5-', numbers: ['1', '18', '0'], preRelease: 'rc1' });
    expect(parseVersion(' 4.9.6-beta ')).toEqual({ prefix: '', numbers: ['4', '9', '6'], preRelease: 'beta' });
  });

  it('returns null without a numeric tail', () => {
    for (const v of ['', 'latest', 'E20_V', 'v1.2.x', '1.2.3-', '1.2.3-1rc', 'x'.repeat(200) + '1']) expect(parseVersion(v)).toBeNull();
  });
});

describe('compareVersions', () => {
  it('orders the catalog tiers of each model, latest newest', () => {
    const models = [
      ['E20_V2.4.7', 'E20_V2.9.0', 'E20_V3.1.4', 'E20_V3.2.1'],
      ['N5-1.08.1', 'N5-1.12.5', 'N5-1.17.2', 'N5-1.18.0'],
      ['S8.2.6.4', 'S8.3.2.0', 'S8.3.9.7', 'S8.4.0.2'],
      ['K2L_1.6.0', 'K2L_1.9.1', 'K2L_2.0.3', 'K2L_2.0.6'],
      ['4.9.6', '5.8.2', '5.11.0', '5.12.3'],
    ];
    for (const tiers of models) {
      for (let i = 0; i < tiers.length - 1; i++) {
        expect(compareVersions(tiers[i], tiers[i + 1])).toBe(-1);
        expect(compareVersions(tiers[i + 1], tiers[i])).toBe(1);
      }
    }
  });

  it('compares numerically, not as strings, with missing components as 0', () => {
    expect(compareVersions('5.9.0', '5.12.3')).toBe(-1);
    expect(compareVersions('N5-1.08.1', 'N5-1.8.1')).toBe(0);
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
    expect(compareVersions('1.2', '1.2.0.1')).toBe(-1);
    expect(compareVersions('1.99999999999999999999', '1.100000000000000000000')).toBe(-1);
  });

  it('sorts a pre-release before its release and tags among themselves', () => {
    expect(compareVersions('N5-1.18.0-rc1', 'N5-1.18.0')).toBe(-1);
    expect(compareVersions('N5-1.18.0-rc1', 'N5-1.17.9')).toBe(1);
    expect(compareVersions('1.0-alpha', '1.0-beta')).toBe(-1);
    expect(compareVersions('1.0-beta', '1.0-rc1')).toBe(-1);
    expect(compareVersions('1.0-rc2', '1.0-rc10')).toBe(-1);
    expect(compareVersions('1.0-beta', '1.0-beta.2')).toBe(-1);
    expect(compareVersions('1.0-RC1', '1.0-rc1')).toBe(0);
  });

  it('returns null for different prefixes or unparsable strings, never a string order', () => {
    expect(compareVersions('E20_V3.2.1', 'E20P_V3.2.1')).toBeNull();
    expect(compareVersions('E20_V3.2.1', 'N5-1.18.0')).toBeNull();
    expect(compareVersions('E20_V3.2.1', '3.2.1')).toBeNull();
    expect(compareVersions('latest', 'latest')).toBeNull();
    expect(compareVersions('1.0', 'beta')).toBeNull();
  });

  it('ignores case and surrounding spaces in the prefix', () => {
    expect(compareVersions('e20_v3.1.4', ' E20_V3.2.1')).toBe(-1);
    expect(compareVersions('k2l_2.0.6', 'K2L_2.0.6')).toBe(0);
  });

  describe('ordering laws (fast-check, fixed seed)', () => {
    const prefix = fc.constantFrom('', 'E20_V', 'N5-', 'S');
    const component = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.boolean()).map(([n, zero]) => (zero ? `0${n}` : String(n)));
    const tag = fc.option(fc.constantFrom('alpha', 'beta', 'beta.2', 'rc1', 'rc2', 'rc10', 'RC1'), { nil: null });
    const version = fc
      .tuple(prefix, fc.array(component, { minLength: 1, maxLength: 4 }), tag)
      .map(([p, numbers, t]) => `${p}${numbers.join('.')}${t === null ? '' : `-${t}`}`);
    const params = { seed: 20261201, numRuns: 2000 };

    it('is reflexive', () => {
      fc.assert(
        fc.property(version, (a) => compareVersions(a, a) === 0),
        params,
      );
    });

    it('is antisymmetric', () => {
      fc.assert(
        fc.property(version, version, (a, b) => {
          const ab = compareVersions(a, b);
          const ba = compareVersions(b, a);
          if (ab === null || ba === null) return ab === null && ba === null;
          return Math.sign(ab) === -Math.sign(ba);
        }),
        params,
      );
    });

    it('is transitive', () => {
      fc.assert(
        fc.property(version, version, version, (a, b, c) => {
          const ab = compareVersions(a, b);
          const bc = compareVersions(b, c);
          if (ab === null || bc === null || ab > 0 || bc > 0) return true;
          const ac = compareVersions(a, c);
          return ac !== null && ac <= 0 && (ab < 0 || bc < 0 ? ac < 0 : ac === 0);
        }),
        params,
      );
    });

    it('agrees with the numeric tuple order for releases', () => {
      const tuple = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 5 });
      fc.assert(
        fc.property(tuple, tuple, (x, y) => {
          let expected = 0;
          for (let i = 0; i < Math.max(x.length, y.length) && expected === 0; i++) expected = Math.sign((x[i] ?? 0) - (y[i] ?? 0));
          return compareVersions(`S${x.join('.')}`, `S${y.join('.')}`) === expected;
        }),
        params,
      );
    });
  });
});
