import type { CommandAckStatus } from '#contracts';

/** Every state of a command row: set by the backend (queued, sent, expired, cancelled) or reported. */
export const CommandState = {
  Queued: 'queued',
  Sent: 'sent',
  Accepted: 'accepted',
  Rejected: 'rejected',
  Deferred: 'deferred',
  Downloading: 'downloading',
  Downloaded: 'downloaded',
  Verified: 'verified',
  Installing: 'installing',
  Succeeded: 'succeeded',
  Failed: 'failed',
  RolledBack: 'rolled_back',
  Expired: 'expired',
  Cancelled: 'cancelled',
} as const;
export type CommandState = (typeof CommandState)[keyof typeof CommandState];
export const COMMAND_STATES = Object.values(CommandState);

/** A state reported by a terminal (the v1 aliases resolved). */
export type ReportedState = Exclude<CommandState, 'queued' | 'sent' | 'expired' | 'cancelled'>;

/** Nothing moves a command out of these (later reports are kept in its history only). */
export const FINAL_STATES: ReadonlySet<CommandState> = new Set([
  CommandState.Rejected,
  CommandState.Succeeded,
  CommandState.Failed,
  CommandState.RolledBack,
  CommandState.Expired,
  CommandState.Cancelled,
]);

/** Waiting for (re)delivery: what a (re)connect or the sweep publishes. */
export const PENDING_STATES: readonly CommandState[] = [CommandState.Queued, CommandState.Sent];

/** States a cancel may end (installing is not interrupted: the terminal cannot stop half-way). */
export const CANCELLABLE_STATES: readonly CommandState[] = [
  CommandState.Queued,
  CommandState.Sent,
  CommandState.Accepted,
  CommandState.Deferred,
  CommandState.Downloading,
  CommandState.Downloaded,
  CommandState.Verified,
];

/** States whose step can time out (no report within the step timeout). */
export const IN_FLIGHT_STATES: readonly CommandState[] = [
  CommandState.Accepted,
  CommandState.Downloading,
  CommandState.Downloaded,
  CommandState.Verified,
  CommandState.Installing,
];

/**
 * How far a command got. A report moves the state only forward (or, for `downloading`, repeats
 * it with new progress); `deferred` keeps the rank reached, so a download deferred until the
 * maintenance window still refuses a late `downloading` once `downloaded` was seen.
 */
const RANK: Record<CommandState, number> = {
  queued: 0,
  sent: 1,
  accepted: 2,
  deferred: -1, // never a rank of its own: see applyReport
  downloading: 3,
  downloaded: 4,
  verified: 5,
  installing: 6,
  rejected: 7,
  succeeded: 7,
  failed: 7,
  rolled_back: 8,
  expired: 9,
  cancelled: 9,
};

export function rankOf(state: CommandState): number {
  return RANK[state];
}

export function toReportedState(status: CommandAckStatus): ReportedState {
  if (status === 'received') return CommandState.Accepted;
  if (status === 'in_progress') return CommandState.Installing;
  return status;
}

export interface LedgerPosition {
  state: CommandState;
  /** Highest rank reached so far (kept while deferred). */
  maxRank: number;
}

export type ReportOutcome = { applied: true; state: CommandState; maxRank: number } | { applied: false; why: 'final' | 'backwards' };

/**
 * The transition rule, pure. A final command never moves, except that a terminal which reported
 * succeeded or failed may still report rolled_back. Otherwise a report applies when it does not go
 * back; deferred applies before installing.
 */
export function applyReport(current: LedgerPosition, reported: ReportedState): ReportOutcome {
  const rolledBackAfterInstall = reported === CommandState.RolledBack && (current.state === CommandState.Succeeded || current.state === CommandState.Failed);
  if (FINAL_STATES.has(current.state) && !rolledBackAfterInstall) return { applied: false, why: 'final' };
  if (reported === CommandState.Deferred) {
    if (current.maxRank >= RANK.installing) return { applied: false, why: 'backwards' };
    return { applied: true, state: CommandState.Deferred, maxRank: current.maxRank };
  }
  const rank = RANK[reported];
  // Equal rank: a repeated report (download progress, a retransmitted ack) refreshes the row.
  if (rank < current.maxRank) return { applied: false, why: 'backwards' };
  return { applied: true, state: reported, maxRank: rank };
}
