import { compareVersions, parseVersion, type ParsedVersion } from '#contracts';

/**
 * The version normalised by the comparison rule (libs/contracts firmware-version.ts): two versions
 * have the same key exactly when compareVersions says 0 (prefix case, leading zeros, trailing .0
 * components and pre-release digit runs do not matter). Stored with a unique index.
 */
export function versionKey(parsed: ParsedVersion): string {
  const numbers = [...parsed.numbers];
  while (numbers.length > 1 && numbers[numbers.length - 1] === '0') numbers.pop();
  const tag =
    parsed.preRelease === null
      ? ''
      : `-${(parsed.preRelease.toLowerCase().match(/\d+|[a-z]+|\./g) ?? []).map((run) => (/^\d/.test(run) ? run.replace(/^0+(?=\d)/, '') : run)).join('')}`;
  return `${parsed.prefix.toLowerCase()}${numbers.join('.')}${tag}`;
}

/** Why a version cannot join the catalog of a model and component (null: it can). */
export function versionProblem(version: string, existing: string | null): string | null {
  if (!parseVersion(version)) return 'not a version: needs a numeric tail (e.g. E20_V3.2.1, 1.18.0-rc1)';
  if (existing !== null && compareVersions(version, existing) === null) {
    return `cannot be compared with this model's other releases (e.g. ${existing}): the prefix before the numbers must match`;
  }
  return null;
}
