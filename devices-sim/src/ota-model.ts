/**
 * Pure decisions of the simulated command flow (docs/protocol.md §6): OTA scenarios (which terminals
 * misbehave and how), install guards and the maintenance window, and what a terminal runs after an
 * install. No I/O here: terminal-client.ts does the MQTT and HTTP work and asks these functions.
 */
import type { DeferReason, InstallGuards, OtaInstallParams } from '#contracts';
import type { TerminalProfile } from './fleet-generator.js';
import { deriveSeed } from './prng.js';
import { ScenarioSyntaxError, scenarioCount, type ScenarioAmount } from './scenarios.js';
import type { TerminalState } from './terminal-model.js';

/** OTA scenarios, in assignment order. */
export const OTA_SCENARIO_KINDS = ['ota-checksum-mismatch', 'ota-low-battery', 'ota-install-fail', 'ota-bad-release'] as const;
export type OtaScenarioKind = (typeof OTA_SCENARIO_KINDS)[number];

export const OTA_SCENARIO_DESCRIPTIONS: Readonly<Record<OtaScenarioKind, string>> = {
  'ota-checksum-mismatch': 'the downloaded artifact is corrupted on flash: failed (checksum_mismatch)',
  'ota-low-battery': 'battery reads 8 % and not charging at every guard check: deferred (battery) until the command expires',
  'ota-install-fail': 'the install does not come up: failed (install_failed), then rolled_back to the previous version',
  'ota-bad-release':
    'installs fine and reports succeeded, then after its first heartbeat on the new version goes silent (every other terminal) or loses signal (RSRP -121 dBm)',
};

export interface OtaScenarioRequest {
  readonly kind: OtaScenarioKind;
  readonly amount: ScenarioAmount;
}

/** What an `ota-bad-release` terminal does after its first heartbeat on the new version. */
export type OtaFault = 'silent' | 'weak-signal';

export function isOtaScenarioName(name: string): boolean {
  return name.startsWith('ota-');
}

/** Parses `ota-…=N` / `ota-…=P%` items (already split off the --scenario list). */
export function parseOtaScenarioItems(items: readonly string[]): OtaScenarioRequest[] {
  const seen = new Map<OtaScenarioKind, OtaScenarioRequest>();
  for (const item of items) {
    const match = /^([a-z-]+)=(\d+(?:\.\d+)?)(%?)$/.exec(item);
    if (!match) throw new ScenarioSyntaxError(`--scenario item "${item}" is not name=N or name=P%`);
    const [, name, number, percent] = match;
    const kind = OTA_SCENARIO_KINDS.find((k) => k === name);
    if (!kind) throw new ScenarioSyntaxError(`unknown OTA scenario "${name}"; known: ${OTA_SCENARIO_KINDS.join(', ')}`);
    if (seen.has(kind)) throw new ScenarioSyntaxError(`scenario "${kind}" is given twice`);
    const value = Number(number);
    let amount: ScenarioAmount;
    if (percent) {
      if (!(value > 0 && value <= 100)) throw new ScenarioSyntaxError(`--scenario ${kind}: share must be in (0, 100] %, got ${number}%`);
      amount = { percent: value };
    } else {
      if (!Number.isInteger(value) || value < 1) throw new ScenarioSyntaxError(`--scenario ${kind}: count must be a positive integer, got ${number}`);
      amount = { count: value };
    }
    seen.set(kind, { kind, amount });
  }
  return OTA_SCENARIO_KINDS.flatMap((k) => {
    const r = seen.get(k);
    return r ? [r] : [];
  });
}

/**
 * Chooses terminals for each OTA scenario: a pure function of (seed, SNs, requests); one OTA scenario per
 * terminal, independent of the alert scenarios (a terminal may have one of each).
 */
export function assignOtaScenarios(
  profiles: readonly Pick<TerminalProfile, 'sn' | 'index'>[],
  requests: readonly OtaScenarioRequest[],
  seed: string,
): Map<string, OtaScenarioKind> {
  const chosen = new Map<string, OtaScenarioKind>();
  for (const { kind, amount } of requests) {
    const wanted = scenarioCount(amount, profiles.length);
    const free = profiles.filter((p) => !chosen.has(p.sn));
    const ranked = free.map((p) => ({ p, rank: deriveSeed(seed, 'ota-scenario', kind, p.sn) })).sort((a, b) => a.rank - b.rank || a.p.index - b.p.index);
    for (const { p } of ranked.slice(0, wanted)) chosen.set(p.sn, kind);
  }
  return chosen;
}

/** The bad-release fault of a terminal: half go silent, half lose signal (stable per SN). */
export function badReleaseFault(sn: string, seed: string): OtaFault {
  return deriveSeed(seed, 'ota-fault', sn) % 2 === 0 ? 'silent' : 'weak-signal';
}

// ---------------------------------------------------------------------------------------------------------
// guards

const MIB = 1_048_576;

/** Local time of day (minutes after midnight) at `nowMs` in an IANA zone; throws RangeError for an unknown zone. */
export function minuteOfDayIn(nowMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(nowMs);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? NaN);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? NaN);
  return hour * 60 + minute;
}

/** True when `tz` is a zone this runtime knows. */
export function isKnownTimeZone(tz: string): boolean {
  try {
    minuteOfDayIn(0, tz);
    return true;
  } catch {
    return false;
  }
}

const toMinutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Inside the maintenance window at `nowMs`; start > end wraps past midnight, start = end is all day. */
export function inMaintenanceWindow(nowMs: number, window: InstallGuards['window']): boolean {
  const now = minuteOfDayIn(nowMs, window.tz);
  const start = toMinutes(window.start);
  const end = toMinutes(window.end);
  if (start === end) return true;
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/** What the terminal sees when it checks its guards (an OTA scenario may bend it). */
export interface GuardView {
  readonly batteryPct: number;
  readonly charging: boolean;
  /** null on 2G/3G (no RSRP): the floor is treated as unmet. */
  readonly rsrpDbm: number | null;
  readonly planStatus: TerminalState['plan']['status'];
  /** Bytes left on the plan; null = unlimited. */
  readonly planLeftBytes: number | null;
}

export function guardView(state: TerminalState, scenario: OtaScenarioKind | null): GuardView {
  const lte = state.signal.rat === 'LTE' || state.signal.rat === 'NR' || state.signal.rat === 'LTE-M' || state.signal.rat === 'NB-IoT';
  const low = scenario === 'ota-low-battery';
  return {
    batteryPct: low ? 8 : state.battery.percent,
    charging: low ? false : state.battery.charging,
    rsrpDbm: lte ? state.signal.rsrp : null,
    planStatus: state.plan.status,
    planLeftBytes: state.plan.allowanceMb === null ? null : Math.max(0, (state.plan.allowanceMb - state.plan.usedMb) * MIB),
  };
}

export type GuardStage = 'download' | 'install';

/**
 * The first unmet guard, or null when the step may go ahead. Before downloading: plan (active, with the
 * artifact size plus headroom left), signal floor, battery. Before installing: battery and the maintenance
 * window (the download itself may run any time; docs/protocol.md §6.2 "deferred until the window").
 */
export function unmetGuard(
  stage: GuardStage,
  view: GuardView,
  params: Pick<OtaInstallParams, 'size' | 'guards'>,
  nowMs: number,
  opts: { ignoreWindow: boolean },
): DeferReason | null {
  const g = params.guards;
  if (stage === 'download') {
    if (view.planStatus !== 'active') return 'plan';
    if (view.planLeftBytes !== null && view.planLeftBytes < params.size + g.planHeadroomBytes) return 'plan';
    if (g.minRsrpDbm !== undefined && (view.rsrpDbm === null || view.rsrpDbm < g.minRsrpDbm)) return 'signal';
  }
  if (view.batteryPct < g.minBatteryPct && !(g.orCharging && view.charging)) return 'battery';
  if (stage === 'install' && !opts.ignoreWindow && !inMaintenanceWindow(nowMs, g.window)) return 'window';
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// install outcome

export type InstallOutcome =
  | { readonly kind: 'installed'; readonly firmware: TerminalState['firmware']; readonly fault: OtaFault | null }
  | { readonly kind: 'install_failed'; readonly firmware: TerminalState['firmware'] };

/** What runs after installing `params` on a terminal running `current`, given its OTA scenario. */
export function installOutcome(
  current: TerminalState['firmware'],
  params: Pick<OtaInstallParams, 'component' | 'version'>,
  scenario: OtaScenarioKind | null,
  fault: OtaFault,
): InstallOutcome {
  if (scenario === 'ota-install-fail') return { kind: 'install_failed', firmware: current };
  const firmware = params.component === 'firmware' ? { ...current, version: params.version } : { ...current, appVersion: params.version };
  return { kind: 'installed', firmware, fault: scenario === 'ota-bad-release' ? fault : null };
}

/** The version a component runs. */
export function runningVersion(firmware: TerminalState['firmware'], component: OtaInstallParams['component']): string {
  return component === 'firmware' ? firmware.version : firmware.appVersion;
}

/** Download progress acks: the 10 % steps crossed going from `fromBytes` to `toBytes` of `size`. */
export function progressSteps(fromBytes: number, toBytes: number, size: number): number[] {
  const from = Math.floor((fromBytes / size) * 10);
  const to = Math.floor((Math.min(toBytes, size) / size) * 10);
  const steps: number[] = [];
  for (let s = from + 1; s <= to; s++) steps.push(s * 10);
  return steps;
}

/** Where `--ota-drop-at P` cuts the first download (a byte offset strictly inside the artifact), or null. */
export function dropOffset(size: number, dropAtPercent: number | null): number | null {
  if (dropAtPercent === null || size < 2) return null;
  return Math.min(size - 1, Math.max(1, Math.floor((size * dropAtPercent) / 100)));
}
