import type { AlertDetails, AlertRule, OpenAlert, RuleMemory, RuleOutcome, Severity } from '../rules/rule.types.js';

export type AlertState = 'open' | 'acknowledged' | 'resolved';
export type AlertEventKind = 'raised' | 'escalated' | 'resolved';

/** An unresolved alert as stored. */
export interface StoredAlert {
  id: string;
  sn: string;
  rule: AlertRule;
  severity: Severity;
  state: 'open' | 'acknowledged';
}

/** Who the alert is about: written into every alert's and event's details, so texts can name the terminal. */
export interface AlertSubject {
  sn: string;
  providerId: string;
  tid: string | null;
  mid: string | null;
  model: string;
}

export interface AlertEventDraft {
  kind: AlertEventKind;
  severity: Severity;
  details: AlertDetails;
  at: Date;
}

/**
 * What one evaluation batch did to one alert: an alert stored before the batch (id set) or one raised
 * in it (id null). Several segments of one terminal and rule exist when the condition cleared and came
 * back within the batch.
 */
export interface AlertSegment {
  id: string | null;
  sn: string;
  providerId: string;
  rule: AlertRule;
  /** Severity when loaded: the write applies only if nobody changed it since (null for a new alert). */
  loadedSeverity: Severity | null;
  severity: Severity;
  state: AlertState;
  /** null: leave the stored details as they are. */
  details: AlertDetails | null;
  firstSeenAt: Date;
  lastSeenAt: Date | null;
  /** Evaluations with the condition holding in this batch (a new alert's total). */
  occurrences: number;
  resolvedAt: Date | null;
  events: AlertEventDraft[];
}

const key = (sn: string, rule: string): string => `${sn}\u0000${rule}`;

function withSubject(details: AlertDetails, subject: AlertSubject): AlertDetails {
  return { ...details, sn: subject.sn, tid: subject.tid, mid: subject.mid, model: subject.model };
}

/**
 * The alert lifecycle, applied in memory to one batch's rule outcomes in evaluation order:
 * - condition holds, no unresolved alert: raise (open, event 'raised');
 * - holds, alert unresolved: keep it (last seen, occurrences + 1, details); a different severity is an
 *   'escalated' event (either direction); an acknowledged alert stays acknowledged; with
 *   quietConfirmations (the sweep), the same severity on a stored alert writes nothing;
 * - cleared, alert unresolved (open or acknowledged): resolve it (by 'system', event 'resolved');
 * - cleared, nothing unresolved: nothing.
 * The result is the touched segments, written by the repository in a few batched statements.
 */
export class AlertLedger {
  private readonly unresolved = new Map<string, AlertSegment>();
  private readonly openBySn = new Map<string, Map<AlertRule, AlertSegment>>();
  private readonly touched = new Set<AlertSegment>();
  private readonly order: AlertSegment[] = [];

  /**
   * @param quietConfirmations the scheduled sweep's mode: a stored alert confirmed with the severity it
   * has is left untouched (no write). A sweep re-confirms every open offline/silent/plan alert; rewriting
   * each of them (last seen, occurrences, details) every minute was most of a steady sweep's cost and
   * tells nobody anything. Raises, escalations and resolutions are written as always.
   */
  constructor(
    stored: Iterable<StoredAlert & { providerId: string }>,
    private readonly quietConfirmations = false,
  ) {
    for (const a of stored) {
      const segment: AlertSegment = {
        id: a.id,
        sn: a.sn,
        providerId: a.providerId,
        rule: a.rule,
        loadedSeverity: a.severity,
        severity: a.severity,
        state: a.state,
        details: null,
        firstSeenAt: new Date(0),
        lastSeenAt: null,
        occurrences: 0,
        resolvedAt: null,
        events: [],
      };
      this.track(segment);
    }
  }

  /** The terminal's unresolved alerts as the rules see them. */
  openFor(sn: string): Map<AlertRule, OpenAlert> {
    const open = new Map<AlertRule, OpenAlert>();
    for (const [rule, segment] of this.openBySn.get(sn) ?? []) open.set(rule, { severity: segment.severity });
    return open;
  }

  apply(subject: AlertSubject, outcome: RuleOutcome, at: Date): void {
    const current = this.unresolved.get(key(subject.sn, outcome.rule));
    if (outcome.active) {
      const details = withSubject(outcome.details, subject);
      if (!current) {
        const segment: AlertSegment = {
          id: null,
          sn: subject.sn,
          providerId: subject.providerId,
          rule: outcome.rule,
          loadedSeverity: null,
          severity: outcome.severity,
          state: 'open',
          details,
          firstSeenAt: at,
          lastSeenAt: at,
          occurrences: 1,
          resolvedAt: null,
          events: [{ kind: 'raised', severity: outcome.severity, details, at }],
        };
        this.track(segment);
        this.touched.add(segment);
        return;
      }
      if (this.quietConfirmations && current.id !== null && current.severity === outcome.severity && !this.touched.has(current)) return;
      if (current.severity !== outcome.severity) {
        current.events.push({ kind: 'escalated', severity: outcome.severity, details, at });
        current.severity = outcome.severity;
      }
      current.details = details;
      current.lastSeenAt = at;
      current.occurrences += 1;
      this.touched.add(current);
      return;
    }
    if (!current) return;
    current.state = 'resolved';
    current.resolvedAt = at;
    current.events.push({ kind: 'resolved', severity: current.severity, details: withSubject(outcome.details, subject), at });
    this.unresolved.delete(key(subject.sn, outcome.rule));
    this.openBySn.get(subject.sn)?.delete(outcome.rule);
    this.touched.add(current);
  }

  /** Touched segments in the order they were first seen. */
  changes(): { existing: AlertSegment[]; raised: AlertSegment[] } {
    const segments = this.order.filter((s) => this.touched.has(s));
    return { existing: segments.filter((s) => s.id !== null), raised: segments.filter((s) => s.id === null) };
  }

  private track(segment: AlertSegment): void {
    this.unresolved.set(key(segment.sn, segment.rule), segment);
    let bySn = this.openBySn.get(segment.sn);
    if (!bySn) this.openBySn.set(segment.sn, (bySn = new Map<AlertRule, AlertSegment>()));
    bySn.set(segment.rule, segment);
    this.order.push(segment);
  }
}

/** What rules remember, per terminal: changes only (an unchanged memory is not written again). */
export class MemoryLedger {
  private readonly bySn = new Map<string, Map<AlertRule, RuleMemory>>();
  private readonly changed = new Map<string, { sn: string; rule: AlertRule; memory: RuleMemory | null }>();

  constructor(stored: Iterable<{ sn: string; rule: AlertRule; memory: RuleMemory }>) {
    for (const m of stored) this.mapFor(m.sn).set(m.rule, m.memory);
  }

  memoryFor(sn: string): ReadonlyMap<AlertRule, RuleMemory> {
    return this.mapFor(sn);
  }

  apply(sn: string, outcome: RuleOutcome): void {
    const memories = this.mapFor(sn);
    const before = memories.get(outcome.rule);
    if (outcome.memory === null) {
      if (before === undefined) return;
      memories.delete(outcome.rule);
    } else {
      if (before !== undefined && sameMemory(before, outcome.memory)) return;
      memories.set(outcome.rule, outcome.memory);
    }
    this.changed.set(key(sn, outcome.rule), { sn, rule: outcome.rule, memory: outcome.memory });
  }

  changes(): { sn: string; rule: AlertRule; memory: RuleMemory | null }[] {
    return [...this.changed.values()];
  }

  private mapFor(sn: string): Map<AlertRule, RuleMemory> {
    let memories = this.bySn.get(sn);
    if (!memories) this.bySn.set(sn, (memories = new Map<AlertRule, RuleMemory>()));
    return memories;
  }
}

function sameMemory(a: RuleMemory, b: RuleMemory): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.is(a[k], b[k]));
}
