/**
 * Vendor firmware and payment-app version strings, compared without pretending they are semver.
 *
 * Real strings look like `E20_V3.2.1`, `E20P_V3.2.1`, `N5-1.18.0`, `S8.4.0.2`, `K2L_2.0.6`, `5.12.3`.
 * Comparison rule:
 * 1. Parse `<prefix><numeric tail>[-<pre-release tag>]`: the numeric tail is the longest run of
 *    dot-separated digit groups at the end (before an optional `-tag`), the prefix is everything
 *    before it (model letters, `_V`, `-`, may be empty). `S8.4.0.2` → prefix `S`, tail 8.4.0.2;
 *    `E20_V3.2.1` → prefix `E20_V`, tail 3.2.1; `N5-1.18.0-rc1` → prefix `N5-`, tail 1.18.0, tag rc1.
 *    The tag starts with a letter and holds letters, digits and dots (`-beta`, `-rc1`, `-beta.2`).
 * 2. Different prefixes (compared ignoring case: policies are typed by people) → `null`: incomparable. Callers must not alert on null and
 *    must never fall back to string comparison. A string without a numeric tail → `null`.
 * 3. Tails compare numerically component by component; a missing component counts as 0, so
 *    `1.2` = `1.2.0`; leading zeros do not matter (`1.08` = `1.8`).
 * 4. Equal tails: a release sorts after any pre-release of it (`1.2.0-rc1` < `1.2.0`). Two tags
 *    compare by their digit and letter runs in order: digit runs numerically, letter runs
 *    case-insensitively by character code (`alpha` < `beta` < `rc`, `rc2` < `rc10`); a tag that is a
 *    prefix of the other sorts first.
 *
 * Framework-free: used by the alert rules and by OTA.
 */

export interface ParsedVersion {
  prefix: string;
  /** Numeric components, leading zeros stripped (decimal strings, so any length compares exactly). */
  numbers: readonly string[];
  /** Pre-release tag without the leading '-', null for a release. */
  preRelease: string | null;
}

const VERSION_PATTERN = /^(.*?)(\d+(?:\.\d+)*)(?:-([A-Za-z][0-9A-Za-z.]*))?$/;

// A fleet runs a handful of distinct versions and rules compare them on every heartbeat: memoise parsing.
const parsed = new Map<string, ParsedVersion | null>();
const PARSED_CACHE_MAX = 1024;

/** Splits a vendor version string, or null when it has no numeric tail (or is absurdly long). */
export function parseVersion(version: string): ParsedVersion | null {
  const hit = parsed.get(version);
  if (hit !== undefined) return hit;
  const result = parseUncached(version);
  if (parsed.size >= PARSED_CACHE_MAX) parsed.clear();
  parsed.set(version, result);
  return result;
}

function parseUncached(version: string): ParsedVersion | null {
  const trimmed = version.trim();
  if (trimmed.length === 0 || trimmed.length > 128) return null;
  const match = VERSION_PATTERN.exec(trimmed);
  if (!match) return null;
  const [, prefix, tail, preRelease] = match;
  return Object.freeze({ prefix, numbers: Object.freeze(tail.split('.').map(stripZeros)), preRelease: preRelease ?? null });
}

function stripZeros(digits: string): string {
  const stripped = digits.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Compares two non-negative decimal strings without leading zeros. */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function comparePreRelease(a: string, b: string): number {
  const runsA = a.toLowerCase().match(/\d+|[a-z]+|\./g) ?? [];
  const runsB = b.toLowerCase().match(/\d+|[a-z]+|\./g) ?? [];
  for (let i = 0; i < Math.min(runsA.length, runsB.length); i++) {
    const x = runsA[i];
    const y = runsB[i];
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    let c: number;
    if (xDigits && yDigits) c = compareDigits(stripZeros(x), stripZeros(y));
    else if (xDigits !== yDigits)
      c = xDigits ? -1 : 1; // digits before letters, as in semver
    else c = x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return Math.sign(runsA.length - runsB.length);
}

/**
 * -1 when `a` is older than `b`, 1 when newer, 0 when the same version, null when the two cannot be
 * compared (different prefixes, or either has no numeric tail). See the header for the rule.
 */
export function compareVersions(a: string, b: string): number | null {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y || x.prefix.toLowerCase() !== y.prefix.toLowerCase()) return null;
  const length = Math.max(x.numbers.length, y.numbers.length);
  for (let i = 0; i < length; i++) {
    const c = compareDigits(x.numbers[i] ?? '0', y.numbers[i] ?? '0');
    if (c !== 0) return c;
  }
  if (x.preRelease === null || y.preRelease === null) {
    if (x.preRelease === y.preRelease) return 0;
    return x.preRelease === null ? 1 : -1;
  }
  return comparePreRelease(x.preRelease, y.preRelease);
}
