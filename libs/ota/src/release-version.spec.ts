import { describe, expect, it } from '@jest/globals';
import { compareVersions, parseVersion } from '#contracts';
import { versionKey, versionProblem } from './release-version.js';

const key = (v: string) => versionKey(parseVersion(v)!);

describe('release versions', () => {
  it('versions that compare equal share a key; different ones do not', () => {
    const equal = [
      ['1.2', '1.2.0'],
      ['E20_V3.2.1', 'e20_v3.2.1'],
      ['1.08', '1.8'],
      ['1.2.0-rc01', '1.2-RC1'],
    ];
    for (const [a, b] of equal) {
      expect(compareVersions(a, b)).toBe(0);
      expect(key(a)).toBe(key(b));
    }
    const different = [
      ['1.2', '1.2.1'],
      ['1.2.0-rc1', '1.2.0'],
      ['1.2.0-rc1', '1.2.0-rc10'],
      ['E20_V3.2.1', 'E20P_V3.2.1'],
      ['1.0', '10'],
    ];
    for (const [a, b] of different) {
      expect(compareVersions(a, b)).not.toBe(0);
      expect(key(a)).not.toBe(key(b));
    }
  });

  it('a version must parse and compare with the model\u2019s existing releases', () => {
    expect(versionProblem('E20_V3.2.1', null)).toBeNull();
    expect(versionProblem('E20_V3.3.0', 'E20_V3.2.1')).toBeNull();
    expect(versionProblem('beta', null)).toMatch(/numeric tail/);
    expect(versionProblem('N5-1.0', 'E20_V3.2.1')).toMatch(/cannot be compared/);
  });
});
