/**
 * Storm control. A group of terminals - the alert's provider (its directly owned terminals), the
 * terminals last seen on one cell (terminal_state.cell_id), or those registered in one city
 * (terminals.city) - is in a storm for a rule when, within the
 * window (NOTIFY_STORM_WINDOW_S, default 10 min), the number of its terminals that raised that rule is
 * at least NOTIFY_STORM_MIN_COUNT (default 10) AND more than NOTIFY_STORM_PERCENT (default 20 %) of
 * the group's terminals. From then on each subscription gets ONE roll-up delivery per group, rule and
 * window (counts and sample SNs) instead of one message per terminal: the storm's alert deliveries -
 * new ones and those still pending, not yet sent - are folded into it (state 'bundled'). The roll-up
 * waits NOTIFY_STORM_HOLD_S (default 60 s) to collect the storm, then counts its bundled deliveries
 * when sent. Resolutions and escalations are not rolled up. A terminal in several groups in a storm
 * is rolled up in the narrowest: provider, then cell, then city.
 */
export interface StormSettings {
  percent: number;
  minCount: number;
}

export function isStorm(raised: number, groupSize: number, s: StormSettings): boolean {
  return groupSize > 0 && raised >= s.minCount && raised * 100 > s.percent * groupSize;
}

/** Start of the fixed window containing `at` (windows are aligned to the epoch). */
export function stormWindowStart(at: Date, windowS: number): Date {
  const ms = windowS * 1000;
  return new Date(Math.floor(at.getTime() / ms) * ms);
}
