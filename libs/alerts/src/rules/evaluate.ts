/**
 * Entry points the engine calls: one heartbeat (all heartbeat rules) or one scheduled sweep tick for
 * a terminal (rules whose condition changes with time alone). Pure: same input, same outcomes.
 *
 * Outcome contract: one outcome per rule that could decide; a rule with no usable input (no `tx`
 * section, no policy for the model, no signal figure, no positions...) returns nothing, and the engine
 * leaves that rule's open alert and memory as they are. A disabled rule always returns active:false
 * (memory null), so its open alert resolves.
 */
import { autoRenewOffOutcome, dataAllowanceOutcome, planExpiringOutcome, planStatusOutcome, renewalFailedOutcome } from './plan.rules.js';
import { batteryLowOutcome } from './battery.rules.js';
import { findPolicy, versionOutcomes } from './firmware.rules.js';
import { relocatedOutcome } from './location.rules.js';
import { offlineOutcome, silentOutcome } from './presence.rules.js';
import { memString } from './rule-helpers.js';
import { ALERT_RULES, type AlertRule, type HeartbeatEvaluationInput, type RuleMemory, type RuleOutcome, type ScheduledEvaluationInput } from './rule.types.js';
import { signalWeakOutcome } from './signal.rules.js';
import { simChangedOutcome } from './sim.rules.js';
import { txOutcomes } from './tx.rules.js';

/** Rules evaluate() may return for a heartbeat: all but presence, which only the clock changes. */
export const HEARTBEAT_RULES: readonly AlertRule[] = ALERT_RULES.filter((rule) => rule !== 'offline' && rule !== 'silent');

/** Rules the scheduled sweep evaluates: their condition changes with the clock alone. */
export const SCHEDULED_RULES: readonly AlertRule[] = ['plan_expiring', 'auto_renew_off', 'offline', 'silent'];

const present = (o: RuleOutcome | null): o is RuleOutcome => o !== null;

export function evaluateHeartbeat(input: HeartbeatEvaluationInput): RuleOutcome[] {
  const { sample, previous, terminal, thresholds: t, policies, now, memory, open } = input;
  const models = [sample.model, terminal.model];
  return [
    planExpiringOutcome(sample, t, now, open),
    planStatusOutcome(sample, t, open),
    renewalFailedOutcome(sample, t, memory.get('renewal_failed'), open),
    autoRenewOffOutcome(sample, t, now, open),
    dataAllowanceOutcome(sample, t, open),
    ...versionOutcomes('firmware', sample.firmwareVersion, findPolicy(policies, 'firmware', models), t, now, open),
    ...versionOutcomes('app', sample.appVersion, findPolicy(policies, 'app', models), t, now, open),
    batteryLowOutcome(sample, t, open),
    signalWeakOutcome(sample, t, memory.get('signal_weak'), open),
    relocatedOutcome(sample, terminal, t, open),
    simChangedOutcome(sample, previous, t, now, memory.get('sim_changed'), open),
    ...txOutcomes(sample, t, now, memory, open),
  ].filter(present);
}

/**
 * Whether evaluateHeartbeat can read `previous` for a terminal whose rule memory is this: only
 * sim_changed does, and only while it remembers no ICCID. Otherwise the engine does not load the
 * heartbeat at the cursor just to pass it (half the rows it reads per evaluated heartbeat).
 */
export function needsPrevious(memory: ReadonlyMap<AlertRule, RuleMemory>): boolean {
  return memString(memory.get('sim_changed'), 'iccid') === null;
}

export function evaluateScheduled(input: ScheduledEvaluationInput): RuleOutcome[] {
  const { terminal, thresholds: t, now, open } = input;
  const latest = terminal.latest;
  return [
    latest ? planExpiringOutcome(latest, t, now, open) : null,
    latest ? autoRenewOffOutcome(latest, t, now, open) : null,
    offlineOutcome(terminal, t, now, open),
    silentOutcome(terminal, t, now, open),
  ].filter(present);
}
