/**
 * The contract between alert rules (pure functions, no framework, no database) and the engine that
 * feeds them heartbeats and terminal facts and stores what they decide.
 */

/** Every rule the engine evaluates. The id is stored in alerts.rule and used in the API and subscriptions. */
export const ALERT_RULES = [
  'plan_expiring',
  'plan_status',
  'renewal_failed',
  'auto_renew_off',
  'data_allowance',
  'firmware_outdated',
  'firmware_not_latest',
  'app_outdated',
  'app_not_latest',
  'battery_low',
  'signal_weak',
  'offline',
  'silent',
  'relocated',
  'sim_changed',
  'tx_connectivity',
  'tx_tid_unregistered',
  'tx_reversal',
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_LOCALES = ['zh-CN', 'en'] as const;
export type AlertLocale = (typeof ALERT_LOCALES)[number];

/** Transaction counters a heartbeat may carry (heartbeat v1 `tx`, optional): counts since the previous heartbeat. */
export interface TxCounts {
  approved: number;
  declined: number;
  /** Declines by host response code, e.g. { "92": 3, "97": 1 }. */
  declinesByCode: Readonly<Record<string, number>>;
  reversalsPending: number;
  reversalsSucceeded: number;
  reversalsFailed: number;
}

/** One stored heartbeat as the rules see it. */
export interface HeartbeatSample {
  /** Terminal clock. */
  time: Date;
  receivedAt: Date;
  model: string;
  firmwareVersion: string;
  appVersion: string;
  batteryPct: number;
  charging: boolean;
  rat: string;
  rsrp: number | null;
  csq: number | null;
  sinr: number | null;
  cellId: string | null;
  iccid: string;
  planStatus: 'active' | 'grace' | 'suspended' | 'expired';
  /** 'YYYY-MM-DD', last paid day on the terminal's local calendar. */
  planExpiresOn: string;
  planAutoRenew: boolean;
  renewalAt: Date | null;
  renewalResult: 'success' | 'failed' | null;
  renewalReason: string | null;
  dataUsedMb: number;
  dataAllowanceMb: number | null;
  lat: number | null;
  lon: number | null;
  uptimeS: number;
  tx: TxCounts | null;
}

/** Registry and presence facts about the terminal at evaluation time. */
export interface TerminalFacts {
  sn: string;
  model: string;
  tid: string | null;
  mid: string | null;
  providerId: string;
  registeredLat: number | null;
  registeredLon: number | null;
  online: boolean;
  /** When `online` last changed. */
  presenceChangedAt: Date | null;
  lastReceivedAt: Date | null;
  /** The latest state (terminal_state), null before the first heartbeat. */
  latest: HeartbeatSample | null;
}

/** Firmware or payment-app policy for one model (managed through the API). */
export interface VersionPolicy {
  model: string;
  component: 'firmware' | 'app';
  minSupported: string | null;
  latest: string | null;
  /** When `latest` was set: "not on latest for more than N days" counts from here. */
  latestSince: Date | null;
  blocked: readonly string[];
}

/** What a rule remembers about one terminal between evaluations (JSON, stored per terminal and rule). */
export type RuleMemory = Readonly<Record<string, string | number | boolean | null>>;

/** Facts that explain an alert: rendered into its text, returned by the API. JSON values only. */
export type AlertDetails = Readonly<Record<string, string | number | boolean | null>>;

/** The alert currently open for this terminal and rule, if any. */
export interface OpenAlert {
  severity: Severity;
}

/** One rule's verdict for one terminal. */
export interface RuleOutcome {
  rule: AlertRule;
  /** true: the condition holds (raise or keep open); false: it cleared (resolve an open alert). */
  active: boolean;
  severity: Severity;
  details: AlertDetails;
  /** Stored and handed back next time; null forgets. */
  memory: RuleMemory | null;
}

/** Effective thresholds for one terminal: code defaults, then fleet-wide and subtree overrides. */
export interface AlertThresholds {
  /** IANA zone of the terminals' local calendar (plan expiry days, quiet hours default). */
  timeZone: string;
  planExpiring: { enabled: boolean; /** Days before expiry, descending, with rising severity. */ ladder: readonly { days: number; severity: Severity }[] };
  planStatus: { enabled: boolean };
  renewalFailed: { enabled: boolean };
  autoRenewOff: { enabled: boolean; withinDays: number };
  dataAllowance: { enabled: boolean; ladder: readonly { percent: number; severity: Severity }[] };
  firmware: { enabled: boolean; notLatestAfterDays: number };
  app: { enabled: boolean; notLatestAfterDays: number };
  battery: { enabled: boolean; warningBelowPct: number; criticalBelowPct: number; clearMarginPct: number };
  signal: { enabled: boolean; rsrpBelowDbm: number; csqAtMost: number; sinrBelowDb: number; raiseAfter: number; clearAfter: number };
  offline: { enabled: boolean; graceMinutes: number };
  silent: { enabled: boolean; expectedIntervalS: number; factor: number };
  relocated: { enabled: boolean; distanceKm: number };
  simChanged: { enabled: boolean };
  tx: { enabled: boolean; windowHeartbeats: number; connectivityDeclines: number; reversalsRepeated: number; reversalPendingHeartbeats: number };
}

export interface HeartbeatEvaluationInput {
  sample: HeartbeatSample;
  /** The previously evaluated heartbeat of this terminal, null for its first. */
  previous: HeartbeatSample | null;
  terminal: TerminalFacts;
  thresholds: AlertThresholds;
  /** Policies for the terminal's model (firmware and app, when set). */
  policies: readonly VersionPolicy[];
  now: Date;
  memory: ReadonlyMap<AlertRule, RuleMemory>;
  open: ReadonlyMap<AlertRule, OpenAlert>;
}

export interface ScheduledEvaluationInput {
  terminal: TerminalFacts;
  thresholds: AlertThresholds;
  policies: readonly VersionPolicy[];
  now: Date;
  memory: ReadonlyMap<AlertRule, RuleMemory>;
  open: ReadonlyMap<AlertRule, OpenAlert>;
}
